"""The sampler, schedule and compatibility-mode names, declared once and torch-free.

The Sampler node's choices (nodes/diffusion/sampling.py), the runtime's scheduler tables
(runtime/schedulers.py) and the ComfyUI name mapping (interop/comfy/names.py) all import these
tuples, so a sampler added here shows up in all three or fails tests/runtime/test_sampler_names.py.
This module imports nothing heavy: the window lists the Sampler node's choices without torch.
"""

from __future__ import annotations

#: Samplers of discrete-time models (SD1.x, SDXL …), in the order the Sampler node shows them.
SAMPLER_NAMES: tuple[str, ...] = (
    "euler", "euler_ancestral", "heun", "dpm_2", "dpm_2_ancestral", "lms", "dpmpp_2m",
    "dpmpp_2m_sde", "dpmpp_3m_sde", "dpmpp_sde", "deis", "uni_pc", "uni_pc_bh2", "ddim", "ddpm",
    "pndm", "lcm", "res_multistep",
)

#: The subset a flow-matching family (SD3, Flux …) samples with; the others are refused for it.
FLOW_SAMPLER_NAMES: tuple[str, ...] = (
    "euler", "euler_ancestral", "heun", "dpmpp_2m", "uni_pc", "uni_pc_bh2", "lcm",
)

#: Sigma / timestep spacings, the Sampler node's ``scheduler`` choices.
SCHEDULE_NAMES: tuple[str, ...] = (
    "normal", "karras", "exponential", "beta", "trailing", "linspace",
)

#: The Sampler's compatibility modes: diffusers' definitions, or ComfyUI's where they differ.
COMPATIBILITY_MODES: tuple[str, ...] = ("diffusers", "comfyui")
