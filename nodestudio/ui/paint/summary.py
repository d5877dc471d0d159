"""How a stored drawing shows on the node and in the properties panel: a one-line summary
("mask: 512×512, 3% painted") and an Edit… button, never the PNG data as text.

The Paint node marks its ``mask_png`` / ``sketch_png`` inputs with ``display="drawing"``
(nodes/paint.py): the canvas and the properties panel ask :func:`is_drawing` before they build
a typed widget, so a megabyte of base64 is never laid out, elided or offered for typing.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

#: ``InputSpec.display`` of a drawing stored as PNG data.
DRAWING_DISPLAY = "drawing"
EDIT_LABEL = "Edit…"


def is_drawing(spec: Any) -> bool:
    return spec is not None and getattr(spec, "display", None) == DRAWING_DISPLAY


def layer_name(name: str) -> str:
    """"mask_png" → "mask": the stored form is an implementation detail."""
    return name.removesuffix("_png")


@lru_cache(maxsize=32)
def _describe(value: str) -> tuple[str, str]:
    """(size, state): ("512×512", "3% painted"), or ("", "empty") and ("", "damaged…")."""
    # Cached: the canvas repaints often and a 4096² drawing takes a while to decode; Python
    # caches a str's hash, so the lookup is cheap even for large values.
    if not value.strip():
        return "", "empty"
    try:
        image = QImage.fromData(base64.b64decode(value.strip(), validate=True))
    except (binascii.Error, ValueError):
        image = QImage()
    if image.isNull():
        return "", "damaged, open the editor and press Clear"
    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)
    row, height, width = rgba.bytesPerLine(), rgba.height(), rgba.width()
    pixels = np.frombuffer(rgba.constBits(), np.uint8, count=row * height)
    pixels = pixels.reshape(height, row)[:, : width * 4].reshape(height, width, 4)
    # A grey mask is painted where it is not black; a sketch where it is not transparent.
    grey = image.format() in (QImage.Format.Format_Grayscale8, QImage.Format.Format_Grayscale16)
    painted = pixels[..., 0] > 0 if grey else pixels[..., 3] > 0
    share = 100.0 * float(painted.mean())
    percent = f"{share:.0f}" if share >= 1 or share == 0 else "<1"
    return f"{width}×{height}", f"{percent}% painted"


def summary(name: str, value: Any, with_size: bool = True) -> str:
    """"mask: 512×512, 3% painted" (or "…: empty"; without the size on narrow rows)."""
    size, state = _describe(value if isinstance(value, str) else "")
    shown = f"{size}, {state}" if size and with_size else state
    return f"{layer_name(name)}: {shown}"


def paint_drawing_row(painter: QPainter, rect: QRectF, name: str, value: Any,
                      color: Any, accent: Any) -> None:
    """The node's row for a drawing: the summary on the left, "Edit…" on the right (the whole
    row opens the editor when pressed)."""
    inner = rect.adjusted(10.0, 0.0, -10.0, 0.0)
    metrics = painter.fontMetrics()
    edit_width = metrics.horizontalAdvance(EDIT_LABEL) + 6.0
    align = Qt.AlignmentFlag.AlignVCenter
    painter.setPen(accent)
    painter.drawText(inner, align | Qt.AlignmentFlag.AlignRight, EDIT_LABEL)
    text_rect = inner.adjusted(0.0, 0.0, -edit_width, 0.0)
    painter.setPen(color)
    text = summary(name, value)
    if metrics.horizontalAdvance(text) > text_rect.width():  # a narrow node: the share matters
        text = summary(name, value, with_size=False)
    painter.drawText(text_rect, align | Qt.AlignmentFlag.AlignLeft,
                     metrics.elidedText(text, Qt.TextElideMode.ElideRight,
                                        int(text_rect.width())))


def drawing_field(name: str, open_editor: Callable[[], object]
                  ) -> tuple[QWidget, Callable[[Any], None]]:
    """The properties panel's read-only row for a drawing and its setter."""
    field = QWidget()
    layout = QHBoxLayout(field)
    layout.setContentsMargins(0, 0, 0, 0)
    label = QLabel(field)
    label.setObjectName("drawingSummary")
    label.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
    button = QPushButton(EDIT_LABEL, field)
    button.setObjectName("drawingEdit")
    button.setToolTip("Open the paint editor")
    button.clicked.connect(lambda _checked=False: open_editor())
    layout.addWidget(label, 1)
    layout.addWidget(button)
    return field, lambda value: label.setText(summary(name, value))
