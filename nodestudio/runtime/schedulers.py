"""Sampler and schedule names → diffusers schedulers built from the model's own scheduler config.

Every scheduler starts from the config the checkpoint ships (betas, prediction type, timestep
spacing, steps offset …) so that v-prediction and zero-SNR models sample correctly with any
sampler; the sampler name picks the class and algorithm, the schedule name the sigma spacing.
docs/SAMPLERS.md lists the table and the supported combinations.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SamplerSpec:
    scheduler_class: str
    options: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""


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

SAMPLER_NAMES = tuple(SAMPLERS)
SCHEDULE_NAMES = tuple(SCHEDULES)


class UnsupportedSchedule(ValueError):
    pass


def scheduler_class(sampler: str) -> type:
    import diffusers

    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; known: {', '.join(SAMPLER_NAMES)}")
    return getattr(diffusers, SAMPLERS[sampler].scheduler_class)


def _parameters(cls: type) -> set[str]:
    return set(inspect.signature(cls.__init__).parameters)


def supported_schedules(sampler: str) -> list[str]:
    parameters = _parameters(scheduler_class(sampler))
    return [name for name, changes in SCHEDULES.items() if set(changes) <= parameters]


def build_scheduler(
    sampler: str, schedule: str, model_config: Mapping[str, Any], seed: int | None = None
) -> Any:
    """A fresh scheduler of ``sampler``'s class, configured from ``model_config``.

    ``seed`` seeds the Brownian-tree noise of ``dpmpp_sde`` (otherwise random on every run).
    """
    cls = scheduler_class(sampler)
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; known: {', '.join(SCHEDULE_NAMES)}")
    parameters = _parameters(cls)
    changes = SCHEDULES[schedule]
    if not set(changes) <= parameters:
        raise UnsupportedSchedule(
            f"the {sampler} sampler does not support the {schedule} schedule "
            f"(it supports: {', '.join(supported_schedules(sampler))})"
        )
    config = dict(model_config)
    # A schedule replaces whatever sigma spacing the model's config asked for.
    config.update({flag: False for flag in _SIGMA_FLAGS if flag in parameters})
    config.update(SAMPLERS[sampler].options)
    config.update(changes)
    if "noise_sampler_seed" in parameters and seed is not None:
        config["noise_sampler_seed"] = seed % 2**63
    return cls.from_config(config)
