"""The UNet training stage on a small random latent cache: it saves CPU checkpoints, and a run
stopped and resumed ends with exactly the weights of an uninterrupted one (the resumable
state docs/DEMO_MODEL.md promises; --device cuda uses the same path on a GPU)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from nodestudio.demo import world
from tools.demo_model import data
from tools.demo_model.train import main

pytestmark = pytest.mark.slow  # a few seconds: three short runs of the real demo UNet


def _write_cache(folder: Path, count: int = 48) -> None:
    rng = random.Random(5)
    scenes = [world.sample_scene(rng) for _ in range(count)]
    latents = np.random.default_rng(5).standard_normal((count, 4, 16, 16)).astype(np.float16)
    data.LatentCache(latents=latents, attributes=world.scenes_to_arrays(scenes),
                     edges=np.zeros((count, 64, 64), dtype=np.uint8),
                     scaling_factor=1.0).save(folder / "latents")


def _run(state_dir: Path, resume: bool, stop_after: int | None = None) -> dict:
    stop = ["--stop-after", str(stop_after)] if stop_after else []
    main(stop + ["--stage", "unet", "--state-dir", str(state_dir), "--steps", "3",
          "--batch", "4", "--lr", "1e-3", "--shape-focus", "0.5", "--focus-shapes",
          "square:2,circle:1", "--word-probe", "0.1", "--high-noise-fraction", "0.4",
          "--device", "cpu", "--log-every", "1"] + (["--resume"] if resume else []))
    return torch.load(state_dir / "unet.pt", map_location="cpu", weights_only=False)


def test_a_resumed_unet_run_ends_where_an_uninterrupted_one_does(tmp_path: Path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    for folder in (whole, split):
        _write_cache(folder)
    uninterrupted = _run(whole, resume=False)
    first = _run(split, resume=False, stop_after=2)
    assert first["step"] == 2 and not first["finished"]
    resumed = _run(split, resume=True)
    assert resumed["step"] == 3 and resumed["finished"]
    for part in ("ema_unet", "ema_text_encoder", "word_probe"):
        for name, tensor in uninterrupted[part].items():
            assert tensor.device.type == "cpu"
            torch.testing.assert_close(resumed[part][name], tensor, rtol=0, atol=0,
                                       msg=f"{part}.{name}")
    # It trained: the averaged UNet moved away from its initial weights.
    assert any(not torch.equal(first["ema_unet"][name], tensor)
               for name, tensor in uninterrupted["ema_unet"].items())
