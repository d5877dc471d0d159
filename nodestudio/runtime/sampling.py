"""The denoising loop of the Sampler node, step for step the loop of the diffusers pipelines.

One loop, for every model family, covers what diffusers spreads over the StableDiffusion(XL),
StableDiffusion3 and Flux (Img2Img|Inpaint|ControlNet) pipelines: the same initial noise
(``randn_tensor`` from a CPU generator seeded with the seed, so CPU and GPU start alike),
``init_noise_sigma``, ``scale_model_input``, the scheduler's extra step arguments (``eta``,
``generator``), and a guidance strategy the family picks (classifier-free guidance, none at
cfg 1, or a guidance embedding for distilled models). The model call itself — what the
denoiser takes (pooled prompts, size conditioning, packed latents, ControlNet residuals) and
returns — is the family's (:mod:`nodestudio.runtime.families`); the loop never asks which
family it runs. Then:

* **Text to image** — an Empty Latent with denoise 1: pure noise × ``init_noise_sigma``.
* **Image to image** — any other latent, or denoise < 1: denoise is diffusers' img2img
  ``strength``: of ``steps`` scheduled steps the last ``int(steps × denoise)`` run, starting from
  the latent noised to the first of them (``add_noise``; ``scale_noise`` for flow matching).
  So denoise 0.5 at 20 steps runs 10 steps; a denoise too small to run one step is an error.
  In "comfyui" compatibility mode denoise is ComfyUI's: the last ``steps`` of an
  ``int(steps / denoise)``-step schedule (denoise 0.5 at 20 steps runs 20 of 40).
* **Inpainting** — with a mask (Sampler input, or the one VAE Encode attached): as the inpaint
  pipeline. The mask is binarised at 0.5 and resized to the latent with nearest-neighbour
  interpolation; denoise 1 starts from pure noise, lower values from the noised image. A 4-channel
  UNet gets the unmasked area replaced by the (re-noised) original latent after every step; a
  9-channel inpainting UNet gets mask and masked-image latents concatenated to its input. The
  result keeps the mask (as ComfyUI's does), so a later Sampler on it inpaints too.
* **Stages** (ComfyUI's KSampler Advanced; :mod:`stages`) — only the steps
  ``[start_step, min(end_step, steps))`` run (denoise < 1 skips the first ones as well);
  ``add_noise`` off takes the latent as already noised to the first of them;
  ``leftover_noise`` returns the latent noised to the step after the last one run, for a
  second Sampler to continue.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from nodestudio.api.errors import NodeError
from nodestudio.runtime import (
    comfy_samplers,
    composition,
    fast_mode,
    lora,
    memory_manager,
    stages,
)
from nodestudio.runtime.families.base import (
    Denoiser,
    DenoiseRequest,
    Geometry,
    Guidance,
)
from nodestudio.runtime.schedulers import build_scheduler, resolution_shift, set_timesteps
from nodestudio.runtime.types import Conditioning, DiffusionModel, Latent

#: ComfyUI treats a denoise above this as 1 (its KSampler.set_steps).
_COMFY_FULL_DENOISE = 0.9999
#: ``on_step(done_steps, total_steps, latents_for_preview)``
StepCallback = Callable[[int, int, torch.Tensor], None]


@dataclass(frozen=True)
class SamplerSettings:
    seed: int
    steps: int
    cfg: float
    sampler: str = "euler"
    schedule: str = "normal"
    denoise: float = 1.0
    eta: float = 0.0
    #: Off: the latent is already noised to the first step run (a second stage).
    add_noise: bool = True
    start_step: int = 0
    end_step: int = 10000
    #: Return the latent noised to step ``end_step`` instead of finishing to σ = 0.
    leftover_noise: bool = False
    #: "diffusers" (the pipelines' noise and samplers) or "comfyui" (ComfyUI's noise streams
    #: and sampler definitions: runtime.comfy_samplers).
    compatibility: str = "diffusers"


def _random_noise(
    shape: tuple[int, ...], generator: torch.Generator, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    from diffusers.utils.torch_utils import randn_tensor

    return randn_tensor(shape, generator=generator, device=device, dtype=dtype)


def _prepare_mask(mask: torch.Tensor, batch: int, height: int, width: int) -> torch.Tensor:
    """[B, 1, H, W] 0/1 mask at pixel size, as the inpaint pipeline's mask processor makes it."""
    mask = mask.to(torch.float32)
    if mask.ndim == 3:
        mask = mask[:, None]
    if tuple(mask.shape[-2:]) != (height, width):
        mask = F.interpolate(mask, size=(height, width))
    mask = (mask >= 0.5).to(torch.float32)
    if mask.shape[0] == 1 and batch > 1:
        mask = mask.repeat(batch, 1, 1, 1)
    elif mask.shape[0] != batch:
        raise NodeError(f"the mask has {mask.shape[0]} images but {batch} latents are sampled")
    return mask


def _step_kwargs(scheduler, generator: torch.Generator, eta: float) -> dict:
    parameters = inspect.signature(scheduler.step).parameters
    kwargs = {}
    if "eta" in parameters:
        kwargs["eta"] = eta
    if "generator" in parameters:
        kwargs["generator"] = generator
    return kwargs


def _noised(scheduler, samples: torch.Tensor, noise: torch.Tensor,
            timesteps: torch.Tensor) -> torch.Tensor:
    """``samples`` noised to ``timesteps``: flow-matching schedulers call it ``scale_noise``."""
    if hasattr(scheduler, "scale_noise"):
        return scheduler.scale_noise(samples, timesteps, noise)
    return scheduler.add_noise(samples, noise, timesteps)


def _scale_input(scheduler, latents: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
    # Flow-matching schedulers take the latents as they are (they have no scale_model_input).
    scale = getattr(scheduler, "scale_model_input", None)
    return latents if scale is None else scale(latents, timestep)


def _check_latent(model: DiffusionModel, latent: Latent) -> None:
    channels = model.latent_channels
    if latent.samples.shape[1] != channels:
        raise NodeError(
            f"the latent has {latent.samples.shape[1]} channels but this {model.family.label} "
            f"model uses {channels}: make it with this model's VAE or Empty Latent"
        )
    multiple = model.family.patch_size
    rows, columns = latent.samples.shape[-2:]
    if rows % multiple or columns % multiple:
        side = multiple * latent.scale_factor
        raise NodeError(f"{model.family.label} needs image sides that are multiples of {side} "
                        f"pixels; this latent is {columns * latent.scale_factor} × "
                        f"{rows * latent.scale_factor}")


@dataclass
class _Timesteps:
    """The scheduler's run, cut to the steps a denoise setting and a stage leave."""

    scheduler: Any
    span: stages.StepRange
    timesteps: torch.Tensor
    #: Steps skipped at the start by denoise < 1 (so ControlNet ranges are fractions of the rest).
    denoise_start: int
    text_to_image: bool


def _plan_timesteps(
    model: DiffusionModel, latent: Latent, settings: SamplerSettings, geometry: Geometry,
    inpainting: bool, device: torch.device,
) -> _Timesteps | None:
    family = model.family
    mu = resolution_shift(model.scheduler_config, family.image_sequence_length(geometry))
    scheduler = build_scheduler(settings.sampler, settings.schedule, model.scheduler_config,
                                settings.seed, family, mu, settings.compatibility)
    text_to_image = latent.is_empty and settings.denoise >= 1.0 and not inpainting
    scheduled, start, stage_start, stage_end = _denoise_window(settings, text_to_image)
    set_timesteps(scheduler, family, scheduled, geometry, device, mu)
    span = stages.step_range(scheduler, scheduled, max(start, stage_start), stage_end,
                             settings.leftover_noise, settings.sampler)
    if span is None:
        return None
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(span.begin)
    return _Timesteps(scheduler, span, scheduler.timesteps[span.begin : span.end], start,
                      text_to_image)


def _denoise_window(settings: SamplerSettings,
                    text_to_image: bool) -> tuple[int, int, int, int]:
    """(steps scheduled, first step a denoise setting leaves, a stage's start and end step).

    "diffusers": denoise is the img2img pipelines' ``strength``: the last
    ``int(steps × denoise)`` of ``steps`` run. "comfyui": ComfyUI's KSampler, which schedules
    ``int(steps / denoise)`` steps and runs the last ``steps`` of them (a stage's start and
    end count within those).
    """
    steps, denoise = settings.steps, settings.denoise
    if text_to_image or denoise >= 1.0 or (settings.compatibility == "comfyui"
                                           and denoise > _COMFY_FULL_DENOISE):
        return steps, 0, settings.start_step, settings.end_step
    if settings.compatibility == "comfyui":
        if denoise <= 0.0:
            raise NodeError("denoise 0 leaves no step to run: raise denoise")
        scheduled = int(steps / denoise)
        start = scheduled - steps
        return (scheduled, start, start + settings.start_step,
                start + min(settings.end_step, steps))
    kept = min(int(steps * denoise), steps)
    start = max(steps - kept, 0)
    if steps - start < 1:
        raise NodeError(f"denoise {denoise} leaves no step to run out of {steps}: "
                        "raise denoise or steps")
    return steps, start, settings.start_step, settings.end_step


@torch.inference_mode()
def sample(
    model: DiffusionModel,
    positive: Conditioning,
    negative: Conditioning,
    latent: Latent,
    settings: SamplerSettings,
    mask: torch.Tensor | None = None,
    on_step: StepCallback | None = None,
    check_cancelled: Callable[[], None] | None = None,
) -> Latent:
    """Denoise ``latent`` under the prompts; returns the new latent (same size and batch)."""
    family = model.family
    if family.sample is not None:  # latents the generic loop does not step (audio)
        return family.sample(model, positive, negative, latent, settings, mask, on_step,
                             check_cancelled)
    device = model.device
    dtype = model.dtype
    geometry = _checked_geometry(model, latent)
    guidance = family.guidance(model, settings.cfg)
    family.check_conditioning(model, positive, "positive")
    if guidance.halves == 2:
        family.check_conditioning(model, negative, "negative")
    if mask is None:
        mask = latent.noise_mask
    _check_inpainting(model, latent, mask)
    inpainting = mask is not None

    plan = _plan_timesteps(model, latent, settings, geometry, inpainting, device)
    if plan is None:
        return latent  # nothing left to run: handed on unchanged, as ComfyUI does
    scheduler, span = plan.scheduler, plan.span
    # ControlNet step ranges are fractions of the whole run a denoise setting leaves (as in
    # the pipelines), wherever a stage cuts it.
    control = _ControlSteps(span.begin - plan.denoise_start * scheduler.order,
                            len(scheduler.timesteps) - plan.denoise_start * scheduler.order)

    generator = torch.Generator("cpu").manual_seed(settings.seed)
    start = _initial_latents(model, latent, settings, plan, geometry, generator, inpainting)
    masks = _inpainting_masks(model, latent, mask, geometry) if mask is not None else None
    negative_used = negative if guidance.halves == 2 else None
    holding = _hold_models(model, run_companions(model, positive, negative_used), device)
    denoiser = _build_denoiser(DenoiseRequest(
        model=model, positive=positive, negative=negative_used, geometry=geometry,
        guidance=guidance, cfg=settings.cfg, dtype=dtype, device=device, seed=settings.seed,
        scale_input=lambda x, t: _scale_input(scheduler, x, t),
        timestep_of_step=_timestep_lookup(plan.timesteps, control.offset),
    ), masks, holding)
    if settings.compatibility == "comfyui":
        generator = _comfy_streams(scheduler, settings, span, start.latents)
    kept = None
    if masks is not None and not model.takes_inpainting_input:
        kept = _KeptArea(start.image_latents, start.noise, masks.latent)
    steps = _Steps(plan, guidance, _step_kwargs(scheduler, generator, settings.eta), control,
                   kept, on_step, check_cancelled)
    with lora.applied(model.denoiser, model.loras), \
            memory_manager.released_after(model.denoiser, holding.mode), \
            memory_manager.released_after_all(holding.companions, holding.companion_modes), \
            memory_manager.released_after_all(holding.experts, holding.expert_modes):
        latents = _denoise_steps(model, denoiser, start.latents, steps)
    return _finished(latent, latents, plan, kept, mask)


def _finished(latent: Latent, latents: torch.Tensor, plan: _Timesteps, kept: _KeptArea | None,
              mask: torch.Tensor | None) -> Latent:
    """The Sampler's output: a stage that leaves noise hands on the latent at sigma scaling
    and the area it held, so a second stage goes on exactly as one run."""
    held = None
    if plan.span.leftover_noise:
        latents = stages.to_sigma_scaling(plan.scheduler, latents, plan.span.end)
        if kept is not None:
            held = kept.image_latents
    return Latent(samples=latents, scale_factor=latent.scale_factor, noise_mask=mask,
                  masked_image_latents=latent.masked_image_latents, original_samples=held)


def _build_denoiser(request: DenoiseRequest, masks: _Masks | None,
                    holding: _HeldModels) -> Denoiser:
    """The family's denoiser for ``request`` with a 9-channel inpainting model's inputs and,
    for a Wan 2.2 run, the turn its two experts take."""
    model, device = request.model, request.device
    inpainting_input = masks is not None and model.takes_inpainting_input
    turn = None
    if holding.experts:
        def turn() -> None:
            memory_manager.take_turn(model.denoiser, holding.experts[0], device, holding.mode,
                                     staying=holding.companions)
    return composition.build_denoiser(dataclasses.replace(
        request,
        latent_mask=masks.latent if masks is not None and inpainting_input else None,
        masked_latents=masks.masked_latents if masks is not None else None,
        pixel_mask=masks.pixel if masks is not None and inpainting_input else None,
        expert_turn=turn))


def _checked_geometry(model: DiffusionModel, latent: Latent) -> Geometry:
    _check_latent(model, latent)
    height, width = latent.pixel_size
    # Video latents [B, C, F, h, w] carry a frames axis; images have none (frames = 1).
    frames = int(latent.samples.shape[2]) if latent.samples.ndim == 5 else 1
    return Geometry(latent.batch_size, height, width, *latent.samples.shape[-2:],
                    frames=frames)


def _check_inpainting(model: DiffusionModel, latent: Latent, mask: torch.Tensor | None) -> None:
    if mask is not None and latent.samples.ndim == 5:
        raise NodeError("video latents cannot be inpainted yet: remove the mask from the "
                        "Sampler and from VAE Encode")
    if model.takes_inpainting_input and (mask is None or latent.masked_image_latents is None):
        raise NodeError(
            "this is an inpainting model: encode the image with VAE Encode and connect the mask "
            "to VAE Encode's mask input"
        )


@dataclass(frozen=True)
class _ControlSteps:
    """Where a run's steps sit in the run a denoise setting leaves (ControlNet ranges)."""

    offset: int
    total: int


@dataclass(frozen=True)
class _Start:
    """The latents the first step takes, the noise drawn, and the image being edited."""

    latents: torch.Tensor
    noise: torch.Tensor
    image_latents: torch.Tensor | None


def _initial_latents(model: DiffusionModel, latent: Latent, settings: SamplerSettings,
                     plan: _Timesteps, geometry: Geometry, generator: torch.Generator,
                     inpainting: bool) -> _Start:
    """Pure noise for text to image, else the latent noised to the first step run (or taken
    as already noised when ``add_noise`` is off)."""
    device, dtype = model.device, model.dtype
    scheduler, span = plan.scheduler, plan.span
    samples = latent.samples.to(device=device, dtype=dtype)
    image_latents = None if plan.text_to_image else samples
    shape = (geometry.batch, model.latent_channels, *latent.samples.shape[2:])
    if settings.compatibility == "comfyui":
        noise = comfy_samplers.prepare_noise(shape, settings.seed, latent.batch_index)
        noise = noise.to(device=device, dtype=dtype)
    else:
        noise = model.family.initial_noise(shape, generator, device, dtype, geometry)
    if not settings.add_noise:
        latents = stages.from_sigma_scaling(scheduler, samples, span.begin)
        if inpainting:
            image_latents, noise = _held_area(latent, samples, scheduler, span.begin)
    elif span.first == 0 and (plan.text_to_image or (inpainting and settings.denoise >= 1.0)):
        latents = noise * getattr(scheduler, "init_noise_sigma", 1.0)
    else:
        latents = _noised(scheduler, samples, noise, plan.timesteps[:1].repeat(geometry.batch))
    return _Start(latents, noise, image_latents)


@dataclass(frozen=True)
class _Masks:
    """An inpainting mask at pixel and latent size, and a 9-channel model's masked image."""

    pixel: torch.Tensor
    latent: torch.Tensor
    masked_latents: torch.Tensor | None


def _inpainting_masks(model: DiffusionModel, latent: Latent, mask: torch.Tensor,
                      geometry: Geometry) -> _Masks:
    device, dtype, batch = model.device, model.dtype, geometry.batch
    pixel_mask = _prepare_mask(mask, batch, geometry.height, geometry.width)
    latent_size = tuple(latent.samples.shape[-2:])
    latent_mask = F.interpolate(pixel_mask, size=latent_size).to(device=device, dtype=dtype)
    masked_latents = None
    if model.takes_inpainting_input:
        masked_latents = latent.masked_image_latents.to(device=device, dtype=dtype)
        if masked_latents.shape[0] == 1 and batch > 1:
            masked_latents = masked_latents.repeat(batch, 1, 1, 1)
    return _Masks(pixel_mask, latent_mask, masked_latents)


@dataclass(frozen=True)
class _KeptArea:
    """Inpainting with a 4-channel model: the unmasked area is put back after every step."""

    image_latents: torch.Tensor
    noise: torch.Tensor
    latent_mask: torch.Tensor


@dataclass(frozen=True)
class _Steps:
    """What the step loop needs beside the model, the denoiser and the latents."""

    plan: _Timesteps
    guidance: Guidance
    step_kwargs: dict
    control: _ControlSteps
    kept: _KeptArea | None
    on_step: StepCallback | None
    check_cancelled: Callable[[], None] | None


def _denoise_steps(model: DiffusionModel, denoiser: Denoiser, latents: torch.Tensor,
                   run: _Steps) -> torch.Tensor:
    """The loop: the model's prediction under guidance, the scheduler's step, the kept area
    put back, a preview for every step the progress counts."""
    scheduler, span, timesteps = run.plan.scheduler, run.plan.span, run.plan.timesteps
    total = len(timesteps)
    warmup = total - span.count * scheduler.order
    done = 0
    for i, t in enumerate(timesteps):
        if run.check_cancelled is not None:
            run.check_cancelled()
        model_input = torch.cat([latents] * run.guidance.halves)
        model_input = _scale_input(scheduler, model_input, t)
        prediction = run.guidance.combine(denoiser(
            model_input, t, run.control.offset + i, run.control.total, latents
        ))
        last = i == total - 1
        if last and span.finish_early:
            latents = stages.denoised(scheduler, model.family.prediction, prediction, latents,
                                      span.begin + i)
            preview = latents
        else:
            output = scheduler.step(prediction, t, latents, **run.step_kwargs, return_dict=True)
            latents = output.prev_sample
            preview = getattr(output, "pred_original_sample", None)
        if run.kept is not None:
            known = run.kept.image_latents
            if not last or span.leftover_noise:
                following = scheduler.timesteps[span.begin + i + 1 : span.begin + i + 2]
                known = _noised(scheduler, known, run.kept.noise, following)
            latents = (1 - run.kept.latent_mask) * known + run.kept.latent_mask * latents
        if last or ((i + 1) > warmup and (i + 1) % scheduler.order == 0):
            done += 1
            if run.on_step is not None:
                shown = preview if preview is not None else latents
                run.on_step(done, span.count, _preview_frame(shown))
    return latents


@dataclass(frozen=True)
class _HeldModels:
    """What a Sampler run holds as its memory mode says, and each model's mode."""

    mode: str
    companions: list[torch.nn.Module]
    companion_modes: list[str]
    experts: list[torch.nn.Module]
    expert_modes: list[str]


def _hold_models(model: DiffusionModel, companions: list[torch.nn.Module],
                 device: torch.device) -> _HeldModels:
    """Place the denoiser, its companions and a second expert for the run, and prepare fast
    mode. The memory mode places the denoiser before the family's denoiser prepares it (a
    model under group offloading must not be moved to the device whole)."""
    experts = [model.low_noise_denoiser] if model.low_noise_denoiser is not None else []
    mode = memory_manager.prepare(model.denoiser, device, memory_manager.resolve_mode(
        model.denoiser, device, companions=companions, alternates=experts))
    companion_modes = memory_manager.prepare_companions(companions, device, model.denoiser,
                                                        mode)
    expert_modes = memory_manager.prepare_alternates(experts, device, mode)
    hooked = bool(model.hypernetworks)  # they hook the separate k/v projections
    fast_mode.prepare(model.denoiser, device, mode, hooked=hooked)
    for expert, expert_mode in zip(experts, expert_modes, strict=True):
        fast_mode.prepare(expert, device, expert_mode, hooked=hooked)  # half of a Wan 2.2 run
    return _HeldModels(mode, companions, companion_modes, experts, expert_modes)


def _timestep_lookup(timesteps: torch.Tensor, offset: int) -> Callable[[int], float]:
    """Denoiser ``step`` → that step's timestep as a float, from one copy made now (the
    loop's only read of the device's timesteps)."""
    levels = [float(value) for value in timesteps.tolist()]
    return lambda step: levels[step - offset]


def run_companions(model: DiffusionModel, positive: Conditioning,
                   negative: Conditioning | None) -> list[torch.nn.Module]:
    """The models a Sampler run needs on the device beside the denoiser: the ControlNets and
    T2I-Adapters of its prompts, a Wan I2V folder's image encoder. (Wan 2.2's low-noise expert
    is a second denoiser: it runs in turn with the first, not beside it.)"""
    from nodestudio.runtime.control import collect

    modules = [use.controlnet.model for use, _, _ in collect(positive, negative)]
    modules.append(getattr(model.image_encoder, "model", None))
    return [module for module in modules if module is not None]


def _preview_frame(latents: torch.Tensor) -> torch.Tensor:
    """What a step preview shows: the latent itself, or a video latent's middle frame."""
    return latents[:, :, latents.shape[2] // 2] if latents.ndim == 5 else latents


def _comfy_streams(scheduler, settings: SamplerSettings, span: stages.StepRange,
                   latents: torch.Tensor) -> torch.Generator:
    """ComfyUI's streams for the noise added while sampling: the ancestral samplers' generator
    (returned) and, for the SDE samplers, a Brownian tree over the sigmas this run covers."""
    if hasattr(scheduler, "noise_sampler"):
        sigmas = comfy_samplers.step_sigmas(scheduler, span.steps, span.first, span.stop,
                                            span.finish_early)
        scheduler.noise_sampler = comfy_samplers.brownian_for(latents, sigmas, settings.seed)
    return comfy_samplers.step_generator(settings.seed, latents.device)


def _held_area(
    latent: Latent, samples: torch.Tensor, scheduler, index: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The clean latent the unmasked area is held to and its noise, for a latent that comes
    already noised (``samples`` = ``x0 + σ·ε``).

    A first stage that returned leftover noise says what it held the area to, so its noise is
    ``(samples - original) / σ`` and the area goes on exactly as in one run. Otherwise the
    area is held to the latent as given, without noise (what ComfyUI does).
    """
    if latent.original_samples is None:
        return samples, torch.zeros_like(samples)
    original = latent.original_samples.to(samples)
    sigma = stages.sigma_at(scheduler, index)
    noise = (samples - original) / sigma if sigma > 0 else torch.zeros_like(samples)
    return original, noise
