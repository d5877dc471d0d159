"""Staged sampling (KSampler Advanced): start/end steps, add noise, leftover noise.

Two stages — steps 0..k returning the leftover noise, then k..n adding none — are one run cut
in two. For samplers whose step depends only on the current latent and noise level (euler,
heun, dpm_2, ddim) and for dpmpp_sde (its Brownian-tree noise is a fixed function of the seed
and the noise levels) that gives the one-run image. Multistep samplers (dpmpp_2m, lms, deis,
uni_pc …) restart their history in the second stage (its first step is of first order, as in
ComfyUI), and samplers that draw fresh noise each step (ancestral, SDE, ddpm, lcm) draw other
noise there: close pictures, not the same.
"""

from __future__ import annotations

import numpy as np
import pytest

from nodestudio.api import NodeError
from nodestudio.runtime import schedulers, stages
from nodestudio.runtime.families.base import Prediction
from nodestudio.runtime.tiny import SCHEDULER_CONFIG

MAX_PIXEL_DIFFERENCE = 2 / 255  # the fidelity tests' bound
STEPS, CUT = 6, 3


@pytest.fixture(scope="module")
def prompts(sd_checkpoint, run_node):
    _, clip, _ = sd_checkpoint
    return (run_node("diffusion.text_encode", clip=clip, text="a red square"),
            run_node("diffusion.text_encode", clip=clip, text=""))


@pytest.fixture
def sampler_run(run_node, sd_checkpoint, prompts, ctx):
    """``sampler_run(latent=None, **settings)`` → the Sampler's latent (an empty 32 px latent
    by default)."""
    model, _, _ = sd_checkpoint

    def run(latent=None, **settings):
        if latent is None:
            latent = run_node("diffusion.empty_latent", model=model, width=32, height=32)
        values = {"seed": 5, "steps": STEPS, "cfg": 5.0, **settings}
        return run_node("diffusion.sampler", model=model, positive=prompts[0],
                        negative=prompts[1], latent=latent, ctx=ctx, **values)

    return run


@pytest.fixture
def decode(run_node, sd_checkpoint, ctx):
    _, _, vae = sd_checkpoint
    return lambda latent: run_node("diffusion.vae_decode", vae=vae, latent=latent, ctx=ctx)


def _two_stages(sampler_run, first: dict, second: dict | None = None, latent=None):
    handed = sampler_run(latent, end_step=CUT, return_with_leftover_noise=True, **first)
    return sampler_run(handed, start_step=CUT, add_noise=False, **(second or first))


def _max_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max())


@pytest.mark.parametrize(("sampler", "scheduler"), [
    ("euler", "normal"), ("euler", "karras"), ("heun", "normal"), ("dpm_2", "karras"),
    ("dpmpp_sde", "normal"), ("ddim", "normal"), ("ddim", "trailing"),
])
def test_two_stages_give_the_one_run_image(sampler, scheduler, sampler_run, decode):
    settings = {"sampler": sampler, "scheduler": scheduler}
    one = decode(sampler_run(**settings))
    two = decode(_two_stages(sampler_run, settings))
    assert one.std() > 0.01, "a blank image proves nothing"
    assert _max_difference(one, two) <= MAX_PIXEL_DIFFERENCE


@pytest.mark.parametrize("sampler", ["dpmpp_2m", "lms", "uni_pc", "euler_ancestral"])
def test_samplers_with_history_or_fresh_noise_continue_the_picture(sampler, sampler_run,
                                                                   decode):
    settings = {"sampler": sampler, "scheduler": "karras" if sampler != "euler_ancestral"
                else "normal"}
    one = decode(sampler_run(**settings))
    two = decode(_two_stages(sampler_run, settings))
    other_seed = decode(sampler_run(**settings, seed=6))
    assert _max_difference(one, two) > 1e-4  # the second stage restarts (see the docstring)
    assert np.abs(one - two).mean() < np.abs(one - other_seed).mean() / 4


@pytest.mark.parametrize(("first", "second"), [("euler", "ddim"), ("ddim", "euler")])
def test_a_stage_can_be_continued_with_another_sampler(first, second, sampler_run, decode):
    # DDIM (eta 0) is Euler's method in the √ᾱ scaling of the same noise levels, so a hand-over
    # between the two scalings done right gives the second sampler's one-run image.
    two = decode(_two_stages(sampler_run, {"sampler": first}, {"sampler": second}))
    assert _max_difference(two, decode(sampler_run(sampler=second))) <= MAX_PIXEL_DIFFERENCE


def test_inpainting_in_two_stages_keeps_the_unmasked_area_and_the_mask(
        run_node, sd_checkpoint, sampler_run, decode):
    _, _, vae = sd_checkpoint
    rng = np.random.default_rng(3)
    picture = rng.random((1, 32, 32, 3)).astype(np.float32)
    mask = np.zeros((1, 32, 32), np.float32)
    mask[:, 8:24, 4:20] = 1.0
    encoded = run_node("diffusion.vae_encode", vae=vae, image=picture)
    masked = run_node("diffusion.set_latent_mask", latent=encoded, mask=mask)

    one = sampler_run(masked, denoise=0.8)
    two = _two_stages(sampler_run, {"denoise": 0.8}, latent=masked)
    assert two.noise_mask is not None  # the mask travels on, as in ComfyUI
    assert _max_difference(decode(one), decode(two)) <= MAX_PIXEL_DIFFERENCE
    outside = (mask[0, ::8, ::8] == 0)  # latent cells of the untouched area
    kept = (two.samples - encoded.samples).abs().amax(dim=1)[0].numpy()
    assert kept[outside].max() < 1e-5 and kept[~outside].max() > 1e-2


def test_stage_results_do_not_depend_on_the_samplers_scaling(sampler_run):
    # Euler samples x0 + σ·ε, DDIM √ᾱ·x0 + √(1-ᾱ)·ε; with the same noise levels they take the
    # same steps. So both hand over the same leftover-noise latent (in σ scaling), and both
    # finish early on the same clean estimate.
    for settings in ({"return_with_leftover_noise": True}, {}):
        euler = sampler_run(sampler="euler", end_step=CUT, **settings).samples
        ddim = sampler_run(sampler="ddim", end_step=CUT, **settings).samples
        assert float((euler - ddim).abs().max()) < 1e-3 * float(euler.abs().max())
    noisy = sampler_run(end_step=CUT, return_with_leftover_noise=True)
    assert float((noisy.samples - sampler_run(end_step=CUT).samples).abs().max()) > 0.1
    assert noisy.original_samples is None  # only masked stages hold an area


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("sampler", ["euler", "ddim"])
def test_the_clean_estimate_is_the_schedulers_own(sampler, prediction):
    import torch

    config = {**SCHEDULER_CONFIG, "prediction_type": prediction}
    scheduler = schedulers.build_scheduler(sampler, "normal", config)
    scheduler.set_timesteps(5)
    generator = torch.Generator().manual_seed(0)
    latents = torch.randn(1, 4, 4, 4, generator=generator) * 3
    output = torch.randn(1, 4, 4, 4, generator=generator)
    index = 2
    timestep = scheduler.timesteps[index]
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(index)
    scheduler.scale_model_input(latents, timestep)
    ours = stages.denoised(scheduler, Prediction.EPSILON, output, latents, index)
    theirs = scheduler.step(output, timestep, latents).pred_original_sample
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


def test_progress_counts_the_steps_of_the_stage(sampler_run, recorder):
    for sampler in ("euler", "heun"):
        recorder.events.clear()
        sampler_run(sampler=sampler, start_step=2, end_step=5, return_with_leftover_noise=True)
        assert [(e.done, e.total) for e in recorder.progress()] == [(1, 3), (2, 3), (3, 3)]


def test_a_start_at_or_after_the_end_hands_the_latent_on_unchanged(sampler_run, recorder):
    handed = sampler_run(end_step=CUT, return_with_leftover_noise=True)
    recorder.events.clear()
    assert sampler_run(handed, start_step=STEPS, add_noise=False) is handed
    assert sampler_run(handed, start_step=4, end_step=4) is handed
    assert recorder.progress() == []


def test_pndm_cannot_be_cut_and_says_what_to_use(sampler_run):
    sampler_run(sampler="pndm", steps=3)  # a whole run is fine
    with pytest.raises(NodeError, match=r"pndm sampler cannot run part.*euler, ddim"):
        sampler_run(sampler="pndm", end_step=CUT, return_with_leftover_noise=True)


@pytest.mark.parametrize("sampler", schedulers.SAMPLER_NAMES)
def test_sigma_scaled_schedulers_are_those_that_scale_their_noise(sampler):
    scheduler = schedulers.build_scheduler(sampler, "normal", SCHEDULER_CONFIG, seed=1)
    scheduler.set_timesteps(4)
    assert stages.is_sigma_scaled(scheduler) == (float(scheduler.init_noise_sigma) > 1.0)
