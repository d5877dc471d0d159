"""The demo world: reproducible scenes, exact rendering, captions that respect the held-out set."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from nodestudio.demo import world


def test_same_seed_same_scenes_and_pixels() -> None:
    first = [world.sample_scene(random.Random(7)) for _ in range(3)]
    second = [world.sample_scene(random.Random(7)) for _ in range(3)]
    assert first == second
    assert np.array_equal(world.render(first[0]), world.render(second[0]))


def test_render_shows_the_named_colours_at_the_named_place() -> None:
    scene = world.sample_scene(random.Random(1), colour="blue", background="gray",
                               position="bottom right", shape="square", size="large")
    image = world.render(scene)
    assert image.shape == (world.IMAGE_SIZE, world.IMAGE_SIZE, 3)
    assert image.dtype == np.uint8
    assert tuple(image[0, 0]) == world.BACKGROUNDS["gray"]
    centre = (round(scene.centre_y * world.IMAGE_SIZE), round(scene.centre_x * world.IMAGE_SIZE))
    assert tuple(image[centre]) == world.COLOURS["blue"]
    assert centre[0] > 2 * world.IMAGE_SIZE / 3 and centre[1] > 2 * world.IMAGE_SIZE / 3


def test_edges_are_anti_aliased() -> None:
    scene = world.sample_scene(random.Random(2), shape="circle", colour="red",
                               background="white", size="large")
    image = world.render(scene)
    distinct = {tuple(pixel) for pixel in image.reshape(-1, 3)}
    assert len(distinct) > 10  # in-between shades along the outline, not just two colours


@pytest.mark.parametrize("shape", world.SHAPES)
def test_coverage_matches_the_analytic_area(shape: str) -> None:
    scene = world.sample_scene(random.Random(3), shape=shape, size="large", position="center")
    r = scene.radius * world.IMAGE_SIZE
    expected = {
        "circle": math.pi * r * r,
        "square": (2 * world.SQUARE_HALF_SIDE * r) ** 2,
        "triangle": 3 * math.sqrt(3) / 4 * (world.TRIANGLE_CIRCUMRADIUS * r) ** 2,
    }[shape]
    assert world.coverage(scene).sum() == pytest.approx(expected, rel=0.02)


def test_every_shape_stays_inside_the_image() -> None:
    rng = random.Random(4)
    for _ in range(300):
        scene = world.sample_scene(rng, size="large")
        mask = world.coverage(scene)
        border = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
        assert border.max() < 0.5, scene


def test_full_caption_wording() -> None:
    attributes = {"size": "large", "colour": "red", "shape": "circle",
                  "position": "top left", "background": "white"}
    assert world.caption(attributes) == "a large red circle at the top left on a white background"
    assert world.caption({"colour": "orange", "shape": "circle"}) == "an orange circle"
    assert world.caption({"shape": "circle", "background": "black"}) == (
        "a circle on a black background")
    assert world.caption({"position": "center"}) == "a shape at the center"


def test_unknown_attribute_values_are_refused() -> None:
    with pytest.raises(ValueError, match="not a colour"):
        world.sample_scene(random.Random(0), colour="teal")
    with pytest.raises(ValueError, match="unknown scene attributes"):
        world.caption({"texture": "striped"})


def test_training_captions_never_name_a_held_out_pair_but_use_every_word() -> None:
    rng = random.Random(5)
    captions = set()
    for _ in range(4000):
        scene = world.sample_scene(rng)
        text = world.training_caption(scene.attributes(), rng)
        captions.add(text)
        named = world.parse_caption(text)
        assert not world.names_held_out_pair(named), text
        # Whatever the caption names is true of the scene.
        assert named.items() <= scene.attributes().items(), text
    words = {word for text in captions for word in text.split()}
    assert words == set(world.CAPTION_WORDS)
    # Short captions as well as full ones.
    assert "a red circle" in captions
    assert any(len(world.parse_caption(text)) == len(world.ATTRIBUTES) for text in captions)


def test_parse_caption_inverts_caption() -> None:
    rng = random.Random(9)
    for _ in range(50):
        attributes = world.sample_scene(rng).attributes()
        assert world.parse_caption(world.caption(attributes)) == attributes
    assert world.parse_caption("a shape at the top") == {"position": "top"}
    with pytest.raises(ValueError, match="not a caption"):
        world.parse_caption("a red circle and a blue square")


def test_held_out_scenes_still_appear_with_a_partial_caption() -> None:
    rng = random.Random(6)
    scene = world.sample_scene(rng, colour="green", shape="triangle")
    captions = {world.training_caption(scene.attributes(), rng) for _ in range(200)}
    assert any("green" in text for text in captions)
    assert any("triangle" in text for text in captions)


def test_training_caption_can_always_name_the_shape_and_still_hides_held_out_pairs() -> None:
    rng = random.Random(8)
    for _ in range(500):
        scene = world.sample_scene(rng)
        named = world.parse_caption(
            world.training_caption(scene.attributes(), rng, always=("shape",)))
        assert named["shape"] == scene.shape
        assert not world.names_held_out_pair(named)
    # A purple square keeps "square" and loses "purple".
    square = world.sample_scene(rng, colour="purple", shape="square")
    for _ in range(50):
        named = world.parse_caption(
            world.training_caption(square.attributes(), rng, always=("shape",)))
        assert named["shape"] == "square" and "colour" not in named


def test_held_out_prompts_name_the_held_out_pairs() -> None:
    prompts = world.held_out_prompts(12, seed=1)
    assert len(prompts) == 12
    for text, scene in prompts:
        assert text == world.caption(scene.attributes())
        assert world.names_held_out_pair(scene.attributes())


def test_canny_edges_outline_every_colour_on_every_background() -> None:
    rng = random.Random(8)
    for colour in world.COLOURS:
        for background in world.BACKGROUNDS:
            scene = world.sample_scene(rng, colour=colour, background=background, size="small")
            edges = world.canny_edges(world.render(scene))
            assert edges.dtype == np.uint8
            assert (edges > 0).sum() > 15, (colour, background)
