"""The classical metrics read rendered ground truth correctly, and see nothing in blank images."""

from __future__ import annotations

import random

import numpy as np
import pytest

from nodestudio.demo import world
from tools.demo_model import metrics


def test_ground_truth_is_read_back_exactly() -> None:
    rng = random.Random(11)
    adherence = metrics.Adherence()
    for _ in range(240):
        scene = world.sample_scene(rng)
        adherence.add(metrics.read_image(world.render(scene)), scene.attributes())
    assert adherence.summary() == {name: 1.0 for name in sorted(world.ATTRIBUTES)}


@pytest.mark.parametrize("shape", world.SHAPES)
def test_small_shapes_are_told_apart(shape: str) -> None:
    rng = random.Random(12)
    for colour in world.COLOURS:
        scene = world.sample_scene(rng, shape=shape, size="small", colour=colour)
        reading = metrics.read_image(world.render(scene))
        assert reading.shape == shape, reading.shape_scores


def test_float_images_are_accepted() -> None:
    scene = world.sample_scene(random.Random(13))
    image = world.render(scene).astype(np.float32) / 255.0
    assert metrics.read_image(image).attributes() == scene.attributes()


def test_blank_image_has_no_object() -> None:
    reading = metrics.read_image(np.full((64, 64, 3), 128, np.uint8))
    assert reading.background == "gray"
    assert reading.area == 0
    assert reading.colour is None and reading.shape is None and reading.position is None


def test_noise_is_not_an_object() -> None:
    rng = np.random.default_rng(0)
    image = np.clip(255 + rng.normal(0, 8, (64, 64, 3)), 0, 255).astype(np.uint8)
    assert metrics.read_image(image).shape is None


def test_control_region_matches_the_rendered_shape() -> None:
    rng = random.Random(14)
    ious = []
    for _ in range(100):
        scene = world.sample_scene(rng)
        region = metrics.control_region(world.canny_edges(world.render(scene)))
        ious.append(metrics.iou(region, world.coverage(scene) >= 0.5))
    # The ceiling a perfect ControlNet could reach against this measure.
    assert np.mean(ious) > 0.8
    assert min(ious) > 0.6


def test_wrong_answers_count_as_misses() -> None:
    scene = world.sample_scene(random.Random(15), colour="red", shape="circle")
    adherence = metrics.Adherence()
    adherence.add(metrics.read_image(world.render(scene)), {"colour": "blue", "shape": "circle"})
    assert adherence.rate("colour") == 0.0
    assert adherence.rate("shape") == 1.0
    adherence.add(metrics.read_image(world.render(scene)), {"shape": "square"})
    assert adherence.shape_rates() == {"circle": 1.0, "square": 0.0}
