"""The shipped demo model draws what the prompt and the control edges ask, measured classically.

Prompts name held-out pairs (colour+shape, colour+position) that no training caption named
together. Floors sit a little under the figures measured when the model was trained (see
docs/DEMO_MODEL.md); generation only, nothing here trains.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nodestudio.demo import evaluate, metrics, world
from nodestudio.demo.export import CHECKPOINT_NAME, CONTROLNET_NAME
from nodestudio.paths import demo_models_dir

MODELS = demo_models_dir()
SEEDS = 24  # images per check, generated in one batch
SETTINGS = evaluate.Settings(steps=20, guidance=5.0, batch=SEEDS)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline() -> Any:
    if not (MODELS / CHECKPOINT_NAME / "model_index.json").exists():
        pytest.fail(f"the demo model is missing: {MODELS / CHECKPOINT_NAME}")
    return evaluate.load_pipeline(MODELS)


def test_shipped_folders_are_small_offline_safetensors() -> None:
    files = [path for path in MODELS.rglob("*") if path.is_file()]
    assert sum(path.stat().st_size for path in files) <= 30 * 1024 * 1024
    weights = [path for path in files if path.suffix in {".bin", ".safetensors", ".pt", ".ckpt"}]
    assert weights and all(path.suffix == ".safetensors" for path in weights)
    index = json.loads((MODELS / CHECKPOINT_NAME / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    assert index["safety_checker"] == [None, None]
    assert index["requires_safety_checker"] is False
    assert (MODELS / CONTROLNET_NAME / "config.json").exists()


def test_text_encoder_positions_match_the_tokenizer(pipeline: Any) -> None:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # loaded without the hub
    assert (pipeline.text_encoder.config.max_position_embeddings
            == pipeline.tokenizer.model_max_length)
    assert len(pipeline.tokenizer("a large red circle").input_ids) == 5


def test_same_seed_same_image(pipeline: Any) -> None:
    settings = evaluate.Settings(steps=8, guidance=5.0, batch=2)
    prompt = "a large red circle at the top left on a white background"
    first = evaluate.generate(pipeline, [prompt, prompt], [3, 4], settings)
    again = evaluate.generate(pipeline, [prompt], [3], settings)
    assert np.array_equal(first[0], again[0])
    assert not np.array_equal(first[0], first[1])


def test_held_out_prompts_are_followed(pipeline: Any) -> None:
    adherence, _, _ = evaluate.text_adherence(pipeline, SEEDS, SETTINGS, seed=0)
    summary = adherence.summary()
    assert summary["colour"] >= 0.85, summary
    assert summary["shape"] >= 0.70, summary
    assert summary["position"] >= 0.70, summary
    assert summary["background"] >= 0.85, summary


def test_the_default_prompt_draws_a_red_circle_top_left(pipeline: Any) -> None:
    prompt = "a large red circle at the top left on a white background"
    images = evaluate.generate(pipeline, [prompt] * 8, list(range(8)), SETTINGS)
    readings = [metrics.read_image(image) for image in images]
    expected = world.parse_caption(prompt)
    matches = sum(reading.attributes() == expected for reading in readings)
    assert matches >= 6, [reading.attributes() for reading in readings]


def test_controlnet_follows_the_edges() -> None:
    if not (MODELS / CONTROLNET_NAME / "config.json").exists():
        pytest.fail(f"the demo ControlNet is missing: {MODELS / CONTROLNET_NAME}")
    pipeline = evaluate.load_controlnet_pipeline(MODELS)
    adherence, _, _, _ = evaluate.control_adherence(pipeline, SEEDS, SETTINGS, seed=0)
    summary = adherence.summary()
    assert summary["controlnet_iou"] >= 0.55, summary
    assert summary["colour"] >= 0.85, summary


def test_generation_needs_no_training_state() -> None:
    # The shipped folders are self-contained: nothing refers back to train_state/.
    for config in Path(MODELS).rglob("*.json"):
        assert "train_state" not in config.read_text(), config
