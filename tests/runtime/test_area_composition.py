"""Area composition on the tiny SD model: prompts on areas, through masks and for step ranges,
blended per step with ComfyUI's weights (comfy/samplers.py, get_area_and_mult and
calc_cond_uncond_batch: Σ prediction × weight / (1e-37 + Σ weight), edges of an area fading in
over min(8, side // 4) cells, uncovered cells predicting 0)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from nodestudio.api import NodeError
from nodestudio.runtime import composition
from nodestudio.runtime.families.base import (
    ClassifierFreeGuidance,
    DenoiseRequest,
    Geometry,
    NoGuidance,
)
from nodestudio.runtime.types import PromptArea

SIZE = 128  # pixels: a 16 × 16 latent


@pytest.fixture(scope="module")
def prompts(sd_checkpoint, run_node):
    _, clip, _ = sd_checkpoint
    return {text: run_node("diffusion.text_encode", clip=clip, text=text)
            for text in ("a red fox", "a blue bird", "blurry")}


def _request(model, positive, negative=None, cfg=1.0, height=SIZE, width=SIZE):
    guidance = ClassifierFreeGuidance(cfg) if negative is not None else NoGuidance()
    return DenoiseRequest(model=model, positive=positive, negative=negative,
                          geometry=Geometry(1, height, width, height // 8, width // 8),
                          guidance=guidance, cfg=cfg, dtype=torch.float32,
                          device=torch.device("cpu"))


def _plain(model, conditioning, latents, timestep, columns=slice(None), rows=slice(None)):
    """The family's own prediction for one prompt on a crop of the latent."""
    crop = latents[:, :, rows, columns]
    request = _request(model, replace(conditioning, area=None, mask=None, step_range=None),
                       height=crop.shape[2] * 8, width=crop.shape[3] * 8)
    return model.family.denoiser(request)(crop, timestep, 0, 1, crop)


@pytest.fixture(scope="module")
def latents():
    return torch.randn(1, 4, SIZE // 8, SIZE // 8, generator=torch.Generator().manual_seed(3))


T = torch.tensor(500.0)


def test_an_area_changes_only_its_region_and_fades_in_at_its_inner_edge(
        sd_checkpoint, prompts, run_node, latents):
    model = sd_checkpoint[0]
    bird = run_node("diffusion.conditioning_set_area", conditioning=prompts["a blue bird"],
                    width=64, height=SIZE, x=64, y=0, strength=1.0)
    both = run_node("diffusion.conditioning_combine", conditioning_1=prompts["a red fox"],
                    conditioning_2=bird)
    blended = composition.build_denoiser(_request(model, both))(latents, T, 0, 1, latents)

    fox = _plain(model, prompts["a red fox"], latents, T)
    on_area = _plain(model, prompts["a blue bird"], latents, T, columns=slice(8, 16))
    # The right half (columns 8–15); its left edge is inside the image, so it fades in over
    # min(8, 8 // 4) = 2 columns: weights 1/2, 1, then 1.
    weight = torch.ones(8)
    weight[0] = 0.5
    expected = (fox[..., 8:] + on_area * weight) / (1.0 + weight)
    assert torch.equal(blended[..., :8], fox[..., :8])  # outside the area: the fox alone
    torch.testing.assert_close(blended[..., 8:], expected, rtol=1e-6, atol=1e-6)
    assert not torch.allclose(blended[..., 8:], fox[..., 8:])


def test_cells_no_prompt_covers_predict_zero(sd_checkpoint, prompts, run_node, latents):
    model = sd_checkpoint[0]
    bird = run_node("diffusion.conditioning_set_area_percentage",
                    conditioning=prompts["a blue bird"], width=0.5, height=1.0, x=0.5, y=0.0,
                    strength=2.0)
    blended = composition.build_denoiser(_request(model, bird))(latents, T, 0, 1, latents)
    assert not blended[..., :8].any()
    on_area = _plain(model, prompts["a blue bird"], latents, T, columns=slice(8, 16))
    # Alone on its area, a prompt's weight cancels out (2w / 2w), fade or not.
    torch.testing.assert_close(blended[..., 8:], on_area, rtol=1e-6, atol=1e-6)


def test_a_mask_weighs_a_prompt_by_mask_times_strength(sd_checkpoint, prompts, run_node,
                                                         latents):
    model = sd_checkpoint[0]
    mask = np.zeros((1, SIZE, SIZE), dtype=np.float32)
    mask[:, : SIZE // 2] = 1.0  # the top half
    bird = run_node("diffusion.conditioning_set_mask", conditioning=prompts["a blue bird"],
                    mask=mask, strength=0.5, set_cond_area="default")
    both = run_node("diffusion.conditioning_combine", conditioning_1=prompts["a red fox"],
                    conditioning_2=bird)
    blended = composition.build_denoiser(_request(model, both))(latents, T, 0, 1, latents)
    fox = _plain(model, prompts["a red fox"], latents, T)
    whole_bird = _plain(model, prompts["a blue bird"], latents, T)
    torch.testing.assert_close(blended[:, :, :8], (fox[:, :, :8] + 0.5 * whole_bird[:, :, :8])
                               / 1.5, rtol=1e-6, atol=1e-6)
    assert torch.equal(blended[:, :, 8:], fox[:, :, 8:])


def test_mask_bounds_run_the_prompt_on_the_masks_bounding_box(sd_checkpoint, prompts, run_node):
    model = sd_checkpoint[0]
    mask = np.zeros((1, SIZE, SIZE), dtype=np.float32)
    mask[:, 16:48, 24:120] = 1.0  # latent rows 2–5, columns 3–14
    bird = run_node("diffusion.conditioning_set_mask", conditioning=prompts["a blue bird"],
                    mask=mask, strength=1.0, set_cond_area="mask bounds")
    composed = composition.build_denoiser(_request(model, bird))
    (item,) = composed.halves[0]
    # At least 8 cells high (ComfyUI's minimum), 12 wide.
    assert item.crop == composition.Box(8, 12, 2, 3)


def test_step_ranges_switch_prompts_during_the_run(sd_checkpoint, prompts, run_node, latents):
    model = sd_checkpoint[0]
    early = run_node("diffusion.conditioning_set_timestep_range",
                     conditioning=prompts["a red fox"], start=0.0, end=0.5)
    late = run_node("diffusion.conditioning_set_timestep_range",
                    conditioning=prompts["a blue bird"], start=0.5, end=1.0)
    both = run_node("diffusion.conditioning_combine", conditioning_1=early, conditioning_2=late)
    composed = composition.build_denoiser(_request(model, both))
    # Discrete models: the switch is at timestep (1 − 0.5) × 999 = 499.5.
    for timestep, text in ((900.0, "a red fox"), (500.0, "a red fox"), (499.0, "a blue bird"),
                           (20.0, "a blue bird")):
        t = torch.tensor(timestep)
        assert torch.equal(composed(latents, t, 0, 1, latents),
                           _plain(model, prompts[text], latents, t)), timestep
    with pytest.raises(NodeError, match="after end"):
        run_node("diffusion.conditioning_set_timestep_range",
                 conditioning=prompts["a red fox"], start=0.7, end=0.2)


def test_the_negative_gets_a_prompt_on_each_positive_area(sd_checkpoint, prompts, run_node,
                                                           latents):
    model = sd_checkpoint[0]
    bird = run_node("diffusion.conditioning_set_area", conditioning=prompts["a blue bird"],
                    width=64, height=SIZE, x=64, y=0, strength=1.0)
    positive = run_node("diffusion.conditioning_combine", conditioning_1=prompts["a red fox"],
                        conditioning_2=bird)
    composed = composition.build_denoiser(_request(model, positive, prompts["blurry"], cfg=7.0))
    negative_half, positive_half = composed.halves
    assert [item.crop for item in negative_half] == [composition.Box(16, 16, 0, 0),
                                                     composition.Box(16, 8, 0, 8)]
    doubled = torch.cat([latents, latents])
    uncond = composed(doubled, T, 0, 1, latents)[:1]
    whole = _plain(model, prompts["blurry"], latents, T)
    on_area = _plain(model, prompts["blurry"], latents, T, columns=slice(8, 16))
    weight = torch.ones(8)
    weight[0] = 0.5
    torch.testing.assert_close(uncond[..., 8:], (whole[..., 8:] + on_area * weight)
                               / (1.0 + weight), rtol=1e-6, atol=1e-6)
    assert len(positive_half) == 2  # nothing added: the positive has a whole-image prompt


def test_areas_resolve_to_latent_cells_as_comfyui_does():
    assert PromptArea(100, 70, 15, 9).cells(64, 64, 8) == (12, 8, 1, 1)  # pixels floored
    assert PromptArea(0.5, 0.26, 0.25, 0.0, fractional=True).cells(10, 10, 8) == (5, 3, 2, 0)
    assert PromptArea(0.0, 0.01, 0.0, 0.0, fractional=True).cells(10, 10, 8)[:2] == (1, 1)


def test_conditioning_nodes_act_on_every_combined_prompt(sd_checkpoint, prompts, run_node):
    fox, bird = prompts["a red fox"], prompts["a blue bird"]
    both = run_node("diffusion.conditioning_combine", conditioning_1=fox, conditioning_2=bird)
    assert [entry.embeds for entry in both.entries()] == [fox.embeds, bird.embeds]
    zeroed = run_node("diffusion.conditioning_zero_out", conditioning=both)
    assert len(zeroed.entries()) == 2 and not any(e.embeds.any() for e in zeroed.entries())
    area = run_node("diffusion.conditioning_set_area_strength", conditioning=both, strength=0.3)
    assert [entry.strength for entry in area.entries()] == [0.3, 0.3]
    joined = run_node("diffusion.conditioning_concat", conditioning_to=both,
                      conditioning_from=bird)
    assert all(entry.embeds.shape[1] == 2 * fox.embeds.shape[1] for entry in joined.entries())
    assert both.combined_with(both).entries()[3].embeds is bird.embeds


def test_the_sampler_runs_combined_prompts(sd_checkpoint, prompts, run_node, ctx):
    model = sd_checkpoint[0]
    latent = run_node("diffusion.empty_latent", model=model, width=SIZE, height=SIZE)
    bird = run_node("diffusion.conditioning_set_area", conditioning=prompts["a blue bird"],
                    width=64, height=64, x=64, y=64, strength=1.0)
    both = run_node("diffusion.conditioning_combine", conditioning_1=prompts["a red fox"],
                    conditioning_2=bird)

    def sample(positive):
        return run_node("diffusion.sampler", model=model, positive=positive,
                        negative=prompts["blurry"], latent=latent, seed=5, steps=3, cfg=5.0,
                        ctx=ctx).samples

    composed, plain = sample(both), sample(prompts["a red fox"])
    assert torch.equal(composed, sample(both))  # the same seed gives the same latent
    assert composed.shape == plain.shape and not torch.allclose(composed, plain)
    # A strength alone weighs a single prompt against nothing: the pipelines' own result.
    stronger = run_node("diffusion.conditioning_set_area_strength",
                        conditioning=prompts["a red fox"], strength=3.0)
    assert torch.equal(sample(stronger), plain)


def test_a_prompt_whose_area_lies_outside_the_image_is_an_error(sd_checkpoint, prompts,
                                                                run_node):
    bird = run_node("diffusion.conditioning_set_area", conditioning=prompts["a blue bird"],
                    width=64, height=64, x=512, y=0, strength=1.0)
    with pytest.raises(NodeError, match="outside the image"):
        composition.build_denoiser(_request(sd_checkpoint[0], bird))


@pytest.mark.parametrize("kind", ["controlnet", "t2i_adapter"])
def test_controls_act_on_each_prompt_on_its_own_crop(sd_checkpoint, prompts, run_node, ctx,
                                                     tiny_models, tmp_path, kind):
    from nodestudio.runtime.checkpoints import load_controlnet

    if kind == "controlnet":
        path = tiny_models.controlnet(tiny_models.controlnet_folder)
    else:
        from nodestudio.runtime.tiny_t2i import build_tiny_t2i

        adapters = build_tiny_t2i(tmp_path, tiny_models.checkpoint(tiny_models.sd_folder),
                                  tiny_models.checkpoint(tiny_models.sdxl_folder),
                                  tiny_models.controlnet(tiny_models.controlnet_folder))
        path = adapters.path(adapters.full_file)
    control = load_controlnet(path, "cpu")
    model = sd_checkpoint[0]
    hint = np.random.default_rng(1).random((1, SIZE, SIZE, 3)).astype(np.float32)
    bird = run_node("diffusion.conditioning_set_area", conditioning=prompts["a blue bird"],
                    width=64, height=64, x=64, y=64, strength=1.0)
    both = run_node("diffusion.conditioning_combine", conditioning_1=prompts["a red fox"],
                    conditioning_2=bird)
    positive, negative = run_node("diffusion.apply_controlnet", positive=both,
                                  negative=prompts["blurry"], control_net=control, image=hint,
                                  strength=1.0, start_percent=0.0, end_percent=1.0)
    assert all(entry.controls for entry in positive.entries())
    latent = run_node("diffusion.empty_latent", model=model, width=SIZE, height=SIZE)

    def sample(positive, negative):
        return run_node("diffusion.sampler", model=model, positive=positive, negative=negative,
                        latent=latent, seed=5, steps=2, cfg=5.0, ctx=ctx).samples

    controlled, plain = sample(positive, negative), sample(both, prompts["blurry"])
    assert controlled.shape == plain.shape and torch.isfinite(controlled).all()
    assert not torch.allclose(controlled, plain)
