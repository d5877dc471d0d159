"""The Sampler node: denoises a latent under prompts (text to image, image to image, inpainting)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from nodestudio.api import (
    CONDITIONING,
    LATENT,
    MASK,
    MODEL,
    Boolean,
    Choice,
    Float,
    Input,
    Int,
    NodeContext,
    NodeError,
    Output,
    Seed,
    node,
)

# The names are declared once, torch-free, in runtime.sampler_names (the runtime's tables and
# the ComfyUI mapping import the same tuples), so showing the node does not import torch.
from nodestudio.runtime.sampler_names import COMPATIBILITY_MODES as COMPATIBILITY
from nodestudio.runtime.sampler_names import SAMPLER_NAMES as SAMPLERS
from nodestudio.runtime.sampler_names import SCHEDULE_NAMES as SCHEDULES

from ._common import require


@lru_cache(maxsize=2)
def _taesd(path: str, stamp: int, device: str, dtype: str) -> Any:
    """The TAESD at ``path`` (``stamp``: its mtime, so an updated file is read again)."""
    import torch

    from nodestudio.runtime.previews import load_taesd

    return load_taesd(Path(path), torch.device(device), getattr(torch, dtype))


def _preview_maker(model: Any, ctx: NodeContext) -> Any:
    from nodestudio.runtime.previews import PreviewMaker, taesd_name_matches

    taesd = None
    for name in ctx.models.list("vae_approx"):
        if taesd_name_matches(name, model.latent_format):
            path = ctx.models.find("vae_approx", name)
            try:
                dtype = str(model.dtype).removeprefix("torch.")
                taesd = _taesd(str(path), path.stat().st_mtime_ns, str(model.device), dtype)
            except (OSError, ValueError, RuntimeError) as error:
                ctx.logger.warning("TAESD %s not used for previews: %s", name, error)
            break
    return PreviewMaker(model.latent_format, taesd)


@node(
    "diffusion.sampler",
    display_name="Sampler",
    category="sampling",
    description=(
        "Generates images by denoising the latent step by step, guided by the prompts. "
        "Denoise below 1 keeps that much of an input image (image to image); a mask limits "
        "the change to the white area (inpainting). The same seed and settings give the same "
        "image, on the CPU and on a GPU. Start and end steps (advanced inputs) run part of the "
        "schedule, for two samplers in a row (e.g. an SDXL base, then its refiner): the first "
        "returns its leftover noise, the second adds none."
    ),
    inputs=[
        Input("model", MODEL),
        Input("positive", CONDITIONING, description="What the image should show"),
        Input("negative", CONDITIONING, optional=True,
              description="What it should not show (needed when cfg > 1)"),
        Input("latent", LATENT, description="Empty Latent for new images, VAE Encode to edit one"),
        Seed("seed"),
        Int("steps", 20, min=1, max=1000),
        Float("cfg", 7.0, min=0.0, max=100.0, step=0.1,
              description="How closely to follow the prompt (1 = no guidance, faster)"),
        Choice("sampler", SAMPLERS, "euler"),
        Choice("scheduler", SCHEDULES, "normal", description="How the noise levels are spaced"),
        Float("denoise", 1.0, min=0.0, max=1.0, step=0.01,
              description="How much of the latent to replace (1 = all of it)"),
        # Staged sampling (KSampler Advanced): folded away on the canvas.
        Boolean("add_noise", True, advanced=True,
                description="Off: the latent is already noised to the start step (it comes "
                            "from a sampler that returned its leftover noise)"),
        Int("start_step", 0, min=0, max=10000, advanced=True,
            description="First step to run (0 = the beginning)"),
        Int("end_step", 10000, min=0, max=10000, advanced=True,
            description="Step to stop before (steps or more = run to the end)"),
        Boolean("return_with_leftover_noise", False, advanced=True,
                description="When stopping before the end: return the noise still left, for "
                            "another sampler to finish (else finish the image now)"),
        Input("mask", MASK, optional=True, description="Area to repaint (1 = repaint)"),
        Choice("compatibility", COMPATIBILITY, "diffusers", advanced=True,
               description="Whose noise and sampler definitions: diffusers' pipelines, or "
                           "ComfyUI's (the image a ComfyUI workflow gives; imported "
                           "workflows use it)"),
    ],
    outputs=[Output("latent", LATENT)],
)
def sampler(
    model: Any, positive: Any, latent: Any, seed: int, steps: int, cfg: float,
    sampler: str, scheduler: str, denoise: float, ctx: NodeContext,
    negative: Any = None, mask: Any = None, add_noise: bool = True, start_step: int = 0,
    end_step: int = 10000, return_with_leftover_noise: bool = False,
    compatibility: str = "diffusers",
) -> Any:
    from nodestudio.runtime.sampling import SamplerSettings, sample
    from nodestudio.runtime.schedulers import UnsupportedSchedule
    from nodestudio.runtime.vae import mask_tensor

    if cfg > 1.0:
        require(negative, "a negative prompt",
                "cfg above 1 needs one (an empty Text Encode will do)")
    settings = SamplerSettings(seed=seed, steps=steps, cfg=cfg, sampler=sampler,
                               schedule=scheduler, denoise=denoise, add_noise=add_noise,
                               start_step=start_step, end_step=end_step,
                               leftover_noise=return_with_leftover_noise,
                               compatibility=compatibility)
    if start_step >= min(end_step, steps):
        ctx.logger.info("start step %d is not before the end (step %d of %d): the latent "
                        "passes unchanged", start_step, min(end_step, steps), steps)
    previews = _preview_maker(model, ctx)

    def on_step(done: int, total: int, latents: Any) -> None:
        last = done == total
        ctx.progress(done, total, preview=previews(latents) if previews.due(last) else None)

    try:
        return sample(
            model, positive, negative if negative is not None else positive, latent, settings,
            mask=mask_tensor(mask) if mask is not None else None,
            on_step=on_step, check_cancelled=ctx.check_cancelled,
        )
    except UnsupportedSchedule as error:
        raise NodeError(str(error)) from None
