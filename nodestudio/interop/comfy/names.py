"""ComfyUI's names for choices (resize methods, samplers, schedulers) and NodeStudio's."""

from __future__ import annotations

from nodestudio.interop.comfy.rules import Names

#: ImageScale / ImageScaleBy ``upscale_method`` -> image.resize / image.scale_by ``method``.
#: ComfyUI resizes with torch's interpolate (no antialiasing when shrinking), NodeStudio with
#: PIL (antialiased): the same when enlarging, smoother when shrinking.
IMAGE_RESIZE_METHODS = Names(
    "resize method",
    exact={"nearest-exact": "nearest", "bilinear": "bilinear", "area": "area",
           "bicubic": "bicubic", "lanczos": "lanczos"},
)

_NO_GPU_NOISE = "the same sampler; ComfyUI draws its noise on the GPU, NodeStudio like the CPU " \
    "variant, so the image differs"

#: KSampler ``sampler_name`` -> diffusion.sampler ``sampler``.
SAMPLERS = Names(
    "sampler",
    exact={name: name for name in (
        "euler", "euler_ancestral", "heun", "dpm_2", "dpm_2_ancestral", "lms", "dpmpp_2m",
        "dpmpp_2m_sde", "dpmpp_3m_sde", "dpmpp_sde", "uni_pc", "uni_pc_bh2", "ddim", "ddpm",
        "lcm")},
    near={
        "dpmpp_sde_gpu": ("dpmpp_sde", _NO_GPU_NOISE),
        "dpmpp_2m_sde_gpu": ("dpmpp_2m_sde", _NO_GPU_NOISE),
        "dpmpp_3m_sde_gpu": ("dpmpp_3m_sde", _NO_GPU_NOISE),
        "deis": ("deis", "DEIS of order 2 here, ComfyUI's is of order 3"),
    },
    back={"deis": "deis"},
)

#: KSampler ``scheduler`` -> diffusion.sampler ``schedule``. ComfyUI's "normal" spaces the
#: timesteps evenly from the first to the last (diffusers' "linspace"); its "simple" takes
#: every n-th of the trained ones from the end (diffusers' "trailing").
SCHEDULERS = Names(
    "scheduler",
    exact={"normal": "linspace", "simple": "trailing", "karras": "karras",
           "exponential": "exponential", "beta": "beta"},
    near={
        "sgm_uniform": ("trailing", "the same spacing, with whole-number timesteps"),
        "ddim_uniform": ("normal", "the checkpoint's own spacing, which for SD1.x and SDXL "
                                   "('leading', offset 1) is ComfyUI's ddim_uniform"),
    },
    back={"normal": "ddim_uniform"},
)
