"""The canvas view: pan, zoom to the cursor, frame, grid, rubber band, keyboard and drops."""

from __future__ import annotations

import math

from PySide6.QtCore import QLineF, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QFrame, QGraphicsView, QWidget

from nodestudio.ui.canvas.link_item import LinkItem, RerouteHandle
from nodestudio.ui.canvas.node_item import NodeItem
from nodestudio.ui.canvas.scene import NodeScene

NODE_TYPE_MIME = "application/x-nodestudio-node-type"
MIN_ZOOM, MAX_ZOOM = 0.08, 3.0
#: Frame All never zooms a small, compact graph out below this: titles (13 scene px) stay
#: about 10 screen px tall. A graph that does not fit then shows its start (top left).
READABLE_ZOOM = 0.8
#: "Small": at most this many nodes ...
SMALL_GRAPH_NODES = 20
#: ... covering at least this share of their bounding box. Far-apart nodes are a sparse
#: graph: there, seeing where everything is matters more than reading it.
COMPACT_SHARE = 0.12
GRID = 24.0
GRID_MAJOR_EVERY = 5
#: The canvas is effectively endless: the view may scroll anywhere within this square.
WORLD = 200_000.0


class NodeView(QGraphicsView):
    #: Open the node search at (view position, scene position).
    palette_requested = Signal(QPoint, QPointF)
    #: Files dropped on the canvas.
    files_dropped = Signal(list)
    #: A node type dragged from the library was dropped at a scene position.
    node_type_dropped = Signal(str, QPointF)
    zoom_changed = Signal(float)
    #: Emitted once, after the first time the canvas was painted (start-up timing, screenshot).
    first_painted = Signal()

    def __init__(self, scene: NodeScene, parent: QWidget | None = None) -> None:
        super().__init__(scene, parent)
        self.node_scene = scene
        self.setRenderHints(QPainter.RenderHint.Antialiasing
                            | QPainter.RenderHint.TextAntialiasing
                            | QPainter.RenderHint.SmoothPixmapTransform)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setOptimizationFlags(QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.ItemSelectionMode.IntersectsItemShape)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setSceneRect(QRectF(-WORLD / 2, -WORLD / 2, WORLD, WORLD))
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._pan_from: QPoint | None = None
        self._space_held = False
        self._painted = False
        self._frame_pending = False
        self.centerOn(0.0, 0.0)

    # -- zoom and pan ---------------------------------------------------------------------------

    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float, anchor: QPoint | None = None) -> None:
        current = self.zoom()
        target = min(MAX_ZOOM, max(MIN_ZOOM, current * factor))
        if math.isclose(target, current):
            return
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor if anchor is not None
                                     else QGraphicsView.ViewportAnchor.AnchorViewCenter)
        scene_anchor = self.mapToScene(anchor) if anchor is not None else None
        self.scale(target / current, target / current)
        if scene_anchor is not None:
            # Keep the scene point under the cursor where it was (zoom to the cursor).
            moved = self.mapFromScene(scene_anchor) - anchor
            self.pan_by(moved.x(), moved.y())
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.zoom_changed.emit(self.zoom())

    def set_zoom(self, zoom: float) -> None:
        self.zoom_by(zoom / self.zoom())

    def pan_by(self, dx: float, dy: float) -> None:
        """Scroll the canvas by (dx, dy) viewport pixels."""
        horizontal, vertical = self.horizontalScrollBar(), self.verticalScrollBar()
        horizontal.setValue(horizontal.value() + round(dx))
        vertical.setValue(vertical.value() + round(dy))

    def frame(self, rect: QRectF, max_zoom: float = 1.25, min_zoom: float = MIN_ZOOM) -> None:
        """Fit ``rect`` (scene coordinates) into the view, with a margin; never below
        ``min_zoom``, where the part of ``rect`` that does not fit starts at its top left."""
        if rect.isNull() or not rect.isValid():
            return
        margin = 40.0
        view = self.viewport().rect()
        scale_x = (view.width() - 2 * margin) / max(rect.width(), 1.0)
        scale_y = (view.height() - 2 * margin) / max(rect.height(), 1.0)
        zoom = max(MIN_ZOOM, min_zoom, min(max_zoom, scale_x, scale_y))
        self.resetTransform()
        self.scale(zoom, zoom)
        center = rect.center()
        # Graphs flow left to right and top to bottom: what does not fit is their end.
        half_w, half_h = (view.width() / 2 - margin) / zoom, (view.height() / 2 - margin) / zoom
        if rect.width() / 2 > half_w:
            center.setX(rect.left() + half_w)
        if rect.height() / 2 > half_h:
            center.setY(rect.top() + half_h)
        self.centerOn(center)
        self.zoom_changed.emit(self.zoom())

    def readable_floor(self, rects: list[QRectF], bounds: QRectF) -> float:
        """The lowest zoom Frame All may use for nodes at ``rects``: READABLE_ZOOM for a small,
        compact graph, else MIN_ZOOM (a big or scattered graph is shown whole)."""
        if not rects or len(rects) > SMALL_GRAPH_NODES:
            return MIN_ZOOM
        covered = sum(r.width() * r.height() for r in rects)
        area = max(bounds.width() * bounds.height(), 1.0)
        return READABLE_ZOOM if covered / area >= COMPACT_SHARE else MIN_ZOOM

    def frame_all(self) -> None:
        if not self.isVisible():
            # Before the window is shown the viewport has no real size yet: frame once it has.
            self._frame_pending = True
            return
        rect = QRectF()
        nodes = [item.sceneBoundingRect() for item in self.node_scene.node_items.values()]
        for node_rect in nodes:
            rect = rect.united(node_rect)
        for group in self.node_scene.group_items.values():
            rect = rect.united(group.sceneBoundingRect())
        extras = self.node_scene.frame_extras()
        for extra in extras:
            rect = rect.united(extra)
        if rect.isNull():
            self.resetTransform()
            self.centerOn(0.0, 0.0)
            self.zoom_changed.emit(1.0)
            return
        floor = self.readable_floor(nodes, rect)
        # A little below the readable floor with a subgraph's boundary items beside the nodes,
        # so the Outputs item of a compact subgraph (Hires fix: two nodes) still fits.
        self.frame(rect, min_zoom=0.8 * floor if extras else floor)

    def frame_selection(self) -> None:
        items = self.node_scene.selectedItems()
        if not items:
            self.frame_all()
            return
        rect = QRectF()
        for item in items:
            rect = rect.united(item.sceneBoundingRect())
        nodes = [item.sceneBoundingRect() for item in items if isinstance(item, NodeItem)]
        self.frame(rect, min_zoom=self.readable_floor(nodes, rect))

    def scene_center(self) -> QPointF:
        return self.mapToScene(self.viewport().rect().center())

    def cursor_scene_pos(self) -> QPointF | None:
        """Where the mouse is on the canvas, or None when it is outside the view."""
        from PySide6.QtGui import QCursor

        local = self.viewport().mapFromGlobal(QCursor.pos())
        if not self.viewport().rect().contains(local):
            return None
        return self.mapToScene(local)

    # -- painting -------------------------------------------------------------------------------

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        theme = self.node_scene.theme
        painter.fillRect(rect, theme.color("canvas"))
        zoom = self.zoom()
        step = GRID
        while step * zoom < 10.0:
            step *= GRID_MAJOR_EVERY
        minor_lines: list[QLineF] = []
        major_lines: list[QLineF] = []
        index = math.floor(rect.left() / step)
        while index * step < rect.right():
            x = index * step
            lines = major_lines if index % GRID_MAJOR_EVERY == 0 else minor_lines
            lines.append(QLineF(x, rect.top(), x, rect.bottom()))
            index += 1
        index = math.floor(rect.top() / step)
        while index * step < rect.bottom():
            y = index * step
            lines = major_lines if index % GRID_MAJOR_EVERY == 0 else minor_lines
            lines.append(QLineF(rect.left(), y, rect.right(), y))
            index += 1
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        pen = QPen(theme.color("grid_minor"), 0)
        painter.setPen(pen)
        painter.drawLines(minor_lines)
        pen.setColor(theme.color("grid_major"))
        painter.setPen(pen)
        painter.drawLines(major_lines)
        painter.restore()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._frame_pending and self.isVisible():
            self._frame_pending = False
            self.frame_all()

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            self.first_painted.emit()

    # -- mouse ----------------------------------------------------------------------------------

    def _starts_pan(self, event: QMouseEvent) -> bool:
        return event.button() == Qt.MouseButton.MiddleButton or (
            event.button() == Qt.MouseButton.LeftButton and self._space_held)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self._starts_pan(event):
            self._pan_from = event.position().toPoint()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            position = event.position().toPoint()
            delta = position - self._pan_from
            self._pan_from = position
            self.pan_by(-delta.x(), -delta.y())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None and event.button() in (Qt.MouseButton.MiddleButton,
                                                              Qt.MouseButton.LeftButton):
            self._pan_from = None
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor if self._space_held
                                      else Qt.CursorShape.ArrowCursor)
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._empty_at(event.position()) \
                and self.node_scene.editor.path:
            # Inside a subgraph, a double-click on the empty canvas goes back up (Tab adds).
            self.node_scene.editor.set_path(self.node_scene.editor.path[:-1])
            event.accept()
            return
        if event.button() == Qt.MouseButton.LeftButton and self._empty_at(event.position()):
            position = event.position().toPoint()
            self.palette_requested.emit(position, self.mapToScene(position))
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def _empty_at(self, position: QPointF) -> bool:
        for item in self.items(position.toPoint()):
            if isinstance(item, NodeItem | LinkItem | RerouteHandle):
                return False
            if item.shape().contains(item.mapFromScene(self.mapToScene(position.toPoint()))):
                return False
        return True

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y() or event.angleDelta().x()
        if delta == 0:
            return
        self.zoom_by(1.0015 ** delta, event.position().toPoint())
        event.accept()

    # -- keyboard -------------------------------------------------------------------------------

    def focusNextPrevChild(self, next: bool) -> bool:
        return False  # Tab opens the node search here instead of moving the focus

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if self.node_scene.focusItem() is not None:
            super().keyPressEvent(event)  # an inline editor is typing
            return
        key = event.key()
        if key == Qt.Key.Key_Tab and not event.modifiers():
            local = self.viewport().mapFromGlobal(self.cursor().pos())
            if not self.viewport().rect().contains(local):
                local = self.viewport().rect().center()
            self.palette_requested.emit(local, self.mapToScene(local))
            event.accept()
            return
        if key == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        if key == Qt.Key.Key_Escape and self.node_scene.link_drag is not None:
            self.node_scene.cancel_link_drag()
            event.accept()
            return
        if key == Qt.Key.Key_Escape and self.node_scene.editor.path:
            self.node_scene.editor.set_path(self.node_scene.editor.path[:-1])
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = False
            if self._pan_from is None:
                self.viewport().setCursor(Qt.CursorShape.ArrowCursor)
            event.accept()
            return
        super().keyReleaseEvent(event)

    # -- drops ----------------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        mime = event.mimeData()
        if mime.hasFormat(NODE_TYPE_MIME) or mime.hasUrls():
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        mime = event.mimeData()
        if mime.hasFormat(NODE_TYPE_MIME) or mime.hasUrls():
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        mime = event.mimeData()
        if mime.hasFormat(NODE_TYPE_MIME):
            type_id = bytes(mime.data(NODE_TYPE_MIME).data()).decode("utf-8")
            self.node_type_dropped.emit(type_id, self.mapToScene(event.position().toPoint()))
            event.acceptProposedAction()
            return
        if mime.hasUrls():
            paths = [url.toLocalFile() for url in mime.urls() if url.isLocalFile()]
            if paths:
                self.files_dropped.emit(paths)
                event.acceptProposedAction()
                return
        super().dropEvent(event)
