"""Wan 2.2 A14B's two experts: the low-noise expert's own guidance (WanPipeline's
``guidance_scale_2``). Without this node both experts take the Sampler's cfg, the pipeline's
default when ``guidance_scale_2`` is unset.

No torch here: the pack must import cheaply.
"""

from __future__ import annotations

from typing import Any

from nodestudio.api import MODEL, Float, Input, NodeError, Output, node


@node(
    "diffusion.wan22_expert_guidance",
    display_name="Wan 2.2 Expert Guidance",
    category="sampling/video_models",
    description=(
        "The cfg of Wan 2.2 A14B's low-noise expert (guidance_scale_2): the Sampler's cfg "
        "guides the high-noise steps, low_noise_cfg the steps after the experts' boundary."
    ),
    inputs=[Input("model", MODEL), Float("low_noise_cfg", 3.0, min=0.0, max=100.0, step=0.1)],
    outputs=[Output("model", MODEL)],
)
def wan22_expert_guidance(model: Any, low_noise_cfg: float) -> Any:
    from dataclasses import replace

    if getattr(model, "low_noise_denoiser", None) is None:
        raise NodeError("Wan 2.2 Expert Guidance needs a two-expert Wan 2.2 model (a folder "
                        "with transformer_2, such as Wan2.2-T2V-A14B); this model has one: "
                        "remove the node")
    return replace(model, low_noise_cfg=low_noise_cfg)
