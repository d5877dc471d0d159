"""Prompts and ControlNets: Text Encode, Apply ControlNet."""

from __future__ import annotations

from typing import Any

from nodestudio.api import (
    CLIP,
    CONDITIONING,
    CONTROL_NET,
    IMAGE,
    VAE,
    Float,
    Input,
    Int,
    NodeError,
    Output,
    String,
    node,
)

CATEGORY = "conditioning"
_SIZE_HINT = "SDXL only; 0 = the size being generated"


@node(
    "diffusion.text_encode",
    display_name="Text Encode (Prompt)",
    category=CATEGORY,
    description=(
        "Turns a prompt into conditioning for the sampler. Long prompts are split into chunks "
        "the text encoder can read. (word:1.2) makes a word count more, [word] less. "
        "CLIP skip 1 uses the text encoder's second-to-last layer (\"Clip skip 2\" in A1111). "
        "Among the advanced inputs: a second prompt (SDXL's second encoder, or the T5 of SD3 "
        "and Flux) and SDXL's size conditioning. T5 reads up to the model's own token limit "
        "(256 for SD3, 512 for Flux)."
    ),
    inputs=[
        Input("clip", CLIP),
        String("text", "", multiline=True, description="The prompt"),
        Int("clip_skip", 0, min=0, max=24,
            description="Skip this many last text-encoder layers (0 = use them all)"),
        # SDXL's extras: folded away on the canvas (SD 1.x/2.x ignore them; SDXL works well
        # without them).
        String("text_2", "", multiline=True, advanced=True,
               description="A different prompt for SDXL's second text encoder, or for the "
                           "T5 of SD3 and Flux (empty = the prompt)"),
        Int("original_width", 0, min=0, max=16384, step=8, description=_SIZE_HINT,
            advanced=True),
        Int("original_height", 0, min=0, max=16384, step=8, description=_SIZE_HINT,
            advanced=True),
        Int("crop_left", 0, min=0, max=16384, step=8, description="SDXL only", advanced=True),
        Int("crop_top", 0, min=0, max=16384, step=8, description="SDXL only", advanced=True),
        Int("target_width", 0, min=0, max=16384, step=8, description=_SIZE_HINT,
            advanced=True),
        Int("target_height", 0, min=0, max=16384, step=8, description=_SIZE_HINT,
            advanced=True),
    ],
    outputs=[Output("conditioning", CONDITIONING)],
)
def text_encode(
    clip: Any, text: str, clip_skip: int, text_2: str,
    original_width: int, original_height: int, crop_left: int, crop_top: int,
    target_width: int, target_height: int,
) -> Any:
    from nodestudio.runtime.families.base import PromptOptions
    from nodestudio.runtime.types import SizeConditioning

    def size(width: int, height: int) -> tuple[int, int] | None:
        if width == 0 and height == 0:
            return None
        if width == 0 or height == 0:
            raise NodeError("set both width and height of an SDXL size, or neither")
        return (height, width)

    conditioning_size = SizeConditioning(
        original_size=size(original_width, original_height),
        crop_top_left=(crop_top, crop_left),
        target_size=size(target_width, target_height),
    )
    options = PromptOptions(clip_skip=clip_skip, text_2=text_2, size=conditioning_size)
    try:
        return clip.family.encode_prompt(clip, text, options)
    except ValueError as error:
        raise NodeError(str(error)) from None


@node(
    "diffusion.apply_controlnet",
    display_name="Apply ControlNet",
    category=CATEGORY,
    description=(
        "Attaches a ControlNet and its hint image (edges, depth, pose …) to the prompts. The "
        "sampler runs every attached ControlNet at each step between start and end percent "
        "and adds up their effects; chain several Apply ControlNet nodes to combine them."
    ),
    inputs=[
        Input("positive", CONDITIONING),
        Input("negative", CONDITIONING),
        Input("control_net", CONTROL_NET),
        Input("image", IMAGE, description="The hint image, resized to the generated size"),
        Input("vae", VAE, optional=True,
              description="SD3 and Flux ControlNets read the hint as latents: their VAE"),
        Float("strength", 1.0, min=0.0, max=10.0, step=0.01),
        Float("start_percent", 0.0, min=0.0, max=1.0, step=0.001,
              description="Fraction of the steps after which the ControlNet starts acting"),
        Float("end_percent", 1.0, min=0.0, max=1.0, step=0.001,
              description="Fraction of the steps after which it stops"),
    ],
    outputs=[Output("positive", CONDITIONING), Output("negative", CONDITIONING)],
)
def apply_controlnet(
    positive: Any, negative: Any, control_net: Any, image: Any, strength: float,
    start_percent: float, end_percent: float, vae: Any = None,
) -> tuple[Any, Any]:
    import numpy as np
    import torch

    from nodestudio.runtime.types import ControlUse

    if start_percent > end_percent:
        raise NodeError("start percent must not be after end percent")
    if strength == 0:
        return positive, negative
    pixels = np.asarray(image, dtype=np.float32)
    if pixels.ndim == 3:
        pixels = pixels[None]
    if pixels.ndim != 4 or pixels.shape[-1] < 3:
        raise NodeError(f"expected an image batch [B, H, W, 3], got shape {pixels.shape}")
    hint = torch.from_numpy(np.ascontiguousarray(pixels[..., :3])).permute(0, 3, 1, 2)
    use = ControlUse(control_net, hint.contiguous(), strength, start_percent, end_percent, vae)
    return positive.with_control(use), negative.with_control(use)
