"""ComfyUI's outpainting, latent and mask tools: what they compute, not only their shapes.

Expected values are worked out from ComfyUI's published algorithms (nodes.py, comfy/utils.py
bislerp, comfy_extras/nodes_mask.py) by hand, or by a plain per-cell re-statement of them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from nodestudio.api import NodeError
from nodestudio.runtime.bislerp import bislerp, slerp
from nodestudio.runtime.types import Latent


def _latent(samples: torch.Tensor, **extra) -> Latent:
    return Latent(samples=samples, scale_factor=8, **extra)


def _numbered(batch: int, channels: int, rows: int, columns: int) -> torch.Tensor:
    """Distinct values everywhere, and each batch item recognisable by its hundreds."""
    cells = torch.arange(channels * rows * columns, dtype=torch.float32) + 1
    return torch.stack([cells.reshape(channels, rows, columns) + 100 * (index + 1)
                        for index in range(batch)])


# -- Composite Latents (LatentComposite) -------------------------------------------------------


def test_composite_pastes_the_source_at_x_y_in_latent_cells(node):
    composite = node("diffusion.latent_composite").function
    destination = _latent(torch.zeros(1, 4, 8, 8), is_empty=True,
                          noise_mask=torch.ones(1, 1, 64, 64))
    source = _latent(_numbered(1, 4, 3, 3))
    # x 17 px is cell 2 (17 // 8), y 8 px is cell 1.
    result = composite(destination=destination, source=source, x=17, y=8, feather=0)
    expected = torch.zeros(1, 4, 8, 8)
    expected[:, :, 1:4, 2:5] = source.samples
    assert torch.equal(result.samples, expected)
    assert torch.equal(destination.samples, torch.zeros(1, 4, 8, 8))  # the input is untouched
    # The destination's mask travels on; the latent is no longer an empty one.
    assert result.noise_mask is destination.noise_mask and not result.is_empty
    # Past the edge the source is cut off: at cell 6 only its first 2 columns fit.
    cut = composite(destination=destination, source=source, x=48, y=0, feather=0)
    assert torch.equal(cut.samples[:, :, 0:3, 6:8], source.samples[:, :, :, :2])
    assert cut.samples[:, :, 3:].abs().sum() == 0 and cut.samples[:, :, :, :6].abs().sum() == 0
    # Placed entirely outside: the destination as it was.
    assert torch.equal(composite(destination=destination, source=source, x=64, y=0,
                                 feather=0).samples, destination.samples)


def test_composite_feather_ramps_in_from_edges_inside_the_destination(node):
    composite = node("diffusion.latent_composite").function
    destination = _latent(torch.zeros(1, 1, 10, 10))
    source = _latent(torch.ones(1, 1, 4, 4))
    # feather 16 px = 2 cells: the cell on an edge gets 1/2, the next one 2/2.
    result = composite(destination=destination, source=source, x=24, y=24, feather=16)
    ramp = torch.tensor([0.5, 1.0, 1.0, 0.5])
    torch.testing.assert_close(result.samples[0, 0, 3:7, 3:7], ramp[:, None] * ramp[None, :])
    assert result.samples[0, 0, :3].abs().sum() == 0 and result.samples[0, 0, 7:].abs().sum() == 0
    # At the destination's top-left corner those two edges stay hard (ComfyUI fades only
    # edges that lie inside the destination), the right and bottom ones still fade.
    corner = composite(destination=destination, source=source, x=0, y=0, feather=16)
    hard = torch.tensor([1.0, 1.0, 1.0, 0.5])
    torch.testing.assert_close(corner.samples[0, 0, 0:4, 0:4], hard[:, None] * hard[None, :])
    # Blending: a feathered cell is weight * source + (1 - weight) * destination.
    twos = _latent(torch.full((1, 1, 10, 10), 2.0))
    blended = composite(destination=twos, source=source, x=24, y=24, feather=16)
    assert blended.samples[0, 0, 3, 3].item() == pytest.approx(0.25 * 1 + 0.75 * 2)


def test_composite_refuses_latents_of_different_models_and_batches(node):
    composite = node("diffusion.latent_composite").function
    with pytest.raises(NodeError, match="channels"):
        composite(destination=_latent(torch.zeros(1, 4, 8, 8)),
                  source=_latent(torch.zeros(1, 16, 8, 8)), x=0, y=0, feather=0)
    with pytest.raises(NodeError, match="one source latent, or one per latent"):
        composite(destination=_latent(torch.zeros(2, 4, 8, 8)),
                  source=_latent(torch.zeros(3, 4, 8, 8)), x=0, y=0, feather=0)
    # One source latent goes into every destination latent.
    spread = composite(destination=_latent(torch.zeros(2, 4, 8, 8)),
                       source=_latent(torch.ones(1, 4, 2, 2)), x=0, y=0, feather=0)
    assert spread.samples[:, :, :2, :2].eq(1).all() and spread.samples.sum() == 2 * 4 * 4


# -- Composite Latents (Masked) (LatentCompositeMasked) ----------------------------------------


def test_masked_composite_pastes_only_where_the_mask_is_white(node):
    composite = node("diffusion.latent_composite_masked").function
    destination = _latent(torch.full((2, 4, 6, 6), -1.0))
    source = _latent(_numbered(1, 4, 2, 2))
    # The mask covers the source (16 x 16 px): its left half white.
    mask = np.zeros((1, 16, 16), np.float32)
    mask[:, :, :8] = 1.0
    result = composite(destination=destination, source=source, x=8, y=8, resize_source=False,
                       mask=mask)
    for item in range(2):  # the source and the mask are repeated to the destination's batch
        assert torch.equal(result.samples[item, :, 1:3, 1], source.samples[0, :, :, 0])
        assert result.samples[item, :, 1:3, 2].eq(-1).all()
    changed = (result.samples != destination.samples).sum().item()
    assert changed == 2 * 4 * 2  # two cells per channel and latent, nothing else
    # No mask: the whole source.
    whole = composite(destination=destination, source=source, x=8, y=8, resize_source=False)
    assert torch.equal(whole.samples[0, :, 1:3, 1:3], source.samples[0])
    # A grey mask blends half and half.
    half = composite(destination=destination, source=source, x=0, y=0, resize_source=False,
                     mask=np.full((1, 16, 16), 0.5, np.float32))
    torch.testing.assert_close(half.samples[0, :, :2, :2], (source.samples[0] - 1) / 2)


def test_masked_composite_can_stretch_the_source_to_the_destination(node):
    composite = node("diffusion.latent_composite_masked").function
    destination = _latent(torch.zeros(1, 4, 6, 6))
    source = _latent(torch.full((1, 4, 2, 3), 3.0))
    result = composite(destination=destination, source=source, x=0, y=0, resize_source=True)
    assert torch.equal(result.samples, torch.full((1, 4, 6, 6), 3.0))
    assert not result.is_empty


# -- batches -----------------------------------------------------------------------------------


def test_repeat_batch_repeats_the_batch_and_its_masks(node):
    repeat = node("diffusion.latent_repeat_batch").function
    masks = torch.stack([torch.full((1, 16, 16), float(index)) for index in range(2)])
    latent = _latent(_numbered(2, 4, 2, 2), noise_mask=masks,
                     masked_image_latents=_numbered(2, 4, 2, 2) * -1)
    result = repeat(latent=latent, amount=3)
    assert result.batch_size == 6
    order = [0, 1, 0, 1, 0, 1]
    assert torch.equal(result.samples, latent.samples[order])
    assert torch.equal(result.noise_mask, masks[order])
    assert torch.equal(result.masked_image_latents, latent.masked_image_latents[order])
    # A single mask stands for every latent: it stays single.
    shared = _latent(_numbered(2, 4, 2, 2), noise_mask=torch.ones(1, 1, 16, 16))
    assert repeat(latent=shared, amount=3).noise_mask.shape == (1, 1, 16, 16)
    assert repeat(latent=latent, amount=1).batch_size == 2


def test_from_batch_takes_latents_and_their_masks(node):
    take = node("diffusion.latent_from_batch").function
    masks = torch.stack([torch.full((1, 16, 16), float(index)) for index in range(4)])
    latent = _latent(_numbered(4, 4, 2, 2), noise_mask=masks,
                     original_samples=_numbered(4, 4, 2, 2) * 2)
    result = take(latent=latent, batch_index=1, length=2)
    assert torch.equal(result.samples, latent.samples[1:3])
    assert torch.equal(result.noise_mask, masks[1:3])
    assert torch.equal(result.original_samples, latent.original_samples[1:3])
    # Past the end: the last latent; a length past the end takes what there is.
    assert torch.equal(take(latent=latent, batch_index=9, length=1).samples, latent.samples[3:])
    assert take(latent=latent, batch_index=2, length=10).batch_size == 2
    # A mask shorter than the batch is cycled first (ComfyUI's way): latent 3 has mask 1.
    two = _latent(_numbered(4, 4, 2, 2), noise_mask=masks[:2])
    assert torch.equal(take(latent=two, batch_index=3, length=1).noise_mask, masks[1:2])
    # One mask for all stays one mask.
    shared = _latent(_numbered(4, 4, 2, 2), noise_mask=masks[:1])
    assert torch.equal(take(latent=shared, batch_index=2, length=1).noise_mask, masks[:1])


# -- Pad Image for Outpainting (ImagePadForOutpaint) -------------------------------------------


def test_pad_for_outpaint_sizes_grey_fill_and_mask(node):
    pad = node("image.pad_for_outpaint").function
    image = np.zeros((2, 20, 30, 3), np.float32)
    image[..., 0] = 0.9
    padded, mask = pad(image=image, left=8, top=0, right=0, bottom=4, feathering=5)
    assert padded.shape == (2, 24, 38, 3) and mask.shape == (1, 24, 38)
    assert padded.dtype == np.float32 and mask.dtype == np.float32
    np.testing.assert_array_equal(padded[:, :20, 8:], image)  # the picture, where it was
    assert np.all(padded[:, :, :8] == 0.5) and np.all(padded[:, 20:] == 0.5)  # grey
    assert np.all(mask[0, :, :8] == 1.0) and np.all(mask[0, 20:] == 1.0)  # the new area
    inside = mask[0, :20, 8:]
    # ComfyUI's quadratic feather ((f - d) / f)² over f = 5 pixels: from the padded left
    # side d = j (the first column 1), from the padded bottom d = 20 - i (the last row 16/25).
    assert inside[10, :6].tolist() == pytest.approx([1.0, 0.64, 0.36, 0.16, 0.04, 0.0])
    assert inside[15:, 20].tolist() == pytest.approx([0.0, 0.04, 0.16, 0.36, 0.64])
    assert inside[19, 1] == pytest.approx(0.64)  # the nearer side decides
    # The top and right sides were not padded: nothing fades there.
    assert np.all(inside[:15, 5:] == 0.0)


def test_pad_for_outpaint_does_not_feather_a_picture_too_small_for_it(node):
    pad = node("image.pad_for_outpaint").function
    image = np.full((1, 10, 40, 3), 0.2, np.float32)
    _, mask = pad(image=image, left=8, top=8, right=8, bottom=8, feathering=5)
    # ComfyUI feathers only when 2 * feathering is below both sides (10 is not above 10).
    assert np.all(mask[0, 8:18, 8:48] == 0.0) and mask[0].sum() == 26 * 56 - 10 * 40
    _, plain = pad(image=image, left=0, top=0, right=0, bottom=0, feathering=0)
    assert plain.shape == (1, 10, 40) and not plain.any()


# -- Scale Image to Total Pixels (ImageScaleToTotalPixels) -------------------------------------


def test_scale_to_total_pixels_gives_comfyuis_size(node, rectangle):
    scale = node("image.scale_to_total_pixels").function
    image = rectangle(200, 100, box=(50, 25, 150, 75))
    # 0.02 MP = int(0.02 * 1024²) = 20971 px: both sides × sqrt(20971 / 20000) = 1.02399,
    # 204.797 x 102.399 → 205 x 102; in steps of 8: 25.6 → 26, 12.8 → 13 steps.
    assert scale(image=image, method="bilinear", megapixels=0.02).shape == (1, 102, 205, 3)
    assert scale(image=image, method="bilinear", megapixels=0.02,
                 resolution_steps=8).shape == (1, 104, 208, 3)
    one = scale(image=image, method="area", megapixels=1.0)
    assert abs(one.shape[1] * one.shape[2] - 1024 * 1024) < 1024  # about a megapixel
    assert one.shape[2] / one.shape[1] == pytest.approx(2.0, rel=1e-3)


# -- Load Image as Mask (LoadImageMask) --------------------------------------------------------


def test_load_image_mask_inverts_alpha_and_reads_colour_channels(node, ctx, folders):
    picture = np.zeros((6, 8, 4), np.uint8)
    picture[..., 0] = 255  # red everywhere
    picture[:, :4, 1] = 51  # some green on the left
    picture[..., 3] = 255
    picture[2:4, 2:6, 3] = 0  # a transparent hole
    picture[0, 0, 3] = 102  # and a half transparent pixel
    Image.fromarray(picture, "RGBA").save(folders.input / "hole.png")
    load = node("mask.load").function
    alpha = load(image="hole.png", channel="alpha", ctx=ctx)
    assert alpha.shape == (1, 6, 8) and alpha.dtype == np.float32
    expected = np.zeros((6, 8), np.float32)
    expected[2:4, 2:6] = 1.0
    expected[0, 0] = 1 - 102 / 255
    np.testing.assert_allclose(alpha[0], expected, atol=1e-6)  # 1 - alpha, as ComfyUI
    assert np.all(load(image="hole.png", channel="red", ctx=ctx) == 1.0)
    green = load(image="hole.png", channel="green", ctx=ctx)[0]
    assert np.allclose(green[:, :4], 0.2) and np.all(green[:, 4:] == 0.0)
    assert not load(image="hole.png", channel="blue", ctx=ctx).any()
    # Without transparency there is nothing to paint.
    Image.fromarray(picture[..., :3], "RGB").save(folders.input / "opaque.png")
    assert not load(image="opaque.png", channel="alpha", ctx=ctx).any()
    with pytest.raises(NodeError, match="not found"):
        load(image="missing.png", channel="alpha", ctx=ctx)


# -- bislerp (comfy/utils.py) ------------------------------------------------------------------


def _reference_bislerp(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """ComfyUI's bislerp re-stated cell by cell in plain Python: the source position of target
    cell i is (i + 0.5) · old / new − 0.5, clamped to the first and last cells; the two cells
    around it are blended by slerp at the fraction between them; widths first, then heights."""

    def blend(a: list[float], b: list[float], r: float) -> list[float]:
        norm_a, norm_b = math.hypot(*a), math.hypot(*b)
        unit_a = [v / norm_a for v in a] if norm_a else [0.0] * len(a)
        unit_b = [v / norm_b for v in b] if norm_b else [0.0] * len(b)
        dot = sum(x * y for x, y in zip(unit_a, unit_b, strict=True))
        if dot > 1 - 1e-5:
            return list(a)
        if dot < 1e-5 - 1:
            return [x * (1 - r) + y * r for x, y in zip(a, b, strict=True)]
        omega = math.acos(dot)
        length = norm_a * (1 - r) + norm_b * r
        return [(math.sin((1 - r) * omega) * x + math.sin(r * omega) * y) / math.sin(omega)
                * length for x, y in zip(unit_a, unit_b, strict=True)]

    def positions(old: int, new: int) -> list[tuple[int, int, float]]:
        found = []
        for index in range(new):
            source = min(max((index + 0.5) * old / new - 0.5, 0.0), old - 1.0)
            first = math.floor(source)
            found.append((first, min(first + 1, old - 1), source - first))
        return found

    batch, channels, rows, columns = samples.shape
    cells = samples.tolist()
    wide = [[[blend([cells[n][c][y][a] for c in range(channels)],
                    [cells[n][c][y][b] for c in range(channels)], r)
              for a, b, r in positions(columns, width)] for y in range(rows)]
            for n in range(batch)]
    tall = [[[blend(wide[n][a][x], wide[n][b][x], r) for x in range(width)]
             for a, b, r in positions(rows, height)] for n in range(batch)]
    return torch.tensor(tall).permute(0, 3, 1, 2)  # [B, H, W, C] → [B, C, H, W]


def test_slerp_between_unit_vectors_and_lengths_in_between():
    first, second = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    middle = slerp(first, second, torch.tensor([[0.5]]))
    # Half way along the quarter circle: (cos 45°, sin 45°).
    torch.testing.assert_close(middle, torch.tensor([[math.sqrt(0.5), math.sqrt(0.5)]]))
    # Lengths 1 and 3: the direction turns by r · 90°, the length goes linearly 1 → 3.
    third = slerp(first, 3 * second, torch.tensor([[1 / 3]]))
    angle, length = math.radians(30), 1 + (3 - 1) / 3
    torch.testing.assert_close(third, torch.tensor([[length * math.cos(angle),
                                                     length * math.sin(angle)]]))
    # Same direction: the first vector as it is; opposite ones: the straight line.
    same = slerp(torch.tensor([[2.0, 0.0]]), torch.tensor([[5.0, 0.0]]), torch.tensor([[0.5]]))
    assert same.tolist() == [[2.0, 0.0]]
    opposite = slerp(torch.tensor([[1.0, 0.0]]), torch.tensor([[-3.0, 0.0]]),
                     torch.tensor([[0.5]]))
    assert opposite.tolist() == [[-1.0, 0.0]]


def test_bislerp_is_the_identity_at_scale_one():
    samples = torch.randn(2, 4, 5, 6, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(bislerp(samples, 6, 5), samples, atol=1e-6, rtol=1e-6)


def test_bislerp_on_known_cells():
    # Two cells, (1, 0) and (0, 2), widened to 3: the middle one is half way along the arc,
    # at length (1 + 2) / 2; the outer ones are the cells themselves.
    row = torch.tensor([[[[1.0, 0.0]], [[0.0, 2.0]]]])  # [1, C=2, 1, 2]
    wide = bislerp(row, 3, 1)
    middle = 1.5 * math.sqrt(0.5)
    torch.testing.assert_close(wide[0, :, 0], torch.tensor([[1.0, middle, 0.0],
                                                            [0.0, middle, 2.0]]))
    # To 4: the inner cells sit a quarter from their neighbour (sources 0.25 and 0.75).
    four = bislerp(row, 4, 1)[0, :, 0].T
    for cell, r in ((1, 0.25), (2, 0.75)):
        angle, length = r * math.pi / 2, 1 + r
        torch.testing.assert_close(four[cell], torch.tensor([length * math.cos(angle),
                                                             length * math.sin(angle)]))


@pytest.mark.parametrize(("width", "height"), [(9, 7), (3, 2), (6, 10), (1, 1)])
def test_bislerp_equals_the_published_algorithm(width, height):
    samples = torch.randn(2, 3, 5, 4, generator=torch.Generator().manual_seed(1))
    samples[0, :, 0, 0] = 0.0  # a zero cell has no direction
    samples[1, :, 2, 1] = -samples[1, :, 2, 2]  # opposite neighbours
    torch.testing.assert_close(bislerp(samples, width, height),
                               _reference_bislerp(samples, width, height),
                               atol=1e-5, rtol=1e-5)


def test_upscale_latent_by_bislerp_keeps_the_shape_rules(node):
    upscale = node("diffusion.latent_upscale")
    assert "bislerp" in upscale.input("method").choices
    samples = torch.randn(2, 4, 6, 8, generator=torch.Generator().manual_seed(2))
    latent = _latent(samples.half(), noise_mask=torch.ones(1, 1, 48, 64))
    doubled = upscale.function(latent=latent, method="bislerp", scale_by=2.0, width=0, height=0)
    assert doubled.samples.shape == (2, 4, 12, 16) and doubled.samples.dtype == torch.float16
    assert doubled.scale_factor == 8
    torch.testing.assert_close(doubled.samples.float(),
                               bislerp(samples.half().float(), 16, 12), atol=2e-3, rtol=2e-3)
    # Width in pixels, the other side keeping the aspect ratio (as the other methods).
    sized = upscale.function(latent=latent, method="bislerp", scale_by=1.0, width=96, height=0)
    same = upscale.function(latent=latent, method="bilinear", scale_by=1.0, width=96, height=0)
    assert sized.samples.shape == same.samples.shape == (2, 4, 9, 12)
    # Bislerp keeps the cells' strength where a straight blend of vectors pointing apart
    # shrinks it.
    assert sized.samples.float().norm(dim=1).mean() > same.samples.float().norm(dim=1).mean()


def test_batch_places_are_tracked_as_comfyuis_batch_index(node):
    take = node("diffusion.latent_from_batch").function
    repeat = node("diffusion.latent_repeat_batch").function
    four = _latent(_numbered(4, 4, 2, 2))
    assert four.batch_index is None  # a whole batch needs none
    picked = take(latent=four, batch_index=1, length=2)
    assert picked.batch_index == (1, 2)
    # Taken again from the taken: the places in the first batch.
    assert take(latent=picked, batch_index=1, length=1).batch_index == (2,)
    # Repeated: each copy continues past the batch's own places (ComfyUI's offsets).
    assert repeat(latent=picked, amount=3).batch_index == (1, 2, 3, 4, 5, 6)
    assert repeat(latent=four, amount=2).batch_index is None
