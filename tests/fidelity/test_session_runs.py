"""Diffusion graphs in a Session: what re-runs after an edit, and LoRA beside the plain model."""

from __future__ import annotations

import numpy as np
import pytest

import nodestudio
from nodestudio.app.settings import Settings

SEED = 99

# Seconds each on 2 CPU cores (pipelines load, several images per test).
pytestmark = pytest.mark.slow


def test_changing_only_the_seed_reruns_only_the_sampler_and_what_follows(session, chain):
    build = chain.start("tiny-sd", "a windmill", "")
    build.sample(build.empty_latent(32, 32), seed=SEED, steps=2, cfg=4.0)
    first = session.run(build.graph)
    assert {"checkpoint", "sampler", "decode"} <= set(first.executed) | set(first.cached)

    build.graph.set_value("sampler", "seed", SEED + 1)
    second = session.run(build.graph)
    assert sorted(second.executed) == ["decode", "preview", "sampler"]
    image_a = first.outputs["decode"]["image"]
    image_b = second.outputs["decode"]["image"]
    assert np.abs(image_a - image_b).max() > 1e-3

    unchanged = session.run(build.graph)
    assert unchanged.executed == []


def test_lora_branch_beside_the_plain_model(session, chain, tiny_models):
    plain = chain.start("tiny-sd", "a lantern", "")
    plain.sample(plain.empty_latent(32, 32), seed=SEED, steps=2, cfg=4.0)
    alone = session.run(plain.graph).outputs["decode"]["image"]

    both = chain.start("tiny-sd", "a lantern", "")
    latent = both.empty_latent(32, 32)
    both.sample(latent, seed=SEED, steps=2, cfg=4.0)
    both.graph.add_node("diffusion.load_lora", {"lora": tiny_models.lora_file,
                                                "strength_model": 1.0, "strength_clip": 0.0},
                        id="lora")
    both.graph.connect("checkpoint", "model", "lora", "model")
    both.graph.connect("checkpoint", "clip", "lora", "clip")
    both.sample(latent, model=("lora", "model"), suffix="_lora", seed=SEED, steps=2, cfg=4.0)
    # A fresh session, so both branches run on the one UNet the checkpoint node loaded, the
    # LoRA's adapters inside it.
    fresh = nodestudio.Session(device="cpu", models_dir=tiny_models.root,
                               output_dir=session.settings.output_dir,
                               input_dir=session.settings.input_dir, registry=session.registry,
                               settings=Settings())
    result = fresh.run(both.graph)
    assert {"sampler", "sampler_lora", "lora"} <= set(result.executed)
    np.testing.assert_array_equal(result.outputs["decode"]["image"], alone)
    assert np.abs(result.outputs["decode_lora"]["image"] - alone).max() > 0.01

    both.graph.set_value("lora", "strength_model", 0.0)
    restored = fresh.run(both.graph)
    np.testing.assert_array_equal(restored.outputs["decode_lora"]["image"], alone)
