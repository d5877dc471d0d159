"""Resizing, cropping, blending and channel nodes on images; the mask nodes."""

from __future__ import annotations

import numpy as np
import pytest

from nodestudio.api import NodeError


def _checker() -> np.ndarray:
    """A [1, 2, 2, 3] image: white top-left and bottom-right, black elsewhere."""
    image = np.zeros((1, 2, 2, 3), np.float32)
    image[0, 0, 0] = image[0, 1, 1] = 1.0
    return image


def test_resize_nearest_makes_blocks_and_keeps_values(node):
    resized = node("image.resize").function(image=_checker(), width=4, height=4,
                                            keep_proportion=False, method="nearest")
    assert resized.shape == (1, 4, 4, 3) and resized.dtype == np.float32
    assert np.all(resized[0, :2, :2] == 1.0) and np.all(resized[0, :2, 2:] == 0.0)
    assert np.all(resized[0, 2:, 2:] == 1.0)


def test_area_shrink_averages_and_lanczos_stays_in_range(node, rectangle):
    image = rectangle(64, 48)
    shrunk = node("image.resize").function(image=_checker(), width=1, height=1,
                                           keep_proportion=False, method="area")
    np.testing.assert_allclose(shrunk[0, 0, 0], [0.5, 0.5, 0.5], atol=1e-6)
    sharp = node("image.resize").function(image=image, width=150, height=110,
                                          keep_proportion=False, method="lanczos")
    assert sharp.min() >= 0.0 and sharp.max() <= 1.0  # no overshoot past black or white


@pytest.mark.parametrize(("width", "height", "keep", "expected"), [
    (32, 0, False, (32, 24)),   # height follows the width's scale
    (0, 96, False, (128, 96)),
    (100, 100, True, (100, 75)),  # fits inside, proportion kept
    (100, 100, False, (100, 100)),  # stretched
])
def test_resize_sizes(node, rectangle, width, height, keep, expected):
    resized = node("image.resize").function(image=rectangle(64, 48), width=width, height=height,
                                            keep_proportion=keep, method="bilinear")
    assert resized.shape[1:3] == (expected[1], expected[0])


def test_resize_with_center_crop_fills_the_size_and_cuts_the_sides_evenly(node):
    # 6 x 2 columns of distinct greys; to 2 x 2: the middle 2 columns survive, unstretched.
    image = np.repeat(np.linspace(0.0, 1.0, 6, dtype=np.float32)[None, None, :, None],
                      2, axis=1).repeat(3, axis=3)
    resize = node("image.resize").function
    cropped = resize(image=image, width=2, height=2, keep_proportion=False, method="nearest",
                     crop="center")
    np.testing.assert_array_equal(cropped, image[:, :, 2:4])
    # Taller than wide: rows cut top and bottom; then scaled up to fill 4 x 4.
    tall = np.transpose(image, (0, 2, 1, 3))
    filled = resize(image=tall, width=4, height=4, keep_proportion=True, method="nearest",
                    crop="center")
    np.testing.assert_array_equal(filled, np.repeat(np.repeat(tall[:, 2:4], 2, 1), 2, 2))
    # Without cropping the same request stretches (or fits, with keep proportion).
    stretched = resize(image=image, width=2, height=2, keep_proportion=False, method="nearest")
    np.testing.assert_array_equal(stretched[0, 0, :, 0], image[0, 0, [1, 4], 0])
    # One side 0: proportions are kept anyway, nothing to crop.
    assert resize(image=image, width=3, height=0, keep_proportion=False, method="nearest",
                  crop="center").shape == (1, 1, 3, 3)


def test_resize_needs_a_side(node, rectangle):
    with pytest.raises(NodeError, match="width or a height"):
        node("image.resize").function(image=rectangle(), width=0, height=0,
                                      keep_proportion=False, method="bilinear")


def test_scale_by(node, rectangle):
    scaled = node("image.scale_by").function(image=rectangle(64, 48), scale=0.5, method="area")
    assert scaled.shape == (1, 24, 32, 3)
    # The rectangle (x 16-48, y 12-36) is now at x 8-24, y 6-18.
    assert np.all(scaled[0, 6:18, 8:24] == pytest.approx(1.0))
    assert np.all(scaled[0, :6] == 0.0)


def test_crop_takes_the_rectangle_and_trims_at_the_border(node, rectangle):
    image = rectangle(64, 48)
    crop = node("image.crop").function
    inside = crop(image=image, x=16, y=12, width=32, height=24)
    assert inside.shape == (1, 24, 32, 3) and np.all(inside == 1.0)
    trimmed = crop(image=image, x=40, y=40, width=100, height=100)
    assert trimmed.shape == (1, 8, 24, 3)
    with pytest.raises(NodeError, match="outside the 64x48 image"):
        crop(image=image, x=64, y=0, width=8, height=8)


@pytest.mark.parametrize(("mode", "expected"), [
    ("normal", 0.8), ("multiply", 0.16), ("screen", 0.84), ("overlay", 0.32),
    ("difference", 0.6), ("add", 1.0), ("lighten", 0.8), ("darken", 0.2),
])
def test_blend_modes_at_full_factor(node, mode, expected):
    base = np.full((1, 2, 2, 3), 0.2, np.float32)
    layer = np.full((1, 2, 2, 3), 0.8, np.float32)
    blended = node("image.blend").function(image=base, layer=layer, factor=1.0, mode=mode)
    np.testing.assert_allclose(blended, expected, atol=1e-6)


def test_blend_factor_and_differently_sized_layer(node):
    base = np.zeros((1, 4, 4, 3), np.float32)
    layer = np.ones((1, 2, 2, 3), np.float32)
    blended = node("image.blend").function(image=base, layer=layer, factor=0.25, mode="normal")
    assert blended.shape == (1, 4, 4, 3)
    np.testing.assert_allclose(blended, 0.25, atol=1e-6)
    with pytest.raises(NodeError, match="batch sizes 2 and 3"):
        node("image.blend").function(image=np.zeros((2, 4, 4, 3), np.float32),
                                     layer=np.ones((3, 4, 4, 3), np.float32), factor=0.5,
                                     mode="normal")


def test_invert_and_channel_to_mask(node):
    image = np.zeros((1, 1, 2, 3), np.float32)
    image[0, 0, 0] = [1.0, 0.5, 0.0]
    image[0, 0, 1] = [0.0, 0.0, 1.0]
    np.testing.assert_allclose(node("image.invert").function(image=image)[0, 0, 0], [0, 0.5, 1])
    to_mask = node("image.to_mask").function
    assert to_mask(image=image, channel="red").tolist() == [[[1.0, 0.0]]]
    assert to_mask(image=image, channel="blue").tolist() == [[[0.0, 1.0]]]
    luminance = to_mask(image=image, channel="luminance")
    np.testing.assert_allclose(luminance, [[[0.299 + 0.587 / 2, 0.114]]], atol=1e-6)


def test_wrong_shapes_are_clear_errors(node):
    with pytest.raises(NodeError, match=r"image batch shaped \[batch, height, width, 3\]"):
        node("image.invert").function(image=np.zeros((2, 2), np.float32))
    with pytest.raises(NodeError, match="mask batch"):
        node("mask.invert").function(mask=np.zeros((1, 2, 2, 3, 1), np.float32))


# -- masks -------------------------------------------------------------------------------------


@pytest.mark.parametrize("colour", ["#ff8800", "#F80", "255, 136, 0", "255 136 0"])
def test_mask_from_colour_with_tolerance(node, colour):
    image = np.zeros((1, 1, 3, 3), np.float32)
    image[0, 0, 0] = np.array([255, 136, 0]) / 255
    image[0, 0, 1] = np.array([250, 130, 6]) / 255  # within 6 of the colour in each channel
    image[0, 0, 2] = np.array([255, 100, 0]) / 255
    from_colour = node("mask.from_color").function
    assert from_colour(image=image, color=colour, tolerance=0).tolist() == [[[1.0, 0.0, 0.0]]]
    assert from_colour(image=image, color=colour, tolerance=6).tolist() == [[[1.0, 1.0, 0.0]]]


def test_mask_from_colour_rejects_unreadable_colours(node):
    with pytest.raises(NodeError, match="#rrggbb"):
        node("mask.from_color").function(image=np.zeros((1, 1, 1, 3), np.float32),
                                         color="orange-ish", tolerance=0)


def _square_mask() -> np.ndarray:
    mask = np.zeros((1, 21, 21), np.float32)
    mask[0, 8:13, 8:13] = 1.0  # a 5x5 square in the middle
    return mask


def test_grow_and_shrink_by_pixels(node):
    grow = node("mask.grow").function
    grown = grow(mask=_square_mask(), pixels=3)
    assert grown[0, 10, 5] == 1.0 and grown[0, 10, 4] == 0.0  # edge moved out by 3
    assert grown[0, 5, 5] == 0.0  # round corners: the far corner is not reached
    shrunk = grow(mask=_square_mask(), pixels=-2)
    assert shrunk.sum() == 1.0 and shrunk[0, 10, 10] == 1.0
    assert np.array_equal(grow(mask=_square_mask(), pixels=0), _square_mask())


def test_growing_far_stays_round(node):
    dot = np.zeros((1, 81, 81), np.float32)
    dot[0, 40, 40] = 1.0
    grown = node("mask.grow").function(mask=dot, pixels=30)  # in steps of 8 and a rest of 6
    y, x = np.nonzero(grown[0])
    distances = np.hypot(y - 40, x - 40)
    assert grown[0, 40, 10] == 1.0 and grown[0, 40, 9] == 0.0  # exactly 30 along the axes
    assert distances.max() <= 31.5  # and never much beyond 30 in any direction:
    assert grown[0, 40 - 20, 40 - 20] == 1.0  # a diagonal distance of 28.3 is inside
    assert grown[0, 40 - 23, 40 - 23] == 0.0  # and one of 32.5 outside


def test_shrinking_keeps_a_mask_that_touches_the_border(node):
    full = np.ones((1, 6, 6), np.float32)
    assert np.all(node("mask.grow").function(mask=full, pixels=-2) == 1.0)


def test_blur_softens_edges_within_the_radius(node):
    blurred = node("mask.blur").function(mask=_square_mask(), radius=3.0)
    assert 0.0 < blurred[0, 10, 7] < 1.0  # just outside the edge: now partly masked
    assert blurred[0, 10, 2] == pytest.approx(0.0, abs=1e-3)  # beyond the radius: untouched
    assert blurred.sum() == pytest.approx(25.0, rel=1e-3)  # blurring moves, never adds


def test_invert_solid_and_mask_to_image(node):
    inverted = node("mask.invert").function(mask=_square_mask())
    assert inverted[0, 0, 0] == 1.0 and inverted[0, 10, 10] == 0.0
    solid = node("mask.solid").function(value=0.25, width=3, height=2)
    assert solid.shape == (1, 2, 3) and np.all(solid == 0.25)
    shown = node("mask.to_image").function(mask=_square_mask())
    assert shown.shape == (1, 21, 21, 3) and np.all(shown[0, 10, 10] == 1.0)
