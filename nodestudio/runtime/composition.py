"""Area composition: several prompts in one sampling, each on its area, mask and step range.

ComfyUI's conditioning is a list of prompts; Conditioning (Combine) joins lists and
Conditioning (Set Area / Set Mask / Set Timestep Range) say where and when each acts. Its
sampler then predicts, at every step, each prompt's noise on its own crop of the latent and
blends them (``comfy/samplers.py``: ``resolve_areas_and_cond_masks``,
``create_cond_with_same_area_if_none``, ``get_area_and_mult``, ``calc_cond_uncond_batch``).
This module does the same on NodeStudio's denoisers, for every family:

* **Areas** are resolved once per run, in latent cells: pixels floored to whole cells, or
  fractions rounded (at least one cell); a prompt with "mask bounds" runs on the bounding box
  of its mask (at least 8 × 8 cells). Masks are resized to the latent (bilinear).
* **Weights** per cell: ``mask × mask strength × strength``; an area without a mask fades in
  over its inner ``min(8, side // 4)`` cells along each edge that is not the image's edge, so
  neighbouring areas blend.
* **Blend**: each half of the guidance batch (positive; negative) is
  ``Σ prediction × weight / (1e-37 + Σ weight)`` — cells no prompt covers predict 0.
* **Opposite areas**: every positive area gets a negative prompt on the same area (the
  smallest negative that covers it, or the whole-image one) unless one exists, and vice versa,
  so classifier-free guidance compares like with like.
* **Step ranges**: a prompt takes part while the step's noise level lies between those of its
  start and end fractions: discrete models compare timesteps with ``(1 − fraction) × 999``,
  flow models the (shifted) sigma of ``1 − fraction``.

Each prompt's denoiser is the family's own, prepared for its crop (its ControlNets' hints are
resized to the crop, as ComfyUI does), so composition needs nothing from the families. A
single prompt without area, mask or step range never comes here: it keeps the pipelines' path.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F

from nodestudio.api.errors import NodeError
from nodestudio.runtime.families.base import (
    Denoiser,
    DenoiseRequest,
    Geometry,
    NoGuidance,
    Scheduling,
    step_timestep,
)
from nodestudio.runtime.schedulers import resolution_shift
from nodestudio.runtime.types import Conditioning, SizeConditioning

#: ComfyUI's starting count: cells no prompt covers divide 0 by it and predict 0.
_EMPTY_WEIGHT = 1e-37
#: Cells over which an area's weight fades in along an inner edge (ComfyUI's "fuzz").
_FADE_CELLS = 8
#: Smallest side of an area taken from a mask's bounding box (ComfyUI's).
_MIN_BOUNDS_CELLS = 8


@dataclass(frozen=True)
class Box:
    """(height, width, top, left) in latent cells, as ComfyUI's ``area`` tuples."""

    height: int
    width: int
    top: int
    left: int

    def contains(self, other: Box) -> bool:
        return (other.top >= self.top and other.left >= self.left
                and self.top + self.height >= other.top + other.height
                and self.left + self.width >= other.left + other.width)

    @property
    def size(self) -> int:
        return self.height * self.width


@dataclass
class _Entry:
    """One prompt of one half, resolved for this run's latent."""

    conditioning: Conditioning
    box: Box | None  # None: the whole latent (ComfyUI's cond without 'area')
    mask: torch.Tensor | None  # [Bm, rows, columns] float32 on the device


def _mask_bounds(mask: torch.Tensor) -> Box:
    bounds = mask.abs().amax(dim=0)
    rows, columns = torch.nonzero(bounds, as_tuple=True)
    if rows.numel() == 0:  # an empty mask: the smallest area, a no-op anyway
        return Box(_MIN_BOUNDS_CELLS, _MIN_BOUNDS_CELLS, 0, 0)
    top, left = int(rows.min()), int(columns.min())
    return Box(max(_MIN_BOUNDS_CELLS, int(rows.max()) - top + 1),
               max(_MIN_BOUNDS_CELLS, int(columns.max()) - left + 1), top, left)


def _resolve(conditioning: Conditioning, rows: int, columns: int, scale_factor: int,
             device: torch.device) -> _Entry:
    box = None
    if conditioning.area is not None:
        box = Box(*conditioning.area.cells(rows, columns, scale_factor))
    mask = None
    if conditioning.mask is not None:
        mask = conditioning.mask.to(device=device, dtype=torch.float32)
        if mask.ndim == 2:
            mask = mask[None]
        if tuple(mask.shape[-2:]) != (rows, columns):
            mask = F.interpolate(mask[:, None], size=(rows, columns), mode="bilinear",
                                 align_corners=False)[:, 0]
        if conditioning.area_from_mask_bounds:
            box = _mask_bounds(mask)
    return _Entry(conditioning, box, mask)


def _add_opposite_areas(entries: list[_Entry], opposites: list[_Entry]) -> None:
    """ComfyUI's ``create_cond_with_same_area_if_none``: for each area of ``entries``, a prompt
    of ``opposites`` on the same area (taking the text of the smallest opposite that covers it,
    else of a whole-image one), unless the smallest covering one has exactly that area."""
    for entry in list(entries):
        if entry.box is None:
            continue
        smallest: _Entry | None = None
        for candidate in opposites:
            if candidate.box is None:
                smallest = smallest or candidate
            elif candidate.box.contains(entry.box) and (
                smallest is None or smallest.box is None or smallest.box.size > candidate.box.size
            ):
                smallest = candidate
        if smallest is None or smallest.box == entry.box:
            continue
        text = smallest.conditioning
        # The copy keeps the area, mask, strength, steps and ControlNets of the prompt it
        # mirrors and takes only the opposite's encoded text (ComfyUI copies 'model_conds').
        opposites.append(_Entry(
            replace(entry.conditioning, embeds=text.embeds, pooled=text.pooled, size=text.size,
                    extra=text.extra, family=text.family),
            entry.box, entry.mask,
        ))


def _weights(entry: _Entry, crop: Box, rows: int, columns: int, shape: torch.Size,
             device: torch.device) -> torch.Tensor:
    """``mask × mask strength × strength`` on the crop, faded at inner edges without a mask."""
    conditioning = entry.conditioning
    batch, channels = shape[0], shape[1]
    if entry.mask is not None:
        mask = entry.mask[:, crop.top:crop.top + crop.height, crop.left:crop.left + crop.width]
        mask = mask * conditioning.mask_strength
        weight = mask[:, None].repeat(batch // mask.shape[0], channels, 1, 1)
    else:
        weight = torch.ones((batch, channels, crop.height, crop.width), device=device)
    weight = weight * conditioning.strength
    box = entry.box
    if entry.mask is None and box is not None:
        for axis, (start, length, limit) in enumerate(
            ((box.top, box.height, rows), (box.left, box.width, columns))
        ):
            fade = min(_FADE_CELLS, weight.shape[2 + axis] // 4)
            for cell in range(fade):
                factor = (cell + 1) / fade
                if start != 0:
                    weight.narrow(2 + axis, cell, 1).mul_(factor)
                if start + length < limit:
                    weight.narrow(2 + axis, length - 1 - cell, 1).mul_(factor)
    return weight


class _StepWindow:
    """Whether a prompt's step range admits a timestep (see the module docstring)."""

    def __init__(self, model: Any, geometry: Geometry) -> None:
        config = model.scheduler_config
        self.flow = model.family.scheduling is Scheduling.FLOW
        self.train_steps = float(config.get("num_train_timesteps", 1000))
        self.mu = resolution_shift(config, model.family.image_sequence_length(geometry))
        self.shift = float(config.get("shift", 1.0))

    def _threshold(self, fraction: float) -> float:
        """The timestep a fraction of the denoising is reached at (ComfyUI's
        ``percent_to_sigma``, in the scheduler's timesteps)."""
        if fraction <= 0.0:
            return math.inf
        if fraction >= 1.0:
            return -math.inf
        remaining = 1.0 - fraction
        if not self.flow:
            return remaining * 999.0
        if self.mu is not None:
            sigma = math.exp(self.mu) / (math.exp(self.mu) + (1.0 / remaining - 1.0))
        else:
            sigma = self.shift * remaining / (1.0 + (self.shift - 1.0) * remaining)
        return sigma * self.train_steps

    def admits(self, conditioning: Conditioning, timestep: float) -> bool:
        if conditioning.step_range is None:
            return True
        start, end = conditioning.step_range
        return self._threshold(end) <= timestep <= self._threshold(start)


@dataclass
class _Prepared:
    entry: _Entry
    crop: Box
    denoiser: Denoiser
    weight: torch.Tensor


class ComposedDenoiser:
    """The denoiser of a run with area composition: every half blended from its prompts."""

    def __init__(self, halves: list[list[_Prepared]], window: _StepWindow, batch: int,
                 timestep_of_step: Callable[[int], float] | None = None) -> None:
        self.halves = halves
        self.window = window
        self.batch = batch
        self.timestep_of_step = timestep_of_step

    def __call__(self, latents: torch.Tensor, timestep: torch.Tensor, step: int, total: int,
                 unscaled: torch.Tensor) -> torch.Tensor:
        level = step_timestep(self.timestep_of_step, step, timestep)
        blended = []
        for index, prepared in enumerate(self.halves):
            half = latents[index * self.batch:(index + 1) * self.batch]
            total_prediction = torch.zeros(half.shape, dtype=torch.float32, device=half.device)
            total_weight = torch.full_like(total_prediction, _EMPTY_WEIGHT)
            for item in prepared:
                if not self.window.admits(item.entry.conditioning, level):
                    continue
                crop = item.crop
                rows = slice(crop.top, crop.top + crop.height)
                columns = slice(crop.left, crop.left + crop.width)
                prediction = item.denoiser(half[:, :, rows, columns].contiguous(), timestep,
                                           step, total,
                                           unscaled[:, :, rows, columns].contiguous())
                total_prediction[:, :, rows, columns] += prediction.float() * item.weight
                total_weight[:, :, rows, columns] += item.weight
            blended.append((total_prediction / total_weight).to(latents.dtype))
        return torch.cat(blended)


def needs_composition(positive: Conditioning, negative: Conditioning | None) -> bool:
    return positive.is_composed or (negative is not None and negative.is_composed)


def _crop(box: Box | None, rows: int, columns: int, patch: int) -> Box | None:
    """The latent cells a prompt runs on: its area cut to the latent (and widened to whole
    transformer patches); None when the area lies outside the latent."""
    if box is None:
        return Box(rows, columns, 0, 0)
    top, left = box.top - box.top % patch, box.left - box.left % patch
    bottom = min(rows, box.top + box.height)
    right = min(columns, box.left + box.width)
    bottom = min(rows, bottom + (-(bottom - top)) % patch)
    right = min(columns, right + (-(right - left)) % patch)
    if bottom <= top or right <= left:
        return None
    return Box(bottom - top, right - left, top, left)


def _crop_request(request: DenoiseRequest, conditioning: Conditioning, crop: Box,
                  scale: int) -> DenoiseRequest:
    geometry = request.geometry
    rows = slice(crop.top, crop.top + crop.height)
    columns = slice(crop.left, crop.left + crop.width)
    pixel_rows = slice(crop.top * scale, (crop.top + crop.height) * scale)
    pixel_columns = slice(crop.left * scale, (crop.left + crop.width) * scale)

    def cut(tensor: torch.Tensor | None, pixels: bool = False) -> torch.Tensor | None:
        if tensor is None:
            return None
        if pixels:
            return tensor[:, :, pixel_rows, pixel_columns]
        return tensor[:, :, rows, columns]

    # Size conditioning (SDXL) stays the whole image's, as ComfyUI encodes it per run.
    size = conditioning.size
    whole = (geometry.height, geometry.width)
    conditioning = replace(conditioning, size=SizeConditioning(
        size.original_size or whole, size.crop_top_left, size.target_size or whole))
    return replace(
        request, positive=conditioning, negative=None, guidance=NoGuidance(),
        geometry=Geometry(geometry.batch, crop.height * scale, crop.width * scale,
                          crop.height, crop.width),
        latent_mask=cut(request.latent_mask), masked_latents=cut(request.masked_latents),
        pixel_mask=cut(request.pixel_mask, pixels=True),
    )


def composed_denoiser(request: DenoiseRequest) -> ComposedDenoiser:
    """The per-prompt denoisers of a run with area composition (see the module docstring)."""
    model, geometry = request.model, request.geometry
    family = model.family
    rows, columns = geometry.latent_height, geometry.latent_width
    scale = geometry.height // rows
    sides = [request.positive]
    if request.guidance.halves == 2:
        sides = [request.negative or request.positive, request.positive]
    resolved = [[_resolve(entry, rows, columns, scale, request.device)
                 for entry in side.entries()] for side in sides]
    if len(resolved) == 2:
        negative, positive = resolved
        _add_opposite_areas(positive, negative)
        _add_opposite_areas(negative, positive)
    halves = []
    for side_name, entries in zip(("negative", "positive")[-len(resolved):], resolved,
                                  strict=True):
        prepared = []
        for entry in entries:
            family.check_conditioning(model, entry.conditioning, side_name)
            crop = _crop(entry.box, rows, columns, family.patch_size)
            if crop is None:
                continue
            denoiser = family.denoiser(_crop_request(request, entry.conditioning, crop, scale))
            weight = _weights(entry, crop, rows, columns,
                              torch.Size((geometry.batch, model.latent_channels)),
                              request.device)
            prepared.append(_Prepared(entry, crop, denoiser, weight))
        if not prepared:
            raise NodeError(f"every {side_name} prompt's area lies outside the image")
        halves.append(prepared)
    return ComposedDenoiser(halves, _StepWindow(model, geometry), geometry.batch,
                            request.timestep_of_step)


def build_denoiser(request: DenoiseRequest) -> Denoiser:
    """The family's denoiser, or the composed one when the prompts need area composition."""
    negative = request.negative if request.guidance.halves == 2 else None
    if needs_composition(request.positive, negative):
        return composed_denoiser(request)
    return request.model.family.denoiser(request)
