"""Links: bezier curves coloured by socket type, with draggable reroute points."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsSceneMouseEvent,
    QStyleOptionGraphicsItem,
    QWidget,
)

from nodestudio.graph.model import Link
from nodestudio.ui.theme import NO_BRUSH

if TYPE_CHECKING:
    from nodestudio.ui.canvas.scene import NodeScene

LINK_WIDTH = 2.6
REROUTE_RADIUS = 5.0
Z_LINK, Z_REROUTE, Z_DRAG = -1.0, 2.0, 50.0


def link_path(start: QPointF, end: QPointF, via: Sequence[QPointF] = ()) -> QPainterPath:
    """A smooth path leaving ``start`` to the right and entering ``end`` from the left."""
    points = [start, *via, end]
    path = QPainterPath(start)
    for a, b in itertools.pairwise(points):
        reach = max(abs(b.x() - a.x()) * 0.5, min(abs(b.y() - a.y()), 80.0) * 0.6, 24.0)
        path.cubicTo(QPointF(a.x() + reach, a.y()), QPointF(b.x() - reach, b.y()), b)
    return path


def nearest_segment(points: Sequence[QPointF], pos: QPointF) -> int:
    """Index of the segment of the polyline through ``points`` closest to ``pos``."""
    best, best_distance = 0, float("inf")
    for index, (a, b) in enumerate(itertools.pairwise(points)):
        for step in range(11):
            t = step / 10
            x = a.x() + (b.x() - a.x()) * t
            y = a.y() + (b.y() - a.y()) * t
            distance = (x - pos.x()) ** 2 + (y - pos.y()) ** 2
            if distance < best_distance:
                best, best_distance = index, distance
    return best


class LinkItem(QGraphicsPathItem):
    def __init__(self, link: Link, color: QColor) -> None:
        super().__init__()
        self.link = link
        self.color = QColor(color)
        self.setZValue(Z_LINK)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setAcceptHoverEvents(True)
        self.start = QPointF()
        self.end = QPointF()
        self.reroutes: list[QPointF] = []
        self.handles: list[RerouteHandle] = []
        self._hover = False
        self.dimmed = False
        self._shape: QPainterPath | None = None
        self._bounds = QRectF()
        self._pens: dict[tuple[bool, bool, bool], QPen] = {}

    @property
    def key(self) -> tuple[str, str]:
        return self.link.key

    def set_ends(self, start: QPointF, end: QPointF,
                 reroutes: Sequence[tuple[float, float]] | None = None) -> None:
        if reroutes is not None:
            self._set_reroutes([QPointF(x, y) for x, y in reroutes])
        self.start, self.end = start, end
        self._shape = None
        path = link_path(start, end, self.reroutes)
        self.prepareGeometryChange()
        self._bounds = path.controlPointRect().adjusted(-8, -8, 8, 8)
        self.setPath(path)

    def _set_reroutes(self, points: list[QPointF]) -> None:
        self.reroutes = points
        while len(self.handles) > len(points):
            handle = self.handles.pop()
            if handle.scene() is not None:
                handle.scene().removeItem(handle)
        while len(self.handles) < len(points):
            handle = RerouteHandle(self, len(self.handles))
            self.handles.append(handle)
            if self.scene() is not None:
                self.scene().addItem(handle)
        for handle, point in zip(self.handles, points, strict=True):
            handle.setPos(point)

    def add_handles_to_scene(self) -> None:
        for handle in self.handles:
            if handle.scene() is None and self.scene() is not None:
                self.scene().addItem(handle)

    def remove_from_scene(self) -> None:
        scene = self.scene()
        if scene is None:
            return
        for handle in self.handles:
            if handle.scene() is not None:
                scene.removeItem(handle)
        scene.removeItem(self)

    def points(self) -> list[QPointF]:
        return [self.start, *self.reroutes, self.end]

    def shape(self) -> QPainterPath:
        if self._shape is None:
            stroker = QPainterPathStroker()
            stroker.setWidth(12.0)
            self._shape = stroker.createStroke(self.path())
        return self._shape

    def boundingRect(self) -> QRectF:
        return self._bounds

    def _pen(self, halo: bool = False) -> QPen:
        state = (self.isSelected() or self._hover, self.dimmed, halo)
        pen = self._pens.get(state)
        if pen is None:
            color = QColor(self.color)
            width = LINK_WIDTH + (1.4 if state[0] else 0.0)
            if state[0]:
                color = color.lighter(130)
            if self.dimmed:
                color.setAlpha(90)
            if halo:
                color.setAlpha(70)
                width += 5.0
            pen = self._pens[state] = QPen(color, width, Qt.PenStyle.SolidLine,
                                           Qt.PenCapStyle.RoundCap)
        return pen

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        path = self.path()
        painter.setBrush(NO_BRUSH)
        if self.isSelected() and option.levelOfDetailFromTransform(
                painter.worldTransform()) > 0.3:
            painter.setPen(self._pen(halo=True))
            painter.drawPath(path)
        painter.setPen(self._pen())
        painter.drawPath(path)

    def hoverEnterEvent(self, event: Any) -> None:
        self._hover = True
        self.update()

    def hoverLeaveEvent(self, event: Any) -> None:
        self._hover = False
        self.update()

    def mouseDoubleClickEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        """Double-click a link to add a bend point there."""
        scene: NodeScene = self.scene()  # type: ignore[assignment]
        points = self.points()
        index = nearest_segment(points, event.scenePos())
        new = [(p.x(), p.y()) for p in self.reroutes]
        new.insert(index, (event.scenePos().x(), event.scenePos().y()))
        scene.editor.set_reroutes(self.link.target, self.link.input, new, "Add reroute")
        event.accept()


class RerouteHandle(QGraphicsItem):
    """A bend point of a link: drag to move it, double-click to remove it."""

    def __init__(self, link_item: LinkItem, index: int) -> None:
        super().__init__()
        self.link_item = link_item
        self.index = index
        self.setZValue(Z_REROUTE)
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.SizeAllCursor)
        self._press: QPointF | None = None
        self._hover = False

    def boundingRect(self) -> QRectF:
        r = REROUTE_RADIUS + 3.0
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        radius = REROUTE_RADIUS + (1.5 if self._hover else 0.0)
        painter.setPen(QPen(QColor("#111214"), 1.5))
        painter.setBrush(self.link_item.color)
        painter.drawEllipse(QPointF(0, 0), radius, radius)

    def hoverEnterEvent(self, event: Any) -> None:
        self._hover = True
        self.update()

    def hoverLeaveEvent(self, event: Any) -> None:
        self._hover = False
        self.update()

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            event.ignore()
            return
        self._press = self.pos()
        event.accept()

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._press is None:
            return
        self.setPos(event.scenePos())
        item = self.link_item
        item.reroutes[self.index] = event.scenePos()
        item.set_ends(item.start, item.end)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._press is None:
            return
        moved = self.pos() != self._press
        self._press = None
        if moved:
            item = self.link_item
            scene: NodeScene = self.scene()  # type: ignore[assignment]
            points = [(p.x(), p.y()) for p in item.reroutes]
            scene.editor.set_reroutes(item.link.target, item.link.input, points,
                                      "Move reroute")

    def mouseDoubleClickEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        item = self.link_item
        scene: NodeScene = self.scene()  # type: ignore[assignment]
        points = [(p.x(), p.y()) for i, p in enumerate(item.reroutes) if i != self.index]
        scene.editor.set_reroutes(item.link.target, item.link.input, points, "Remove reroute")
        event.accept()


class DragLinkItem(QGraphicsPathItem):
    """The link that follows the mouse while a connection is being made."""

    def __init__(self, color: QColor) -> None:
        super().__init__()
        self.setZValue(Z_DRAG)
        pen = QPen(QColor(color), LINK_WIDTH, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
        self.setPen(pen)

    def set_refused(self, refused: bool) -> None:
        pen = self.pen()
        pen.setStyle(Qt.PenStyle.DashLine if refused else Qt.PenStyle.SolidLine)
        self.setPen(pen)

    def set_ends(self, output_end: QPointF, input_end: QPointF) -> None:
        self.setPath(link_path(output_end, input_end))
