"""Image prompts: CLIP vision models, encoding pictures with them, unCLIP conditioning and
unCLIP checkpoints (SD 2.1 unCLIP; on SDXL, "revision")."""

from __future__ import annotations

from typing import Any

import numpy as np

from nodestudio.api import (
    CLIP,
    CLIP_VISION,
    CLIP_VISION_OUTPUT,
    CONDITIONING,
    IMAGE,
    MODEL,
    VAE,
    Choice,
    Float,
    Input,
    ModelChoice,
    NodeContext,
    Output,
    node,
)

from ._common import find_model, fingerprint_for

CROPS = ("center", "none")


CLIP_NAME_INPUT = ModelChoice("clip_name", "clip_vision",
                              description="File name in the clip_vision folder, or an absolute "
                                          "path")


@node(
    "diffusion.load_clip_vision",
    display_name="Load CLIP Vision",
    category="loaders",
    description=(
        "Loads a CLIP vision (image) encoder from the clip_vision folder: transformers' or "
        "OpenCLIP's layout (also the encoder inside an unCLIP checkpoint). Use it with CLIP "
        "Vision Encode."
    ),
    inputs=[CLIP_NAME_INPUT],
    outputs=[Output("clip_vision", CLIP_VISION)],
    deterministic=False,
    fingerprint=fingerprint_for(CLIP_NAME_INPUT),
)
def load_clip_vision(clip_name: str, ctx: NodeContext) -> Any:
    from nodestudio.runtime.clip_vision import load_clip_vision as load

    path = find_model(ctx, CLIP_NAME_INPUT, clip_name)
    loaded = load(path, ctx.device)
    ctx.logger.info("loaded %s on %s: %d-wide image embedding, %d px input", path.name,
                    ctx.device, loaded.embed_dim, loaded.image_size)
    return loaded


@node(
    "diffusion.clip_vision_encode",
    display_name="CLIP Vision Encode",
    category="conditioning",
    description=(
        "Encodes images with a CLIP vision model, for unCLIP Conditioning. 'center' scales the "
        "shorter side to the model's input size and cuts out the middle; 'none' squashes the "
        "whole picture into the square."
    ),
    inputs=[
        Input("clip_vision", CLIP_VISION),
        Input("image", IMAGE),
        Choice("crop", CROPS, "center", description="How the picture is fitted to the model"),
    ],
    outputs=[Output("clip_vision_output", CLIP_VISION_OUTPUT,
                    description="Image embeddings and hidden states")],
)
def clip_vision_encode(clip_vision: Any, image: np.ndarray, crop: str) -> Any:
    from nodestudio.runtime.clip_vision import encode_image

    return encode_image(clip_vision, image, crop=crop == "center")


@node(
    "diffusion.unclip_conditioning",
    display_name="unCLIP Conditioning",
    category="conditioning",
    description=(
        "Adds an encoded image to a prompt as an image prompt: SD 2.1 unCLIP models take it as "
        "their image embedding, SDXL models in place of the pooled prompt ('revision'). "
        "Several chained ones add up. Noise augmentation blurs the image's details (0 keeps "
        "them, 1 keeps only the gist); strength 0 leaves the prompt unchanged."
    ),
    inputs=[
        Input("conditioning", CONDITIONING),
        Input("clip_vision_output", CLIP_VISION_OUTPUT),
        Float("strength", 1.0, min=-10.0, max=10.0, step=0.01,
              description="How strongly the image counts"),
        Float("noise_augmentation", 0.0, min=0.0, max=1.0, step=0.01,
              description="How much noise hides the image's details"),
    ],
    outputs=[Output("conditioning", CONDITIONING)],
)
def unclip_conditioning(conditioning: Any, clip_vision_output: Any, strength: float,
                        noise_augmentation: float) -> Any:
    from dataclasses import replace

    from nodestudio.runtime.unclip import ImagePrompt

    if strength == 0:
        return conditioning  # as ComfyUI: nothing is added
    prompt = ImagePrompt(clip_vision_output, strength, noise_augmentation)

    def added(entry: Any) -> Any:
        return replace(entry, image_prompts=(*entry.image_prompts, prompt))

    # Every prompt of a combined conditioning gets the image, as ComfyUI's loop does.
    return conditioning.map_entries(added)


CHECKPOINT_INPUT = ModelChoice("checkpoint", "checkpoints",
                               description="Checkpoint name in the checkpoints folder")


@node(
    "diffusion.load_unclip_checkpoint",
    display_name="unCLIP Checkpoint Loader",
    category="loaders",
    description=(
        "Loads an unCLIP checkpoint (SD 2.1 unCLIP, a single file) from the checkpoints "
        "folder: the model, its text encoder, its VAE and its CLIP vision encoder for image "
        "prompts."
    ),
    inputs=[CHECKPOINT_INPUT],
    outputs=[
        Output("model", MODEL),
        Output("clip", CLIP),
        Output("vae", VAE),
        Output("clip_vision", CLIP_VISION, description="The checkpoint's image encoder"),
    ],
    deterministic=False,
    fingerprint=fingerprint_for(CHECKPOINT_INPUT),
)
def load_unclip_checkpoint(checkpoint: str, ctx: NodeContext) -> tuple[Any, Any, Any, Any]:
    from nodestudio.runtime.checkpoints import describe, load_checkpoint
    from nodestudio.runtime.unclip import load_checkpoint_clip_vision

    path = find_model(ctx, CHECKPOINT_INPUT, checkpoint)
    vision = load_checkpoint_clip_vision(path, ctx.device)  # first: says early if it is none
    loaded = load_checkpoint(path, ctx.device, progress=ctx.progress)
    ctx.logger.info("loaded %s on %s: %s", path.name, ctx.device, describe(loaded))
    return loaded.model, loaded.clip, loaded.vae, vision
