"""The path shown above the canvas while a subgraph is open: Graph › Hires fix › …; a click
on a part goes back to that level."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

from nodestudio.ui.editor import GraphEditor
from nodestudio.ui.subgraph_levels import crumbs


class Breadcrumb(QWidget):
    def __init__(self, editor: GraphEditor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("subgraphBreadcrumb")
        self.editor = editor
        self._row = QHBoxLayout(self)
        self._row.setContentsMargins(8, 4, 8, 4)
        self._row.setSpacing(4)
        self.buttons: list[QPushButton] = []
        editor.level_changed.connect(lambda _graph: self.refresh())
        editor.graph_replaced.connect(lambda _graph: self.refresh())
        # Promoting or renaming inside changes the summary of the open subgraph.
        editor.undo_stack.indexChanged.connect(lambda _index: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        while self._row.count():
            widget = self._row.takeAt(0).widget()
            if widget is not None:
                # Hidden now: deleteLater waits for the event loop, and must not show meanwhile.
                widget.hide()
                widget.deleteLater()
        self.buttons = []
        names = crumbs(self.editor.graph, self.editor.path)
        for depth, name in enumerate(names):
            if depth:
                self._row.addWidget(QLabel("›", self))
            button = QPushButton(name, self)
            button.setFlat(True)
            button.setObjectName(f"crumb_{depth}")
            last = depth == len(names) - 1
            button.setEnabled(not last)
            button.setToolTip("" if last else f"Back to {name} (Esc goes up one level)")
            button.clicked.connect(lambda _c=False, d=depth: self.editor.set_path(
                self.editor.path[:d]))
            self._row.addWidget(button)
            self.buttons.append(button)
        hint = QLabel(self._summary(), self)
        hint.setToolTip(hint.text())
        # A long summary is cut, never widening the window.
        hint.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        hint.setEnabled(False)
        self._row.addWidget(hint, 1)
        # Only shown inside a subgraph: the top level needs no path.
        self.setVisible(bool(self.editor.path))

    def _summary(self) -> str:
        """What the open subgraph takes, gives and shows on its instances."""
        definition = self.editor.graph.definitions.get(self.editor.path[-1][1]) \
            if self.editor.path else None
        if definition is None or not definition.resolved:
            return ""
        parts = [f"in: {', '.join(i.name for i in definition.inputs) or '—'}",
                 f"out: {', '.join(o.name for o in definition.outputs) or '—'}"]
        if definition.widgets:
            parts.append(f"promoted: {', '.join(w.name for w in definition.widgets)}")
        return "   " + "   ·   ".join(parts) + "   (edits apply to every instance)"

    def text(self) -> str:
        return " › ".join(button.text() for button in self.buttons)
