"""ControlNet residuals inside the sampling loop, as diffusers' (Multi)ControlNet pipelines do.

Every ControlNet applied to the prompts runs at every step whose position lies within its
[start, end] fraction (``controlnet_keep``: step i of n counts while ``i / n >= start`` and
``(i + 1) / n <= end``), scaled by its strength; the residuals of all of them are summed in
the order they were applied (MultiControlNetModel) and added to the UNet's skip connections.

Video latents ([B, C, F, h, w], AnimateDiff) run the ControlNet per frame as
``AnimateDiffControlNetPipeline`` does: the latents flattened to [B × F, C, h, w] frame-major
per video, the prompt repeated per frame, one hint image per frame (or one for all frames); the
motion UNet takes residuals in that flat layout.

Hint images are resized to the generated size with nearest-neighbour interpolation, repeated
over the batch and, with classifier-free guidance, duplicated for both halves of the batch.
A ControlNet applied to only one of positive/negative acts on that half alone.
ControlNets whose config asks for global pooling (the "shuffle" kind) run in guess mode: on the
positive half only.

T2I-Adapters (``ControlNet.kind == "t2i_adapter"``) run once per run, not per step: their
features depend on the hint alone (diffusers' StableDiffusionAdapterPipeline, ComfyUI). The hint
is resized to the generated size rounded up to the adapter's pixel-unshuffle factor (ComfyUI's
rule; SDXL adapters unshuffle by 16), and averaged to one channel for one-channel adapters
(sketch, canny) as ComfyUI does. At each step within [start, end] the features, times the
strength, go to the UNet as ``down_intrablock_additional_residuals`` (summed over adapters), on
the halves the adapter was applied to; the UNet pops that list, so every call gets a new one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from nodestudio.api.errors import NodeError
from nodestudio.runtime.devices import ensure_on
from nodestudio.runtime.t2i_adapter import ADAPTER_KIND
from nodestudio.runtime.types import Conditioning, ControlNet, ControlUse, DiffusionModel


@dataclass
class PreparedControl:
    use: ControlUse
    image: torch.Tensor  # on the device, batch-expanded (and doubled for guidance)
    guess_mode: bool
    #: [2B, 1, 1, 1] 0/1 factors when the control applies to one half only, else None.
    half_mask: torch.Tensor | None
    #: A T2I-Adapter's features (batch-expanded, doubled for guidance), else None.
    features: list[torch.Tensor] | None = None
    #: Whether the features were checked against the UNet's levels (on the first step).
    fits: bool = False


def collect(
    positive: Conditioning, negative: Conditioning | None
) -> list[tuple[ControlUse, bool, bool]]:
    """(control, on positive, on negative) in the order they were applied."""
    seen: dict[int, list] = {}
    order: list[ControlUse] = []
    for side, conditioning in ((0, positive), (1, negative)):
        if conditioning is None:
            continue
        for use in conditioning.controls:
            if id(use) not in seen:
                seen[id(use)] = [use, False, False]
                order.append(use)
            seen[id(use)][1 + side] = True
    return [tuple(seen[id(use)]) for use in order]


#: UNet config entries a ControlNet must share with the model, and what to call them: its
#: residuals are added to the UNet's skip connections block by block.
_MUST_MATCH = (("cross_attention_dim", "text width"), ("block_out_channels", "block channels"),
               ("layers_per_block", "layers per block"))


def _shown(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def _mismatch(controlnet: ControlNet, model: DiffusionModel) -> str | None:
    """How ``controlnet``'s architecture differs from ``model``'s UNet, or None if it fits."""
    config, unet = controlnet.model.config, model.denoiser.config
    if "block_out_channels" not in config:  # an SD3/Flux ControlNet on a UNet model
        return f"it is a {controlnet.family.label} ControlNet"
    for key, label in _MUST_MATCH:
        own, theirs = config.get(key), unet.get(key)
        if own is not None and theirs is not None and list(_as_list(own)) != list(
                _as_list(theirs)):
            return f"its {label} are {_shown(own)}, the model's {_shown(theirs)}"
    # The ControlNet reads the plain latents (an inpainting UNet's extra channels go around it).
    if config.get("in_channels") != model.latent_channels:
        return (f"it reads {config.get('in_channels')}-channel latents, the model makes "
                f"{model.latent_channels}-channel ones")
    return None


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def check_controlnets(model: DiffusionModel, conditioning: Conditioning) -> None:
    """Refuse, before the first step, a ControlNet whose blocks do not match the model's UNet:
    inside sampling the mismatch is only a tensor-size error blamed on the Sampler."""
    for use in conditioning.controls:
        if use.controlnet.kind == ADAPTER_KIND:
            continue  # T2I-Adapters are checked against the UNet's levels (_check_fits)
        problem = _mismatch(use.controlnet, model)
        if problem is not None:
            name = Path(use.controlnet.source).name or "the ControlNet"
            model_name = Path(model.source).name or "this model"
            raise NodeError(
                f"ControlNet {name} does not fit the model {model_name} ({problem}): it was "
                "made for another model family or size; use a ControlNet made for this model"
            )


def prepare_controls(
    positive: Conditioning,
    negative: Conditioning | None,
    *,
    batch: int,
    height: int,
    width: int,
    do_cfg: bool,
    cross_attention_dim: int,
    device: torch.device,
    frames: int = 1,
) -> list[PreparedControl]:
    """The controls of one run; ``frames`` > 1 for video latents (one hint per frame)."""
    prepared = []
    for use, on_positive, on_negative in collect(positive, negative if do_cfg else None):
        # Residuals of a video are per frame: every per-latent tensor has batch × frames rows.
        half_mask = _half_mask(on_positive, on_negative, batch * frames, do_cfg, device)
        if use.controlnet.kind == ADAPTER_KIND:
            prepared.append(_prepare_adapter(use, half_mask, batch=batch, height=height,
                                             width=width, do_cfg=do_cfg, device=device))
            continue
        model = ensure_on(use.controlnet.model, device)
        if model.config.cross_attention_dim != cross_attention_dim:
            raise NodeError(
                f"ControlNet {use.controlnet.source or ''} was made for another model family "
                f"(text width {model.config.cross_attention_dim}, "
                f"the model has {cross_attention_dim})"
            )
        if frames > 1:
            image = _hint_frames(use.image, batch, frames, (height, width))
        else:
            image = _hint_batch(use.image, batch, (height, width))
        image = image.to(device=device, dtype=model.dtype)
        guess_mode = bool(model.config.global_pool_conditions)
        if do_cfg and not guess_mode:
            image = torch.cat([image] * 2)
        prepared.append(PreparedControl(use, image, guess_mode, half_mask))
    return prepared


def _hint_batch(hint: torch.Tensor, batch: int, size: tuple[int, int]) -> torch.Tensor:
    """The hint images at ``size`` (nearest neighbour), one per generated latent."""
    image = hint.to(torch.float32)
    if tuple(image.shape[-2:]) != size:
        image = F.interpolate(image, size=size)
    if image.shape[0] == 1:
        return image.repeat_interleave(batch, dim=0)
    if image.shape[0] != batch:
        raise NodeError(
            f"the ControlNet hint has {image.shape[0]} images but {batch} are generated; "
            "use one hint image or one per latent"
        )
    return image


def _hint_frames(hint: torch.Tensor, batch: int, frames: int,
                 size: tuple[int, int]) -> torch.Tensor:
    """The hint images of a video run, [batch × frames] frame-major per video: one image for
    every frame, one per frame (the same for every video), or one per frame of every video."""
    count = hint.shape[0]
    if count == frames and batch > 1:
        hint = hint.repeat(batch, 1, 1, 1)
    elif count not in (1, frames, batch * frames):
        raise NodeError(
            f"the ControlNet hint has {count} images but the video has {frames} frames; "
            f"use one hint image for all frames or one per frame ({frames} images)"
        )
    return _hint_batch(hint, batch * frames, size)


def _per_frame(model_input: torch.Tensor, timestep: torch.Tensor, embeds: torch.Tensor,
               added_cond: dict[str, torch.Tensor] | None) -> tuple[Any, ...]:
    """Video latents [B, C, F, h, w] and their per-video conditioning as the per-frame batch
    a 2-D ControlNet reads (AnimateDiffControlNetPipeline's transpose and reshape)."""
    frames = model_input.shape[2]

    def spread(value: torch.Tensor) -> torch.Tensor:
        return value.repeat_interleave(frames, dim=0)

    flat = model_input.transpose(1, 2).reshape(-1, *model_input.shape[1:2],
                                               *model_input.shape[3:])
    if embeds.shape[0] == model_input.shape[0]:
        embeds = spread(embeds)
    if torch.is_tensor(timestep) and timestep.ndim == 1 and timestep.shape[0] > 1:
        timestep = spread(timestep)
    if added_cond:
        added_cond = {key: spread(value) for key, value in added_cond.items()}
    return flat, timestep, embeds, added_cond


def _half_mask(on_positive: bool, on_negative: bool, batch: int, do_cfg: bool,
               device: torch.device) -> torch.Tensor | None:
    """[negative half, positive half] 0/1 factors for a control on one side only, else None."""
    if not do_cfg or (on_positive and on_negative):
        return None
    halves = [1.0 if on_negative else 0.0] * batch + [1.0 if on_positive else 0.0] * batch
    return torch.tensor(halves, device=device).view(-1, 1, 1, 1)


def _prepare_adapter(use: ControlUse, half_mask: torch.Tensor | None, *, batch: int,
                     height: int, width: int, do_cfg: bool,
                     device: torch.device) -> PreparedControl:
    """A T2I-Adapter's features for the whole run, from its hint."""
    model = ensure_on(use.controlnet.model, device)
    factor = int(model.downscale_factor)
    size = (math.ceil(height / factor) * factor, math.ceil(width / factor) * factor)
    image = _hint_batch(use.image, batch, size)
    if model.config.in_channels == 1 and image.shape[1] != 1:
        image = image.mean(dim=1, keepdim=True)  # one-channel adapters read the grey value
    elif image.shape[1] != model.config.in_channels:
        raise NodeError(f"the T2I-Adapter reads {model.config.in_channels}-channel hints, "
                        f"the hint has {image.shape[1]} channels")
    with torch.no_grad():
        features = model(image.to(device=device, dtype=model.dtype))
    if do_cfg:
        features = [torch.cat([feature] * 2) for feature in features]
    return PreparedControl(use, image, False, half_mask, features=list(features))


def keep_fraction(step: int, total: int, start: float, end: float) -> float:
    """1.0 while step ``step`` of ``total`` lies in [start, end], else 0.0 (diffusers' rule)."""
    return 1.0 - float(step / total < start or (step + 1) / total > end)


def _one_control(control: PreparedControl, scale: float, model_input: torch.Tensor,
                 latents_scaled_cond: Any, timestep: torch.Tensor, embeds: torch.Tensor,
                 added_cond: dict[str, torch.Tensor] | None,
                 do_cfg: bool) -> tuple[list[torch.Tensor], torch.Tensor]:
    """One ControlNet's (down, mid) residuals at ``scale``; in guess mode under CFG it sees
    the positive half alone and the negative half gets zeros."""
    if control.guess_mode and do_cfg:
        sample = latents_scaled_cond()
        hidden = embeds.chunk(2)[1]
        extra = {k: v.chunk(2)[1] for k, v in added_cond.items()} if added_cond else None
    else:
        sample, hidden, extra = model_input, embeds, added_cond
    down, mid = control.use.controlnet.model(
        sample,
        timestep,
        encoder_hidden_states=hidden,
        controlnet_cond=control.image,
        conditioning_scale=scale,
        guess_mode=control.guess_mode,
        added_cond_kwargs=extra,
        return_dict=False,
    )
    if control.guess_mode and do_cfg:
        down = [torch.cat([torch.zeros_like(d), d]) for d in down]
        mid = torch.cat([torch.zeros_like(mid), mid])
    if control.half_mask is not None:
        down = [d * control.half_mask.to(d.dtype) for d in down]
        mid = mid * control.half_mask.to(mid.dtype)
    return down, mid


def residuals(
    controls: list[PreparedControl],
    *,
    step: int,
    total: int,
    model_input: torch.Tensor,
    latents_scaled_cond: Any,
    timestep: torch.Tensor,
    embeds: torch.Tensor,
    added_cond: dict[str, torch.Tensor] | None,
    do_cfg: bool,
) -> tuple[list[torch.Tensor] | None, torch.Tensor | None]:
    """Summed (down, mid) residuals of the controls active at ``step``, or (None, None).

    ``latents_scaled_cond`` returns the scaled latents of the positive half alone (guess mode).
    """
    down_sum: list[torch.Tensor] | None = None
    mid_sum: torch.Tensor | None = None
    if model_input.ndim == 5 and any(control.features is None for control in controls):
        video_scaled = latents_scaled_cond

        def latents_scaled_cond() -> torch.Tensor:
            return _per_frame(video_scaled(), timestep, embeds, None)[0]

        model_input, timestep, embeds, added_cond = _per_frame(model_input, timestep, embeds,
                                                               added_cond)
    for control in controls:
        if control.features is not None:
            continue  # a T2I-Adapter: see adapter_residuals
        use = control.use
        scale = use.strength * keep_fraction(step, total, use.start, use.end)
        if scale == 0.0:
            continue  # residuals of zero would leave the UNet's result unchanged
        down, mid = _one_control(control, scale, model_input, latents_scaled_cond, timestep,
                                 embeds, added_cond, do_cfg)
        if down_sum is None:
            down_sum, mid_sum = list(down), mid
        else:
            down_sum = [before + now for before, now in zip(down_sum, down, strict=True)]
            mid_sum = mid_sum + mid
    return down_sum, mid_sum


def adapter_residuals(controls: list[PreparedControl], *, step: int, total: int,
                      sample: torch.Tensor, unet: Any) -> list[torch.Tensor] | None:
    """The T2I-Adapter features active at ``step``, scaled and summed: a new list for the UNet's
    ``down_intrablock_additional_residuals`` (which it pops), or None."""
    summed: list[torch.Tensor] | None = None
    for control in controls:
        if control.features is None:
            continue
        use = control.use
        scale = use.strength * keep_fraction(step, total, use.start, use.end)
        if scale == 0.0:
            continue
        if not control.fits:
            _check_fits(control, unet, sample)
            control.fits = True
        features = [feature * scale for feature in control.features]
        if control.half_mask is not None:
            features = [f * control.half_mask.to(f.dtype) for f in features]
        summed = features if summed is None else [
            a if b is None else b if a is None else a + b
            for a, b in zip_longest(summed, features)
        ]
    return None if summed is None else [feature.to(sample.dtype) for feature in summed]


def unet_levels(unet: Any, height: int, width: int) -> list[tuple[int, int, int]]:
    """(channels, height, width) where a diffusers UNet adds each down level's adapter feature:
    before a cross-attention block's downsampler, after a plain block's (as its forward adds
    them), for a latent of ``height`` × ``width``."""
    levels = []
    for block, channels in zip(unet.down_blocks, unet.config.block_out_channels, strict=True):
        before = bool(getattr(block, "has_cross_attention", False))
        if before:
            levels.append((channels, height, width))
        if block.downsamplers is not None:
            height, width = math.ceil(height / 2), math.ceil(width / 2)
        if not before:
            levels.append((channels, height, width))
    return levels


def _check_fits(control: PreparedControl, unet: Any, sample: torch.Tensor) -> None:
    levels = unet_levels(unet, sample.shape[-2], sample.shape[-1])
    # Features past the down levels go to the mid block when their shape is its own (SDXL).
    for index, (feature, level) in enumerate(zip(control.features, levels, strict=False)):
        if tuple(feature.shape[1:]) != level:
            name = Path(control.use.controlnet.source).name
            raise NodeError(
                f"T2I-Adapter {name} does not fit this model: its level {index} features are "
                f"{'×'.join(map(str, feature.shape[1:]))}, the model's level is "
                f"{'×'.join(map(str, level))} (an adapter for another model family)"
            )
