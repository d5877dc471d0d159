"""Running part of a schedule, and latents handed from one sampling stage to the next.

ComfyUI's KSampler (Advanced) — and so the SDXL base + refiner recipe — runs the steps
``[start_step, min(end_step, steps))`` of a ``steps``-step schedule: the base model the first
ones, returning its latent *with the noise left* at that point, the refiner the rest, adding no
noise of its own. NodeStudio's Sampler does the same on the diffusers schedulers.

**Between stages a latent carries its leftover noise in k-diffusion's scaling**,
``x = x0 + σ·ε`` — ComfyUI's convention, and the one the Euler-family diffusers schedulers
sample in. Schedulers that sample in the variance-preserving scaling ``√ᾱ·x0 + √(1−ᾱ)·ε``
(DDIM, DPM-Solver, UniPC, DEIS, DDPM, LCM) convert at the boundary:
``x_σ = x_vp · √(1 + σ²)``. So one stage's latent can be continued with another sampler.
Flow-matching models have one parametrisation, ``x = (1 − σ)·x0 + σ·ε``, shared by every flow
scheduler (and ComfyUI's): their latents pass between stages as they are.

**Finishing early** (``end_step`` before the last step, without leftover noise) ends, as in
ComfyUI, with a step straight to σ = 0: the last step run returns the model's estimate of the
clean latent (``x0``), which is what every first-order step to σ = 0 lands on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from nodestudio.api.errors import NodeError
from nodestudio.runtime.families.base import Prediction

#: Schedulers whose latents are ``x0 + σ·ε`` (their ``init_noise_sigma`` is σ_max, and
#: ``scale_model_input`` divides by √(σ² + 1)); all others sample in the ``√ᾱ`` scaling.
SIGMA_SCALED = frozenset({
    "EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler", "HeunDiscreteScheduler",
    "KDPM2DiscreteScheduler", "KDPM2AncestralDiscreteScheduler", "LMSDiscreteScheduler",
    "DPMSolverSDEScheduler",
    # runtime.comfy_samplers: k-diffusion samplers on Euler's sigmas.
    "ResMultistepScheduler", "ComfyDPMpp2MSDEScheduler", "ComfyDPMpp3MSDEScheduler",
})

#: PLMS's first step spans two timesteps: a schedule cut in the middle skips a step.
_UNCUTTABLE = frozenset({"PNDMScheduler"})


@dataclass(frozen=True)
class StepRange:
    """Steps ``[first, stop)`` of a ``steps``-step schedule, as indices into its timesteps."""

    first: int
    stop: int
    steps: int
    #: Indices ``[begin, end)`` of ``scheduler.timesteps`` that run those steps.
    begin: int
    end: int
    #: Whether the last step run jumps to σ = 0 (a stage that ends early without leftover noise).
    finish_early: bool
    #: Whether the result keeps the noise of step ``stop`` (for a later stage to continue).
    leftover_noise: bool

    @property
    def count(self) -> int:
        return self.stop - self.first


def step_range(scheduler, steps: int, first: int, end_step: int, leftover_noise: bool,
               sampler: str) -> StepRange | None:
    """The steps to run, or None when there are none (``first`` ≥ the end: ComfyUI then hands
    the latent on unchanged). ``scheduler`` has had ``set_timesteps(steps)``."""
    stop = min(end_step, steps)
    if first >= stop:
        return None
    partial = first > 0 or stop < steps
    if partial and type(scheduler).__name__ in _UNCUTTABLE:
        raise NodeError(
            f"the {sampler} sampler cannot run part of its schedule (its first step spans two "
            "timesteps): pick another sampler (euler, ddim, dpmpp_2m …) for staged sampling"
        )
    order = scheduler.order
    total = len(scheduler.timesteps)
    early = stop < steps and not leftover_noise
    begin = first * order
    # A step of a second-order scheduler takes two timesteps (its last one only one); a stage
    # that finishes early takes only the first of its last step (an Euler step to σ = 0).
    end = (stop - 1) * order + 1 if early else min(stop * order, total)
    return StepRange(first, stop, steps, begin, end, early, stop < steps and leftover_noise)


def is_flow(scheduler) -> bool:
    """Whether the scheduler samples a flow-matching model (x = (1 − σ)·x0 + σ·ε)."""
    return type(scheduler).__name__.startswith("FlowMatch") or bool(
        scheduler.config.get("use_flow_sigmas", False)
    )


def is_sigma_scaled(scheduler) -> bool:
    # Flow latents need no conversion either: every flow scheduler shares their scaling.
    return type(scheduler).__name__ in SIGMA_SCALED or is_flow(scheduler)


def sigma_at(scheduler, index: int) -> float:
    """σ (k-diffusion's noise level) at ``scheduler.timesteps[index]``."""
    sigmas = getattr(scheduler, "sigmas", None)
    if sigmas is not None and index < len(sigmas):
        return float(sigmas[index])
    timestep = int(scheduler.timesteps[index])
    alpha_bar = float(scheduler.alphas_cumprod[timestep])
    return math.sqrt((1.0 - alpha_bar) / alpha_bar)


def to_sigma_scaling(scheduler, latents: torch.Tensor, index: int) -> torch.Tensor:
    """The scheduler's latents at ``timesteps[index]`` in the ``x0 + σ·ε`` scaling."""
    if is_sigma_scaled(scheduler):
        return latents
    return latents * math.sqrt(1.0 + sigma_at(scheduler, index) ** 2)


def from_sigma_scaling(scheduler, latents: torch.Tensor, index: int) -> torch.Tensor:
    """``x0 + σ·ε`` latents as the scheduler samples them at ``timesteps[index]``."""
    if is_sigma_scaled(scheduler):
        return latents
    return latents / math.sqrt(1.0 + sigma_at(scheduler, index) ** 2)


def denoised(scheduler, prediction_kind: Prediction, model_output: torch.Tensor,
             latents: torch.Tensor, index: int) -> torch.Tensor:
    """The model's estimate of the clean latent at ``timesteps[index]`` (what a step to σ = 0
    gives), from its output under the family's (or the checkpoint's) prediction type."""
    sigma = sigma_at(scheduler, index)
    noisy = to_sigma_scaling(scheduler, latents, index)
    if prediction_kind is Prediction.FLOW:
        return noisy - sigma * model_output  # the flow velocity is ε − x0
    prediction = scheduler.config.prediction_type
    if prediction == "epsilon":
        return noisy - sigma * model_output
    if prediction == "v_prediction":
        return noisy / (sigma**2 + 1) - model_output * sigma / math.sqrt(sigma**2 + 1)
    if prediction == "sample":
        return model_output
    raise NodeError(f"cannot finish early with prediction type {prediction!r}")
