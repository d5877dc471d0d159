"""Sampler and schedule names → diffusers schedulers built from the model's own scheduler config.

Every scheduler starts from the config the checkpoint ships (betas, prediction type, timestep
spacing, steps offset …; for flow models the shift) so that v-prediction, zero-SNR and
flow-matching models sample correctly with any sampler; the sampler name picks the class and
algorithm, the schedule name the sigma spacing. A family samples either with the discrete
schedulers (:data:`SAMPLERS`) or with the flow-matching ones (:data:`FLOW_SAMPLERS`), by its
``scheduling``; a sampler name the family's table lacks is refused. docs/SAMPLERS.md lists the
tables and the supported combinations.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nodestudio.runtime.families.base import Scheduling
from nodestudio.runtime.sampler_names import (
    COMPATIBILITY_MODES,
    SAMPLER_NAMES,
    SCHEDULE_NAMES,
)
from nodestudio.runtime.sampler_names import (
    FLOW_SAMPLER_NAMES as FLOW_SAMPLER_NAMES,  # re-exported: tests and docs read it here
)

# torchsde (dpmpp_sde's Brownian tree) compares float32 step times with float64 ends and
# warns about the rounding; the samples are right, and an artist can do nothing with it.
warnings.filterwarnings("ignore", message="Should have (tb<=t1|ta>=t0)", category=UserWarning)

if TYPE_CHECKING:
    from nodestudio.runtime.families.base import Geometry, ModelFamily


@dataclass(frozen=True)
class SamplerSpec:
    scheduler_class: str
    options: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    #: The only schedules it takes, where fewer work than its class's flags suggest.
    schedules: tuple[str, ...] | None = None


SAMPLERS: dict[str, SamplerSpec] = {
    "euler": SamplerSpec("EulerDiscreteScheduler", {}, "Euler"),
    "euler_ancestral": SamplerSpec("EulerAncestralDiscreteScheduler", {},
                                   "Euler, ancestral (adds noise each step)"),
    "heun": SamplerSpec("HeunDiscreteScheduler", {}, "Heun (2 model calls per step)"),
    "dpm_2": SamplerSpec("KDPM2DiscreteScheduler", {}, "DPM2 (2 model calls per step)"),
    "dpm_2_ancestral": SamplerSpec("KDPM2AncestralDiscreteScheduler", {}, "DPM2, ancestral"),
    "lms": SamplerSpec("LMSDiscreteScheduler", {}, "Linear multistep"),
    "dpmpp_2m": SamplerSpec("DPMSolverMultistepScheduler",
                            {"algorithm_type": "dpmsolver++", "solver_order": 2}, "DPM++ 2M"),
    "dpmpp_2m_sde": SamplerSpec("DPMSolverMultistepScheduler",
                                {"algorithm_type": "sde-dpmsolver++", "solver_order": 2},
                                "DPM++ 2M SDE"),
    "dpmpp_3m_sde": SamplerSpec("DPMSolverMultistepScheduler",
                                {"algorithm_type": "sde-dpmsolver++", "solver_order": 3},
                                "DPM++ 3M SDE"),
    "dpmpp_sde": SamplerSpec("DPMSolverSDEScheduler", {}, "DPM++ SDE (Brownian-tree noise)"),
    "deis": SamplerSpec("DEISMultistepScheduler", {}, "DEIS"),
    "uni_pc": SamplerSpec("UniPCMultistepScheduler", {}, "UniPC (bh1)"),
    "uni_pc_bh2": SamplerSpec("UniPCMultistepScheduler", {"solver_type": "bh2"}, "UniPC (bh2)"),
    "ddim": SamplerSpec("DDIMScheduler", {}, "DDIM (eta 0)"),
    "ddpm": SamplerSpec("DDPMScheduler", {}, "DDPM"),
    "pndm": SamplerSpec("PNDMScheduler", {"skip_prk_steps": True}, "PNDM (PLMS)"),
    "lcm": SamplerSpec("LCMScheduler", {}, "LCM (for LCM-distilled models or LCM LoRAs)"),
    "res_multistep": SamplerSpec("ResMultistepScheduler", {},
                                 "RES multistep (ComfyUI's res_multistep, second order)"),
}

#: The Sampler's "comfyui" compatibility mode: ComfyUI's definitions where they differ from
#: diffusers'. Its "ddim" is its Euler sampler (comfy/samplers.py), its SDE multistep solvers
#: are run with its own update rules and Brownian-tree noise (runtime.comfy_samplers).
COMFY_SAMPLERS: dict[str, SamplerSpec] = {
    **SAMPLERS,
    "ddim": SamplerSpec("EulerDiscreteScheduler", {}, "DDIM as ComfyUI runs it: Euler"),
    "dpmpp_2m_sde": SamplerSpec("ComfyDPMpp2MSDEScheduler", {}, "DPM++ 2M SDE (ComfyUI's)"),
    "dpmpp_3m_sde": SamplerSpec("ComfyDPMpp3MSDEScheduler", {}, "DPM++ 3M SDE (ComfyUI's)"),
}

#: Flow-matching samplers: diffusers' flow schedulers, and the multistep solvers on flow sigmas.
_FLOW_SOLVER = {"use_flow_sigmas": True, "prediction_type": "flow_prediction"}
FLOW_SAMPLERS: dict[str, SamplerSpec] = {
    "euler": SamplerSpec("FlowMatchEulerDiscreteScheduler", {}, "Euler"),
    "euler_ancestral": SamplerSpec("FlowMatchEulerDiscreteScheduler",
                                   {"stochastic_sampling": True},
                                   "Euler, stochastic (re-noises each step)"),
    "heun": SamplerSpec("FlowMatchHeunDiscreteScheduler", {}, "Heun (2 model calls per step)"),
    # On flow sigmas diffusers' Karras/exponential/beta spacings reach σ = 1 exactly, where
    # these solvers' log-SNR is infinite: the image comes out NaN (tested), so they are refused.
    "dpmpp_2m": SamplerSpec("DPMSolverMultistepScheduler",
                            {"algorithm_type": "dpmsolver++", "solver_order": 2, **_FLOW_SOLVER},
                            "DPM++ 2M", schedules=("normal",)),
    "uni_pc": SamplerSpec("UniPCMultistepScheduler", dict(_FLOW_SOLVER), "UniPC (bh1)",
                          schedules=("normal", "karras")),
    "uni_pc_bh2": SamplerSpec("UniPCMultistepScheduler", {"solver_type": "bh2", **_FLOW_SOLVER},
                              "UniPC (bh2)", schedules=("normal", "karras")),
    "lcm": SamplerSpec("FlowMatchLCMScheduler", {}, "LCM (for few-step distilled flow models)"),
}

_SIGMA_FLAGS = ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas")

#: Schedule name → scheduler config changes (flags a class lacks make the pair unsupported).
SCHEDULES: dict[str, dict[str, Any]] = {
    "normal": {},  # the model's own timestep spacing
    "karras": {"use_karras_sigmas": True},
    "exponential": {"use_exponential_sigmas": True},
    "beta": {"use_beta_sigmas": True},
    "trailing": {"timestep_spacing": "trailing"},
    "linspace": {"timestep_spacing": "linspace"},
}

# The tables above are keyed by the names declared in runtime.sampler_names (the Sampler node
# and the ComfyUI mapping import them from there); tests/runtime/test_sampler_names.py checks
# that each table holds exactly its declared names, in their order.


class UnsupportedSchedule(ValueError):
    pass


def sampler_table(scheduling: Scheduling = Scheduling.DISCRETE,
                  compatibility: str = "diffusers") -> dict[str, SamplerSpec]:
    if scheduling is Scheduling.FLOW:
        return FLOW_SAMPLERS
    return COMFY_SAMPLERS if compatibility == "comfyui" else SAMPLERS


def scheduler_class(sampler: str, scheduling: Scheduling = Scheduling.DISCRETE,
                    compatibility: str = "diffusers") -> type:
    import diffusers

    from nodestudio.runtime import comfy_samplers

    table = sampler_table(scheduling, compatibility)
    if sampler not in table:
        if sampler in SAMPLERS:
            raise UnsupportedSchedule(
                f"the {sampler} sampler does not work with flow-matching models; "
                f"these do: {', '.join(table)}"
            )
        raise ValueError(f"unknown sampler {sampler!r}; known: {', '.join(SAMPLER_NAMES)}")
    name = table[sampler].scheduler_class
    return comfy_samplers.CLASSES.get(name) or getattr(diffusers, name)


def _parameters(cls: type) -> set[str]:
    return set(inspect.signature(cls.__init__).parameters)


def supported_schedules(sampler: str, scheduling: Scheduling = Scheduling.DISCRETE,
                        compatibility: str = "diffusers") -> list[str]:
    parameters = _parameters(scheduler_class(sampler, scheduling, compatibility))
    names = [name for name, changes in SCHEDULES.items() if set(changes) <= parameters]
    only = sampler_table(scheduling, compatibility)[sampler].schedules
    if only is not None:
        names = [name for name in names if name in only]
    if scheduling is Scheduling.FLOW:
        # Timestep spacing is a discrete-schedule notion: flow schedulers space sigmas.
        names = [name for name in names if name not in ("trailing", "linspace")]
    return names


def _flow_config(model_config: Mapping[str, Any], parameters: set[str],
                 mu: float | None) -> dict[str, Any]:
    """A flow model's scheduler config (FlowMatchEuler's names) for another flow scheduler."""
    config = dict(model_config)
    shift = float(config.get("shift", 1.0))
    if mu is not None and "use_dynamic_shifting" not in parameters:
        # A resolution-dependent shift is exp(mu) as a fixed shift, for schedulers that only
        # know a fixed one.
        shift = math.exp(mu)
        config["use_dynamic_shifting"] = False
    config["shift"] = shift
    if "flow_shift" in parameters:
        config["flow_shift"] = shift
    return config


def build_scheduler(
    sampler: str, schedule: str, model_config: Mapping[str, Any], seed: int | None = None,
    family: ModelFamily | None = None, mu: float | None = None,
    compatibility: str = "diffusers",
) -> Any:
    """A fresh scheduler of ``sampler``'s class, configured from ``model_config``.

    ``seed`` seeds the Brownian-tree noise of ``dpmpp_sde`` (otherwise random on every run);
    ``family`` picks the sampler table (discrete by default); ``mu`` is the
    resolution-dependent shift of a flow model that uses one; ``compatibility`` "comfyui"
    takes ComfyUI's definitions (:data:`COMFY_SAMPLERS`).
    """
    if compatibility not in COMPATIBILITY_MODES:
        raise ValueError(f"unknown compatibility {compatibility!r}; known: "
                         f"{', '.join(COMPATIBILITY_MODES)}")
    scheduling = family.scheduling if family is not None else Scheduling.DISCRETE
    cls = scheduler_class(sampler, scheduling, compatibility)
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; known: {', '.join(SCHEDULE_NAMES)}")
    parameters = _parameters(cls)
    changes = SCHEDULES[schedule]
    supported = supported_schedules(sampler, scheduling, compatibility)
    if schedule not in supported:
        raise UnsupportedSchedule(
            f"the {sampler} sampler does not support the {schedule} schedule "
            f"(it supports: {', '.join(supported)})"
        )
    if scheduling is Scheduling.FLOW:
        config = _flow_config(model_config, parameters, mu)
    else:
        config = dict(model_config)
    # A schedule replaces whatever sigma spacing the model's config asked for.
    config.update({flag: False for flag in _SIGMA_FLAGS if flag in parameters})
    config.update(sampler_table(scheduling, compatibility)[sampler].options)
    config.update(changes)
    if "noise_sampler_seed" in parameters and seed is not None:
        config["noise_sampler_seed"] = seed % 2**63
    scheduler = cls.from_config(config)
    if seed is not None and hasattr(scheduler, "noise_seed"):
        scheduler.noise_seed = seed  # ComfyUI's Brownian tree takes the seed as it is
    return scheduler


def resolution_shift(model_config: Mapping[str, Any], image_sequence_length: int) -> float | None:
    """mu of a flow model with resolution-dependent shift (None for a fixed shift).

    The shift grows linearly with the number of image tokens between (base_image_seq_len,
    base_shift) and (max_image_seq_len, max_shift), as the reference pipelines compute it.
    """
    if not model_config.get("use_dynamic_shifting"):
        return None
    base_length = model_config.get("base_image_seq_len", 256)
    max_length = model_config.get("max_image_seq_len", 4096)
    base_shift = model_config.get("base_shift", 0.5)
    max_shift = model_config.get("max_shift", 1.15)
    slope = (max_shift - base_shift) / (max_length - base_length)
    return image_sequence_length * slope + (base_shift - slope * base_length)


def set_timesteps(scheduler: Any, family: ModelFamily, steps: int, geometry: Geometry,
                  device: Any, mu: float | None = None) -> None:
    """``scheduler.set_timesteps`` as the family's reference pipeline calls it."""
    if family.scheduling is not Scheduling.FLOW:
        scheduler.set_timesteps(steps, device=device)
        return
    parameters = inspect.signature(scheduler.set_timesteps).parameters
    kwargs: dict[str, Any] = {}
    sigmas = family.default_sigmas(steps)
    if sigmas is not None and "sigmas" in parameters and not scheduler.config.get(
        "use_flow_sigmas"
    ):
        kwargs["sigmas"] = sigmas
    if mu is not None and "mu" in parameters and scheduler.config.get("use_dynamic_shifting"):
        kwargs["mu"] = mu
    scheduler.set_timesteps(steps, device=device, **kwargs)
