"""Pixel helpers shared by the image, mask and preprocessor nodes (numpy and PIL only).

Value formats on links: IMAGE is a float32 array [B, H, W, 3] in [0, 1]; MASK is a float32
array [B, H, W] in [0, 1], 1 marking the masked area.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, PngImagePlugin

from nodestudio.api import NodeError

#: Resampling methods offered by resize nodes. "area" averages every source pixel a target
#: pixel covers (PIL's box filter), which is what shrinking wants.
RESIZE_METHODS = ("nearest", "bilinear", "bicubic", "lanczos", "area")
DEFAULT_RESIZE_METHOD = "lanczos"
#: "center": cut the source to the target's proportions around its middle, then resize.
RESIZE_CROPS = ("disabled", "center")
MAX_SIDE = 16384

_PIL_FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "area": Image.Resampling.BOX,
}


# -- checking values that arrive on links ------------------------------------------------------


def as_image_batch(value: Any, what: str = "image") -> np.ndarray:
    """``value`` as a float32 [B, H, W, 3] array; a single [H, W, 3] image gains a batch axis."""
    array = _as_float_array(value, what)
    if array.ndim == 3 and array.shape[-1] == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3 or 0 in array.shape:
        raise NodeError(
            f"{what}: expected an image batch shaped [batch, height, width, 3], "
            f"got shape {list(array.shape)}"
        )
    return array


def as_mask_batch(value: Any, what: str = "mask") -> np.ndarray:
    """``value`` as a float32 [B, H, W] array; a single [H, W] mask gains a batch axis."""
    array = _as_float_array(value, what)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or 0 in array.shape:
        raise NodeError(
            f"{what}: expected a mask batch shaped [batch, height, width], "
            f"got shape {list(array.shape)}"
        )
    return array


def _as_float_array(value: Any, what: str) -> np.ndarray:
    if value is None:
        raise NodeError(f"{what}: nothing is connected")
    try:
        return np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise NodeError(f"{what}: expected pixels, got {type(value).__name__}") from error


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Float pixels in [0, 1] to 8-bit, rounding to nearest (not truncating); NaN is black."""
    finite = np.nan_to_num(pixels, nan=0.0, posinf=1.0, neginf=0.0)
    return (np.clip(finite, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def from_uint8(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(np.float32) / 255.0


def match_batch(first: np.ndarray, second: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Repeat a batch of one to the other's size; other unequal batch sizes are an error."""
    count_a, count_b = len(first), len(second)
    if count_a == count_b:
        return first, second
    if count_b == 1:
        return first, np.repeat(second, count_a, axis=0)
    if count_a == 1:
        return np.repeat(first, count_b, axis=0), second
    raise NodeError(f"{what}: batch sizes {count_a} and {count_b} differ; use batches of equal "
                    "size, or a single image that is applied to every item")


# -- resizing ----------------------------------------------------------------------------------


def resize_batch(pixels: np.ndarray, width: int, height: int, method: str) -> np.ndarray:
    """Resize [B, H, W, C] images or [B, H, W] masks to ``width`` x ``height``."""
    if method not in _PIL_FILTERS:
        raise NodeError(f"unknown resize method {method!r}; use one of {', '.join(RESIZE_METHODS)}")
    if width < 1 or height < 1:
        raise NodeError(f"cannot resize to {width}x{height}: both sides need at least 1 pixel")
    if pixels.shape[1:3] == (height, width):
        return pixels
    resample = _PIL_FILTERS[method]
    planes = pixels[..., None] if pixels.ndim == 3 else pixels
    # PIL's 32-bit float mode keeps full precision and filters with proper support when
    # shrinking (antialiased), which a plain interpolation would not.
    out = np.empty((planes.shape[0], height, width, planes.shape[3]), dtype=np.float32)
    for index in range(planes.shape[0]):
        for channel in range(planes.shape[3]):
            plane = Image.fromarray(np.ascontiguousarray(planes[index, :, :, channel]))
            out[index, :, :, channel] = np.asarray(plane.resize((width, height), resample))
    # Bicubic and Lanczos overshoot next to hard edges.
    np.clip(out, 0.0, 1.0, out=out)
    return out[..., 0] if pixels.ndim == 3 else out


def crop_to_aspect(pixels: np.ndarray, aspect: float) -> np.ndarray:
    """The middle of [B, H, W, …] images with width / height = ``aspect``: the sides that
    stick out are cut evenly (ComfyUI's ``crop: center``), rounded to whole pixels."""
    height, width = pixels.shape[1:3]
    if width / height > aspect:
        left = round((width - height * aspect) / 2)
        return pixels[:, :, left:width - left] if 0 < left < width / 2 else pixels
    top = round((height - width / aspect) / 2)
    return pixels[:, top:height - top] if 0 < top < height / 2 else pixels


def fit_size(source_width: int, source_height: int, width: int, height: int,
             keep_proportion: bool) -> tuple[int, int]:
    """The target size of a resize request, where 0 means "follow the other side's scale"."""
    if width == 0 and height == 0:
        raise NodeError("set a width or a height (0 means: follow the other side)")
    if width == 0:
        width = round(source_width * height / source_height)
    elif height == 0:
        height = round(source_height * width / source_width)
    elif keep_proportion:
        scale = min(width / source_width, height / source_height)
        width, height = round(source_width * scale), round(source_height * scale)
    return max(1, width), max(1, height)


# -- colours -----------------------------------------------------------------------------------

_HEX_COLOR = re.compile(r"#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})")


def parse_color(text: str) -> tuple[int, int, int]:
    """An 8-bit RGB colour from ``#ff8800``, ``#f80``, ``255, 136, 0`` or a single grey level."""
    cleaned = text.strip()
    match = _HEX_COLOR.fullmatch(cleaned)
    if match:
        digits = match.group(1)
        if len(digits) == 3:
            digits = "".join(digit * 2 for digit in digits)
        return tuple(int(digits[i:i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]
    parts = [part for part in re.split(r"[,\s;]+", cleaned) if part]
    try:
        values = [int(part) for part in parts]
    except ValueError:
        values = []
    if len(values) == 1:
        values *= 3
    if len(values) == 3 and all(0 <= value <= 255 for value in values):
        return values[0], values[1], values[2]
    raise NodeError(
        f"cannot read the colour {text!r}: write it as #rrggbb (e.g. #ff8800) or as "
        "three numbers from 0 to 255 (e.g. 255, 136, 0)"
    )


# -- reading files -----------------------------------------------------------------------------


def pil_to_pixels(picture: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """One decoded frame as (RGB float [H, W, 3], alpha float [H, W] or None), in [0, 1].

    Handles 16-bit and float greyscale, palettes with transparency, greyscale with alpha and
    CMYK. (PIL reduces 16-bit RGB PNGs to 8 bits; :func:`read_png16` keeps all 16.)
    """
    mode = picture.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # PIL opens 16-bit greyscale PNGs as I;16 (older versions as I): 0..65535.
        grey = np.clip(np.asarray(picture, dtype=np.float32) / 65535.0, 0.0, 1.0)
        return np.repeat(grey[..., None], 3, axis=2), None
    if mode == "F":
        grey = np.clip(np.asarray(picture, dtype=np.float32), 0.0, 1.0)
        return np.repeat(grey[..., None], 3, axis=2), None
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode in ("P", "L", "RGB") and "transparency" in picture.info
    )
    if has_alpha:
        rgba = from_uint8(np.asarray(picture.convert("RGBA")))
        return np.ascontiguousarray(rgba[..., :3]), np.ascontiguousarray(rgba[..., 3])
    return from_uint8(np.asarray(picture.convert("RGB"))), None


def is_png16_color(picture: Image.Image) -> bool:
    """Whether ``picture`` is a 16-bit-per-channel colour PNG (which PIL would cut to 8 bits)."""
    if picture.format != "PNG" or picture.mode not in ("RGB", "RGBA") or not picture.tile:
        return False
    raw_mode = picture.tile[0].args
    return isinstance(raw_mode, str) and raw_mode.endswith(";16B")


def read_png16(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """A 16-bit colour PNG at full precision, as (RGB float [H, W, 3], alpha or None)."""
    import cv2  # only here: opencv is the one decoder at hand that keeps 16-bit colour

    decoded = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is None or decoded.ndim != 3:
        raise NodeError(f"cannot decode the 16-bit PNG {path}")
    pixels = decoded.astype(np.float32) / 65535.0
    rgb = np.ascontiguousarray(pixels[..., 2::-1])  # opencv stores BGR(A)
    alpha = np.ascontiguousarray(pixels[..., 3]) if pixels.shape[2] == 4 else None
    return rgb, alpha


def apply_exif_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Turn [H, W, ...] ``pixels`` upright according to an EXIF orientation tag (1-8)."""
    swapped = (1, 0, *range(2, pixels.ndim))
    transforms = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(swapped),
        6: lambda a: np.rot90(a, k=-1),
        7: lambda a: a.transpose(swapped)[::-1, ::-1],
        8: lambda a: np.rot90(a, k=1),
    }
    transform = transforms.get(orientation)
    return np.ascontiguousarray(transform(pixels)) if transform else pixels


# -- writing files -----------------------------------------------------------------------------


def png_info(text_chunks: Mapping[str, str]) -> PngImagePlugin.PngInfo:
    """PNG text chunks; text that Latin-1 cannot hold is stored as UTF-8 (iTXt) by PIL."""
    info = PngImagePlugin.PngInfo()
    for key, value in text_chunks.items():
        info.add_text(key, value)
    return info


def write_png_atomically(path: Path, pixels: np.ndarray, text_chunks: Mapping[str, str]) -> None:
    """Write 8-bit RGB(A) ``pixels`` [H, W, C] to ``path`` so that readers never see half a file.

    The file is written beside its destination and moved into place with ``os.replace``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            Image.fromarray(pixels).save(stream, format="PNG", pnginfo=png_info(text_chunks),
                                         compress_level=4)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
