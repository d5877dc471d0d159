"""What an empty canvas says to do (issue 13: File › New showed a blank canvas with no hint).

A label over the view's viewport, not an item in the scene: it stays centred and readable
whatever the pan and zoom, and it lets every mouse event through to the canvas."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QGraphicsView, QLabel

from nodestudio.ui.editor import GraphEditor

HINT_TEXT = ("Tab or double-click to add a node\n"
             "Drop a graph file to open it, or an image to load it")


class EmptyCanvasHint(QLabel):
    """Shown while the graph has no node; follows edits, undo and graph replacement."""

    def __init__(self, view: QGraphicsView, editor: GraphEditor) -> None:
        # A child of the view, not of its viewport: the view scrolls its viewport's children
        # when it pans.
        super().__init__(HINT_TEXT, view)
        self.setObjectName("dim")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        font = self.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        self.setFont(font)
        self._view, self._editor = view, editor
        view.installEventFilter(self)
        editor.undo_stack.indexChanged.connect(self.refresh)
        editor.graph_replaced.connect(self.refresh)
        editor.level_changed.connect(self.refresh)
        self.refresh()

    def refresh(self, *_args: object) -> None:
        """Show the hint on an empty graph only, centred in the viewport."""
        empty = len(self._editor.level) == 0
        if empty:
            self.adjustSize()
            viewport = self._view.viewport().geometry()
            self.move(viewport.center().x() - self.width() // 2,
                      viewport.center().y() - self.height() // 2)
        self.setVisible(empty)
        if empty:
            self.raise_()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:
            self.refresh()
        return False
