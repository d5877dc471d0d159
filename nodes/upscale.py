"""Upscale models (ESRGAN, RealESRGAN, SwinIR …) from models/upscale_models, through spandrel."""

from __future__ import annotations

from typing import Any

import numpy as np

from nodestudio.api import (
    IMAGE,
    UPSCALE_MODEL,
    Input,
    Int,
    ModelChoice,
    NodeContext,
    Output,
    node,
)

from .diffusion._common import find_model, fingerprint_for

MODEL_NAME_INPUT = ModelChoice("model_name", "upscale_models",
                               description="Model name in the upscale_models folder, or an "
                                           "absolute path")


@node(
    "image.load_upscale_model",
    display_name="Load Upscale Model",
    category="loaders",
    description=(
        "Loads an upscale model (ESRGAN, RealESRGAN, SwinIR, SPAN, HAT … any single-image "
        "model spandrel recognises) from the upscale_models folder: .pth, .pt or "
        ".safetensors. Pickled files are read without running code in them. Use it with "
        "Upscale Image (using Model)."
    ),
    inputs=[
        MODEL_NAME_INPUT,
    ],
    outputs=[Output("upscale_model", UPSCALE_MODEL,
                    description="The network with its scale (2x, 4x …)")],
    deterministic=False,
    fingerprint=fingerprint_for(MODEL_NAME_INPUT),
)
def load_upscale_model(model_name: str, ctx: NodeContext) -> Any:
    from nodestudio.runtime.upscale import load_upscale_model as load

    path = find_model(ctx, MODEL_NAME_INPUT, model_name)
    loaded = load(path, ctx.device)
    ctx.logger.info("loaded %s on %s: %s", path.name, ctx.device, loaded.describe())
    return loaded


@node(
    "image.upscale_with_model",
    display_name="Upscale Image (using Model)",
    category="image",
    description=(
        "Enlarges an image with an upscale model, by the model's own factor (4x models make "
        "a 512 picture 2048). Large images run in overlapping tiles blended at their seams; "
        "the tile shrinks by itself when memory runs out. Follow it with Scale Image By for "
        "another final size."
    ),
    inputs=[
        Input("upscale_model", UPSCALE_MODEL),
        Input("image", IMAGE),
        Int("tile_size", 512, min=64, max=4096, step=64, advanced=True,
            description="Tile size in input pixels (halved automatically on out-of-memory)"),
    ],
    outputs=[Output("image", IMAGE)],
)
def upscale_with_model(upscale_model: Any, image: np.ndarray, tile_size: int,
                       ctx: NodeContext) -> np.ndarray:
    from nodestudio.runtime.upscale import upscale_image

    ctx.check_cancelled()
    return upscale_image(upscale_model, image, tile_size, progress=ctx.progress,
                         check_cancelled=ctx.check_cancelled)
