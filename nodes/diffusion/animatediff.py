"""AnimateDiff: a motion module beside any SD 1.5 checkpoint (Load AnimateDiff Model, Apply
AnimateDiff). Its latents come from Empty Video Latent, which also answers to the former
"Empty AnimateDiff Latent" id (nodes/diffusion/video_latents.py).

The motion model is a MODEL → MODEL step, so Load LoRA and Apply ControlNet chains stay as they
are; nodestudio.runtime.animatediff says how the UNet's layers are shared. No torch here: the
pack must import cheaply.
"""

from __future__ import annotations

from typing import Any

from nodestudio.api import MODEL, Input, ModelChoice, NodeContext, Output, node

from ._common import find_model, fingerprint_for

#: A motion module (diffusers MotionAdapter), as AnimateDiff-Evolved's MOTION_MODEL_ADE.
MOTION_MODEL = "MOTION_MODEL"


MODEL_NAME_INPUT = ModelChoice("model_name", "animatediff_models",
                               description="Motion module name in models/animatediff_models")


@node(
    "diffusion.load_animatediff_model",
    display_name="Load AnimateDiff Model",
    category="loaders/video",
    description=(
        "Loads an AnimateDiff motion module (mm_sd_v15_v2, v3 …) from the animatediff_models "
        "folder: a diffusers MotionAdapter folder or a single .safetensors/.ckpt file. Connect "
        "it with a checkpoint's model to Apply AnimateDiff."
    ),
    inputs=[MODEL_NAME_INPUT],
    outputs=[Output("motion_model", MOTION_MODEL)],
    deterministic=False,
    fingerprint=fingerprint_for(MODEL_NAME_INPUT),
)
def load_animatediff_model(model_name: str, ctx: NodeContext) -> Any:
    from nodestudio.runtime.animatediff import load_motion_adapter

    return load_motion_adapter(find_model(ctx, MODEL_NAME_INPUT, model_name))


@node(
    "diffusion.apply_animatediff",
    display_name="Apply AnimateDiff",
    category="model_patches/video",
    description=(
        "Adds a motion module to an SD 1.5 model, so the Sampler makes videos from an Empty "
        "Video Latent. LoRAs loaded before or after it still apply, and so do ControlNets "
        "(Apply ControlNet with one hint image per frame, or one for all frames). The "
        "incoming model is not changed."
    ),
    inputs=[Input("model", MODEL), Input("motion_model", MOTION_MODEL)],
    outputs=[Output("model", MODEL)],
)
def apply_animatediff(model: Any, motion_model: Any) -> Any:
    from nodestudio.runtime.animatediff import apply_motion

    return apply_motion(model, motion_model)
