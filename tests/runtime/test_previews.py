"""Sampling previews: the linear latent→RGB map, and TAESD from models/vae_approx."""

from __future__ import annotations

import numpy as np
import torch
from safetensors.torch import save_file

from nodestudio.app.models import ModelLibrary
from nodestudio.engine.cancel import CancelToken
from nodestudio.engine.context import RunContext, RunEnvironment
from nodestudio.runtime.families.sd1 import SD_LATENT
from nodestudio.runtime.previews import PreviewMaker, load_taesd, taesd_name_matches

SD_LATENT_RGB = SD_LATENT.rgb_factors


def test_linear_preview_maps_each_latent_cell_to_a_colour():
    latents = torch.zeros(2, 4, 3, 5)
    latents[0, 0] = 1.0  # channel 0 alone: its row of the map, moved from [-1, 1] to [0, 1]
    preview = PreviewMaker("sd")(latents)
    assert preview.shape == (1, 3, 5, 3) and preview.dtype == np.float32
    np.testing.assert_allclose(preview[0, 0, 0], (np.array(SD_LATENT_RGB[0]) + 1) / 2, rtol=1e-6)


def test_unknown_latent_spaces_still_preview():
    preview = PreviewMaker("unknown")(torch.randn(1, 16, 6, 6))
    assert preview.shape == (1, 6, 6, 3) and preview.min() >= 0 and preview.max() <= 1


def test_taesd_names_by_family():
    assert taesd_name_matches("taesd", "sd") and taesd_name_matches("taesd_decoder.pth", "sd")
    assert not taesd_name_matches("taesdxl_decoder.safetensors", "sd")
    assert taesd_name_matches("taesdxl", "sdxl") and not taesd_name_matches("taesd", "sdxl")
    assert not taesd_name_matches("taesd", "unknown")  # a latent space TAESD was not made for


def _tiny_taesd(root):
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    model = AutoencoderTiny()  # TAESD's own architecture (its weights here are random)
    folder = root / "vae_approx" / "taesd"
    model.save_pretrained(folder)
    # The original release's decoder file: an nn.Sequential whose first entry is a clamp.
    original = {}
    for key, value in model.decoder.state_dict().items():
        index, rest = key.removeprefix("layers.").split(".", 1)
        original[f"{int(index) + 1}.{rest}"] = value.contiguous()
    save_file(original, str(root / "vae_approx" / "taesd_decoder.safetensors"))
    return model, folder


def test_taesd_loads_from_a_folder_or_the_original_decoder_file(tmp_path):
    model, folder = _tiny_taesd(tmp_path)
    cpu = torch.device("cpu")
    latents = torch.randn(1, 4, 4, 4)
    with torch.inference_mode():
        expected = model.decode(latents).sample
        from_folder = load_taesd(folder, cpu, torch.float32).decode(latents).sample
        from_file = load_taesd(tmp_path / "vae_approx" / "taesd_decoder.safetensors",
                               cpu, torch.float32).decode(latents).sample
    torch.testing.assert_close(from_folder, expected)
    torch.testing.assert_close(from_file, expected)


def test_sampler_previews_with_taesd_when_installed(tmp_path, tiny_models, run_node,
                                                     sd_checkpoint):
    _tiny_taesd(tmp_path)
    events = []
    environment = RunEnvironment(device="cpu", models=ModelLibrary([tiny_models.root, tmp_path],
                                                                    include_demo=False))
    ctx = RunContext("sampler", environment, CancelToken(), events.append, "run", None)
    model, clip, _ = sd_checkpoint
    prompt = run_node("diffusion.text_encode", clip=clip, text="a tree")
    latent = run_node("diffusion.empty_latent", model=model, width=32, height=32)
    run_node("diffusion.sampler", model=model, positive=prompt, latent=latent, seed=1, steps=2,
             cfg=1.0, ctx=ctx)
    preview = [event for event in events if getattr(event, "preview", None) is not None][-1].preview
    assert preview.shape == (1, 32, 32, 3)  # decoded to pixels, not one colour per latent cell


def test_16_channel_latent_spaces_preview_with_their_own_factors():
    from nodestudio.runtime.families.flux import FLUX_LATENT
    from nodestudio.runtime.families.sd3 import SD3_LATENT

    for latent_format in (SD3_LATENT, FLUX_LATENT):
        latents = torch.zeros(1, 16, 2, 2)
        latents[0, 3] = 1.0  # one channel: its row of the map plus the bias
        preview = PreviewMaker(latent_format.name)(latents)
        expected = (np.array(latent_format.rgb_factors[3]) + latent_format.rgb_bias + 1) / 2
        np.testing.assert_allclose(preview[0, 1, 1], expected, rtol=1e-5)
    assert taesd_name_matches("taef1_decoder.safetensors", "flux")
    assert taesd_name_matches("taesd3_decoder.pth", "sd3")
    assert not taesd_name_matches("taesd3_decoder.pth", "sd")
