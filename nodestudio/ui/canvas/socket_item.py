"""Sockets: the typed, coloured circles on the sides of nodes.

Sockets are painted by their node (a thousand nodes would otherwise mean many thousands of
items); this module draws them and finds the one under the mouse.
"""

from __future__ import annotations

from enum import Enum

from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor, QPainter, QPen

from nodestudio.ui.canvas.geometry import SOCKET_RADIUS, NodeGeometry, SocketSlot
from nodestudio.ui.theme import NO_BRUSH, NO_PEN, Theme

#: How far from a socket's centre a press or a drop still counts (scene units).
HIT_RADIUS = 11.0


class SocketState(Enum):
    NORMAL = "normal"
    #: A link being dragged may end here.
    ACCEPTS = "accepts"
    #: A link being dragged may not end here.
    REFUSES = "refuses"


def paint_socket(painter: QPainter, pos: QPointF, color: QColor, connected: bool,
                 state: SocketState, theme: Theme, small: bool = False) -> None:
    radius = SOCKET_RADIUS * (0.72 if small else 1.0)
    fill = QColor(color)
    if state is SocketState.REFUSES:
        fill.setAlpha(45)
    if state is SocketState.ACCEPTS:
        halo = QColor(color)
        halo.setAlpha(90)
        painter.setPen(NO_PEN)
        painter.setBrush(halo)
        painter.drawEllipse(pos, radius + 5.0, radius + 5.0)
        radius += 1.0
    outline = QPen(theme.color("node_body"), 1.6)
    painter.setPen(outline)
    if connected or state is SocketState.ACCEPTS:
        painter.setBrush(fill)
        painter.drawEllipse(pos, radius, radius)
    else:
        painter.setBrush(theme.color("node_body"))
        painter.drawEllipse(pos, radius, radius)
        ring = QPen(fill, 2.0)
        painter.setPen(ring)
        painter.setBrush(NO_BRUSH)
        painter.drawEllipse(pos, radius - 1.2, radius - 1.2)


def socket_at(geometry: NodeGeometry, pos: QPointF, include_widgets: bool = True
              ) -> SocketSlot | None:
    """The socket within reach of ``pos`` (item coordinates), the nearest one first.

    Widget rows count as inputs too (a link may be dropped onto any widget input); they are
    returned as a SocketSlot of the widget's input.
    """
    best: SocketSlot | None = None
    best_distance = HIT_RADIUS
    candidates = list(geometry.inputs.values()) + list(geometry.outputs.values())
    for slot in candidates:
        distance = _distance(slot.pos, pos)
        if distance <= best_distance:
            best, best_distance = slot, distance
    if best is None and include_widgets and not geometry.collapsed:
        for widget in geometry.widgets:
            if widget.spec is None or widget.kind == "control":
                continue
            if _distance(widget.socket_pos, pos) <= HIT_RADIUS * 0.8:
                return SocketSlot(widget.name, widget.spec.type, False, widget.socket_pos,
                                  widget.label, True, True)
    return best


def _distance(a: QPointF, b: QPointF) -> float:
    return ((a.x() - b.x()) ** 2 + (a.y() - b.y()) ** 2) ** 0.5
