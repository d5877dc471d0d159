"""Bislerp: ComfyUI's "bislerp" resize of latents (``comfy/utils.py`` ``bislerp``).

A bilinear resize in which each pair of neighbouring latent cells is blended by spherical
linear interpolation of their channel vectors instead of a straight line: the blend turns the
direction of the first vector towards the second by the fraction ``r`` of the angle between
them, and its length goes linearly from the first vector's length to the second's. Latents keep
their "energy" better than with a linear blend, which shrinks vectors that point apart.

As in ComfyUI, widths are resized first, then heights, and two edge cases bypass the sphere:
vectors that point (almost) the same way give the first vector unchanged, and opposite ones
(where the arc is undefined) give the linear blend. The sample positions are ComfyUI's too:
the source coordinate of each target cell is found by resizing the ramp 0, 1, … n-1 with
torch's bilinear interpolation (half-pixel centres, clamped at the borders), so the result
equals ComfyUI's for the same input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: Dot products of unit vectors beyond these count as "the same direction" and "opposite".
_PARALLEL = 1 - 1e-5
_OPPOSITE = 1e-5 - 1


def slerp(first: torch.Tensor, second: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    """Rows of ``first`` and ``second`` ([N, C]) blended at ``ratio`` ([N, 1], 0 = first).

    ``result = (sin((1-r)·ω)/sin ω · â + sin(r·ω)/sin ω · b̂) · ((1-r)·|a| + r·|b|)`` with
    ``ω = acos(â·b̂)``; a zero vector has the zero direction."""
    channels = first.shape[-1]
    first_norms = torch.norm(first, dim=-1, keepdim=True)
    second_norms = torch.norm(second, dim=-1, keepdim=True)
    first_unit = first / first_norms
    second_unit = second / second_norms
    first_unit[first_norms.expand(-1, channels) == 0.0] = 0.0
    second_unit[second_norms.expand(-1, channels) == 0.0] = 0.0

    dot = (first_unit * second_unit).sum(1)
    omega = torch.acos(dot)
    sine = torch.sin(omega)
    ratios = ratio.squeeze(1)
    result = ((torch.sin((1.0 - ratios) * omega) / sine).unsqueeze(1) * first_unit
              + (torch.sin(ratios * omega) / sine).unsqueeze(1) * second_unit)
    result *= (first_norms * (1.0 - ratio) + second_norms * ratio).expand(-1, channels)

    # Where the arc is degenerate (sin ω ≈ 0 gives NaN above) ComfyUI falls back, and so do we.
    parallel = dot > _PARALLEL
    opposite = dot < _OPPOSITE
    result[parallel] = first[parallel]
    result[opposite] = (first * (1.0 - ratio) + second * ratio)[opposite]
    return result


def _sample_positions(length_old: int, length_new: int,
                      device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each of ``length_new`` target cells: the fraction towards the next source cell and
    the indices of the source cells before and after it (ComfyUI's generate_bilinear_data)."""
    ramp = torch.arange(length_old, dtype=torch.float32, device=device).reshape((1, 1, 1, -1))
    before = F.interpolate(ramp, size=(1, length_new), mode="bilinear")
    ratios = before - before.floor()
    after = ramp + 1
    after[:, :, :, -1] -= 1  # the last cell has no next one: it pairs with itself
    after = F.interpolate(after, size=(1, length_new), mode="bilinear")
    return ratios, before.to(torch.int64), after.to(torch.int64)


def bislerp(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """``samples`` [B, C, h, w] resized to [B, C, height, width] by bislerp."""
    if width < 1 or height < 1:
        raise ValueError(f"cannot resize to {width} x {height}")
    original_dtype = samples.dtype
    samples = samples.float()
    batch, channels, rows, columns = samples.shape

    # Along the width: every (batch, row, new column) blends two source columns.
    ratios, before, after = _sample_positions(columns, width, samples.device)
    before = before.expand((batch, channels, rows, -1))
    after = after.expand((batch, channels, rows, -1))
    ratios = ratios.expand((batch, 1, rows, -1))
    first = samples.gather(-1, before).movedim(1, -1).reshape((-1, channels))
    second = samples.gather(-1, after).movedim(1, -1).reshape((-1, channels))
    blended = slerp(first, second, ratios.movedim(1, -1).reshape((-1, 1)))
    result = blended.reshape(batch, rows, width, channels).movedim(-1, 1)

    # Then along the height, on the already widened rows.
    ratios, before, after = _sample_positions(rows, height, samples.device)
    before = before.reshape((1, 1, -1, 1)).expand((batch, channels, -1, width))
    after = after.reshape((1, 1, -1, 1)).expand((batch, channels, -1, width))
    ratios = ratios.reshape((1, 1, -1, 1)).expand((batch, 1, -1, width))
    first = result.gather(-2, before).movedim(1, -1).reshape((-1, channels))
    second = result.gather(-2, after).movedim(1, -1).reshape((-1, channels))
    blended = slerp(first, second, ratios.movedim(1, -1).reshape((-1, 1)))
    result = blended.reshape(batch, height, width, channels).movedim(-1, 1)
    return result.to(original_dtype)
