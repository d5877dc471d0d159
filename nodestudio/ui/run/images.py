"""Image batches from runs (numpy float RGB in [0, 1]) as QImages, and file thumbnails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QImage, QImageReader

THUMBNAIL_SIZE = 160


def batch_images(batch: Any) -> list[np.ndarray]:
    """The images of a batch ([B, H, W, C] or [H, W, C]) as [H, W, C] arrays; [] when the
    value is no image (a node may show anything; the UI must not break on it)."""
    array = _as_array(batch)
    if array is None:
        return []
    if array.ndim == 3:
        return [array]
    if array.ndim == 4:
        return list(array)
    return []


def to_qimage(image: Any) -> QImage | None:
    """One image ([H, W, C] or a batch, of which the first is taken) as an RGB QImage."""
    images = batch_images(image)
    if not images:
        return None
    pixels = images[0]
    channels = pixels.shape[-1]
    if channels == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    elif channels >= 3:
        pixels = pixels[..., :3]
    else:
        return None
    if pixels.dtype != np.uint8:
        # NaN from a broken model shows black instead of failing the conversion.
        pixels = np.nan_to_num(pixels.astype(np.float32), nan=0.0)
        pixels = (np.clip(pixels, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    if height == 0 or width == 0:
        return None
    image = QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return image.copy()  # own the pixels: the numpy buffer goes away


def thumbnail(image: QImage, size: int = THUMBNAIL_SIZE) -> QImage:
    return image.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                        Qt.TransformationMode.SmoothTransformation)


def read_thumbnail(path: Path, size: int = THUMBNAIL_SIZE) -> QImage | None:
    """A small version of the image file, decoded at reduced size where the format allows."""
    reader = QImageReader(str(path))
    original = reader.size()
    if original.isValid() and (original.width() > size or original.height() > size):
        reader.setScaledSize(original.scaled(QSize(size, size),
                                             Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    return None if image.isNull() else image


def _as_array(value: Any) -> np.ndarray | None:
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        try:
            return value.detach().float().cpu().numpy()
        except (RuntimeError, TypeError):
            return None
    return None
