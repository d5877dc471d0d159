"""Mask nodes: make masks from colours, invert, grow or shrink, soften, and show them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nodestudio.api import IMAGE, MASK, Float, Input, Int, NodeError, Output, String, node

from ._imaging import MAX_SIDE, as_image_batch, as_mask_batch, parse_color, to_uint8

MAX_GROW = 1024
MAX_BLUR = 512.0


@node(
    "mask.from_color",
    display_name="Mask from Colour",
    category="mask",
    description=(
        "Masks every pixel of one colour. Write the colour as #rrggbb or as r, g, b (0-255); "
        "'tolerance' also accepts colours that differ by up to that much in each channel."
    ),
    inputs=[
        Input("image", IMAGE),
        String("color", "#ffffff", description="#rrggbb, #rgb, or r, g, b from 0 to 255"),
        Int("tolerance", 0, min=0, max=255, description="Largest accepted difference per channel"),
    ],
    outputs=[Output("mask", MASK)],
)
def mask_from_color(image: Any, color: str, tolerance: int) -> np.ndarray:
    target = np.array(parse_color(color), dtype=np.int16)
    # Compare in 8-bit steps, the units the colour and tolerance are written in.
    pixels = to_uint8(as_image_batch(image)).astype(np.int16)
    distance = np.abs(pixels - target).max(axis=-1)
    return (distance <= tolerance).astype(np.float32)


@node(
    "mask.invert",
    display_name="Invert Mask",
    category="mask",
    description="Swaps masked and unmasked areas.",
    inputs=[Input("mask", MASK)],
    outputs=[Output("mask", MASK)],
)
def invert_mask(mask: Any) -> np.ndarray:
    return 1.0 - np.clip(as_mask_batch(mask), 0.0, 1.0)


@node(
    "mask.grow",
    display_name="Grow Mask",
    category="mask",
    description=(
        "Grows the masked area outwards by a number of pixels, or shrinks it with a negative "
        "number. Corners stay round."
    ),
    inputs=[
        Input("mask", MASK),
        Int("pixels", 8, min=-MAX_GROW, max=MAX_GROW, description="Negative values shrink"),
    ],
    outputs=[Output("mask", MASK)],
)
def grow_mask(mask: Any, pixels: int) -> np.ndarray:
    import cv2

    masks = np.clip(as_mask_batch(mask), 0.0, 1.0)
    if pixels == 0:
        return masks
    operation = cv2.dilate if pixels > 0 else cv2.erode
    # A disc-shaped kernel grows by the same distance in every direction. One big disc costs
    # time that grows with its area; growing by a disc of radius a, then b, grows by a + b,
    # so large distances are reached in steps of small discs instead.
    steps, remainder = divmod(abs(pixels), _GROW_STEP)
    passes = [(_disc(_GROW_STEP), steps)] if steps else []
    passes += [(_disc(remainder), 1)] if remainder else []
    grown = []
    for item in masks:
        # opencv's default border takes no part in the operation: a mask touching the
        # picture's edge is not eaten away from outside when it shrinks.
        for kernel, iterations in passes:
            item = operation(item, kernel, iterations=iterations)
        grown.append(item)
    return np.stack(grown).astype(np.float32, copy=False)


_GROW_STEP = 8


def _disc(radius: int) -> np.ndarray:
    import cv2

    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


@node(
    "mask.blur",
    display_name="Blur Mask",
    category="mask",
    description="Softens the mask's edges; the softening reaches about 'radius' pixels.",
    inputs=[
        Input("mask", MASK),
        Float("radius", 8.0, min=0.0, max=MAX_BLUR, step=0.5),
    ],
    outputs=[Output("mask", MASK)],
)
def blur_mask(mask: Any, radius: float) -> np.ndarray:
    import cv2

    masks = np.clip(as_mask_batch(mask), 0.0, 1.0)
    if radius <= 0:
        return masks
    # A Gaussian falls to almost nothing at three sigmas: the reach the artist asked for.
    sigma = radius / 3.0
    size = 2 * math.ceil(radius) + 1
    return np.stack([
        cv2.GaussianBlur(item, (size, size), sigmaX=sigma, sigmaY=sigma,
                         borderType=cv2.BORDER_REPLICATE)
        for item in masks
    ]).astype(np.float32, copy=False)


@node(
    "mask.solid",
    display_name="Solid Mask",
    category="mask",
    description="A mask of one value everywhere: 1 masks the whole picture, 0 nothing.",
    inputs=[
        Float("value", 1.0, min=0.0, max=1.0, step=0.01, display="slider"),
        Int("width", 512, min=1, max=MAX_SIDE, step=8),
        Int("height", 512, min=1, max=MAX_SIDE, step=8),
    ],
    outputs=[Output("mask", MASK)],
)
def solid_mask(value: float, width: int, height: int) -> np.ndarray:
    if width < 1 or height < 1:
        raise NodeError(f"a mask needs at least 1x1 pixels, not {width}x{height}")
    return np.full((1, height, width), value, dtype=np.float32)


@node(
    "mask.to_image",
    display_name="Mask to Image",
    category="mask",
    description="Shows a mask as a greyscale image: masked areas white, the rest black.",
    inputs=[Input("mask", MASK)],
    outputs=[Output("image", IMAGE)],
)
def mask_to_image(mask: Any) -> np.ndarray:
    masks = np.clip(as_mask_batch(mask), 0.0, 1.0)
    return np.repeat(masks[..., None], 3, axis=-1)
