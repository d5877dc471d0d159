"""Toolbar icons, drawn as vector paths so that they stay crisp at any device pixel ratio."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QIcon,
    QIconEngine,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
    QTransform,
)

from nodestudio.ui.theme import NO_BRUSH, Theme


def _new(p: QPainterPath) -> None:
    p.moveTo(6, 3)
    p.lineTo(14, 3)
    p.lineTo(18, 7)
    p.lineTo(18, 21)
    p.lineTo(6, 21)
    p.closeSubpath()
    p.moveTo(14, 3)
    p.lineTo(14, 7)
    p.lineTo(18, 7)


def _open(p: QPainterPath) -> None:
    p.moveTo(3, 6)
    p.lineTo(9, 6)
    p.lineTo(11, 8)
    p.lineTo(19, 8)
    p.lineTo(19, 10)
    p.moveTo(3, 6)
    p.lineTo(3, 19)
    p.lineTo(18, 19)
    p.lineTo(21, 11)
    p.lineTo(7, 11)
    p.lineTo(3, 19)


def _save(p: QPainterPath) -> None:
    p.addRoundedRect(QRectF(4, 4, 16, 16), 2, 2)
    p.addRect(QRectF(8, 4, 8, 5))
    p.addRect(QRectF(7, 13, 10, 7))


def _undo(p: QPainterPath) -> None:
    p.moveTo(9, 6)
    p.lineTo(5, 10)
    p.lineTo(9, 14)
    p.moveTo(5, 10)
    p.lineTo(14, 10)
    p.cubicTo(QPointF(21, 10), QPointF(21, 19), QPointF(14, 19))
    p.lineTo(9, 19)


def _redo(p: QPainterPath) -> None:
    undo = QPainterPath()
    _undo(undo)
    p.addPath(QTransform(-1.0, 0.0, 0.0, 1.0, 24.0, 0.0).map(undo))  # undo, mirrored


def _frame(p: QPainterPath) -> None:
    for x, y, dx, dy in ((4, 4, 1, 1), (20, 4, -1, 1), (4, 20, 1, -1), (20, 20, -1, -1)):
        p.moveTo(x, y + 5 * dy)
        p.lineTo(x, y)
        p.lineTo(x + 5 * dx, y)
    p.addRoundedRect(QRectF(9, 9, 6, 6), 1.5, 1.5)


def _add(p: QPainterPath) -> None:
    p.addRoundedRect(QRectF(4, 4, 16, 16), 4, 4)
    p.moveTo(12, 8)
    p.lineTo(12, 16)
    p.moveTo(8, 12)
    p.lineTo(16, 12)


def _run(p: QPainterPath) -> None:
    p.moveTo(7, 4)
    p.lineTo(19, 12)
    p.lineTo(7, 20)
    p.closeSubpath()


def _stop(p: QPainterPath) -> None:
    p.addRoundedRect(QRectF(6, 6, 12, 12), 2, 2)


SHAPES: dict[str, Callable[[QPainterPath], None]] = {
    "new": _new, "open": _open, "save": _save, "undo": _undo, "redo": _redo,
    "frame": _frame, "add": _add, "run": _run, "stop": _stop,
}


class _PathIconEngine(QIconEngine):
    def __init__(self, shape: Callable[[QPainterPath], None], color: QColor) -> None:
        super().__init__()
        self.shape, self.color = shape, QColor(color)

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State
              ) -> None:
        path = QPainterPath()
        self.shape(path)
        color = QColor(self.color)
        if mode == QIcon.Mode.Disabled:
            color.setAlpha(90)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.translate(rect.topLeft())
        painter.scale(rect.width() / 24.0, rect.height() / 24.0)
        pen = QPen(color, 1.8, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                   Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        painter.setBrush(NO_BRUSH)
        painter.drawPath(path)
        painter.restore()

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        pixmap = QPixmap(size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        self.paint(painter, QRect(0, 0, size.width(), size.height()), mode, state)
        painter.end()
        return pixmap

    def clone(self) -> QIconEngine:
        return _PathIconEngine(self.shape, self.color)


def icon(name: str, theme: Theme) -> QIcon:
    """A toolbar icon drawn in the theme's text colour."""
    return QIcon(_PathIconEngine(SHAPES[name], QColor(theme.text)))
