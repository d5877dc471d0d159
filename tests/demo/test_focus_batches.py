"""The UNet stage's --shape-focus batches: the focused part follows --focus-shapes' weights,
names the shape in every focused caption, and repeats for the same (seed, step)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from nodestudio.demo import world
from tools.demo_model import data
from tools.demo_model.train import focus_counts, latent_batch, parse_args, parse_focus_shapes


def _cache(count: int = 600) -> data.LatentCache:
    rng = random.Random(3)
    scenes = [world.sample_scene(rng) for _ in range(count)]
    return data.LatentCache(
        latents=np.zeros((count, 4, 2, 2), dtype=np.float16),
        attributes=world.scenes_to_arrays(scenes),
        edges=np.zeros((count, 4, 4), dtype=np.uint8),
        scaling_factor=1.0,
    )


def test_focus_counts_split_by_weight() -> None:
    square, circle = world.SHAPES.index("square"), world.SHAPES.index("circle")
    assert focus_counts({square: 2, circle: 1}, 24) == {square: 16, circle: 8}
    assert sum(focus_counts({square: 1, circle: 1}, 25).values()) == 25
    assert parse_focus_shapes("square:2,circle") == {square: 2.0, circle: 1.0}
    with pytest.raises(SystemExit, match="unknown shape 'hexagon'"):
        parse_focus_shapes("hexagon:1")


def test_focused_batch_follows_the_weights_and_names_the_shape() -> None:
    cache = _cache()
    args = parse_args(["--stage", "unet", "--batch", "40", "--shape-focus", "0.5",
                       "--focus-shapes", "square:3,circle:1"])
    indices, latents, captions = latent_batch(cache, args, step=5, empty_probability=0.0)
    shapes = [world.SHAPES[int(cache.attributes["shape"][i])] for i in indices]
    assert len(indices) == len(set(indices.tolist())) == 40 and latents.shape[0] == 40
    # 15 focused squares and 5 focused circles, plus whatever the uniform part drew.
    assert shapes.count("square") >= 15 and shapes.count("circle") >= 5
    named = [world.parse_caption(text).get("shape") for text in captions]
    assert sum(name == "square" for name in named) >= 15
    again = latent_batch(cache, args, step=5, empty_probability=0.0)
    assert np.array_equal(indices, again[0]) and captions == again[2]
    assert not np.array_equal(indices, latent_batch(cache, args, 6, 0.0)[0])
