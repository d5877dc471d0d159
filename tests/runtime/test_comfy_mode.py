"""The Sampler's "comfyui" compatibility mode against ComfyUI's published algorithms.

The expected values are computed here from ComfyUI's own definitions (ComfyUI v0.8.0):

* comfy/sample.py ``prepare_noise``: ``torch.manual_seed(seed)``, then one
  ``torch.randn([1, C, H, W])`` per batch index up to the largest, keeping the named ones.
* comfy/k_diffusion/sampling.py ``default_noise_sampler``: ``torch.Generator(x.device)`` seeded
  with ``seed + 1`` on the CPU; ``torch.randn(x.size())`` per call.
* ``BrownianTreeNoiseSampler(x, sigma_min, sigma_max, seed, cpu=True)``:
  ``torchsde.BrownianTree(t0, zeros_like(x), t1, entropy=seed)``; noise(σ, σ') =
  ``tree(min, max) · sign / √|σ' − σ|``.
* ``res_multistep`` (eta 0), ``sample_dpmpp_2m_sde`` (midpoint, eta 1), ``sample_dpmpp_3m_sde``:
  transcribed below as reference loops over a sigma list.
* nodes.py ``SaveImage``: ``np.clip(255. * i, 0, 255).astype(np.uint8)``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from nodestudio.runtime import comfy_samplers, schedulers
from nodestudio.runtime.sampling import SamplerSettings, sample

SD_CONFIG = {
    "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000, "prediction_type": "epsilon", "steps_offset": 1,
    "timestep_spacing": "linspace",
}


# -- noise streams ---------------------------------------------------------------------------


def test_initial_noise_is_comfyuis_with_and_without_batch_indices():
    shape = (3, 4, 5, 6)
    np.testing.assert_array_equal(
        comfy_samplers.prepare_noise(shape, 42),
        torch.randn(shape, generator=torch.manual_seed(42)))
    # A latent taken from a batch as indices 1, 3 and 1 again: draws 0..3, keeps 1, 3, 1.
    generator = torch.Generator().manual_seed(7)
    draws = [torch.randn((1, 4, 5, 6), generator=generator) for _ in range(4)]
    expected = torch.cat([draws[1], draws[3], draws[1]])
    np.testing.assert_array_equal(comfy_samplers.prepare_noise(shape, 7, (1, 3, 1)), expected)


def test_ancestral_noise_comes_from_a_generator_seeded_seed_plus_one_on_the_cpu():
    generator = comfy_samplers.step_generator(123, "cpu")
    expected = torch.randn((2, 4, 8, 8), generator=torch.Generator().manual_seed(124))
    np.testing.assert_array_equal(torch.randn((2, 4, 8, 8), generator=generator), expected)


def test_brownian_noise_is_comfyuis_tree():
    import torchsde

    x = torch.zeros(1, 4, 6, 6)
    noise = comfy_samplers.BrownianNoise(x, 0.03, 14.6, seed=99)
    tree = torchsde.BrownianTree(torch.tensor(0.03), torch.zeros_like(x), torch.tensor(14.6),
                                 entropy=99)
    # Going down from σ = 5 to σ' = 2: the tree's increment over [2, 5], sign flipped.
    expected = tree(torch.tensor(2.0), torch.tensor(5.0)) * -1 / math.sqrt(3.0)
    torch.testing.assert_close(noise(5.0, 2.0), expected)
    assert noise(5.0, 2.0).std() > 0.5  # unit-variance noise, not a constant


# -- sampler maths on a toy denoiser with a closed form ------------------------------------------


def _toy_denoised(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """The exact denoiser of data N(0.5, 0.3²) elementwise: E[x0 | x0 + σ·ε = x]."""
    variance = 0.09
    return 0.5 + (x - 0.5) * variance / (variance + sigma**2)


def _run_scheduler(sampler: str, steps: int, seed: int, schedule: str = "karras"):
    scheduler = schedulers.build_scheduler(sampler, schedule, SD_CONFIG, seed=seed,
                                           compatibility="comfyui")
    scheduler.set_timesteps(steps)
    x = comfy_samplers.prepare_noise((1, 4, 4, 4), seed) * scheduler.init_noise_sigma
    sigmas = torch.cat([scheduler.sigmas[:-1].float(), torch.zeros(1)])
    if hasattr(scheduler, "noise_sampler") and sampler.endswith("sde"):
        scheduler.noise_sampler = comfy_samplers.brownian_for(x, sigmas, seed)
    start = x.clone()
    for i, t in enumerate(scheduler.timesteps):
        sigma = float(scheduler.sigmas[i])
        epsilon = (x - _toy_denoised(x, sigma)) / sigma  # what an ε-model would predict
        x = scheduler.step(epsilon, t, x).prev_sample
    return start, sigmas, x


def _reference_res_multistep(x, sigmas):
    old_denoised = None
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = _toy_denoised(x, float(sigma))
        if sigma_next == 0 or old_denoised is None:
            x = x + (x - denoised) / sigma * (sigma_next - sigma)
        else:
            t, t_old, t_next, t_prev = (-torch.log(s) for s in (sigma, sigma, sigma_next,
                                                                 sigmas[i - 1]))
            h = t_next - t
            c2 = (t_prev - t_old) / h
            phi1 = torch.expm1(-h) / -h
            phi2 = (phi1 - 1.0) / -h
            x = torch.exp(-h) * x + h * ((phi1 - phi2 / c2) * denoised + phi2 / c2 * old_denoised)
        old_denoised = denoised
    return x


def test_res_multistep_is_comfyuis_second_order_multistep_method():
    start, sigmas, result = _run_scheduler("res_multistep", 6, seed=3)
    expected = _reference_res_multistep(start, sigmas)
    torch.testing.assert_close(result, expected, rtol=1e-5, atol=1e-5)
    # And it is not Euler: the second-order terms change the result.
    _, _, euler = _run_scheduler("euler", 6, seed=3)
    assert (result - euler).abs().max() > 1e-4


def _reference_sde(x, sigmas, seed, order):
    noise = comfy_samplers.brownian_for(x, sigmas, seed)
    denoised_1 = denoised_2 = h_1 = h_2 = None
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        denoised = _toy_denoised(x, float(sigma))
        if sigma_next == 0:
            x = denoised
        else:
            h = torch.log(sigma) - torch.log(sigma_next)
            h_eta = 2 * h
            x = sigma_next / sigma * torch.exp(-h) * x + (-h_eta).expm1().neg() * denoised
            phi_2 = (-h_eta).expm1() / h_eta + 1
            if order == 3 and h_2 is not None:
                r0, r1 = h_1 / h, h_2 / h
                d1_0 = (denoised - denoised_1) / r0
                d1_1 = (denoised_1 - denoised_2) / r1
                d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
                d2 = (d1_0 - d1_1) / (r0 + r1)
                x = x + phi_2 * d1 - (phi_2 / h_eta - 0.5) * d2
            elif order == 3 and h_1 is not None:
                x = x + phi_2 * (denoised - denoised_1) / (h_1 / h)
            elif order == 2 and h_1 is not None:
                x = x + 0.5 * (-h_eta).expm1().neg() * (h / h_1) * (denoised - denoised_1)
            x = x + noise(sigma, sigma_next) * sigma_next * (-2 * h).expm1().neg().sqrt()
            h_1, h_2 = h, h_1
        denoised_1, denoised_2 = denoised, denoised_1
    return x


@pytest.mark.parametrize(("sampler", "order"), [("dpmpp_2m_sde", 2), ("dpmpp_3m_sde", 3)])
def test_sde_multistep_samplers_are_comfyuis_with_its_brownian_noise(sampler, order):
    start, sigmas, result = _run_scheduler(sampler, 7, seed=11)
    expected = _reference_sde(start, sigmas, 11, order)
    torch.testing.assert_close(result, expected, rtol=1e-4, atol=1e-4)
    # Another seed: another Brownian path, another result.
    other = _reference_sde(start, sigmas, 12, order)
    assert (other - expected).abs().max() > 1e-3


def test_comfyui_names_pick_comfyuis_definitions():
    assert type(schedulers.build_scheduler("ddim", "linspace", SD_CONFIG,
                                           compatibility="comfyui")).__name__ == \
        "EulerDiscreteScheduler"
    assert type(schedulers.build_scheduler("ddim", "linspace", SD_CONFIG)).__name__ == \
        "DDIMScheduler"
    # ComfyUI's ddim is Euler, so it takes Euler's schedules too.
    schedulers.build_scheduler("ddim", "karras", SD_CONFIG, compatibility="comfyui")
    with pytest.raises(ValueError, match="unknown compatibility"):
        schedulers.build_scheduler("euler", "normal", SD_CONFIG, compatibility="a1111")


# -- the Sampler node on the tiny SD model -------------------------------------------------------


@pytest.fixture(scope="module")
def prompts(sd_checkpoint, run_node):
    _, clip, _ = sd_checkpoint
    return (run_node("diffusion.text_encode", clip=clip, text="a red square"),
            run_node("diffusion.text_encode", clip=clip, text=""))


def _latents(run_node, sd_checkpoint, prompts, ctx, latent=None, **settings):
    model = sd_checkpoint[0]
    if latent is None:
        latent = run_node("diffusion.empty_latent", model=model, width=32, height=32,
                          batch_size=settings.pop("batch_size", 1))
    values = {"seed": 5, "steps": 3, "cfg": 4.0, "scheduler": "linspace", **settings}
    return run_node("diffusion.sampler", model=model, positive=prompts[0], negative=prompts[1],
                    latent=latent, ctx=ctx, **values).samples


def test_ddim_in_comfyui_mode_is_euler_bit_for_bit(run_node, sd_checkpoint, prompts, ctx):
    ddim = _latents(run_node, sd_checkpoint, prompts, ctx, sampler="ddim",
                    compatibility="comfyui")
    euler = _latents(run_node, sd_checkpoint, prompts, ctx, sampler="euler",
                     compatibility="comfyui")
    torch.testing.assert_close(ddim, euler, rtol=0, atol=0)
    diffusers_ddim = _latents(run_node, sd_checkpoint, prompts, ctx, sampler="ddim")
    assert (diffusers_ddim - ddim).abs().max() > 1e-4


def test_denoise_in_comfyui_mode_runs_the_end_of_a_longer_schedule(run_node, sd_checkpoint,
                                                                   prompts, ctx):
    # ComfyUI's KSampler.set_steps: denoise d at n steps → the last n sigmas of an
    # int(n / d)-step schedule; the same as its KSamplerAdvanced from step int(n / d) − n.
    from dataclasses import replace

    model = sd_checkpoint[0]
    empty = run_node("diffusion.empty_latent", model=model, width=32, height=32)
    image = replace(empty, is_empty=False,
                    samples=torch.randn(empty.samples.shape, generator=torch.manual_seed(9)))
    half = _latents(run_node, sd_checkpoint, prompts, ctx, latent=image, sampler="euler",
                    compatibility="comfyui", denoise=0.5)
    staged = _latents(run_node, sd_checkpoint, prompts, ctx, latent=image, sampler="euler",
                      compatibility="comfyui", steps=6, start_step=3)
    torch.testing.assert_close(half, staged, rtol=0, atol=0)
    # diffusers' strength runs int(3 × 0.5) = 1 step of 3 instead.
    strength = _latents(run_node, sd_checkpoint, prompts, ctx, latent=image, sampler="euler",
                        denoise=0.5)
    assert (strength - half).abs().max() > 1e-3


def test_ancestral_noise_stream_changes_with_the_mode(run_node, sd_checkpoint, prompts, ctx):
    # The starting noise is the same in both modes (CPU, float32): euler agrees exactly …
    torch.testing.assert_close(
        _latents(run_node, sd_checkpoint, prompts, ctx, sampler="euler"),
        _latents(run_node, sd_checkpoint, prompts, ctx, sampler="euler", compatibility="comfyui"),
        rtol=0, atol=0)
    # … while euler_ancestral adds ComfyUI's seed + 1 stream in comfyui mode.
    diffusers = _latents(run_node, sd_checkpoint, prompts, ctx, sampler="euler_ancestral")
    comfy = _latents(run_node, sd_checkpoint, prompts, ctx, sampler="euler_ancestral",
                     compatibility="comfyui")
    again = _latents(run_node, sd_checkpoint, prompts, ctx, sampler="euler_ancestral",
                     compatibility="comfyui")
    torch.testing.assert_close(comfy, again, rtol=0, atol=0)
    assert (diffusers - comfy).abs().max() > 1e-3


def test_ancestral_first_step_adds_the_seed_plus_one_noise(sd_checkpoint, prompts):
    """One step of two: x1 = x0 + d·(σ_down − σ0) + ε·σ_up with ε = randn(seed + 1).

    Running the same step with ε's stream replaced by zeros isolates the added noise."""
    model = sd_checkpoint[0]
    from nodestudio.runtime.types import Latent

    latent = Latent(samples=torch.zeros(1, 4, 4, 4), scale_factor=8, is_empty=True)
    settings = SamplerSettings(seed=9, steps=2, cfg=1.0, sampler="euler_ancestral",
                               schedule="linspace", end_step=1, leftover_noise=True,
                               compatibility="comfyui")
    stepped = sample(model, prompts[0], prompts[0], latent, settings).samples
    scheduler = schedulers.build_scheduler("euler_ancestral", "linspace",
                                           model.scheduler_config, compatibility="comfyui")
    scheduler.set_timesteps(2)
    sigma, sigma_next = (float(s) for s in scheduler.sigmas[:2])
    sigma_up = math.sqrt(sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2)
    euler_only = sample(model, prompts[0], prompts[0], latent, SamplerSettings(
        seed=9, steps=2, cfg=1.0, sampler="euler_ancestral", schedule="linspace", end_step=1,
        leftover_noise=True, compatibility="diffusers")).samples
    added = torch.randn((1, 4, 4, 4), generator=torch.Generator().manual_seed(9 + 1)) * sigma_up
    diffusers_added = torch.randn((1, 4, 4, 4), generator=_after_initial_noise(9)) * sigma_up
    # Both modes take the same deterministic part; they differ by the noise each drew.
    torch.testing.assert_close(stepped - euler_only, added - diffusers_added,
                               rtol=1e-4, atol=1e-4)


def _after_initial_noise(seed: int) -> torch.Generator:
    generator = torch.Generator().manual_seed(seed)
    torch.randn((1, 4, 4, 4), generator=generator)  # the initial noise came first
    return generator


def test_batch_index_draws_the_noise_of_those_batch_places(run_node, sd_checkpoint, prompts,
                                                           ctx):
    whole = _latents(run_node, sd_checkpoint, prompts, ctx, sampler="euler", batch_size=3,
                     compatibility="comfyui")
    model = sd_checkpoint[0]
    empty = run_node("diffusion.empty_latent", model=model, width=32, height=32, batch_size=3)
    picked = run_node("diffusion.latent_from_batch", latent=empty, batch_index=2, length=1)
    assert picked.batch_index == (2,)
    third = _latents(run_node, sd_checkpoint, prompts, ctx, sampler="euler",
                     compatibility="comfyui", latent=picked)
    # (a batch of 3 and a batch of 1 go through the UNet with different float rounding)
    torch.testing.assert_close(third[0], whole[2], rtol=1e-3, atol=2e-4)
    assert (third[0] - whole[0]).abs().max() > 1e-3


# -- Save Image ----------------------------------------------------------------------------------


def test_save_image_truncates_as_comfyui_when_asked(run_node, ctx):
    pixels = np.array([0.0, 0.2, 0.5, 0.999, 1.0, 0.6], np.float32)
    images = np.broadcast_to(pixels[None, None, :, None], (1, 1, 6, 3)).copy()
    run_node("image.save", images=images, filename_prefix="trunc", ctx=ctx,
             to_8_bit="truncate (ComfyUI)")
    run_node("image.save", images=images, filename_prefix="round", ctx=ctx)
    with Image.open(ctx.files[0]) as truncated, Image.open(ctx.files[1]) as rounded:
        row_t = np.asarray(truncated)[0, :, 0]
        row_r = np.asarray(rounded)[0, :, 0]
    np.testing.assert_array_equal(row_t, np.clip(255.0 * pixels, 0, 255).astype(np.uint8))
    assert row_t.tolist() == [0, 51, 127, 254, 255, 153]
    assert row_r.tolist() == [0, 51, 128, 255, 255, 153]
