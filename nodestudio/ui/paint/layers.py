"""The paint editor's bitmaps: a mask and a sketch layer as QImages, and their stored form.

Both layers are premultiplied ARGB QImages, painted with QPainter only (no per-pixel Python,
so 4096² stays fluid). The mask is drawn in one display colour; its alpha is the mask value.
What the Paint node stores (nodes/paint.py) is PNG data in base64: the mask as grey levels,
the sketch as RGBA; an empty layer is stored as "" so an untouched node stays tiny.
"""

from __future__ import annotations

import base64

import numpy as np
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRect
from PySide6.QtGui import QColor, QImage, QPainter

LAYER_FORMAT = QImage.Format.Format_ARGB32_Premultiplied
#: The colour the mask is painted in (only its alpha is stored).
MASK_COLOR = QColor(255, 60, 90)
MASK = "mask"
SKETCH = "sketch"


def blank_layer(width: int, height: int) -> QImage:
    image = QImage(width, height, LAYER_FORMAT)
    image.fill(0)
    return image


def _rgba_array(image: QImage) -> np.ndarray:
    """A copy of ``image``'s pixels as [H, W, 4] uint8 RGBA (straight alpha)."""
    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)
    row = rgba.bytesPerLine()
    data = np.frombuffer(rgba.constBits(), np.uint8, count=row * rgba.height())
    return data.reshape(rgba.height(), row)[:, : rgba.width() * 4].reshape(
        rgba.height(), rgba.width(), 4).copy()


def mask_array(layer: QImage) -> np.ndarray:
    """The mask layer as [H, W] uint8 (255: masked)."""
    return _rgba_array(layer)[..., 3]


def sketch_array(layer: QImage) -> np.ndarray:
    """The sketch layer as [H, W, 4] uint8 RGBA."""
    return _rgba_array(layer)


def _png_text(image: QImage) -> str:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")  # type: ignore[call-overload]  # PySide takes str at run time
    buffer.close()
    return base64.b64encode(bytes(data.data())).decode("ascii")


def encode_mask(layer: QImage) -> str:
    alpha = mask_array(layer)
    if not alpha.any():
        return ""
    data = alpha.tobytes()
    grey = QImage(data, alpha.shape[1], alpha.shape[0], alpha.shape[1],
                  QImage.Format.Format_Grayscale8).copy()
    return _png_text(grey)


def encode_sketch(layer: QImage) -> str:
    rgba = sketch_array(layer)
    if not rgba[..., 3].any():
        return ""
    return _png_text(layer.convertToFormat(QImage.Format.Format_ARGB32))


def _decode(text: str) -> QImage | None:
    if not text:
        return None
    image = QImage()
    try:
        data = base64.b64decode(text, validate=True)
    except ValueError:
        return None
    return image if image.loadFromData(data, "PNG") else None


def decode_mask(text: str, width: int, height: int) -> QImage:
    """The stored mask as a layer of the given size (blank when nothing or damaged)."""
    grey = _decode(text)
    layer = blank_layer(width, height)
    if grey is None:
        return layer
    grey = grey.convertToFormat(QImage.Format.Format_Grayscale8)
    if grey.size() != layer.size():
        grey = grey.scaled(width, height)
    # The grey levels become the alpha of a layer filled with the mask colour.
    colour = QImage(width, height, LAYER_FORMAT)
    colour.fill(MASK_COLOR)
    colour.setAlphaChannel(grey)
    painter = QPainter(layer)
    painter.drawImage(0, 0, colour)
    painter.end()
    return layer


def decode_sketch(text: str, width: int, height: int) -> QImage:
    picture = _decode(text)
    if picture is None:
        return blank_layer(width, height)
    picture = picture.convertToFormat(LAYER_FORMAT)
    if picture.width() != width or picture.height() != height:
        picture = picture.scaled(width, height)
    return picture


def invert_mask(layer: QImage) -> QImage:
    """The mask with masked and unmasked swapped, as a new layer."""
    inverted = QImage(layer.size(), LAYER_FORMAT)
    inverted.fill(MASK_COLOR)
    painter = QPainter(inverted)
    painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_DestinationOut)
    painter.drawImage(0, 0, layer)
    painter.end()
    return inverted


def copy_region(layer: QImage, rect: QRect) -> QImage:
    return layer.copy(rect)


def put_region(layer: QImage, rect: QRect, pixels: QImage) -> None:
    """Write ``pixels`` back over ``rect`` of ``layer`` (replacing, not blending)."""
    painter = QPainter(layer)
    painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
    painter.drawImage(rect.topLeft(), pixels)
    painter.end()
