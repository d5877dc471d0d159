"""Typing a value in place: a real editor (QLineEdit / QPlainTextEdit in a proxy that zooms
with the item) exists only while one value is typed; Enter or leaving commits, Escape cancels
a line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QKeyEvent, QTextCursor
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsProxyWidget,
    QLineEdit,
    QPlainTextEdit,
    QWidget,
)

from nodestudio.ui.canvas.geometry import label_font


class _LineEdit(QLineEdit):
    def __init__(self, owner: InlineEditor) -> None:
        super().__init__()
        self.owner = owner

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.owner.close(commit=False)
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.owner.close(commit=True)
            return
        super().keyPressEvent(event)

    def focusOutEvent(self, event: Any) -> None:
        super().focusOutEvent(event)
        self.owner.close(commit=True)


class _TextEdit(QPlainTextEdit):
    def __init__(self, owner: InlineEditor) -> None:
        super().__init__()
        self.owner = owner

    def keyPressEvent(self, event: QKeyEvent) -> None:
        control = event.modifiers() & Qt.KeyboardModifier.ControlModifier
        if event.key() == Qt.Key.Key_Escape or (
                control and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)):
            self.owner.close(commit=True)
            return
        super().keyPressEvent(event)

    def focusOutEvent(self, event: Any) -> None:
        super().focusOutEvent(event)
        self.owner.close(commit=True)


class InlineEditor:
    """One text editor placed over a rectangle of an item, in a proxy that zooms with it."""

    current: InlineEditor | None = None

    def __init__(self, parent: QGraphicsItem, rect: QRectF, text: str, multiline: bool,
                 on_change: Callable[[str], None] | None,
                 on_commit: Callable[[str], None] | None,
                 on_close: Callable[[], None] | None = None) -> None:
        self.on_change, self.on_commit, self.on_close = on_change, on_commit, on_close
        self.closed = False
        widget = _TextEdit(self) if multiline else _LineEdit(self)
        self.widget: QWidget = widget
        widget.setObjectName("inlineEditor")
        widget.setFont(label_font())
        if isinstance(widget, _TextEdit):
            widget.setPlainText(text)
            widget.moveCursor(QTextCursor.MoveOperation.End)
            widget.textChanged.connect(self._changed)
            widget.setFrameStyle(0)
        else:
            widget.setText(text)
            widget.selectAll()
            widget.textEdited.connect(self._changed)
        self.proxy = QGraphicsProxyWidget(parent)
        self.proxy.setWidget(self.widget)
        self.proxy.setZValue(100)
        self.proxy.setPos(rect.topLeft())
        self.widget.resize(int(rect.width()), int(rect.height()))
        self.widget.setFocus()
        self.proxy.setFocus()

    @classmethod
    def open(cls, parent: QGraphicsItem, rect: QRectF, text: str, *, multiline: bool = False,
             on_change: Callable[[str], None] | None = None,
             on_commit: Callable[[str], None] | None = None,
             on_close: Callable[[], None] | None = None) -> InlineEditor:
        """``on_close`` runs once the editor is gone (after ``on_commit``)."""
        if cls.current is not None:
            cls.current.close(commit=True)
        cls.current = cls(parent, rect, text, multiline, on_change, on_commit, on_close)
        return cls.current

    def text(self) -> str:
        widget = self.widget
        if isinstance(widget, QPlainTextEdit):
            return widget.toPlainText()
        return widget.text() if isinstance(widget, QLineEdit) else ""

    def _changed(self, *_args: Any) -> None:
        if self.on_change is not None and not self.closed:
            self.on_change(self.text())

    def close(self, commit: bool) -> None:
        if self.closed:
            return
        self.closed = True
        if commit and self.on_commit is not None:
            self.on_commit(self.text())
        if InlineEditor.current is self:
            InlineEditor.current = None
        proxy = self.proxy
        scene = proxy.scene()
        views = scene.views() if scene is not None else []
        proxy.setWidget(None)  # type: ignore[arg-type]  # Qt takes None (detach); stubs don't
        self.widget.hide()
        self.widget.deleteLater()
        if scene is not None:
            scene.removeItem(proxy)
        if views:
            views[0].setFocus()
        if self.on_close is not None:
            self.on_close()
