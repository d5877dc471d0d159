"""The Paint node: a mask and a sketch drawn in the window's paint editor (nodestudio.ui.paint).

The drawing lives in the node's values as two PNGs in base64 (the mask in grey, the sketch
with alpha), so a saved or shared graph carries it, and the node's signature changes exactly
when the drawing does: only what depends on the drawing re-runs. This module imports no Qt:
the editor writes the PNGs, the node only decodes them with Pillow and numpy.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import io
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from nodestudio.api import IMAGE, MASK, Input, Int, NodeError, Output, String, node

from ._imaging import MAX_SIDE, as_image_batch, parse_color

#: The node type's id (the window's editor opens on nodes of this type).
PAINT_TYPE = "image.paint"
MASK_VALUE = "mask_png"
SKETCH_VALUE = "sketch_png"
#: Shown as a summary with an Edit… button, never as text (nodestudio/ui/paint/summary.py).
DRAWING_DISPLAY = "drawing"


def _drawing(name: str, description: str) -> Any:
    """A stored layer: a string value the window shows as a drawing, not as typed text."""
    return dataclasses.replace(String(name, "", advanced=True, description=description),
                               display=DRAWING_DISPLAY)



def encode_png(picture: Image.Image) -> str:
    """``picture`` as base64 PNG text, the form the drawing is stored in."""
    buffer = io.BytesIO()
    # Level 6 keeps a 4096² drawing's save quick; flat areas compress well at any level.
    picture.save(buffer, format="PNG", compress_level=6)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_png(text: str, mode: str, what: str) -> Image.Image | None:
    """The picture stored in ``text`` (None when nothing is drawn), converted to ``mode``."""
    if not text or not text.strip():
        return None
    try:
        data = base64.b64decode(text.strip(), validate=True)
        with Image.open(io.BytesIO(data)) as picture:
            if picture.format != "PNG":
                raise UnidentifiedImageError(picture.format)
            return picture.convert(mode)
    except (binascii.Error, ValueError, OSError, UnidentifiedImageError) as error:
        raise NodeError(f"Paint: the stored {what} is damaged ({type(error).__name__}); "
                        "open the node's editor and press Clear, or undo to the last good "
                        "drawing") from error


def canvas(width: int, height: int, color: str) -> np.ndarray:
    """A blank [1, H, W, 3] canvas of one colour."""
    red, green, blue = parse_color(color)
    pixels = np.empty((1, height, width, 3), np.float32)
    pixels[...] = np.array([red, green, blue], np.float32) / 255.0
    return pixels


def _fitted(picture: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """The layer as floats in [0, 1], stretched to ``size`` (w, h) if the background changed."""
    if picture.size != size:
        picture = picture.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(picture, dtype=np.float32) / 255.0


def composite(background: np.ndarray, mask_png: str, sketch_png: str
              ) -> tuple[np.ndarray, np.ndarray]:
    """The background with the sketch layer over it, and the mask, for every picture of
    the batch (one drawing applies to all)."""
    batch, height, width, _ = background.shape
    mask_layer = decode_png(mask_png, "L", "mask")
    sketch_layer = decode_png(sketch_png, "RGBA", "sketch")
    image = background.copy()
    if sketch_layer is not None:
        rgba = _fitted(sketch_layer, (width, height))
        alpha = rgba[..., 3:4]
        image = image * (1.0 - alpha) + rgba[None, ..., :3] * alpha
    if mask_layer is None:
        mask = np.zeros((batch, height, width), np.float32)
    else:
        mask = np.repeat(_fitted(mask_layer, (width, height))[None], batch, axis=0)
    return image.astype(np.float32, copy=False), mask


@node(
    PAINT_TYPE,
    display_name="Paint (Mask / Sketch)",
    category="image",
    description=(
        "A mask and a sketch drawn in NodeStudio's paint editor (double-click the node). "
        "Draws over the connected image, or over a blank canvas of the given size and "
        "colour; outputs the painted image and the mask."
    ),
    inputs=[
        Input("image", IMAGE, optional=True,
              description="The picture to draw over; without it, a blank canvas"),
        Int("width", 512, min=8, max=MAX_SIDE, step=8, description="Blank canvas width"),
        Int("height", 512, min=8, max=MAX_SIDE, step=8, description="Blank canvas height"),
        String("color", "#ffffff", description="Blank canvas colour (#rrggbb)"),
        _drawing(MASK_VALUE, "The drawn mask (PNG data; edit it in the paint editor)"),
        _drawing(SKETCH_VALUE, "The drawn sketch (PNG data; edit it in the paint editor)"),
    ],
    outputs=[Output("image", IMAGE), Output("mask", MASK)],
)
def paint(width: int, height: int, color: str, mask_png: str, sketch_png: str,
          image: Any = None) -> tuple[np.ndarray, np.ndarray]:
    background = canvas(width, height, color) if image is None else as_image_batch(image)
    return composite(background, mask_png, sketch_png)
