"""Image nodes: load, save, preview, resize, crop, blend, invert, channel to mask."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from nodestudio.api import (
    IMAGE,
    MASK,
    Boolean,
    Choice,
    Float,
    Input,
    Int,
    NodeContext,
    NodeError,
    Output,
    String,
    node,
)

from ._imaging import (
    DEFAULT_RESIZE_METHOD,
    MAX_SIDE,
    RESIZE_CROPS,
    RESIZE_METHODS,
    apply_exif_orientation,
    as_image_batch,
    crop_to_aspect,
    fit_size,
    is_png16_color,
    match_batch,
    pil_to_pixels,
    read_png16,
    resize_batch,
)
from ._saving import (
    EIGHT_BIT_CONVERSIONS,
    ROUND,
    cannot_save,
    metadata_chunks,
    resolve_output_prefix,
    save_png_batch,
)

_EXIF_ORIENTATION = 0x0112
T = TypeVar("T")

# -- loading -----------------------------------------------------------------------------------


def workflows_dir() -> Path:
    """The pictures shipped with the example workflows. A pack imports only nodestudio.api and
    nodestudio.runtime (docs/ARCHITECTURE.md), so the built-in pack finds them from its own
    place: ``nodes/`` and ``resources/`` sit side by side in a checkout and in the wheel."""
    return Path(__file__).resolve().parent.parent / "resources" / "workflows"


def resolve_input_image(image: str, input_dir: Path) -> Path:
    """The file ``image`` names: an absolute path, or a name inside the input folder.

    A name the input folder lacks but the pictures shipped with the example workflows have
    (resources/workflows) is that picture, so the examples run on a fresh install, as
    ComfyUI's example.png does. ``~`` and ``..`` are resolved lexically (as the app's path
    rules resolve them), so where the name leads can be checked before anything is read."""
    name = image.strip()
    if not name:
        raise NodeError(f"choose an image: put a file in the input folder {input_dir} and pick it, "
                        "or type an absolute path")
    path = Path(name).expanduser()
    if path.is_absolute():
        return Path(os.path.abspath(path))
    inside = Path(os.path.abspath(input_dir / path))
    if not inside.exists():
        shipped = Path(os.path.abspath(workflows_dir() / path))
        if shipped.is_file():
            return shipped
    return inside


def readable_roots(ctx: Any) -> list[Path]:
    """The folders this run may read pictures from: what the app hands over as
    ``ctx.readable_roots`` (it adds the folders the user allowed), else the input folder and
    the example pictures, so a shared graph never reads a stranger's choice of file."""
    roots = getattr(ctx, "readable_roots", None) or (Path(ctx.input_dir), workflows_dir())
    return [Path(os.path.abspath(Path(root).expanduser())) for root in roots]


def allowed_input_image(image: str, ctx: Any) -> Path:
    """The file ``image`` names, refused when it lies outside the readable folders."""
    input_dir = Path(ctx.input_dir)
    path = resolve_input_image(image, input_dir)
    if not any(path.is_relative_to(root) for root in readable_roots(ctx)):
        raise NodeError(f"Load Image may not read {path}: it is outside the input folder "
                        f"{input_dir} and the example pictures; allow its folder first "
                        "(nodestudio run --allow-path DIR, or the window's Run prompt)")
    return path


def read_input_image(image: str, ctx: NodeContext, read: Callable[[Path], T]) -> T:
    """``read`` the input picture ``image`` names, with errors an artist can act on."""
    input_dir = Path(ctx.input_dir)
    path = allowed_input_image(image, ctx)
    if not path.is_file():
        raise NodeError(f"image file not found: {path} (input folder: {input_dir})")
    try:
        return read(path)
    except UnidentifiedImageError as error:
        raise NodeError(f"{path} is not an image NodeStudio can read "
                        "(PNG, JPEG, WebP, GIF, BMP, TIFF …)") from error
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise NodeError(f"cannot read the image {path}: {error}") from error


def load_image_fingerprint(image: str = "", ctx: Any = None, **_: Any) -> Any:
    """Changes whenever the file does (path, modification time, size), so the executor re-reads
    the image only then. ``ctx`` is whatever holds the run's ``input_dir``."""
    if ctx is None:
        # Without the input folder the file cannot be found: the executor then re-runs us.
        raise LookupError("no input folder to resolve the image name against")
    try:
        # A refused path is not even looked at: the run reports it.
        path = allowed_input_image(image, ctx)
        status = path.stat()
    except (NodeError, OSError):
        # Missing now: fingerprint the name, so the run is attempted and reports the problem.
        return ("missing", image)
    return (str(path.resolve()), status.st_mtime_ns, status.st_size)


def _read_frames(path: Path) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """Every frame of the same size as the first, upright, as RGB and alpha arrays."""
    with Image.open(path) as picture:
        # Ask before getexif(), which decodes a PNG and forgets how it was stored.
        full_precision = is_png16_color(picture)
        orientation = picture.getexif().get(_EXIF_ORIENTATION, 1)
        if full_precision:
            rgb, alpha = read_png16(path)
            colours, alphas = [rgb], [alpha]
        else:
            colours, alphas = [], []
            first_size = picture.size
            for frame in ImageSequence.Iterator(picture):
                if frame.size != first_size:
                    continue  # a batch needs equal sizes; animations rarely change theirs
                rgb, alpha = pil_to_pixels(frame)
                colours.append(rgb)
                alphas.append(alpha)
    colours = [apply_exif_orientation(rgb, orientation) for rgb in colours]
    alphas = [None if a is None else apply_exif_orientation(a, orientation) for a in alphas]
    return colours, alphas


@node(
    "image.load",
    display_name="Load Image",
    category="image",
    description=(
        "Loads a picture from the input folder (or from an absolute path): PNG, JPEG, WebP and "
        "more, turned upright by its camera orientation. Outputs the image and a mask of its "
        "transparent parts (white where transparent; all black when the file has no "
        "transparency). Animated files load every frame as a batch."
    ),
    inputs=[Choice("image", source="files:input",
                   description="File name in the input folder, or an absolute path")],
    outputs=[
        Output("image", IMAGE),
        Output("mask", MASK, description="1 where the picture is transparent"),
    ],
    deterministic=False,
    fingerprint=load_image_fingerprint,
)
def load_image(image: str, ctx: NodeContext) -> tuple[np.ndarray, np.ndarray]:
    colours, alphas = read_input_image(image, ctx, _read_frames)
    images = np.stack(colours).astype(np.float32, copy=False)
    masks = np.stack([
        np.zeros(rgb.shape[:2], np.float32) if alpha is None else 1.0 - alpha
        for rgb, alpha in zip(colours, alphas, strict=True)
    ]).astype(np.float32, copy=False)
    return images, masks


# -- saving and showing ------------------------------------------------------------------------


@node(
    "image.save",
    display_name="Save Image",
    category="image",
    description=(
        "Saves every image of the batch as a PNG in the output folder, named "
        "<prefix>_00001_.png, <prefix>_00002_.png … without ever overwriting a file. The prefix "
        "may name a sub-folder (e.g. 'portraits/face'). Each PNG carries the graph that made it: "
        "drop it on the canvas to get the graph back."
    ),
    inputs=[
        Input("images", IMAGE),
        String("filename_prefix", "NodeStudio",
               description="Start of the file names; may include sub-folders of the output folder"),
        Choice("to_8_bit", EIGHT_BIT_CONVERSIONS, ROUND, advanced=True,
               description="How pixel values become 8 bits: rounded, or truncated as ComfyUI's "
                           "Save Image does (its files exactly; imported workflows use it)"),
    ],
    outputs=[],
    output_node=True,
)
def save_image(images: Any, filename_prefix: str, ctx: NodeContext,
               to_8_bit: str = ROUND) -> tuple[()]:
    batch = as_image_batch(images, "images")
    folder, stem = resolve_output_prefix(Path(ctx.output_dir), filename_prefix)
    try:
        paths = save_png_batch(batch, folder, stem, metadata_chunks(ctx), to_8_bit)
    except OSError as error:
        raise cannot_save("the image", folder, error) from error
    for path in paths:
        ctx.add_file(path)
    ctx.show_image(batch)
    return ()


@node(
    "image.preview",
    display_name="Preview Image",
    category="image",
    description="Shows the images on the node without saving anything.",
    inputs=[Input("images", IMAGE)],
    outputs=[],
    output_node=True,
)
def preview_image(images: Any, ctx: NodeContext) -> tuple[()]:
    ctx.show_image(as_image_batch(images, "images"))
    return ()


# -- geometry ----------------------------------------------------------------------------------


@node(
    "image.resize",
    display_name="Resize Image",
    category="image",
    description=(
        "Resizes images to a width and height. Set one side to 0 to have it follow the other "
        "side's scale; with 'keep proportion' the image fits inside the size without being "
        "stretched; with crop 'center' it fills the size, cut evenly at the sides that stick "
        "out. Lanczos is sharp, area is best for shrinking, nearest keeps hard pixels."
    ),
    inputs=[
        Input("image", IMAGE),
        Int("width", 512, min=0, max=MAX_SIDE, step=8,
            description="Target width; 0 = follow the height"),
        Int("height", 512, min=0, max=MAX_SIDE, step=8,
            description="Target height; 0 = follow the width"),
        Boolean("keep_proportion", False,
                description="Fit inside width x height instead of stretching to it"),
        Choice("method", RESIZE_METHODS, DEFAULT_RESIZE_METHOD),
        Choice("crop", RESIZE_CROPS, "disabled",
               description="center: fill width x height without stretching, cutting the "
                           "middle out (keep proportion then has nothing to do)"),
    ],
    outputs=[Output("image", IMAGE)],
)
def resize_image(image: Any, width: int, height: int, keep_proportion: bool,
                 method: str, crop: str = "disabled") -> np.ndarray:
    batch = as_image_batch(image)
    source_height, source_width = batch.shape[1:3]
    if crop == "center" and width and height:
        batch = crop_to_aspect(batch, width / height)
        return resize_batch(batch, width, height, method)
    if crop not in RESIZE_CROPS:
        raise NodeError(f"unknown crop {crop!r}; use one of {', '.join(RESIZE_CROPS)}")
    target_width, target_height = fit_size(source_width, source_height, width, height,
                                           keep_proportion)
    return resize_batch(batch, target_width, target_height, method)


@node(
    "image.scale_by",
    display_name="Scale Image By",
    category="image",
    description="Scales images by a factor, e.g. 2 doubles both sides and 0.5 halves them.",
    inputs=[
        Input("image", IMAGE),
        Float("scale", 2.0, min=0.01, max=16.0, step=0.05),
        Choice("method", RESIZE_METHODS, DEFAULT_RESIZE_METHOD),
    ],
    outputs=[Output("image", IMAGE)],
)
def scale_image_by(image: Any, scale: float, method: str) -> np.ndarray:
    batch = as_image_batch(image)
    source_height, source_width = batch.shape[1:3]
    width, height = max(1, round(source_width * scale)), max(1, round(source_height * scale))
    if max(width, height) > MAX_SIDE:
        raise NodeError(f"scaling {source_width}x{source_height} by {scale} gives "
                        f"{width}x{height}, larger than the {MAX_SIDE} pixel limit")
    return resize_batch(batch, width, height, method)


@node(
    "image.crop",
    display_name="Crop Image",
    category="image",
    description=(
        "Cuts out a rectangle: x and y are its top-left corner (0, 0 is the image's top-left). "
        "A rectangle reaching past the border is trimmed to the image."
    ),
    inputs=[
        Input("image", IMAGE),
        Int("x", 0, min=0, max=MAX_SIDE, description="Left edge of the rectangle"),
        Int("y", 0, min=0, max=MAX_SIDE, description="Top edge of the rectangle"),
        Int("width", 512, min=1, max=MAX_SIDE, step=8),
        Int("height", 512, min=1, max=MAX_SIDE, step=8),
    ],
    outputs=[Output("image", IMAGE)],
)
def crop_image(image: Any, x: int, y: int, width: int, height: int) -> np.ndarray:
    batch = as_image_batch(image)
    image_height, image_width = batch.shape[1:3]
    left, top = min(max(x, 0), image_width), min(max(y, 0), image_height)
    right, bottom = min(x + width, image_width), min(y + height, image_height)
    if right <= left or bottom <= top:
        raise NodeError(f"the crop rectangle at x={x}, y={y} ({width}x{height}) lies outside the "
                        f"{image_width}x{image_height} image: nothing would be left")
    return np.ascontiguousarray(batch[:, top:bottom, left:right])


# -- colour ------------------------------------------------------------------------------------

BLEND_MODES = ("normal", "multiply", "screen", "overlay", "difference", "add", "lighten", "darken")


def blend_pixels(base: np.ndarray, layer: np.ndarray, mode: str) -> np.ndarray:
    """``layer`` composed onto ``base`` with a layer blend mode (as in image editors)."""
    if mode == "normal":
        return layer
    if mode == "multiply":
        return base * layer
    if mode == "screen":
        return 1.0 - (1.0 - base) * (1.0 - layer)
    if mode == "overlay":
        return np.where(base < 0.5, 2.0 * base * layer, 1.0 - 2.0 * (1.0 - base) * (1.0 - layer))
    if mode == "difference":
        return np.abs(base - layer)
    if mode == "add":
        return np.minimum(base + layer, 1.0)
    if mode == "lighten":
        return np.maximum(base, layer)
    if mode == "darken":
        return np.minimum(base, layer)
    raise NodeError(f"unknown blend mode {mode!r}; use one of {', '.join(BLEND_MODES)}")


@node(
    "image.blend",
    display_name="Blend Images",
    category="image",
    description=(
        "Lays the second image over the first with a blend mode, like a layer in an image "
        "editor; 'factor' is the layer's opacity. A second image of another size is resized "
        "to the first."
    ),
    inputs=[
        Input("image", IMAGE, description="The base image"),
        Input("layer", IMAGE, description="The image laid on top"),
        Float("factor", 0.5, min=0.0, max=1.0, step=0.01, display="slider",
              description="Opacity of the layer: 0 = only the base, 1 = fully blended"),
        Choice("mode", BLEND_MODES, "normal"),
    ],
    outputs=[Output("image", IMAGE)],
)
def blend_images(image: Any, layer: Any, factor: float, mode: str) -> np.ndarray:
    base = as_image_batch(image, "image")
    top = as_image_batch(layer, "layer")
    height, width = base.shape[1:3]
    top = resize_batch(top, width, height, "bilinear")
    base, top = match_batch(base, top, "blend")
    blended = blend_pixels(base, top, mode)
    result = base + (blended - base) * np.float32(factor)
    return np.clip(result, 0.0, 1.0).astype(np.float32, copy=False)


@node(
    "image.invert",
    display_name="Invert Image",
    category="image",
    description="Turns every colour into its opposite (a negative): black becomes white.",
    inputs=[Input("image", IMAGE)],
    outputs=[Output("image", IMAGE)],
)
def invert_image(image: Any) -> np.ndarray:
    return 1.0 - np.clip(as_image_batch(image), 0.0, 1.0)


#: Luma weights of ITU-R BT.601, the ones PIL uses for greyscale: the brightness people see.
_LUMINANCE_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)
IMAGE_CHANNELS = ("red", "green", "blue", "luminance")


@node(
    "image.to_mask",
    display_name="Image to Mask",
    category="image",
    description=(
        "Makes a mask from one channel of an image (or its brightness): white areas become "
        "masked, black areas stay untouched."
    ),
    inputs=[Input("image", IMAGE), Choice("channel", IMAGE_CHANNELS, "luminance")],
    outputs=[Output("mask", MASK)],
)
def image_to_mask(image: Any, channel: str) -> np.ndarray:
    batch = np.clip(as_image_batch(image), 0.0, 1.0)
    if channel == "luminance":
        return np.clip(batch @ _LUMINANCE_WEIGHTS, 0.0, 1.0).astype(np.float32, copy=False)
    if channel not in IMAGE_CHANNELS:
        raise NodeError(f"unknown channel {channel!r}; use one of {', '.join(IMAGE_CHANNELS)}")
    return np.ascontiguousarray(batch[..., IMAGE_CHANNELS.index(channel)])
