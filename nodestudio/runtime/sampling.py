"""The denoising loop of the Sampler node, step for step the loop of the diffusers pipelines.

One loop covers what diffusers spreads over StableDiffusion(XL)(Img2Img|Inpaint|ControlNet)
Pipeline: the same initial noise (``randn_tensor`` from a CPU generator seeded with the seed, so
CPU and GPU start alike), ``init_noise_sigma``, ``scale_model_input``, the scheduler's extra step
arguments (``eta``, ``generator``), classifier-free guidance (skipped when cfg ≤ 1 or for
guidance-distilled UNets, which get a guidance embedding instead), SDXL's pooled and size
conditioning, ControlNet residuals (:mod:`control`), and:

* **Text to image** — an Empty Latent with denoise 1: pure noise × ``init_noise_sigma``.
* **Image to image** — any other latent, or denoise < 1: denoise is diffusers' img2img
  ``strength``: of ``steps`` scheduled steps the last ``int(steps × denoise)`` run, starting from
  the latent noised to the first of them (``scheduler.add_noise``). So denoise 0.5 at 20 steps
  runs 10 steps; a denoise too small to run one step is an error.
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

import inspect
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nodestudio.api.errors import NodeError
from nodestudio.runtime import control, lora, stages
from nodestudio.runtime.devices import ensure_on
from nodestudio.runtime.schedulers import build_scheduler
from nodestudio.runtime.types import Conditioning, DiffusionModel, Latent, SizeConditioning

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


def _random_noise(
    shape: tuple[int, ...], generator: torch.Generator, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    from diffusers.utils.torch_utils import randn_tensor

    return randn_tensor(shape, generator=generator, device=device, dtype=dtype)


def _match_length(first: torch.Tensor, second: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Repeat token sequences to a common length (the least common multiple).

    Attention over a sequence repeated k times equals attention over the sequence itself, so
    prompts of different chunk counts can share one batch without changing either's effect.
    """
    if first.shape[1] == second.shape[1]:
        return first, second
    import math

    common = math.lcm(first.shape[1], second.shape[1])
    return (first.repeat(1, common // first.shape[1], 1),
            second.repeat(1, common // second.shape[1], 1))


def _guidance_embedding(cfg: float, batch: int, dim: int) -> torch.Tensor:
    """The guidance-scale embedding of guidance-distilled (LCM) UNets, as the pipelines build it."""
    w = torch.tensor(cfg - 1).repeat(batch) * 1000.0
    half = dim // 2
    step = torch.log(torch.tensor(10000.0)) / (half - 1)
    frequencies = torch.exp(torch.arange(half, dtype=torch.float32) * -step)
    angles = w.to(torch.float32)[:, None] * frequencies[None, :]
    embedding = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    if dim % 2 == 1:
        embedding = F.pad(embedding, (0, 1))
    return embedding


def _size_ids(conditioning: Conditioning, height: int, width: int) -> list[int]:
    size = conditioning.size
    original = size.original_size or (height, width)
    target = size.target_size or (height, width)
    return [*original, *size.crop_top_left, *target]


def _added_conditions(
    model: DiffusionModel,
    positive: Conditioning,
    negative: Conditioning,
    batch: int,
    height: int,
    width: int,
    do_cfg: bool,
    device: torch.device,
    dtype: torch.dtype,
) -> dict[str, torch.Tensor] | None:
    """SDXL's ``text_embeds`` (pooled prompt) and ``time_ids`` (sizes), batch-expanded."""
    if not model.uses_size_conditioning:
        return None
    if positive.pooled is None or (do_cfg and negative.pooled is None):
        raise NodeError(
            "this SDXL model needs prompts encoded with its own CLIP (pooled embedding missing)"
        )
    config = model.unet.config
    expected = model.unet.add_embedding.linear_1.in_features
    given = config.addition_time_embed_dim * 6 + positive.pooled.shape[-1]
    if given != expected:
        raise NodeError("the prompts were encoded with the CLIP of another model")
    pooled = positive.pooled.repeat(batch, 1)
    time_ids = torch.tensor([_size_ids(positive, height, width)], dtype=dtype).repeat(batch, 1)
    if do_cfg:
        # As the SDXL pipeline: a negative prompt without sizes of its own takes the positive's.
        sized = negative if negative.size != SizeConditioning() else positive
        negative_ids = torch.tensor([_size_ids(sized, height, width)], dtype=dtype).repeat(batch, 1)
        pooled = torch.cat([negative.pooled.repeat(batch, 1), pooled])
        time_ids = torch.cat([negative_ids, time_ids])
    return {"text_embeds": pooled.to(device), "time_ids": time_ids.to(device)}


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


def _check_conditioning(model: DiffusionModel, conditioning: Conditioning, name: str) -> None:
    width = model.unet.config.cross_attention_dim
    if conditioning.embeds.shape[-1] != width:
        raise NodeError(
            f"the {name} prompt was encoded with the CLIP of another model "
            f"(width {conditioning.embeds.shape[-1]}, this model expects {width})"
        )


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
    device = model.device
    unet = ensure_on(model.unet, device)
    dtype = model.dtype
    batch = latent.batch_size
    channels = model.latent_channels
    if latent.samples.shape[1] != channels:
        raise NodeError(
            f"the latent has {latent.samples.shape[1]} channels but this model uses {channels}: "
            "make it with this model's VAE or Empty Latent"
        )
    height, width = latent.pixel_size
    latent_size = tuple(latent.samples.shape[-2:])
    _check_conditioning(model, positive, "positive")

    scheduler = build_scheduler(
        settings.sampler, settings.schedule, model.scheduler_config, settings.seed
    )
    do_cfg = settings.cfg > 1.0 and unet.config.time_cond_proj_dim is None
    if do_cfg:
        _check_conditioning(model, negative, "negative")

    if mask is None:
        mask = latent.noise_mask
    inpainting = mask is not None
    if model.is_inpainting and (not inpainting or latent.masked_image_latents is None):
        raise NodeError(
            "this is an inpainting model: encode the image with VAE Encode and connect the mask "
            "to VAE Encode's mask input"
        )

    # -- prompts -------------------------------------------------------------------------------
    embeds = positive.embeds.to(device)
    if do_cfg:
        negative_embeds, embeds = _match_length(negative.embeds.to(device), embeds)
        embeds = torch.cat([negative_embeds.repeat(batch, 1, 1), embeds.repeat(batch, 1, 1)])
    else:
        embeds = embeds.repeat(batch, 1, 1)
    embeds = embeds.to(dtype)
    added_cond = _added_conditions(
        model, positive, negative, batch, height, width, do_cfg, device, dtype
    )
    timestep_cond = None
    if unet.config.time_cond_proj_dim is not None:
        timestep_cond = _guidance_embedding(settings.cfg, batch, unet.config.time_cond_proj_dim)
        timestep_cond = timestep_cond.to(device=device, dtype=dtype)

    # -- timesteps -----------------------------------------------------------------------------
    scheduler.set_timesteps(settings.steps, device=device)
    text_to_image = latent.is_empty and settings.denoise >= 1.0 and not inpainting
    start = 0
    if not text_to_image:
        kept = min(int(settings.steps * settings.denoise), settings.steps)
        start = max(settings.steps - kept, 0)
        if settings.steps - start < 1:
            raise NodeError(
                f"denoise {settings.denoise} leaves no step to run out of {settings.steps}: "
                "raise denoise or steps"
            )
    span = stages.step_range(scheduler, settings.steps, max(start, settings.start_step),
                             settings.end_step, settings.leftover_noise, settings.sampler)
    if span is None:
        return latent  # nothing left to run: handed on unchanged, as ComfyUI does
    timesteps = scheduler.timesteps[span.begin : span.end]
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(span.begin)
    steps_run = span.count
    # ControlNet step ranges are fractions of the whole run a denoise setting leaves (as in
    # the pipelines), wherever a stage cuts it.
    control_offset = span.begin - start * scheduler.order
    control_total = len(scheduler.timesteps) - start * scheduler.order

    # -- initial latents -----------------------------------------------------------------------
    generator = torch.Generator("cpu").manual_seed(settings.seed)
    shape = (batch, channels, *latent_size)
    samples = latent.samples.to(device=device, dtype=dtype)
    image_latents = None if text_to_image else samples
    first_timestep = timesteps[:1].repeat(batch)
    noise = _random_noise(shape, generator, device, dtype)
    if not settings.add_noise:
        latents = stages.from_sigma_scaling(scheduler, samples, span.begin)
        if inpainting:
            image_latents, noise = _held_area(latent, samples, scheduler, span.begin)
    elif span.first == 0 and (text_to_image or (inpainting and settings.denoise >= 1.0)):
        latents = noise * scheduler.init_noise_sigma
    else:
        latents = scheduler.add_noise(samples, noise, first_timestep)

    latent_mask = masked_latents = None
    if inpainting:
        pixel_mask = _prepare_mask(mask, batch, height, width)
        latent_mask = F.interpolate(pixel_mask, size=latent_size).to(device=device, dtype=dtype)
        if model.is_inpainting:
            masked_latents = latent.masked_image_latents.to(device=device, dtype=dtype)
            if masked_latents.shape[0] == 1 and batch > 1:
                masked_latents = masked_latents.repeat(batch, 1, 1, 1)
            if do_cfg:
                masked_latents = torch.cat([masked_latents] * 2)
    unet_mask = latent_mask
    if do_cfg and latent_mask is not None:
        unet_mask = torch.cat([latent_mask] * 2)

    step_kwargs = _step_kwargs(scheduler, generator, settings.eta)
    controls = control.prepare_controls(
        positive, negative, batch=batch, height=height, width=width, do_cfg=do_cfg,
        cross_attention_dim=unet.config.cross_attention_dim, device=device,
    )

    # -- the loop ------------------------------------------------------------------------------
    total = len(timesteps)
    warmup = total - steps_run * scheduler.order
    done = 0
    with ExitStack() as stack:
        stack.enter_context(lora.applied(unet, model.loras))
        for i, t in enumerate(timesteps):
            if check_cancelled is not None:
                check_cancelled()
            model_input = torch.cat([latents] * 2) if do_cfg else latents
            model_input = scheduler.scale_model_input(model_input, t)
            down, mid = control.residuals(
                controls, step=control_offset + i, total=control_total,
                model_input=model_input,
                latents_scaled_cond=lambda t=t, x=latents: scheduler.scale_model_input(x, t),
                timestep=t, embeds=embeds, added_cond=added_cond, do_cfg=do_cfg,
            )
            if masked_latents is not None:
                model_input = torch.cat([model_input, unet_mask, masked_latents], dim=1)
            noise_pred = unet(
                model_input,
                t,
                encoder_hidden_states=embeds,
                timestep_cond=timestep_cond,
                added_cond_kwargs=added_cond,
                down_block_additional_residuals=down,
                mid_block_additional_residual=mid,
                return_dict=False,
            )[0]
            if do_cfg:
                uncond, cond = noise_pred.chunk(2)
                noise_pred = uncond + settings.cfg * (cond - uncond)
            last = i == total - 1
            if last and span.finish_early:
                latents = stages.denoised(scheduler, noise_pred, latents, span.begin + i)
                preview = latents
            else:
                output = scheduler.step(noise_pred, t, latents, **step_kwargs, return_dict=True)
                latents = output.prev_sample
                preview = getattr(output, "pred_original_sample", None)
            if inpainting and not model.is_inpainting:
                known = image_latents
                if not last or span.leftover_noise:
                    following = scheduler.timesteps[span.begin + i + 1 : span.begin + i + 2]
                    known = scheduler.add_noise(image_latents, noise, following)
                latents = (1 - latent_mask) * known + latent_mask * latents
            if last or ((i + 1) > warmup and (i + 1) % scheduler.order == 0):
                done += 1
                if on_step is not None:
                    on_step(done, steps_run, preview if preview is not None else latents)
    held = None
    if span.leftover_noise:
        latents = stages.to_sigma_scaling(scheduler, latents, span.end)
        if inpainting and not model.is_inpainting:
            held = image_latents
    return Latent(samples=latents, scale_factor=latent.scale_factor, noise_mask=mask,
                  masked_image_latents=latent.masked_image_latents, original_samples=held)


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
