"""Latent tools: composite (plain, feathered, masked), repeat a batch, take from a batch.

They work as ComfyUI's LatentComposite, LatentCompositeMasked, RepeatLatentBatch and
LatentFromBatch. Positions are given in pixels and cut down to whole latent cells (8 pixels
for every model NodeStudio loads). What travels with a latent (its inpainting mask, the
masked-image latents of inpainting models, the clean latent a masked first stage held) is
repeated and cut with the batch, so each latent keeps its own.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from nodestudio.api import LATENT, MASK, Boolean, Input, Int, NodeError, Output, node

CATEGORY = "latent"
BATCH_CATEGORY = "latent/batch"
MAX_SIDE = 16384
MAX_BATCH = 64


def _check_pair(destination: Any, source: Any) -> int:
    """The pixels per latent cell the two latents share; a NodeError when they do not fit."""
    if destination.scale_factor != source.scale_factor:
        raise NodeError(f"the latents are for different VAEs ({destination.scale_factor} and "
                        f"{source.scale_factor} pixels per cell): composite latents of one model")
    if destination.samples.shape[1] != source.samples.shape[1]:
        raise NodeError(f"the latents have {destination.samples.shape[1]} and "
                        f"{source.samples.shape[1]} channels: composite latents of one model")
    return int(destination.scale_factor)


def _composited(destination: Any, samples: Any) -> Any:
    """``destination`` with new samples, keeping what travels with it (as ComfyUI keeps the
    destination's noise mask). It is no longer empty: the sampler must start from it, as
    ComfyUI's does. The clean latent a masked first stage held no longer matches the pasted
    cells, so a second stage holds the unmasked area to the latent as it is now."""
    return replace(destination, samples=samples, is_empty=False, original_samples=None)


@node(
    "diffusion.latent_composite",
    display_name="Composite Latents",
    category=CATEGORY,
    description=(
        "Pastes the source latent into the destination with its top-left corner at x, y "
        "(pixels, rounded down to the latent's 8-pixel cells); what reaches past the edge is "
        "cut off. 'feather' fades the pasted edges in over that many pixels, except along the "
        "destination's border."
    ),
    inputs=[
        Input("destination", LATENT, description="The latent pasted into"),
        Input("source", LATENT, description="The latent pasted"),
        Int("x", 0, min=0, max=MAX_SIDE, step=8, description="Left edge, in pixels"),
        Int("y", 0, min=0, max=MAX_SIDE, step=8, description="Top edge, in pixels"),
        Int("feather", 0, min=0, max=MAX_SIDE, step=8,
            description="Width of the fade at the pasted edges, in pixels"),
    ],
    outputs=[Output("latent", LATENT)],
)
def latent_composite(destination: Any, source: Any, x: int, y: int, feather: int) -> Any:
    import torch

    factor = _check_pair(destination, source)
    left, top, fade = x // factor, y // factor, feather // factor
    target = destination.samples.clone()
    rows, columns = target.shape[-2:]
    if source.batch_size not in (1, destination.batch_size):
        raise NodeError(f"the source has {source.batch_size} latents and the destination "
                        f"{destination.batch_size}: use one source latent, or one per latent")
    pasted = source.samples.to(device=target.device, dtype=target.dtype)
    pasted = pasted[:, :, :max(rows - top, 0), :max(columns - left, 0)]
    height, width = pasted.shape[-2:]
    if height == 0 or width == 0:
        return _composited(destination, target)  # placed entirely outside: nothing to paste
    region = target[:, :, top:top + height, left:left + width]
    if fade == 0:
        target[:, :, top:top + height, left:left + width] = pasted
        return _composited(destination, target)
    # ComfyUI's feather: the t-th cell in from a pasted edge (counting from 0) is multiplied by
    # (t + 1) / feather, for each edge that lies inside the destination; at corners the
    # factors of both edges multiply. Edges on the destination's border stay hard.
    weight = torch.ones_like(pasted)
    for step in range(fade):
        ramp = (1.0 / fade) * (step + 1)
        if top != 0:
            weight[:, :, step:step + 1, :] *= ramp
        if top + height < rows:
            weight[:, :, height - 1 - step:height - step, :] *= ramp
        if left != 0:
            weight[:, :, :, step:step + 1] *= ramp
        if left + width < columns:
            weight[:, :, :, width - 1 - step:width - step] *= ramp
    target[:, :, top:top + height, left:left + width] = pasted * weight + region * (1 - weight)
    return _composited(destination, target)


def repeat_to_batch(tensor: Any, size: int) -> Any:
    """``tensor``'s first axis cycled (or cut) to ``size``, as ComfyUI's repeat_to_batch_size:
    a batch of 2 made 5 long is 0 1 0 1 0."""
    count = tensor.shape[0]
    if count > size:
        return tensor[:size]
    if count < size:
        repeats = [math.ceil(size / count)] + [1] * (tensor.ndim - 1)
        return tensor.repeat(*repeats)[:size]
    return tensor


@node(
    "diffusion.latent_composite_masked",
    display_name="Composite Latents (Masked)",
    category=CATEGORY,
    description=(
        "Pastes the source latent into the destination with its top-left corner at x, y "
        "(pixels, rounded down to the latent's 8-pixel cells), only where the mask is white: "
        "the mask covers the source and is resized to it. Without a mask the whole source is "
        "pasted. 'resize_source' first stretches the source to the destination's size."
    ),
    inputs=[
        Input("destination", LATENT, description="The latent pasted into"),
        Input("source", LATENT, description="The latent pasted"),
        Int("x", 0, min=0, max=MAX_SIDE, step=8, description="Left edge, in pixels"),
        Int("y", 0, min=0, max=MAX_SIDE, step=8, description="Top edge, in pixels"),
        Boolean("resize_source", False,
                description="Stretch the source to the destination's size first"),
        Input("mask", MASK, optional=True,
              description="Where the source shows (1), over the source's area"),
    ],
    outputs=[Output("latent", LATENT)],
)
def latent_composite_masked(destination: Any, source: Any, x: int, y: int,
                            resize_source: bool, mask: Any = None) -> Any:
    import torch
    import torch.nn.functional as F

    from nodestudio.runtime.vae import mask_tensor

    factor = _check_pair(destination, source)
    target = destination.samples.clone()
    batch, _, rows, columns = target.shape
    pasted = source.samples.to(device=target.device, dtype=target.dtype)
    if resize_source:
        pasted = F.interpolate(pasted.float(), size=(rows, columns), mode="bilinear").to(
            target.dtype)
    pasted = repeat_to_batch(pasted, batch)
    # ComfyUI's bounds, kept for the same cells; x and y cannot be negative here, so the
    # visible part is what fits between the corner and the destination's far edges.
    x = max(-pasted.shape[3] * factor, min(x, columns * factor))
    y = max(-pasted.shape[2] * factor, min(y, rows * factor))
    left, top = x // factor, y // factor
    right, bottom = left + pasted.shape[3], top + pasted.shape[2]
    if mask is None:
        weight = torch.ones_like(pasted)
    else:
        pixels = mask_tensor(mask).to(device=target.device)
        weight = F.interpolate(pixels, size=tuple(pasted.shape[-2:]), mode="bilinear")
        weight = repeat_to_batch(weight.to(target.dtype), batch)
    visible_width = columns - left + min(0, x)
    visible_height = rows - top + min(0, y)
    if visible_width <= 0 or visible_height <= 0:
        return _composited(destination, target)  # placed entirely outside: nothing to paste
    weight = weight[:, :, :visible_height, :visible_width]
    region = target[:, :, top:bottom, left:right]
    target[:, :, top:bottom, left:right] = (
        weight * pasted[:, :, :visible_height, :visible_width] + (1 - weight) * region)
    return _composited(destination, target)


#: What travels with a latent batch: its inpainting mask and masked-image latents (a single
#: entry stands for every latent, as the sampler reads them), and the clean latent a masked
#: first stage held (always one per latent, like the samples).
_SHARED_WHEN_SINGLE = ("noise_mask", "masked_image_latents")
_PER_LATENT = ("original_samples",)


def _per_latent_parts(latent: Any) -> dict[str, Any]:
    """The tensors that travel with ``latent``, one entry per latent (a shorter batch cycled,
    as ComfyUI does with its noise masks); those given once for every latent are left out:
    they stay as they are."""
    batch = latent.batch_size
    parts = {}
    for name in (*_SHARED_WHEN_SINGLE, *_PER_LATENT):
        tensor = getattr(latent, name)
        if tensor is None or (name in _SHARED_WHEN_SINGLE and tensor.shape[0] == 1):
            continue
        parts[name] = repeat_to_batch(tensor, batch)
    return parts


@node(
    "diffusion.latent_repeat_batch",
    display_name="Repeat Latent Batch",
    category=BATCH_CATEGORY,
    description=(
        "Repeats the whole batch of latents 'amount' times (a batch of 2 repeated 3 times is "
        "6 latents: 1 2 1 2 1 2), each with its own mask. The sampler gives each copy its own "
        "noise, so one latent becomes several variations."
    ),
    inputs=[
        Input("latent", LATENT),
        Int("amount", 1, min=1, max=MAX_BATCH, description="How many times to repeat the batch"),
    ],
    outputs=[Output("latent", LATENT)],
)
def latent_repeat_batch(latent: Any, amount: int) -> Any:
    if amount < 1:
        raise NodeError(f"repeat the batch at least once, not {amount} times")
    changes: dict[str, Any] = {"samples": latent.samples.repeat(amount, 1, 1, 1)}
    for name, tensor in _per_latent_parts(latent).items():
        changes[name] = tensor.repeat(amount, *[1] * (tensor.ndim - 1))
    if latent.batch_index is not None:
        # As ComfyUI: each copy continues the indices past the batch's own, so that in
        # "comfyui" mode every copy gets noise of its own.
        indices = latent.batch_index
        offset = max(indices) - min(indices) + 1
        changes["batch_index"] = (*indices, *(index + copy * offset for copy in range(1, amount)
                                              for index in indices))
    return replace(latent, **changes)


@node(
    "diffusion.latent_from_batch",
    display_name="Latent from Batch",
    category=BATCH_CATEGORY,
    description=(
        "Takes 'length' latents out of a batch, starting at 'batch_index' (0 is the first), "
        "with their masks. An index past the end takes the last latent; a length past the end "
        "takes what there is. A Sampler in ComfyUI mode gives them the noise they had in the "
        "whole batch, so a picked image can be refined alone."
    ),
    inputs=[
        Input("latent", LATENT),
        Int("batch_index", 0, min=0, max=MAX_BATCH - 1, description="The first latent taken"),
        Int("length", 1, min=1, max=MAX_BATCH, description="How many latents to take"),
    ],
    outputs=[Output("latent", LATENT)],
)
def latent_from_batch(latent: Any, batch_index: int, length: int) -> Any:
    batch = latent.batch_size
    start = max(0, min(batch - 1, batch_index))
    count = max(1, min(batch - start, length))
    changes: dict[str, Any] = {"samples": latent.samples[start:start + count].clone()}
    for name, tensor in _per_latent_parts(latent).items():
        changes[name] = tensor[start:start + count].clone()
    # Which latents of the first batch these are: the Sampler's "comfyui" mode draws their
    # noise as ComfyUI does for them (ComfyUI's batch_index).
    indices = latent.batch_index or tuple(range(batch))
    changes["batch_index"] = tuple(indices[start:start + count])
    return replace(latent, **changes)
