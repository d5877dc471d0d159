"""Area composition: prompts that act on a region, through a mask, or for part of the steps,
and Conditioning (Combine) to sample several of them together (ComfyUI's nodes of these names;
the sampler blends them per step, see nodestudio.runtime.composition)."""

from __future__ import annotations

from typing import Any

from nodestudio.api import CONDITIONING, MASK, Choice, Float, Input, Int, NodeError, Output, node

CATEGORY = "conditioning"
#: Largest side in pixels ComfyUI's area widgets accept (its MAX_RESOLUTION).
MAX_SIDE = 16384
_STRENGTH = {"min": 0.0, "max": 10.0, "step": 0.01}


@node(
    "diffusion.conditioning_combine",
    display_name="Conditioning (Combine)",
    category=CATEGORY,
    description=(
        "Samples both prompts together: at every step each predicts on its own area (or the "
        "whole image) and the predictions are blended where they overlap. Use it with "
        "Conditioning (Set Area / Set Mask) to place different prompts in different regions."
    ),
    inputs=[Input("conditioning_1", CONDITIONING), Input("conditioning_2", CONDITIONING)],
    outputs=[Output("conditioning", CONDITIONING)],
)
def conditioning_combine(conditioning_1: Any, conditioning_2: Any) -> Any:
    return conditioning_1.combined_with(conditioning_2)


def _with_area(conditioning: Any, area: Any, strength: float) -> Any:
    from dataclasses import replace

    return conditioning.map_entries(lambda entry: replace(
        entry, area=area, strength=strength, area_from_mask_bounds=False))


@node(
    "diffusion.conditioning_set_area",
    display_name="Conditioning (Set Area)",
    category=CATEGORY,
    description=(
        "Makes the prompt act only on a rectangle of the image (in pixels, rounded down to "
        "whole latent cells: 8 pixels for Stable Diffusion). Its edges inside the image fade "
        "in so it blends with the prompts around it. Strength weighs it against overlapping "
        "prompts. Combine it with a whole-image prompt (Conditioning (Combine))."
    ),
    inputs=[
        Input("conditioning", CONDITIONING),
        Int("width", 64, min=64, max=MAX_SIDE, step=8),
        Int("height", 64, min=64, max=MAX_SIDE, step=8),
        Int("x", 0, min=0, max=MAX_SIDE, step=8, description="Left edge in pixels"),
        Int("y", 0, min=0, max=MAX_SIDE, step=8, description="Top edge in pixels"),
        Float("strength", 1.0, **_STRENGTH),
    ],
    outputs=[Output("conditioning", CONDITIONING)],
)
def conditioning_set_area(conditioning: Any, width: int, height: int, x: int, y: int,
                          strength: float) -> Any:
    from nodestudio.runtime.types import PromptArea

    return _with_area(conditioning, PromptArea(height, width, y, x), strength)


@node(
    "diffusion.conditioning_set_area_percentage",
    display_name="Conditioning (Set Area with Percentage)",
    category=CATEGORY,
    description=(
        "Conditioning (Set Area) with the rectangle given as fractions of the image, so it "
        "follows the image size (0.5 wide at x 0.5 is the right half)."
    ),
    inputs=[
        Input("conditioning", CONDITIONING),
        Float("width", 1.0, min=0.0, max=1.0, step=0.01),
        Float("height", 1.0, min=0.0, max=1.0, step=0.01),
        Float("x", 0.0, min=0.0, max=1.0, step=0.01),
        Float("y", 0.0, min=0.0, max=1.0, step=0.01),
        Float("strength", 1.0, **_STRENGTH),
    ],
    outputs=[Output("conditioning", CONDITIONING)],
)
def conditioning_set_area_percentage(conditioning: Any, width: float, height: float, x: float,
                                     y: float, strength: float) -> Any:
    from nodestudio.runtime.types import PromptArea

    return _with_area(conditioning, PromptArea(height, width, y, x, fractional=True), strength)


@node(
    "diffusion.conditioning_set_area_strength",
    display_name="Conditioning (Set Area Strength)",
    category=CATEGORY,
    description="Sets how strongly the prompt weighs against overlapping prompts.",
    inputs=[Input("conditioning", CONDITIONING), Float("strength", 1.0, **_STRENGTH)],
    outputs=[Output("conditioning", CONDITIONING)],
)
def conditioning_set_area_strength(conditioning: Any, strength: float) -> Any:
    from dataclasses import replace

    return conditioning.map_entries(lambda entry: replace(entry, strength=strength))


@node(
    "diffusion.conditioning_set_mask",
    display_name="Conditioning (Set Mask)",
    category=CATEGORY,
    description=(
        "Makes the prompt act through a mask (white = full effect), resized to the image. "
        "'mask bounds' runs the prompt on the mask's bounding box only, so it is drawn at the "
        "scale of that region instead of the whole image."
    ),
    inputs=[
        Input("conditioning", CONDITIONING),
        Input("mask", MASK),
        Float("strength", 1.0, **_STRENGTH),
        Choice("set_cond_area", ("default", "mask bounds"), "default"),
    ],
    outputs=[Output("conditioning", CONDITIONING)],
)
def conditioning_set_mask(conditioning: Any, mask: Any, strength: float,
                          set_cond_area: str) -> Any:
    from dataclasses import replace

    from nodestudio.runtime.vae import mask_tensor

    tensor = mask_tensor(mask)[:, 0]  # [B, H, W]
    if tensor.shape[-1] == 0 or tensor.shape[-2] == 0:
        raise NodeError("the mask is empty (0 pixels wide or high)")
    bounds = set_cond_area != "default"
    return conditioning.map_entries(lambda entry: replace(
        entry, mask=tensor, mask_strength=strength, area_from_mask_bounds=bounds))


@node(
    "diffusion.conditioning_set_timestep_range",
    display_name="Conditioning (Set Timestep Range)",
    category=CATEGORY,
    description=(
        "Makes the prompt act only between two fractions of the denoising (0 = the first, "
        "noisiest step; 1 = the end): e.g. one prompt for the composition (0–0.4) and "
        "another for the details (0.4–1), joined with Conditioning (Combine)."
    ),
    inputs=[
        Input("conditioning", CONDITIONING),
        Float("start", 0.0, min=0.0, max=1.0, step=0.001),
        Float("end", 1.0, min=0.0, max=1.0, step=0.001),
    ],
    outputs=[Output("conditioning", CONDITIONING)],
)
def conditioning_set_timestep_range(conditioning: Any, start: float, end: float) -> Any:
    from dataclasses import replace

    if start > end:
        raise NodeError(f"start {start} is after end {end}: the prompt would never act")
    return conditioning.map_entries(lambda entry: replace(entry, step_range=(start, end)))
