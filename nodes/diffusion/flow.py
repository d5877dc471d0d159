"""Settings of flow-matching models (SD3, Flux): their shift, and Flux's distilled guidance."""

from __future__ import annotations

import math
from typing import Any

from nodestudio.api import CONDITIONING, MODEL, Float, Input, Int, NodeError, Output, node

#: Image tokens (latent cells / 4) at which ModelSamplingFlux's shift is base_shift / max_shift.
_BASE_TOKENS, _MAX_TOKENS = 256, 4096


def _flow_model(model: Any) -> Any:
    from nodestudio.runtime.families.base import Scheduling

    if model.family.scheduling is not Scheduling.FLOW:
        raise NodeError(f"this is a {model.family.label} model: the shift only applies to "
                        "flow-matching models (SD3, Flux)")
    return model


@node(
    "diffusion.flux_guidance",
    display_name="Flux Guidance",
    category="conditioning",
    description=(
        "Sets the guidance that Flux dev was distilled to follow (3.5 by default): higher "
        "follows the prompt more closely. Use it with cfg 1 on the Sampler; Flux schnell "
        "ignores it."
    ),
    inputs=[
        Input("conditioning", CONDITIONING),
        Float("guidance", 3.5, min=0.0, max=100.0, step=0.1),
    ],
    outputs=[Output("conditioning", CONDITIONING)],
)
def flux_guidance(conditioning: Any, guidance: float) -> Any:
    return conditioning.with_guidance(guidance)


@node(
    "diffusion.model_sampling_shift",
    display_name="Model Sampling Shift",
    category="advanced/model",
    description=(
        "Sets the shift of an SD3 or Flux model's noise schedule: higher spends more of the "
        "steps at high noise, which helps large images. SD3 uses 3.0."
    ),
    inputs=[Input("model", MODEL), Float("shift", 3.0, min=0.0, max=100.0, step=0.01)],
    outputs=[Output("model", MODEL)],
)
def model_sampling_shift(model: Any, shift: float) -> Any:
    return _flow_model(model).with_scheduler_config(
        {"shift": shift, "use_dynamic_shifting": False}
    )


@node(
    "diffusion.model_sampling_flux",
    display_name="Model Sampling Flux",
    category="advanced/model",
    description=(
        "Sets a Flux model's resolution-dependent shift: base_shift at 256 image tokens "
        "(256 × 256 pixels), max_shift at 4096 (1024 × 1024), in between by the image size. "
        "Width and height 0 take the size being sampled; other values fix the shift for "
        "that size, as ComfyUI's ModelSamplingFlux does."
    ),
    inputs=[
        Input("model", MODEL),
        Float("max_shift", 1.15, min=0.0, max=100.0, step=0.01),
        Float("base_shift", 0.5, min=0.0, max=100.0, step=0.01),
        Int("width", 0, min=0, max=16384, step=8, description="0 = the size being sampled"),
        Int("height", 0, min=0, max=16384, step=8, description="0 = the size being sampled"),
    ],
    outputs=[Output("model", MODEL)],
)
def model_sampling_flux(model: Any, max_shift: float, base_shift: float, width: int,
                        height: int) -> Any:
    model = _flow_model(model)
    if (width == 0) != (height == 0):
        raise NodeError("set both width and height, or neither")
    changes: dict[str, Any] = {
        "base_shift": base_shift, "max_shift": max_shift, "base_image_seq_len": _BASE_TOKENS,
        "max_image_seq_len": _MAX_TOKENS,
    }
    if width:
        tokens = (width // 16) * (height // 16)
        slope = (max_shift - base_shift) / (_MAX_TOKENS - _BASE_TOKENS)
        mu = tokens * slope + base_shift - slope * _BASE_TOKENS
        changes.update(use_dynamic_shifting=False, shift=math.exp(mu))
    else:
        changes["use_dynamic_shifting"] = True
    return model.with_scheduler_config(changes)
