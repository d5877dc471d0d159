"""ComfyUI's noise streams and the samplers diffusers lacks, for the Sampler's "comfyui" mode.

A workflow shared from ComfyUI gives its author's image only if the random numbers are drawn as
ComfyUI draws them (comfy/sample.py, comfy/k_diffusion/sampling.py, ComfyUI v0.8.0):

* **Initial noise** (``prepare_noise``): ``torch.randn`` of the latent's shape in float32 from
  ``torch.manual_seed(seed)`` on the CPU; for a latent taken from a batch (``batch_index``),
  one latent's noise is drawn per index up to the largest and the named ones are kept.
* **Ancestral steps** (``default_noise_sampler``): a fresh generator on the latents' device,
  seeded with ``seed + 1`` on the CPU (``seed`` on a GPU); one ``randn`` of the latents' shape
  per step that adds noise.
* **SDE samplers** (``BrownianTreeNoiseSampler(..., cpu=True)``): a torchsde Brownian tree over
  ``[smallest σ > 0, largest σ]`` of the sigmas the sampler runs, with ``entropy=seed``; the
  noise between σ and σ' is the tree's increment divided by √|σ' − σ|.

The schedulers here step on the sigmas of diffusers' EulerDiscreteScheduler (the same schedules,
``scale_model_input`` and ``x0 + σ·ε`` scaling), with ComfyUI's update rules: ``res_multistep``
(offered in both modes: it is ComfyUI's own sampler) and DPM++ 2M/3M SDE (diffusers' multistep
solver spells the third-order SDE correction differently).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from diffusers import EulerDiscreteScheduler
from diffusers.schedulers.scheduling_euler_discrete import EulerDiscreteSchedulerOutput


def prepare_noise(shape: Sequence[int], seed: int,
                  batch_index: Sequence[int] | None = None) -> torch.Tensor:
    """ComfyUI's initial noise: float32 on the CPU (the caller moves and casts it)."""
    generator = torch.Generator("cpu").manual_seed(seed)
    if not batch_index:
        return torch.randn(tuple(shape), generator=generator, dtype=torch.float32)
    unique, inverse = np.unique(np.asarray(batch_index), return_inverse=True)
    one = (1, *shape[1:])
    drawn = []
    # Every index up to the largest is drawn (so index k gets the k-th draw); only the named
    # ones are kept.
    for index in range(int(unique[-1]) + 1):
        noise = torch.randn(one, generator=generator, dtype=torch.float32)
        if index in unique:
            drawn.append(noise)
    return torch.cat([drawn[int(i)] for i in inverse.reshape(-1)], dim=0)


def step_generator(seed: int, device: torch.device | str) -> torch.Generator:
    """The generator of ComfyUI's default noise sampler (ancestral steps)."""
    device = torch.device(device)
    generator = torch.Generator(device)
    # ComfyUI adds 1 on the CPU only, so that the CPU stream differs from the initial noise's.
    generator.manual_seed(seed + 1 if device.type == "cpu" else seed)
    return generator


class BrownianNoise:
    """ComfyUI's BrownianTreeNoiseSampler with its tree on the CPU, for one latent batch."""

    def __init__(self, x: torch.Tensor, sigma_min: float, sigma_max: float, seed: int) -> None:
        import torchsde

        t0 = torch.as_tensor(sigma_min, dtype=torch.float32)
        t1 = torch.as_tensor(sigma_max, dtype=torch.float32)
        self.sign = 1 if t0 < t1 else -1
        low, high = (t0, t1) if t0 < t1 else (t1, t0)
        # ComfyUI's latents are float32 whatever the model's dtype: so is its tree.
        w0 = torch.zeros(x.shape, dtype=torch.float32)
        self.tree = torchsde.BrownianTree(low, w0, high, entropy=seed)
        self.device = x.device

    def __call__(self, sigma: Any, sigma_next: Any) -> torch.Tensor:
        t0 = torch.as_tensor(sigma, dtype=torch.float32).detach().cpu()
        t1 = torch.as_tensor(sigma_next, dtype=torch.float32).detach().cpu()
        sign = self.sign * (1 if t0 < t1 else -1)
        low, high = (t0, t1) if t0 < t1 else (t1, t0)
        increment = self.tree(low.float(), high.float()) * sign
        return (increment / (t1 - t0).abs().sqrt()).to(self.device)


def step_sigmas(scheduler: Any, steps: int, first: int, stop: int,
                finish_early: bool) -> torch.Tensor:
    """The k-diffusion sigma list ComfyUI's sampler gets for steps ``[first, stop)``: one σ per
    step and the one after the last (0 at the end of the schedule, or when a stage finishes
    early, as KSampler Advanced's ``force_full_denoise``)."""
    sigmas = scheduler.sigmas.detach().cpu().float()
    per_step = torch.cat([sigmas[:: scheduler.order][:steps], sigmas.new_zeros(1)])
    cut = per_step[first : stop + 1].clone()
    if finish_early:
        cut[-1] = 0.0
    return cut


def brownian_for(x: torch.Tensor, sigmas: torch.Tensor, seed: int) -> BrownianNoise:
    positive = sigmas[sigmas > 0]
    return BrownianNoise(x, float(positive.min()), float(sigmas.max()), seed)


class _KDiffusionScheduler(EulerDiscreteScheduler):
    """Euler's sigmas and scaling; ``_update`` is a k-diffusion sampler's step on them."""

    #: Set by the Sampler's loop in "comfyui" mode (SDE samplers); else drawn on first use.
    noise_sampler: Any = None
    noise_seed: int | None = None

    def set_timesteps(self, *args: Any, **kwargs: Any) -> None:
        super().set_timesteps(*args, **kwargs)
        self._history: list[tuple[float, torch.Tensor]] = []
        self.noise_sampler = None

    def _denoised(self, model_output: torch.Tensor, sample: torch.Tensor,
                  sigma: float) -> torch.Tensor:
        prediction = self.config.prediction_type
        if prediction == "epsilon":
            return sample - sigma * model_output
        if prediction == "v_prediction":
            return model_output * (-sigma / (sigma**2 + 1) ** 0.5) + sample / (sigma**2 + 1)
        if prediction == "sample":
            return model_output
        raise ValueError(f"prediction type {prediction!r} is not supported")

    def step(self, model_output: torch.Tensor, timestep: Any, sample: torch.Tensor,
             return_dict: bool = True) -> Any:
        if self.step_index is None:
            self._init_step_index(timestep)
        sigma = float(self.sigmas[self.step_index])
        sigma_next = float(self.sigmas[self.step_index + 1])
        x = sample.to(torch.float32)
        denoised = self._denoised(model_output.to(torch.float32), x, sigma)
        previous = self._update(x, denoised, sigma, sigma_next)
        self._history.append((sigma, denoised))
        del self._history[:-3]
        self._step_index += 1
        previous = previous.to(model_output.dtype)
        if not return_dict:
            return (previous, denoised)
        return EulerDiscreteSchedulerOutput(prev_sample=previous, pred_original_sample=denoised)

    def _update(self, x: torch.Tensor, denoised: torch.Tensor, sigma: float,
                sigma_next: float) -> torch.Tensor:
        raise NotImplementedError


def _euler(x: torch.Tensor, denoised: torch.Tensor, sigma: float, sigma_next: float):
    return x + (x - denoised) / sigma * (sigma_next - sigma)


class ResMultistepScheduler(_KDiffusionScheduler):
    """ComfyUI's ``res_multistep`` (eta 0): the second-order multistep exponential integrator
    of arXiv:2308.02157 on the previous step's denoised estimate; Euler for the first step and
    the step to σ = 0."""

    def _update(self, x, denoised, sigma, sigma_next):
        if sigma_next == 0 or not self._history:
            return _euler(x, denoised, sigma, sigma_next)
        sigma_prev, old_denoised = self._history[-1]
        # With eta 0 the previous step went down to exactly this σ, so t_old = t.
        t, t_next, t_prev = -math.log(sigma), -math.log(sigma_next), -math.log(sigma_prev)
        h = t_next - t
        c2 = (t_prev - t) / h
        phi1 = math.expm1(-h) / -h
        phi2 = (phi1 - 1.0) / -h
        b1, b2 = phi1 - phi2 / c2, phi2 / c2
        return math.exp(-h) * x + h * (b1 * denoised + b2 * old_denoised)


class ComfyDPMpp2MSDEScheduler(_KDiffusionScheduler):
    """ComfyUI's ``dpmpp_2m_sde`` (midpoint solver, eta 1) with Brownian-tree noise."""

    solver_order = 2

    def _update(self, x, denoised, sigma, sigma_next):
        if sigma_next == 0:
            return denoised
        h = math.log(sigma) - math.log(sigma_next)  # λ = −log σ for ε/v models (α = 1)
        h_eta = 2.0 * h
        x = sigma_next / sigma * math.exp(-h) * x - math.expm1(-h_eta) * denoised
        steps = self._history[-2:]
        if steps:
            h_1 = math.log(steps[-1][0]) - math.log(sigma)
            if self.solver_order == 3 and len(steps) == 2:
                h_2 = math.log(steps[0][0]) - math.log(steps[1][0])
                r0, r1 = h_1 / h, h_2 / h
                d1_0 = (denoised - steps[1][1]) / r0
                d1_1 = (steps[1][1] - steps[0][1]) / r1
                d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
                d2 = (d1_0 - d1_1) / (r0 + r1)
                phi_2 = math.expm1(-h_eta) / h_eta + 1
                phi_3 = phi_2 / h_eta - 0.5
                x = x + phi_2 * d1 - phi_3 * d2
            elif self.solver_order == 3:
                phi_2 = math.expm1(-h_eta) / h_eta + 1
                x = x + phi_2 * (denoised - steps[-1][1]) / (h_1 / h)
            else:
                x = x - 0.5 * math.expm1(-h_eta) * (h / h_1) * (denoised - steps[-1][1])
        noise = self._noise(x, sigma, sigma_next)
        return x + noise * sigma_next * math.sqrt(-math.expm1(-2.0 * h))

    def _noise(self, x: torch.Tensor, sigma: float, sigma_next: float) -> torch.Tensor:
        if self.noise_sampler is None:
            # Outside the Sampler's loop (a bare pipeline): the tree over this run's sigmas.
            sigmas = torch.cat([self.sigmas.float(), self.sigmas.new_zeros(1)])
            self.noise_sampler = brownian_for(x, sigmas, self.noise_seed or 0)
        return self.noise_sampler(sigma, sigma_next).to(x)


class ComfyDPMpp3MSDEScheduler(ComfyDPMpp2MSDEScheduler):
    """ComfyUI's ``dpmpp_3m_sde`` (eta 1) with Brownian-tree noise."""

    solver_order = 3


#: Scheduler classes of this module, by name (schedulers.scheduler_class looks here first).
CLASSES = {cls.__name__: cls for cls in (ResMultistepScheduler, ComfyDPMpp2MSDEScheduler,
                                            ComfyDPMpp3MSDEScheduler)}
