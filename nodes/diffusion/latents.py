"""Latents: Empty Latent Image, VAE Encode, VAE Decode, Upscale Latent, Set Latent Mask."""

from __future__ import annotations

from typing import Any

from nodestudio.api import (
    IMAGE,
    LATENT,
    MASK,
    MODEL,
    VAE,
    Boolean,
    Choice,
    Float,
    Input,
    Int,
    NodeContext,
    NodeError,
    Output,
    node,
)

CATEGORY = "latent"
#: torch's interpolation modes, and bislerp: ComfyUI's spherical blend of neighbouring latent
#: cells (nodestudio.runtime.bislerp), which keeps the latents' magnitude where a linear blend
#: of vectors pointing apart would shrink it.
UPSCALE_METHODS = ("nearest-exact", "bilinear", "bicubic", "area", "bislerp")


@node(
    "diffusion.empty_latent",
    display_name="Empty Latent Image",
    category=CATEGORY,
    description=(
        "A blank latent to generate new images from (text to image). Connect the model or the "
        "VAE: they decide how many channels the latent has (4, or 16 for SD3 and Flux) and "
        "how many pixels each latent cell stands for. Sizes are rounded down to that grid "
        "(16 pixels for Flux, whose transformer reads 2 × 2 cells at once)."
    ),
    inputs=[
        Input("model", MODEL, optional=True),
        Input("vae", VAE, optional=True),
        Int("width", 512, min=8, max=16384, step=8),
        Int("height", 512, min=8, max=16384, step=8),
        Int("batch_size", 1, min=1, max=64, description="How many images to generate at once"),
    ],
    outputs=[Output("latent", LATENT)],
)
def empty_latent(
    model: Any = None, vae: Any = None, width: int = 512, height: int = 512, batch_size: int = 1,
) -> Any:
    import torch

    from nodestudio.runtime.types import Latent

    if model is not None:
        channels, factor, device = model.latent_channels, model.vae_scale_factor, model.device
        # Transformers that fold 2 × 2 latent cells into a token (Flux) need even sides.
        multiple = model.family.pixel_multiple(factor)
    elif vae is not None:
        channels, factor, device = vae.latent_channels, vae.scale_factor, vae.device
        multiple = factor
    else:
        raise NodeError("connect the model or the VAE: the latent's shape depends on them")
    if width < multiple or height < multiple:
        raise NodeError(f"the image must be at least {multiple} × {multiple} pixels for this "
                        "model")
    rows, columns = height // multiple * multiple // factor, width // multiple * multiple // factor
    samples = torch.zeros((batch_size, channels, rows, columns), device=device)
    return Latent(samples=samples, scale_factor=factor, is_empty=True)


@node(
    "diffusion.vae_encode",
    display_name="VAE Encode",
    category=CATEGORY,
    description=(
        "Turns an image into a latent, to change it with the sampler (image to image, "
        "denoise below 1). With a mask (white = repaint) the latent carries it for inpainting; "
        "inpainting models need it here. Images are cropped to the VAE's grid."
    ),
    inputs=[
        Input("vae", VAE),
        Input("image", IMAGE),
        Input("mask", MASK, optional=True, description="Area to repaint (1 = repaint)"),
    ],
    outputs=[Output("latent", LATENT)],
)
def vae_encode(vae: Any, image: Any, mask: Any = None) -> Any:
    from nodestudio.runtime.vae import encode

    return encode(vae, image, mask)


@node(
    "diffusion.vae_decode",
    display_name="VAE Decode",
    category=CATEGORY,
    description=(
        "Turns a latent into an image. Tiled decoding works on overlapping tiles, so very "
        "large images fit in memory."
    ),
    inputs=[
        Input("vae", VAE),
        Input("latent", LATENT),
        Boolean("tiled", False),
        Int("tile_size", 512, min=64, max=4096, step=64, advanced=True,
            description="Tile size in pixels (used when tiled)"),
    ],
    outputs=[Output("image", IMAGE)],
)
def vae_decode(vae: Any, latent: Any, tiled: bool, tile_size: int, ctx: NodeContext) -> Any:
    from nodestudio.runtime.vae import decode

    ctx.check_cancelled()
    return decode(vae, latent, tiled=tiled, tile_size=tile_size, progress=ctx.progress)


@node(
    "diffusion.latent_upscale",
    display_name="Upscale Latent",
    category=CATEGORY,
    description=(
        "Resizes a latent, e.g. for a second, high-resolution sampling pass (use denoise "
        "around 0.5 there). Width and height in pixels override the scale factor; with only "
        "one of them set the other keeps the aspect ratio. 'bislerp' (as in ComfyUI) blends "
        "neighbouring cells along an arc rather than a line, so they keep their strength."
    ),
    inputs=[
        Input("latent", LATENT),
        Choice("method", UPSCALE_METHODS, "nearest-exact"),
        Float("scale_by", 1.5, min=0.01, max=8.0, step=0.01),
        Int("width", 0, min=0, max=16384, step=8, description="0 = use scale_by"),
        Int("height", 0, min=0, max=16384, step=8, description="0 = use scale_by"),
    ],
    outputs=[Output("latent", LATENT)],
)
def latent_upscale(latent: Any, method: str, scale_by: float, width: int, height: int) -> Any:
    import torch.nn.functional as F

    from nodestudio.runtime.types import Latent

    factor = latent.scale_factor
    rows, columns = latent.samples.shape[-2:]
    if width and height:
        new_rows, new_columns = height // factor, width // factor
    elif width:
        new_columns = width // factor
        new_rows = round(rows * new_columns / columns)
    elif height:
        new_rows = height // factor
        new_columns = round(columns * new_rows / rows)
    else:
        new_rows, new_columns = round(rows * scale_by), round(columns * scale_by)
    if new_rows < 1 or new_columns < 1:
        raise NodeError("the upscaled latent would be empty")
    if method == "bislerp":
        from nodestudio.runtime.bislerp import bislerp

        samples = bislerp(latent.samples, new_columns, new_rows)
    else:
        options = {"align_corners": False} if method in ("bilinear", "bicubic") else {}
        samples = F.interpolate(latent.samples.float(), size=(new_rows, new_columns),
                                mode=method, **options).to(latent.samples.dtype)
    return Latent(samples=samples, scale_factor=factor)


@node(
    "diffusion.set_latent_mask",
    display_name="Set Latent Mask",
    category=CATEGORY,
    description=(
        "Attaches a mask to a latent, so that samplers change only its white area "
        "(inpainting): the rest keeps the latent as it is. The mask travels with the latent, "
        "also through a Sampler's output; a Sampler's own mask input takes precedence. For "
        "inpainting models give the mask to VAE Encode instead (they need the masked image)."
    ),
    inputs=[
        Input("latent", LATENT),
        Input("mask", MASK, description="Area to repaint (1 = repaint)"),
    ],
    outputs=[Output("latent", LATENT)],
)
def set_latent_mask(latent: Any, mask: Any) -> Any:
    from dataclasses import replace

    from nodestudio.runtime.vae import mask_tensor

    pixels = mask_tensor(mask)
    if pixels.shape[0] not in (1, latent.batch_size):
        raise NodeError(f"the mask has {pixels.shape[0]} images but the latent "
                        f"{latent.batch_size}: use one mask, or one per latent")
    # Masked-image latents made by VAE Encode belong to the mask it was given, not this one.
    return replace(latent, noise_mask=pixels, masked_image_latents=None)
