"""ControlNet residuals inside the sampling loop, as diffusers' (Multi)ControlNet pipelines do.

Every ControlNet applied to the prompts runs at every step whose position lies within its
[start, end] fraction (``controlnet_keep``: step i of n counts while ``i / n >= start`` and
``(i + 1) / n <= end``), scaled by its strength; the residuals of all of them are summed in
the order they were applied (MultiControlNetModel) and added to the UNet's skip connections.

Hint images are resized to the generated size with nearest-neighbour interpolation, repeated
over the batch and, with classifier-free guidance, duplicated for both halves of the batch.
A ControlNet applied to only one of positive/negative acts on that half alone.
ControlNets whose config asks for global pooling (the "shuffle" kind) run in guess mode: on the
positive half only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from nodestudio.api.errors import NodeError
from nodestudio.runtime.devices import ensure_on
from nodestudio.runtime.types import Conditioning, ControlUse


@dataclass
class PreparedControl:
    use: ControlUse
    image: torch.Tensor  # on the device, batch-expanded (and doubled for guidance)
    guess_mode: bool
    #: [2B, 1, 1, 1] 0/1 factors when the control applies to one half only, else None.
    half_mask: torch.Tensor | None


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
) -> list[PreparedControl]:
    prepared = []
    for use, on_positive, on_negative in collect(positive, negative if do_cfg else None):
        model = ensure_on(use.controlnet.model, device)
        if model.config.cross_attention_dim != cross_attention_dim:
            raise NodeError(
                f"ControlNet {use.controlnet.source or ''} was made for another model family "
                f"(text width {model.config.cross_attention_dim}, "
                f"the model has {cross_attention_dim})"
            )
        image = use.image.to(torch.float32)
        if tuple(image.shape[-2:]) != (height, width):
            image = F.interpolate(image, size=(height, width))
        if image.shape[0] == 1:
            image = image.repeat_interleave(batch, dim=0)
        elif image.shape[0] != batch:
            raise NodeError(
                f"the ControlNet hint has {image.shape[0]} images but {batch} are generated; "
                "use one hint image or one per latent"
            )
        image = image.to(device=device, dtype=model.dtype)
        guess_mode = bool(model.config.global_pool_conditions)
        if do_cfg and not guess_mode:
            image = torch.cat([image] * 2)
        half_mask = None
        if do_cfg and not (on_positive and on_negative):
            halves = [1.0 if on_negative else 0.0] * batch + [1.0 if on_positive else 0.0] * batch
            half_mask = torch.tensor(halves, device=device).view(-1, 1, 1, 1)
        prepared.append(PreparedControl(use, image, guess_mode, half_mask))
    return prepared


def keep_fraction(step: int, total: int, start: float, end: float) -> float:
    """1.0 while step ``step`` of ``total`` lies in [start, end], else 0.0 (diffusers' rule)."""
    return 1.0 - float(step / total < start or (step + 1) / total > end)


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
    for control in controls:
        use = control.use
        scale = use.strength * keep_fraction(step, total, use.start, use.end)
        if scale == 0.0:
            continue  # residuals of zero would leave the UNet's result unchanged
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
        if down_sum is None:
            down_sum, mid_sum = list(down), mid
        else:
            down_sum = [before + now for before, now in zip(down_sum, down, strict=True)]
            mid_sum = mid_sum + mid
    return down_sum, mid_sum
