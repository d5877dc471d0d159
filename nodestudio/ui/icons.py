"""Toolbar icons, drawn as vector paths so that they stay crisp at any device pixel ratio."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QIcon,
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
    p.addRoundedRect(QRectF(7, 7, 10, 10), 1.0, 1.0)


def _more(p: QPainterPath) -> None:
    for x in (6, 12):  # », the toolbar's overflow
        p.moveTo(x, 7)
        p.lineTo(x + 5, 12)
        p.lineTo(x, 17)


SHAPES: dict[str, Callable[[QPainterPath], None]] = {
    "new": _new, "open": _open, "save": _save, "undo": _undo, "redo": _redo,
    "frame": _frame, "add": _add, "run": _run, "stop": _stop, "more": _more,
}


#: Pixel sizes rendered for each icon: QIcon picks the best one for the widget's size and
#: device pixel ratio, so icons stay crisp on high-DPI screens.
_SIZES = (16, 20, 24, 32, 40, 48, 64, 96)
#: Drawn filled, not outlined: an outlined square reads as an unchecked box, not as "stop".
_FILLED = frozenset({"stop"})
#: Drawn in the theme's error colour while enabled: a light filled square beside a label
#: still reads as a checkbox; a red one is the media players' stop.
_ALARM = frozenset({"stop"})
_DISABLED_ALPHA = 90


def _render(shape: Callable[[QPainterPath], None], color: QColor, size: int,
            filled: bool = False) -> QPixmap:
    path = QPainterPath()
    shape(path)
    pixmap = QPixmap(QSize(size, size))
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.scale(size / 24.0, size / 24.0)
    painter.setPen(QPen(color, 1.8, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                        Qt.PenJoinStyle.RoundJoin))
    painter.setBrush(color if filled else NO_BRUSH)
    painter.drawPath(path)
    painter.end()
    return pixmap


#: QAction property naming the icon it shows: the window redraws those icons in the new
#: theme's colours when the theme changes (Run and Cancel come from the run work).
THEMED_ICON = "nodestudio_icon"


def icon(name: str, theme: Theme) -> QIcon:
    """A toolbar icon drawn in the theme's text colour.

    Rendered into plain pixmaps rather than drawn by a Python QIconEngine: Qt keeps icons in
    global caches that outlive the interpreter, and destroying a Python-made engine after
    Python has shut down crashes the process on exit.
    """
    result = QIcon()
    shape = SHAPES[name]
    filled = name in _FILLED
    for size in _SIZES:
        normal = QColor(theme.error if name in _ALARM else theme.text)
        disabled = QColor(normal)
        disabled.setAlpha(_DISABLED_ALPHA)
        result.addPixmap(_render(shape, normal, size, filled), QIcon.Mode.Normal)
        result.addPixmap(_render(shape, disabled, size, filled), QIcon.Mode.Disabled)
    return result
