"""ComfyUI's names for choices (resize methods, samplers, schedulers, weight dtypes, CLIP
types) and NodeStudio's, for discrete (SD1.x, SDXL) and flow-matching (SD3, Flux) models."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nodestudio.interop.comfy.rules import Names, Note, Unexportable
from nodestudio.runtime.sampler_names import FLOW_SAMPLER_NAMES, SAMPLER_NAMES

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

#: NodeStudio samplers ComfyUI has no sampler for (exported, they are refused).
NOT_IN_COMFY = frozenset({"pndm"})
_SAMPLERS_NEAR = {
    "dpmpp_sde_gpu": ("dpmpp_sde", _NO_GPU_NOISE),
    "dpmpp_2m_sde_gpu": ("dpmpp_2m_sde", _NO_GPU_NOISE),
    "dpmpp_3m_sde_gpu": ("dpmpp_3m_sde", _NO_GPU_NOISE),
    "deis": ("deis", "DEIS of order 2 here, ComfyUI's is of order 3"),
}

#: KSampler ``sampler_name`` -> diffusion.sampler ``sampler``: ComfyUI names NodeStudio's
#: samplers (runtime.sampler_names) alike, but for those it lacks or runs differently.
SAMPLERS = Names(
    "sampler",
    exact={name: name for name in SAMPLER_NAMES
           if name not in NOT_IN_COMFY and name not in _SAMPLERS_NEAR},
    near=_SAMPLERS_NEAR,
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

# -- flow-matching models (SD3, Flux) ----------------------------------------------------------
#
# NodeStudio samples SD3 and Flux with diffusers' flow schedulers, and only with the samplers
# below (it refuses the others for them at run time). The ComfyUI samplers of the same name run
# the same algorithm on the same flow sigmas.
FLOW_SAMPLERS = Names(
    "sampler (for SD3/Flux)",
    exact={name: name for name in FLOW_SAMPLER_NAMES},
)

# Schedulers on a flow model. ComfyUI's flow models tabulate sigma = shift(t) for t = k / N
# (N = 1000 for SD3, 10000 for Flux); on that table:
#
# * ``simple`` takes every (N / steps)-th from the top: shift(t) at t = 1, 1 - 1/steps, …,
#   1/steps, then 0. That is what Flux's reference pipeline hands its scheduler
#   (``linspace(1, 1/steps, steps)``, shifted by the image size).
# * ``normal`` spaces the *timesteps* evenly from the largest sigma to the smallest, which is
#   already shifted: shift(linspace(1, shift(1/N), steps)). That is diffusers'
#   FlowMatchEulerDiscreteScheduler on its own, which SD3's reference pipeline uses.
# * ``sgm_uniform`` is ``normal`` with one step more, the last one dropped: ``simple``'s
#   spacing squeezed by the smallest t (1/N, shifted), under 0.3 % apart.
#
# NodeStudio's schedules for flow models are ``normal`` (the spacing the family's reference
# pipeline samples with), ``karras``, ``exponential`` and ``beta`` (the same constructions as
# ComfyUI's on the flow sigmas); its ``trailing`` / ``linspace`` are timestep spacings of
# discrete models, refused for flow models. So ComfyUI's ``simple``, ``normal`` and
# ``sgm_uniform`` all become ``normal``: silently where that is the very same spacing, with a
# note where it is not. Which one NodeStudio's ``normal`` is was measured on the runtime's
# schedulers (10 steps, SD3's shift 3, Flux' shift at 1024 × 1024):
#
# * SD3 with euler, euler_ancestral, heun, lcm: ComfyUI's ``normal``, to the digit.
# * Flux with euler, euler_ancestral, lcm: ComfyUI's ``simple``, to the digit; Flux with heun
#   (whose scheduler takes no sigmas): ComfyUI's ``normal`` within 2 % but for the last step.
# * dpmpp_2m, uni_pc, uni_pc_bh2 (the multistep solvers space flow sigmas their own way): within
#   1 % of ComfyUI's ``simple`` and ``sgm_uniform``, for both families.
#
# Which family a workflow is for is read from its nodes (families.py); where only "a flow model"
# is known, ComfyUI's three are each noted.
FLOW_SCHEDULES = ("normal", "karras", "exponential", "beta")
_FLOW_SAME = frozenset({"karras", "exponential", "beta"})
_FLOW_SPACINGS = ("simple", "normal", "sgm_uniform")
_FLOW_SOLVERS = frozenset({"dpmpp_2m", "uni_pc", "uni_pc_bh2"})
_FAMILY_LABELS = {"flux": "Flux", "sd3": "SD3"}


def flow_reference(family: str, sampler: str) -> tuple[str, bool] | None:
    """The ComfyUI scheduler NodeStudio's ``normal`` is for a flow model of ``family``
    ("flux", "sd3", or "flow" when unknown) sampled with NodeStudio's ``sampler``, and whether
    exactly; None when the family decides and is unknown."""
    if sampler in _FLOW_SOLVERS:
        return ("simple", False)
    if family == "sd3":
        return ("normal", True)
    if family == "flux":
        return ("normal", False) if sampler == "heun" else ("simple", True)
    return None


@dataclass(frozen=True)
class FlowSchedules:
    """KSampler/BasicScheduler ``scheduler`` -> diffusion.sampler ``scheduler`` for a flow
    model: a converter (rules.Convert) for one family and NodeStudio sampler."""

    family: str
    sampler: str

    def to_ns(self, value: Any, note: Note) -> Any:
        if not isinstance(value, str) or value in _FLOW_SAME:
            return value
        if value not in _FLOW_SPACINGS:
            note(f"ComfyUI scheduler {value!r} has no NodeStudio equivalent for SD3/Flux "
                 f"models; pick one of {', '.join(FLOW_SCHEDULES)}")
            return value
        reference = flow_reference(self.family, self.sampler)
        if reference is None:
            note(f"ComfyUI scheduler {value!r} became 'normal', the model family's reference "
                 "spacing: ComfyUI's simple for Flux, its normal for SD3 (the workflow does not "
                 "say which family its model is)")
        elif reference != (value, True):
            note(f"ComfyUI scheduler {value!r} became 'normal': {self._why(value, *reference)}")
        return "normal"

    def _why(self, value: str, reference: str, exact: bool) -> str:
        if self.sampler in _FLOW_SOLVERS:
            return (f"NodeStudio's {self.sampler} spaces a flow model's steps its own way, "
                    "within 1 % of ComfyUI's simple and sgm_uniform")
        family = _FAMILY_LABELS.get(self.family, self.family)
        here = f"NodeStudio's normal for {family} with {self.sampler} is ComfyUI's {reference}"
        if not exact:
            return f"{here} within 2 % but for the last step"
        if value == "sgm_uniform":
            return f"{here}, which sgm_uniform is within 0.3 % of"
        smaller = "smaller" if value == "normal" else "larger"
        return f"{here}; {value} ends at a {smaller} noise level"

    def to_comfy(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise Unexportable(f"scheduler {value!r} is not a name")
        if value in _FLOW_SAME:
            return value
        if value == "normal":
            # Unknown family: Flux workflows are the common ones.
            return (flow_reference(self.family, self.sampler) or ("simple", False))[0]
        raise Unexportable(f"scheduler {value!r} has no ComfyUI equivalent for SD3/Flux models")


#: UNETLoader ``weight_dtype`` -> diffusion.load_diffusion_model ``weight_dtype``.
WEIGHT_DTYPES = Names(
    "weight dtype",
    exact={name: name for name in ("default", "fp8_e4m3fn", "fp8_e5m2")},
    near={"fp8_e4m3fn_fast": ("fp8_e4m3fn", "the same 8-bit weights; ComfyUI's fast variant "
                                            "also multiplies in fp8 on GPUs that can, "
                                            "NodeStudio in the device's precision")},
)
#: The CLIP loaders' ``type`` -> diffusion.load_text_encoders ``type``: the families NodeStudio
#: loads text encoder files for (not SDXL's, SD1.x's …).
CLIP_TYPES = Names("CLIP type", exact={"flux": "flux", "sd3": "sd3"})
