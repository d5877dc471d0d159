"""Groups (frames): a titled, coloured rectangle behind nodes; the nodes inside move with it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsSceneHoverEvent,
    QGraphicsSceneMouseEvent,
    QStyleOptionGraphicsItem,
    QWidget,
)

from nodestudio.graph.layout import Group
from nodestudio.ui.canvas.widgets import InlineEditor
from nodestudio.ui.theme import NO_PEN, canvas_font

if TYPE_CHECKING:
    from nodestudio.ui.canvas.scene import NodeScene

GROUP_TITLE_HEIGHT = 34.0
GRIP = 16.0
DEFAULT_GROUP_COLOR = "#4a6fa5"
Z_GROUP = -10.0


class GroupItem(QGraphicsItem):
    def __init__(self, scene: NodeScene, group: Group) -> None:
        super().__init__()
        self._scene = scene
        self.group_id = group.id
        self.title = group.title
        self.color = QColor(group.color or DEFAULT_GROUP_COLOR)
        self.size = QPointF(group.rect[2], group.rect[3])
        self.setZValue(Z_GROUP)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setAcceptHoverEvents(True)
        self._resize: tuple[object, QPointF, QPointF] | None = None
        self.sync(group)

    def sync(self, group: Group) -> None:
        x, y, width, height = group.rect
        self.prepareGeometryChange()
        self.title = group.title
        self.color = QColor(group.color or DEFAULT_GROUP_COLOR)
        self.size = QPointF(width, height)
        self.setPos(x, y)
        self.update()

    def rect_tuple(self) -> tuple[float, float, float, float]:
        return (self.pos().x(), self.pos().y(), self.size.x(), self.size.y())

    def boundingRect(self) -> QRectF:
        return QRectF(0.0, 0.0, self.size.x(), self.size.y()).adjusted(-2, -2, 2, 2)

    def title_rect(self) -> QRectF:
        return QRectF(0.0, 0.0, self.size.x(), GROUP_TITLE_HEIGHT)

    def grip_rect(self) -> QRectF:
        return QRectF(self.size.x() - GRIP, self.size.y() - GRIP, GRIP, GRIP)

    def shape(self) -> QPainterPath:
        # Only the title bar and the resize grip catch the mouse, so that rubber-band selection
        # works inside a group.
        path = QPainterPath()
        path.addRect(self.title_rect())
        path.addRect(self.grip_rect())
        return path

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        rect = QRectF(0.0, 0.0, self.size.x(), self.size.y())
        fill = QColor(self.color)
        fill.setAlpha(38)
        painter.setBrush(fill)
        border = QColor(self.color)
        border.setAlpha(255 if self.isSelected() else 120)
        pen = painter.pen()
        pen.setColor(self._scene.theme.color("selection") if self.isSelected() else border)
        pen.setWidthF(2.0 if self.isSelected() else 1.2)
        painter.setPen(pen)
        painter.drawRoundedRect(rect, 10.0, 10.0)
        header = QColor(self.color)
        header.setAlpha(120)
        painter.setPen(NO_PEN)
        painter.setBrush(header)
        clip = QPainterPath()
        clip.addRoundedRect(rect, 10.0, 10.0)
        title_path = QPainterPath()
        title_path.addRect(self.title_rect())
        painter.drawPath(clip.intersected(title_path))
        if option.levelOfDetailFromTransform(painter.worldTransform()) > 0.2:
            painter.setFont(canvas_font(17, QFont.Weight.DemiBold))
            painter.setPen(QColor("#ffffff"))
            painter.drawText(self.title_rect().adjusted(14.0, 0.0, -14.0, 0.0),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                             self.title)
        grip = self.grip_rect()
        painter.setPen(border)
        for offset in (4.0, 8.0, 12.0):
            painter.drawLine(QPointF(grip.right() - offset, grip.bottom() - 2.0),
                             QPointF(grip.right() - 2.0, grip.bottom() - offset))

    def hoverMoveEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        on_grip = self.grip_rect().contains(event.pos())
        self.setCursor(Qt.CursorShape.SizeFDiagCursor if on_grip else Qt.CursorShape.SizeAllCursor)

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            event.ignore()
            return
        event.accept()
        if self.grip_rect().contains(event.pos()):
            self._resize = (object(), event.scenePos(), QPointF(self.size))
            return
        self._scene.press_select(self, event.modifiers())
        self._scene.begin_move(event.scenePos())

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._resize is not None:
            gesture, start, size = self._resize
            delta = event.scenePos() - start
            rect = (self.pos().x(), self.pos().y(), max(120.0, round(size.x() + delta.x())),
                    max(GROUP_TITLE_HEIGHT + 20.0, round(size.y() + delta.y())))
            self._scene.editor.update_group(self.group_id, gesture, rect=rect)
            return
        self._scene.move_to(event.scenePos())

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._resize is not None:
            self._resize = None
            return
        self._scene.end_move()

    def mouseDoubleClickEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self.title_rect().contains(event.pos()):
            self.edit_title()
            event.accept()

    def edit_title(self) -> None:
        def commit(text: str) -> None:
            if text.strip():
                self._scene.editor.update_group(self.group_id, title=text.strip())

        InlineEditor.open(self, self.title_rect().adjusted(8.0, 5.0, -8.0, -5.0), self.title,
                          on_commit=commit)
