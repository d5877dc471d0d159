"""Outlines anywhere in the frame, in the styles people draw them (issue 19): the held-out
evaluation's scenes and control pictures, and the ControlNet stage's training batches."""

from __future__ import annotations

import argparse
import random
from collections import Counter

import numpy as np
import pytest

from nodestudio.demo import world
from nodestudio.paths import demo_models_dir
from tools.demo_model import control_training, metrics, outlines
from tools.demo_model.evaluate import outline_prompt, outline_scenes


def test_free_scenes_reach_every_third_at_continuous_places_and_sizes() -> None:
    scenes = outline_scenes(300)
    assert set(Counter(scene.position for scene in scenes)) == set(world.POSITIONS)
    centres = {round(scene.centre_x * 64, 1) for scene in scenes}
    assert len(centres) > 150  # not nine grid places with jitter
    radii = [scene.radius * 64 for scene in scenes]
    assert min(radii) < 4.5 and max(radii) > 13.5
    assert {scene.size for scene in scenes} == {"small", "large"}
    for scene in scenes:
        cover = world.coverage(scene)
        # The whole shape fits: nothing on the border, and the words say where it landed.
        assert cover[0].max() == cover[-1].max() == cover[:, 0].max() == cover[:, -1].max() == 0
        near_a_line = min(abs(3 * value - k) for value in (scene.centre_x, scene.centre_y)
                          for k in (1, 2)) < 3 * 1.5 / 64
        if not near_a_line:  # pixel rounding may move a centroid on a third's line across it
            assert metrics.classify_position(cover >= 0.5) == scene.position, scene


def test_evaluation_prompts_never_name_place_or_size() -> None:
    for scene in outline_scenes(50):
        named = world.parse_caption(outline_prompt(scene))
        assert set(named) == {"colour", "shape", "background"}


@pytest.mark.parametrize("style", outlines.STYLES)
def test_each_style_encloses_the_shape_it_was_drawn_from(style: str) -> None:
    scenes = outline_scenes(40, seed=3)
    ious = []
    for index, scene in enumerate(scenes):
        control = outlines.draw(scene, style, random.Random(index))
        assert control.edges.dtype == np.uint8 and control.edges.shape == (64, 64)
        assert control.edges.max() >= 200  # anti-aliased strokes peak a little under 255
        # What the generated object is compared with: the rendered shape read back scores
        # high against it (the measure's ceiling), so a low IoU means the model missed it.
        reading = metrics.read_image(world.render(scene))
        ious.append(metrics.iou(reading.mask, control.region))
        # The outline lies along the region's edge (within the thickest stroke's half width),
        # neither inside it nor anywhere else in the frame.
        import cv2

        region = control.region.astype(np.uint8)
        near = cv2.dilate(region, np.ones((9, 9), np.uint8)) - cv2.erode(
            region, np.ones((9, 9), np.uint8))
        assert not (control.edges[near == 0] > 127).any(), (style, index)
    assert np.mean(ious) >= (0.8 if style == "wobbly" else 0.93), ious
    assert min(ious) >= 0.7, ious


def test_styles_differ_as_named() -> None:
    from dataclasses import replace

    scene = replace(outlines.sample_free_scene(random.Random(5), shape="square"),
                    centre_x=0.5, centre_y=0.5, radius=12 / 64)
    rng = random.Random(0)
    thin, thick, gap, wobbly = (outlines.draw(scene, style, rng) for style in
                                ("thin", "thick", "gap", "wobbly"))
    assert (thick.edges > 127).sum() > 1.5 * (thin.edges > 127).sum()
    # One-pixel wide: no 2×2 block of a thin outline is all ink.
    ink = thin.edges > 127
    assert not (ink[1:, 1:] & ink[:-1, 1:] & ink[1:, :-1] & ink[:-1, :-1]).any()
    # The thin outline is closed: filling its contours covers the region. The gapped one is
    # open (filling gives next to nothing), yet it stands for the same region.
    assert metrics.iou(metrics.control_region(thin.edges), thin.region) > 0.75
    assert metrics.iou(metrics.control_region(gap.edges), gap.region) < 0.5
    assert np.array_equal(gap.region, thin.region)
    assert not np.array_equal(wobbly.region, thin.region)
    assert metrics.iou(wobbly.region, thin.region) > 0.7
    with pytest.raises(ValueError, match="unknown outline style"):
        outlines.draw(scene, "dotted", rng)


def test_training_captions_rarely_tell_the_true_place() -> None:
    rng = random.Random(0)
    told = Counter()
    for _ in range(2000):
        scene = outlines.sample_free_scene(rng)
        text = control_training.control_caption(scene.attributes(), rng)
        if not text:
            told["empty"] += 1
            continue
        named = world.parse_caption(text)
        assert not world.names_held_out_pair(named), text
        position = named.get("position")
        told["none" if position is None else "true" if position == scene.position
             else "wrong"] += 1
    # The control, not the words, must carry the place: most captions omit or contradict it.
    assert told["none"] > 0.4 * 2000 * 0.75
    assert told["wrong"] > 0.15 * 2000 * 0.75
    assert told["true"] < 0.35 * 2000 * 0.75
    assert 0.2 * 2000 < told["empty"] < 0.3 * 2000


def test_training_batches_are_rendered_encoded_and_repeatable() -> None:
    import torch
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(str(demo_models_dir() / "nodestudio-shapes" / "vae"))
    vae.eval().requires_grad_(False)
    args = argparse.Namespace(seed=0, batch=6, free_layout=1.0)
    latents, control, captions = control_training.free_batch(vae, 1.1, args, step=7)
    assert latents.shape == (6, 4, 16, 16) and control.shape == (6, 3, 64, 64)
    assert float(control.min()) >= 0.0 and float(control.max()) >= 0.75
    assert len(captions) == 6
    # Keyed by (seed, step): a resumed run sees the very same batch; another step differs.
    again = control_training.free_batch(vae, 1.1, args, step=7)
    assert torch.equal(latents, again[0]) and torch.equal(control, again[1])
    assert captions == again[2]
    assert not torch.equal(control, control_training.free_batch(vae, 1.1, args, step=8)[1])
    # The latents decode back to an object where the control outline is.
    decoded = vae.decode(latents / 1.1).sample
    pixels = ((decoded.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    for image, edges in zip(pixels, control[:, 0].numpy(), strict=True):
        region = metrics.control_region((edges * 255).astype(np.uint8))
        reading = metrics.read_image(image)
        ys, xs = np.nonzero(reading.mask)
        region_ys, region_xs = np.nonzero(region)
        assert abs(xs.mean() - region_xs.mean()) < 4 and abs(ys.mean() - region_ys.mean()) < 4


def test_controlnet_stage_continues_the_shipped_controlnet_and_resumes(tmp_path) -> None:
    import torch

    from tools.demo_model.export import import_to_state
    from tools.demo_model.train import main

    import_to_state(None, tmp_path)
    shipped = torch.load(tmp_path / "controlnet.pt", weights_only=False)["controlnet"]
    common = ["--stage", "controlnet", "--state-dir", str(tmp_path), "--resume",
              "--free-layout", "0.75", "--batch", "2", "--steps", "3", "--lr", "1e-4"]
    main([*common, "--stop-after", "2"])
    first = torch.load(tmp_path / "controlnet.pt", weights_only=False)
    assert first["step"] == 2 and not first["finished"] and "optimizer" in first
    # It continued the shipped weights (two small steps move them only a little; a fresh
    # ControlNet copied from the UNet would differ everywhere) and trained them.
    moved = [name for name, value in first["controlnet"].items()
             if not torch.equal(value, shipped[name])]
    assert moved
    for name, value in first["controlnet"].items():
        assert (value - shipped[name]).abs().max() < 0.05, name
    main(common)
    second = torch.load(tmp_path / "controlnet.pt", weights_only=False)
    assert second["step"] == 3 and second["finished"]
