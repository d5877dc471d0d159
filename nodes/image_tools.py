"""Image and mask tools: pad for outpainting, scale to a number of pixels, load a mask.

They work as ComfyUI's ImagePadForOutpaint, ImageScaleToTotalPixels and LoadImageMask, so
shared workflows that use them mean the same here. numpy and PIL only: the pack must import
without torch.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from nodestudio.api import (
    IMAGE,
    MASK,
    Choice,
    Float,
    Input,
    Int,
    NodeContext,
    NodeError,
    Output,
    node,
)

from ._imaging import (
    DEFAULT_RESIZE_METHOD,
    MAX_SIDE,
    RESIZE_METHODS,
    apply_exif_orientation,
    as_image_batch,
    is_png16_color,
    pil_to_pixels,
    read_png16,
    resize_batch,
)
from .image import load_image_fingerprint, read_input_image

_EXIF_ORIENTATION = 0x0112
#: The grey of the new area: ComfyUI's 0.5, which a VAE encodes as "nothing in particular".
PAD_GREY = 0.5


def outpaint_feather(height: int, width: int, left: int, top: int, right: int, bottom: int,
                     feathering: int) -> np.ndarray:
    """The mask over the original picture's area (``height`` x ``width``): ComfyUI's feather.

    For pixel (i, j) the distance to each padded side is ``dt = i``, ``db = height - i``,
    ``dl = j``, ``dr = width - j`` (a side that is not padded counts as ``height`` or
    ``width``: far away); with ``d`` the smallest, the mask is ``((feathering - d) /
    feathering)²`` where ``d < feathering`` and 0 elsewhere. The first row or column next to
    a padded top or left side is thus 1, the last one next to a padded bottom or right side
    ``((f - 1) / f)²``, as in ComfyUI. No feather (all 0) unless ``2 · feathering`` is below
    both sides of the picture.
    """
    inside = np.zeros((height, width), np.float32)
    if not (feathering > 0 and feathering * 2 < height and feathering * 2 < width):
        return inside
    rows = np.arange(height, dtype=np.int64)[:, None]
    columns = np.arange(width, dtype=np.int64)[None, :]
    distances = [rows if top else np.full_like(rows, height),
                 height - rows if bottom else np.full_like(rows, height),
                 columns if left else np.full_like(columns, width),
                 width - columns if right else np.full_like(columns, width)]
    nearest = np.minimum(np.minimum(distances[0], distances[1]),
                         np.minimum(distances[2], distances[3]))
    ramp = (feathering - nearest) / feathering
    return np.where(nearest < feathering, ramp * ramp, 0.0).astype(np.float32)


@node(
    "image.pad_for_outpaint",
    display_name="Pad Image for Outpainting",
    category="image",
    description=(
        "Adds a grey border to extend the picture on any side, and a mask of the new area to "
        "outpaint it (connect both to VAE Encode, or Set Latent Mask). 'feathering' also "
        "masks a strip of the picture along the new sides, fading out over that many pixels, "
        "so the new content blends into the old."
    ),
    inputs=[
        Input("image", IMAGE),
        Int("left", 0, min=0, max=MAX_SIDE, step=8, description="Pixels added on the left"),
        Int("top", 0, min=0, max=MAX_SIDE, step=8, description="Pixels added on top"),
        Int("right", 0, min=0, max=MAX_SIDE, step=8, description="Pixels added on the right"),
        Int("bottom", 0, min=0, max=MAX_SIDE, step=8, description="Pixels added at the bottom"),
        Int("feathering", 40, min=0, max=MAX_SIDE,
            description="Width of the fade into the picture along the padded sides, in pixels"),
    ],
    outputs=[
        Output("image", IMAGE),
        Output("mask", MASK, description="1 in the new area, fading into the picture"),
    ],
)
def pad_for_outpaint(image: Any, left: int, top: int, right: int, bottom: int,
                     feathering: int) -> tuple[np.ndarray, np.ndarray]:
    batch = as_image_batch(image)
    if min(left, top, right, bottom, feathering) < 0:
        raise NodeError("padding and feathering cannot be negative")
    count, height, width, channels = batch.shape
    new_height, new_width = height + top + bottom, width + left + right
    if max(new_height, new_width) > MAX_SIDE:
        raise NodeError(f"padding the {width}x{height} image gives {new_width}x{new_height}, "
                        f"larger than the {MAX_SIDE} pixel limit")
    padded = np.full((count, new_height, new_width, channels), PAD_GREY, np.float32)
    padded[:, top:top + height, left:left + width] = batch
    # One mask for the whole batch (ComfyUI's [1, H, W]): every picture is padded alike.
    mask = np.ones((1, new_height, new_width), np.float32)
    mask[0, top:top + height, left:left + width] = outpaint_feather(
        height, width, left, top, right, bottom, feathering)
    return padded, mask


def total_pixels_size(width: int, height: int, megapixels: float,
                      resolution_steps: int = 1) -> tuple[int, int]:
    """ComfyUI's target size for ``megapixels`` (of 1024 x 1024 pixels each): both sides
    scaled by ``sqrt(total / (width · height))``, rounded to a multiple of
    ``resolution_steps``."""
    total = int(megapixels * 1024 * 1024)
    scale = math.sqrt(total / (width * height))
    return (round(width * scale / resolution_steps) * resolution_steps,
            round(height * scale / resolution_steps) * resolution_steps)


@node(
    "image.scale_to_total_pixels",
    display_name="Scale Image to Total Pixels",
    category="image",
    description=(
        "Scales images, keeping their proportions, to about the given number of megapixels "
        "(1 megapixel = 1024 x 1024 pixels): e.g. to the size a model was trained at. "
        "'resolution_steps' rounds both sides to a multiple of it (8 or 16 suit latents)."
    ),
    inputs=[
        Input("image", IMAGE),
        Choice("method", RESIZE_METHODS, DEFAULT_RESIZE_METHOD),
        Float("megapixels", 1.0, min=0.01, max=16.0, step=0.01),
        Int("resolution_steps", 1, min=1, max=256,
            description="Both sides become a multiple of this"),
    ],
    outputs=[Output("image", IMAGE)],
)
def scale_to_total_pixels(image: Any, method: str, megapixels: float,
                          resolution_steps: int = 1) -> np.ndarray:
    batch = as_image_batch(image)
    if not megapixels > 0 or resolution_steps < 1:
        raise NodeError("megapixels must be above 0 and resolution_steps at least 1")
    source_height, source_width = batch.shape[1:3]
    width, height = total_pixels_size(source_width, source_height, megapixels,
                                      resolution_steps)
    if width < 1 or height < 1:
        raise NodeError(f"{megapixels} megapixels leave the {source_width}x{source_height} "
                        f"image {width}x{height} pixels: nothing to show")
    if max(width, height) > MAX_SIDE:
        raise NodeError(f"{megapixels} megapixels make the {source_width}x{source_height} image "
                        f"{width}x{height}, larger than the {MAX_SIDE} pixel limit")
    return resize_batch(batch, width, height, method)


MASK_CHANNELS = ("alpha", "red", "green", "blue")


def _first_frame(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """The picture's first frame, upright, as RGB and alpha (None when it has none)."""
    with Image.open(path) as picture:
        # Ask before getexif(), which decodes a PNG and forgets how it was stored.
        full_precision = is_png16_color(picture)
        orientation = picture.getexif().get(_EXIF_ORIENTATION, 1)
        rgb, alpha = read_png16(path) if full_precision else pil_to_pixels(picture)
    rgb = apply_exif_orientation(rgb, orientation)
    return rgb, None if alpha is None else apply_exif_orientation(alpha, orientation)


@node(
    "mask.load",
    display_name="Load Image as Mask",
    category="mask",
    description=(
        "Loads one channel of a picture in the input folder as a mask. 'alpha' masks the "
        "transparent parts (1 where fully transparent; nothing for a picture without "
        "transparency); red, green and blue mask where that colour is bright."
    ),
    inputs=[
        Choice("image", source="files:input",
               description="File name in the input folder, or an absolute path"),
        Choice("channel", MASK_CHANNELS, "alpha"),
    ],
    outputs=[Output("mask", MASK)],
    deterministic=False,
    fingerprint=load_image_fingerprint,
)
def load_image_mask(image: str, channel: str, ctx: NodeContext) -> np.ndarray:
    if channel not in MASK_CHANNELS:
        raise NodeError(f"unknown channel {channel!r}; use one of {', '.join(MASK_CHANNELS)}")
    rgb, alpha = read_input_image(image, ctx, _first_frame)
    if channel == "alpha":
        # ComfyUI inverts alpha: the transparent parts are the ones to paint.
        plane = np.zeros(rgb.shape[:2], np.float32) if alpha is None else 1.0 - alpha
    else:
        plane = rgb[..., MASK_CHANNELS.index(channel) - 1]
    return np.ascontiguousarray(plane, dtype=np.float32)[None]
