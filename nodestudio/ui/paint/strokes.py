"""Painting strokes into a layer with QPainter, and undoing them (QUndoStack commands).

A stroke paints its coverage (soft round dabs, the hardness shaping their edge) into a buffer
with "lighten", so crossing itself does not darken; the layer shown is then the layer as it
was before the stroke with that coverage laid over it once, tinted and at the stroke's
opacity. Only the rectangle a move touched is recomposed, so big pictures stay fluid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from PySide6.QtCore import QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QRadialGradient, QUndoCommand

from nodestudio.ui.paint.layers import LAYER_FORMAT, blank_layer, put_region

BRUSH, ERASER, FILL = "brush", "eraser", "fill"


@dataclass
class BrushSettings:
    size: float = 24.0
    #: 1: a hard edge; 0: the dab fades from its centre.
    hardness: float = 0.8
    opacity: float = 1.0
    color: QColor = field(default_factory=lambda: QColor(20, 20, 20))


class Stroke:
    """One press-to-release of the brush or eraser on ``layer``."""

    def __init__(self, layer: QImage, tool: str, brush: BrushSettings, color: QColor) -> None:
        self.layer = layer
        self.tool = tool
        self.brush = brush
        self.color = QColor(color)
        self.before = layer.copy()
        self.coverage = blank_layer(layer.width(), layer.height())
        self.bounds = QRect()
        self.last: QPointF | None = None

    def dab_radius(self, pressure: float) -> float:
        return max(0.5, self.brush.size * 0.5 * max(0.05, min(1.0, pressure)))

    def to(self, point: QPointF, pressure: float = 1.0) -> QRect:
        """Extend the stroke to ``point``; returns the layer rectangle that changed."""
        radius = self.dab_radius(pressure)
        start = self.last if self.last is not None else point
        distance = math.hypot(point.x() - start.x(), point.y() - start.y())
        spacing = max(0.75, radius * 0.25)
        steps = max(1, int(distance / spacing)) if self.last is not None else 1
        painter = QPainter(self.coverage)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Lighten)
        painter.setPen(Qt.PenStyle.NoPen)
        first = 1 if self.last is not None else 0
        for index in range(first, steps + 1):
            t = index / steps
            self._dab(painter, QPointF(start.x() + (point.x() - start.x()) * t,
                                       start.y() + (point.y() - start.y()) * t), radius)
        painter.end()
        self.last = QPointF(point)
        reach = math.ceil(radius) + 2
        dirty = QRectF(start, point).normalized().toAlignedRect().adjusted(
            -reach, -reach, reach, reach).intersected(self.layer.rect())
        self.bounds = self.bounds.united(dirty)
        self._compose(dirty)
        return dirty

    def _dab(self, painter: QPainter, centre: QPointF, radius: float) -> None:
        hardness = max(0.0, min(1.0, self.brush.hardness))
        if hardness >= 0.99:
            painter.setBrush(QColor(255, 255, 255))
        else:
            gradient = QRadialGradient(centre, radius)
            gradient.setColorAt(0.0, QColor(255, 255, 255, 255))
            gradient.setColorAt(hardness, QColor(255, 255, 255, 255))
            gradient.setColorAt(1.0, QColor(255, 255, 255, 0))
            painter.setBrush(QBrush(gradient))
        painter.drawEllipse(centre, radius, radius)

    def _compose(self, rect: QRect) -> None:
        if rect.isEmpty():
            return
        put_region(self.layer, rect, self.before.copy(rect))
        tint = self.coverage.copy(rect)
        painter = QPainter(tint)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceIn)
        painter.fillRect(tint.rect(), self.color)
        painter.end()
        painter = QPainter(self.layer)
        painter.setOpacity(max(0.0, min(1.0, self.brush.opacity)))
        if self.tool == ERASER:
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_DestinationOut)
        painter.drawImage(rect.topLeft(), tint)
        painter.end()


class RegionCommand(QUndoCommand):
    """A change to one rectangle of a layer: its pixels before and after. The change is
    already on the layer when the command is pushed, so its first redo does nothing."""

    def __init__(self, layers: dict[str, QImage], name: str, rect: QRect, before: QImage,
                 after: QImage, text: str, changed: object = None) -> None:
        super().__init__(text)
        self.layers, self.name, self.rect = layers, name, QRect(rect)
        self.before, self.after = before, after
        self.changed = changed
        self._applied = True

    def redo(self) -> None:
        if self._applied:
            self._applied = False
            return
        self._put(self.after)

    def undo(self) -> None:
        self._put(self.before)

    def _put(self, pixels: QImage) -> None:
        put_region(self.layers[self.name], self.rect, pixels)
        if callable(self.changed):
            self.changed()


def layer_change(layers: dict[str, QImage], name: str, new: QImage, text: str,
                 changed: object = None) -> RegionCommand:
    """Replace a whole layer by ``new`` (clear, invert, fill) as an undoable command."""
    layer = layers[name]
    before = layer.copy()
    put_region(layer, layer.rect(), new.convertToFormat(LAYER_FORMAT))
    return RegionCommand(layers, name, layer.rect(), before, layer.copy(), text, changed)
