"""VAE Encode/Decode, Empty Latent and Upscale Latent."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nodestudio.api import NodeError
from nodestudio.runtime.devices import torch_device
from nodestudio.runtime.types import Vae


def _picture(height: int = 64, width: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((1, height, width, 3)).astype(np.float32)


def test_vae_encode_is_the_posterior_mode_times_the_scaling(run_node, sd_checkpoint):
    _, _, vae = sd_checkpoint
    image = _picture()
    latent = run_node("diffusion.vae_encode", vae=vae, image=image)
    with torch.inference_mode():
        pixels = torch.from_numpy(image).permute(0, 3, 1, 2) * 2 - 1
        expected = vae.model.encode(pixels).latent_dist.mode() * vae.config.scaling_factor
    torch.testing.assert_close(latent.samples, expected, rtol=0, atol=0)
    assert latent.scale_factor == 8 and not latent.is_empty and latent.noise_mask is None


def test_vae_decode_matches_the_pipelines_decoding(run_node, sd_checkpoint, ctx):
    _, _, vae = sd_checkpoint
    latent = run_node("diffusion.vae_encode", vae=vae, image=_picture())
    image = run_node("diffusion.vae_decode", vae=vae, latent=latent, ctx=ctx)
    with torch.inference_mode():
        decoded = vae.model.decode(latent.samples / vae.config.scaling_factor).sample
        expected = (decoded / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    assert image.dtype == np.float32 and image.shape == (1, 64, 64, 3)
    np.testing.assert_array_equal(image, expected)


def test_tiled_decode_works_tile_by_tile(run_node, sd_checkpoint, ctx):
    _, _, vae = sd_checkpoint
    latent = run_node("diffusion.vae_encode", vae=vae, image=_picture(128, 96))
    whole = run_node("diffusion.vae_decode", vae=vae, latent=latent, ctx=ctx)
    one_tile = run_node("diffusion.vae_decode", vae=vae, latent=latent, tiled=True,
                        tile_size=256, ctx=ctx)
    np.testing.assert_allclose(one_tile, whole, atol=1e-6)
    tiled = run_node("diffusion.vae_decode", vae=vae, latent=latent, tiled=True, tile_size=64,
                     ctx=ctx)
    assert tiled.shape == whole.shape == (1, 128, 96, 3) and np.isfinite(tiled).all()
    # Small tiles did split the work: each saw less context (the random VAE's attention and
    # group norms show it), yet it is the same picture.
    assert np.abs(tiled - whole).max() > 1e-3
    assert np.corrcoef(tiled.ravel(), whole.ravel())[0, 1] > 0.2
    # The shared VAE keeps its own tile settings.
    assert vae.model.tile_sample_min_size == vae.config.sample_size


def test_odd_sizes_are_cropped_to_the_vae_grid(run_node, sd_checkpoint):
    _, _, vae = sd_checkpoint
    latent = run_node("diffusion.vae_encode", vae=vae, image=_picture(70, 45))
    assert latent.samples.shape == (1, 4, 8, 5)
    with pytest.raises(NodeError, match="smaller than the VAE"):
        run_node("diffusion.vae_encode", vae=vae, image=_picture(4, 64))


def test_vae_encode_with_a_mask_keeps_it_and_the_blanked_image(run_node, sd_checkpoint):
    _, _, vae = sd_checkpoint
    image = _picture()
    mask = np.zeros((1, 64, 64), np.float32)
    mask[:, 16:48, 16:48] = 1.0
    latent = run_node("diffusion.vae_encode", vae=vae, image=image, mask=mask)
    assert latent.noise_mask.shape == (1, 1, 64, 64)
    blanked = image.copy()
    blanked[:, 16:48, 16:48] = 0.5
    expected = run_node("diffusion.vae_encode", vae=vae, image=blanked).samples
    torch.testing.assert_close(latent.masked_image_latents, expected, rtol=0, atol=0)


def test_empty_latent_takes_channels_and_grid_from_the_model_or_vae(run_node, sd_checkpoint):
    from diffusers import AutoencoderKL

    model, _, _ = sd_checkpoint
    latent = run_node("diffusion.empty_latent", model=model, width=64, height=40, batch_size=3)
    assert latent.samples.shape == (3, 4, 5, 8) and latent.is_empty
    # A VAE with 3 levels (4× per side) and 8 channels, like nothing in SD: no 4 and 8 assumed.
    other = AutoencoderKL(block_out_channels=(8, 8, 8), latent_channels=8, norm_num_groups=8,
                          down_block_types=("DownEncoderBlock2D",) * 3, layers_per_block=1,
                          up_block_types=("UpDecoderBlock2D",) * 3)
    vae = Vae(other, torch_device("cpu"))
    latent = run_node("diffusion.empty_latent", vae=vae, width=64, height=40)
    assert latent.samples.shape == (1, 8, 10, 16) and latent.scale_factor == 4
    with pytest.raises(NodeError, match="connect the model or the VAE"):
        run_node("diffusion.empty_latent", width=64, height=64)


def test_upscale_latent_by_factor_or_to_a_size(run_node, sd_checkpoint):
    latent = run_node("diffusion.vae_encode", vae=sd_checkpoint[2], image=_picture(64, 32))
    assert latent.samples.shape[-2:] == (8, 4)
    doubled = run_node("diffusion.latent_upscale", latent=latent, scale_by=2.0)
    assert doubled.samples.shape[-2:] == (16, 8)
    sized = run_node("diffusion.latent_upscale", latent=latent, width=64, method="bilinear")
    assert sized.samples.shape[-2:] == (16, 8)  # height follows the aspect ratio
    nearest = run_node("diffusion.latent_upscale", latent=latent, scale_by=2.0)
    torch.testing.assert_close(nearest.samples[..., ::2, ::2], latent.samples)
