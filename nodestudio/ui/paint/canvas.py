"""The paint editor's drawing surface: the picture, the sketch and the mask, zoomed and panned.

Left button paints with the current tool (brush, eraser, fill) on the active layer; Shift
draws a straight line from where the last stroke ended; the middle button (or Space + drag)
pans and the wheel zooms around the cursor, as on the node canvas. A tablet's pressure
scales the brush where Qt reports it. Every stroke is one command on ``undo_stack``.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QTabletEvent,
    QUndoStack,
    QWheelEvent,
)
from PySide6.QtWidgets import QWidget

from nodestudio.ui.paint.layers import (
    LAYER_FORMAT,
    MASK,
    MASK_COLOR,
    SKETCH,
    blank_layer,
    invert_mask,
)
from nodestudio.ui.paint.strokes import (
    BRUSH,
    ERASER,
    FILL,
    BrushSettings,
    RegionCommand,
    Stroke,
    layer_change,
)

MIN_ZOOM, MAX_ZOOM = 0.05, 32.0
#: How strongly the mask shows over the picture.
MASK_OPACITY = 0.6


class PaintCanvas(QWidget):
    #: The layers changed (a stroke, an undo, a clear): the dialog refreshes what depends on it.
    changed = Signal()
    #: A stroke, fill, clear or invert was completed (undo and redo too).
    stroke_finished = Signal()

    def __init__(self, background: QImage, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("paintCanvas")
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.background = background.convertToFormat(QImage.Format.Format_RGB32)
        width, height = self.background.width(), self.background.height()
        self.layers: dict[str, QImage] = {MASK: blank_layer(width, height),
                                          SKETCH: blank_layer(width, height)}
        self.active = SKETCH
        self.tool = BRUSH
        self.brush = BrushSettings()
        self.undo_stack = QUndoStack(self)
        self.undo_stack.indexChanged.connect(self._stack_moved)
        self.zoom = 1.0
        self.offset = QPointF(0.0, 0.0)
        self._stroke: Stroke | None = None
        self._last_end: QPointF | None = None
        self._pan_from: QPointF | None = None
        self._space = False
        self._cursor: QPointF | None = None
        self._fitted = False

    # -- coordinates and view ------------------------------------------------------------------

    def to_image(self, widget_pos: QPointF) -> QPointF:
        return QPointF((widget_pos.x() - self.offset.x()) / self.zoom,
                       (widget_pos.y() - self.offset.y()) / self.zoom)

    def to_widget(self, image_pos: QPointF) -> QPointF:
        return QPointF(image_pos.x() * self.zoom + self.offset.x(),
                       image_pos.y() * self.zoom + self.offset.y())

    def fit(self) -> None:
        """Show the whole picture, centred."""
        width, height = self.background.width(), self.background.height()
        if self.width() < 2 or self.height() < 2:
            return
        self.zoom = max(MIN_ZOOM, min(MAX_ZOOM, 0.95 * min(self.width() / width,
                                                           self.height() / height)))
        self.offset = QPointF((self.width() - width * self.zoom) / 2,
                              (self.height() - height * self.zoom) / 2)
        self.update()

    def zoom_by(self, factor: float, around: QPointF) -> None:
        anchor = self.to_image(around)
        self.zoom = max(MIN_ZOOM, min(MAX_ZOOM, self.zoom * factor))
        self.offset = QPointF(around.x() - anchor.x() * self.zoom,
                              around.y() - anchor.y() * self.zoom)
        self.update()

    def resizeEvent(self, event: object) -> None:
        if not self._fitted:
            self.fit()
            self._fitted = self.width() > 1
        super().resizeEvent(event)  # type: ignore[arg-type]

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        self.zoom_by(1.15 ** steps, event.position())
        event.accept()

    # -- layers ---------------------------------------------------------------------------------

    def set_layers(self, mask: QImage, sketch: QImage) -> None:
        """Start from a stored drawing (not undoable: it is where the editor opens)."""
        self.layers[MASK] = mask.convertToFormat(LAYER_FORMAT)
        self.layers[SKETCH] = sketch.convertToFormat(LAYER_FORMAT)
        self.undo_stack.clear()
        self.update()

    def _stack_moved(self, _index: int) -> None:
        self.changed.emit()
        self.stroke_finished.emit()

    def _color(self) -> QColor:
        return QColor(MASK_COLOR) if self.active == MASK else QColor(self.brush.color)

    def _layer_changed(self) -> None:
        self.update()

    def clear_layer(self) -> None:
        name = self.active
        self._push(layer_change(self.layers, name, blank_layer(
            self.background.width(), self.background.height()),
            f"Clear {name}", self._layer_changed))

    def invert_mask(self) -> None:
        self._push(layer_change(self.layers, MASK, invert_mask(self.layers[MASK]),
                                "Invert mask", self._layer_changed))

    def fill_at(self, point: QPointF) -> None:
        """Flood-fill the area around ``point`` that looks alike (picture, sketch and mask as
        shown) on the active layer, with the tool's colour and opacity."""
        import cv2  # a flood fill in C: no per-pixel Python on big pictures

        x, y = int(point.x()), int(point.y())
        if not self.background.rect().contains(x, y):
            return
        seen = self.composite().convertToFormat(QImage.Format.Format_RGB888)
        row = seen.bytesPerLine()
        pixels = np.frombuffer(seen.constBits(), np.uint8, count=row * seen.height()).reshape(
            seen.height(), row)[:, : seen.width() * 3].reshape(seen.height(), seen.width(), 3)
        region = np.zeros((seen.height() + 2, seen.width() + 2), np.uint8)
        cv2.floodFill(pixels.copy(), region, (x, y), (0, 0, 0), (8, 8, 8),
                      (8, 8, 8), 4 | cv2.FLOODFILL_MASK_ONLY | (255 << 8))
        coverage = np.ascontiguousarray(region[1:-1, 1:-1]).tobytes()
        # copy(): the QImage must own its pixels, not borrow the bytes object's.
        alpha = QImage(coverage, seen.width(), seen.height(), seen.width(),
                       QImage.Format.Format_Grayscale8).copy()
        tint = QImage(self.background.size(), LAYER_FORMAT)
        tint.fill(self._color())
        tint.setAlphaChannel(alpha)
        new = self.layers[self.active].copy()
        painter = QPainter(new)
        painter.setOpacity(self.brush.opacity)
        painter.drawImage(0, 0, tint)
        painter.end()
        self._push(layer_change(self.layers, self.active, new, "Fill", self._layer_changed))

    def composite(self) -> QImage:
        """The picture with the sketch and the mask over it, as the editor shows them."""
        image = self.background.convertToFormat(LAYER_FORMAT)
        painter = QPainter(image)
        painter.drawImage(0, 0, self.layers[SKETCH])
        painter.setOpacity(MASK_OPACITY)
        painter.drawImage(0, 0, self.layers[MASK])
        painter.end()
        return image

    def _push(self, command: RegionCommand) -> None:
        self.undo_stack.push(command)
        self.update()

    # -- strokes --------------------------------------------------------------------------------

    def begin_stroke(self, image_pos: QPointF, pressure: float, straight: bool) -> None:
        if self.tool == FILL:
            self.fill_at(image_pos)
            return
        self._stroke = Stroke(self.layers[self.active], self.tool, self.brush, self._color())
        if straight and self._last_end is not None:
            self._stroke.to(self._last_end, pressure)
        self._stroke.to(image_pos, pressure)
        self.update()

    def continue_stroke(self, image_pos: QPointF, pressure: float) -> None:
        if self._stroke is not None:
            changed = self._stroke.to(image_pos, pressure)
            self.update(self._widget_rect(changed))

    def end_stroke(self) -> None:
        stroke, self._stroke = self._stroke, None
        if stroke is None or stroke.bounds.isEmpty():
            return
        self._last_end = stroke.last
        rect = stroke.bounds
        text = "Erase" if stroke.tool == ERASER else f"Paint {self.active}"
        self.undo_stack.push(RegionCommand(self.layers, self.active, rect,
                                           stroke.before.copy(rect), stroke.layer.copy(rect),
                                           text, self._layer_changed))
        self.update()

    def _widget_rect(self, rect: QRect) -> QRect:
        top_left = self.to_widget(QPointF(rect.topLeft()))
        return QRectF(top_left.x(), top_left.y(), rect.width() * self.zoom,
                      rect.height() * self.zoom).toAlignedRect().adjusted(-2, -2, 2, 2)

    # -- input ----------------------------------------------------------------------------------

    def _pans(self, event: QMouseEvent) -> bool:
        return event.button() == Qt.MouseButton.MiddleButton or (
            self._space and event.button() == Qt.MouseButton.LeftButton)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self._pans(event):
            self._pan_from = event.position()
        elif event.button() == Qt.MouseButton.LeftButton:
            straight = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            self.begin_stroke(self.to_image(event.position()), 1.0, straight)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self._cursor = event.position()
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self.offset += delta
            self._pan_from = event.position()
            self.update()
        elif self._stroke is not None:
            self.continue_stroke(self.to_image(event.position()), 1.0)
        else:
            self.update()
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            self._pan_from = None
        elif event.button() == Qt.MouseButton.LeftButton:
            self.end_stroke()
        event.accept()

    def tabletEvent(self, event: QTabletEvent) -> None:
        """Pressure from a pen scales the dabs; Qt then sends no mouse event for it."""
        position = self.to_image(event.position())
        pressure = event.pressure() if event.pressure() > 0 else 1.0
        kind = event.type()
        if kind == QTabletEvent.Type.TabletPress:
            straight = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            self.begin_stroke(position, pressure, straight)
        elif kind == QTabletEvent.Type.TabletMove:
            self.continue_stroke(position, pressure)
        elif kind == QTabletEvent.Type.TabletRelease:
            self.end_stroke()
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
        super().keyReleaseEvent(event)

    # -- drawing --------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(event.rect(), QColor(38, 40, 44))
        painter.translate(self.offset)
        painter.scale(self.zoom, self.zoom)
        if self.zoom < 2.0:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(0, 0, self.background)
        painter.drawImage(0, 0, self.layers[SKETCH])
        painter.setOpacity(MASK_OPACITY)
        painter.drawImage(0, 0, self.layers[MASK])
        painter.setOpacity(1.0)
        painter.resetTransform()
        if self._cursor is not None and self.tool != FILL:
            radius = self.brush.size * 0.5 * self.zoom
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(QPen(QColor(255, 255, 255, 200), 1.0))
            painter.drawEllipse(self._cursor, radius, radius)
            painter.setPen(QPen(QColor(0, 0, 0, 160), 1.0))
            painter.drawEllipse(self._cursor, radius + 1, radius + 1)
        painter.end()
