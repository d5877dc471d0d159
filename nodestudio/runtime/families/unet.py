"""What SD 1.x, SD 2.x and SDXL share: a UNet2DConditionModel fed by CLIP, sampled by the
discrete (DDPM-trained) schedulers.

The denoiser call is the pipelines': classifier-free guidance as a doubled batch, SDXL's
pooled prompt and size ids (``added_cond_kwargs``), the guidance embedding of LCM-distilled
UNets (``timestep_cond``; no CFG then), ControlNet residuals (:mod:`nodestudio.runtime.control`)
and, for 9-channel inpainting UNets, mask and masked-image latents concatenated to the input.
The three family modules only declare what differs (detection, latent format, encoders).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from nodestudio.api.errors import NodeError
from nodestudio.runtime import control, unclip, unet_adapters
from nodestudio.runtime.devices import ensure_on
from nodestudio.runtime.families.base import (
    DenoiseRequest,
    ModelFamily,
    NoGuidance,
    Prediction,
    PromptOptions,
    Scheduling,
)
from nodestudio.runtime.types import Conditioning, DiffusionModel, SizeConditioning, TextEncoders


def _match_length(first: torch.Tensor, second: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Repeat token sequences to a common length (the least common multiple).

    Attention over a sequence repeated k times equals attention over the sequence itself, so
    prompts of different chunk counts can share one batch without changing either's effect.
    """
    if first.shape[1] == second.shape[1]:
        return first, second
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


def _added_conditions(request: DenoiseRequest) -> dict[str, torch.Tensor] | None:
    """SDXL's ``text_embeds`` (pooled prompt) and ``time_ids`` (sizes, or the refiner's
    aesthetic score: the family says), batch-expanded."""
    model, positive, negative = request.model, request.positive, request.negative
    unet = model.denoiser
    if unet.config.addition_embed_type != "text_time":
        return None
    if positive.pooled is None or (negative is not None and negative.pooled is None):
        raise NodeError(
            f"this {model.family.label} model needs prompts encoded with its own CLIP "
            "(pooled embedding missing)"
        )
    geometry, dtype, family = request.geometry, request.dtype, model.family
    batch, height, width = geometry.batch, geometry.height, geometry.width
    ids = family.time_ids(positive, positive, height, width)
    expected = unet.add_embedding.linear_1.in_features
    given = unet.config.addition_time_embed_dim * len(ids) + positive.pooled.shape[-1]
    if given != expected:
        raise NodeError("the prompts were encoded with the CLIP of another model")
    pooled = positive.pooled.repeat(batch, 1)
    time_ids = torch.tensor([ids], dtype=dtype).repeat(batch, 1)
    if negative is not None:
        # As the SDXL pipelines: a negative prompt without sizes of its own takes the positive's.
        sized = negative if negative.size != SizeConditioning() else positive
        negative_ids = torch.tensor([family.time_ids(negative, sized, height, width)],
                                    dtype=dtype).repeat(batch, 1)
        pooled = torch.cat([negative.pooled.repeat(batch, 1), pooled])
        time_ids = torch.cat([negative_ids, time_ids])
    return {"text_embeds": pooled.to(request.device), "time_ids": time_ids.to(request.device)}


@dataclass
class UNetDenoiser:
    """The UNet call of one Sampler run (see the module docstring)."""

    unet: torch.nn.Module
    embeds: torch.Tensor
    added_cond: dict[str, torch.Tensor] | None
    timestep_cond: torch.Tensor | None
    controls: list[control.PreparedControl]
    do_cfg: bool
    #: Mask and masked-image latents for 9-channel inpainting UNets (batch-doubled with CFG).
    inpainting_input: tuple[torch.Tensor, torch.Tensor] | None
    scale_input: Any
    #: Further keyword arguments of every UNet call that conditioning features add (unCLIP's
    #: ``class_labels``, GLIGEN's ``cross_attention_kwargs`` …), built once per run.
    extra_kwargs: dict[str, Any] = field(default_factory=dict)

    def __call__(self, latents: torch.Tensor, timestep: torch.Tensor, step: int, total: int,
                 unscaled: torch.Tensor) -> torch.Tensor:
        down, mid = control.residuals(
            self.controls, step=step, total=total, model_input=latents,
            latents_scaled_cond=lambda: self.scale_input(unscaled, timestep),
            timestep=timestep, embeds=self.embeds, added_cond=self.added_cond,
            do_cfg=self.do_cfg,
        )
        adapters = control.adapter_residuals(self.controls, step=step, total=total,
                                             sample=latents, unet=self.unet)
        if self.inpainting_input is not None:
            latents = torch.cat([latents, *self.inpainting_input], dim=1)
        return self.unet(
            latents, timestep, encoder_hidden_states=self.embeds,
            timestep_cond=self.timestep_cond, added_cond_kwargs=self.added_cond,
            down_block_additional_residuals=down, mid_block_additional_residual=mid,
            down_intrablock_additional_residuals=adapters,
            return_dict=False, **self.extra_kwargs,
        )[0]


class UNetFamily(ModelFamily):
    """Base of the UNet families (SD1, SD2, SDXL)."""

    prediction = Prediction.EPSILON  # or v: the checkpoint's scheduler config says which
    scheduling = Scheduling.DISCRETE
    text_encoder_slots: ClassVar[tuple[str, ...]] = ("clip_l",)
    #: Prompts come from the encoders' penultimate layer (SDXL's), else the last one through
    #: the final LayerNorm (SD 1.x/2.x).
    penultimate: ClassVar[bool] = False
    #: The slot whose projected embedding is the pooled prompt (SDXL's OpenCLIP-bigG), if any.
    pooled_slot: ClassVar[str | None] = None

    def matches_pipeline(self, model_index: Mapping[str, Any]) -> bool:
        # The three share one loader (nodestudio.runtime.checkpoints), which tells them apart
        # with matches_unet.
        return "unet" in model_index

    def matches_unet(self, unet_config: Any, encoder_count: int) -> bool:
        """Whether a UNet (or a ControlNet made from one, ``encoder_count`` 0) with this config
        is this family's; asked in the registry's order, the first that says yes wins."""
        return True

    def is_inpainting(self, model: DiffusionModel) -> bool:
        return model.denoiser.config.in_channels == 2 * model.latent_channels + 1

    def time_ids(self, conditioning: Conditioning, sized: Conditioning, height: int,
                 width: int) -> list[float]:
        """The micro-conditioning a ``text_time`` UNet reads for a prompt (SDXL: original
        size, crop, target size — ``sized`` is the prompt whose sizes count)."""
        size = sized.size
        original = size.original_size or (height, width)
        target = size.target_size or (height, width)
        return [*original, *size.crop_top_left, *target]

    def encode_prompt(self, clip: TextEncoders, text: str, options: PromptOptions) -> Conditioning:
        from nodestudio.runtime.text_encoding import encode_prompt

        return encode_prompt(clip, text, options.clip_skip, options.text_2, options.size,
                             embeddings=options.embeddings)

    def guidance(self, model: DiffusionModel, cfg: float):
        if model.denoiser.config.time_cond_proj_dim is not None:
            return NoGuidance()  # LCM-distilled: the cfg goes into the guidance embedding
        return super().guidance(model, cfg)

    def check_conditioning(self, model: DiffusionModel, conditioning: Conditioning,
                           name: str) -> None:
        width = model.denoiser.config.cross_attention_dim
        if conditioning.embeds.shape[-1] != width:
            raise NodeError(
                f"the {name} prompt was encoded with the CLIP of another model "
                f"(width {conditioning.embeds.shape[-1]}, this model expects {width})"
            )
        if model.denoiser.config.get("motion_max_seq_length") and any(
                use.controlnet.kind == control.ADAPTER_KIND for use in conditioning.controls):
            raise NodeError("T2I-Adapters do not work with AnimateDiff models yet: use a "
                            "ControlNet, or remove Apply AnimateDiff from the model")
        control.check_controlnets(model, conditioning)  # before the first step, not inside it

    def denoiser(self, request: DenoiseRequest) -> UNetDenoiser:
        request = unclip.with_revision(request)  # SDXL: image prompts replace the pooled prompt
        model, device, dtype = request.model, request.device, request.dtype
        unet = ensure_on(model.denoiser, device)
        batch = request.geometry.batch
        do_cfg = request.negative is not None
        embeds = request.positive.embeds.to(device)
        if do_cfg:
            negative_embeds, embeds = _match_length(request.negative.embeds.to(device), embeds)
            embeds = torch.cat([negative_embeds.repeat(batch, 1, 1), embeds.repeat(batch, 1, 1)])
        else:
            embeds = embeds.repeat(batch, 1, 1)
        embeds = embeds.to(dtype)
        timestep_cond = None
        if unet.config.time_cond_proj_dim is not None:
            timestep_cond = _guidance_embedding(request.cfg, batch, unet.config.time_cond_proj_dim)
            timestep_cond = timestep_cond.to(device=device, dtype=dtype)
        inpainting_input = None
        if request.masked_latents is not None:
            halves = request.guidance.halves
            inpainting_input = (torch.cat([request.latent_mask] * halves),
                                torch.cat([request.masked_latents] * halves))
        geometry = request.geometry
        controls = control.prepare_controls(
            request.positive, request.negative, batch=batch, height=geometry.height,
            width=geometry.width, do_cfg=do_cfg,
            cross_attention_dim=unet.config.cross_attention_dim, device=device,
            frames=geometry.frames,  # AnimateDiff: per-frame residuals
        )
        extra_kwargs: dict[str, Any] = {}
        extra_kwargs.update(unclip.class_labels(request))  # unCLIP UNets: the image prompts
        unet = unet_adapters.adapt(unet, request, extra_kwargs)  # GLIGEN, hypernetworks
        return UNetDenoiser(unet, embeds, _added_conditions(request), timestep_cond, controls,
                            do_cfg, inpainting_input, request.scale_input, extra_kwargs)

    def lora_state_dict(self, weights: dict[str, torch.Tensor]) -> tuple[dict, dict | None]:
        from diffusers.loaders import StableDiffusionLoraLoaderMixin

        return StableDiffusionLoraLoaderMixin.lora_state_dict(weights)
