"""Load LoRA: it changes the image, strength 0 restores it, the cached base model stays as is."""

from __future__ import annotations

import gc

import numpy as np
import pytest
import torch

from nodestudio.api import NodeError

# Several images per test: seconds each on 2 CPU cores.
pytestmark = pytest.mark.slow


def _image(run_node, model, clip, vae, ctx, seed=5):
    positive = run_node("diffusion.text_encode", clip=clip, text="a yellow boat")
    negative = run_node("diffusion.text_encode", clip=clip, text="")
    latent = run_node("diffusion.empty_latent", model=model, width=32, height=32)
    out = run_node("diffusion.sampler", model=model, positive=positive, negative=negative,
                   latent=latent, seed=seed, steps=3, cfg=5.0, ctx=ctx)
    return run_node("diffusion.vae_decode", vae=vae, latent=out, ctx=ctx)


@pytest.fixture
def base(tiny_models, run_node, ctx):
    """A fresh checkpoint (LoRA tests add adapters to its modules)."""
    return run_node("diffusion.load_checkpoint", checkpoint=tiny_models.sd_folder, ctx=ctx)


def test_lora_changes_the_image_and_leaves_the_base_model_alone(base, run_node, ctx, tiny_models):
    model, clip, vae = base
    before = _image(run_node, model, clip, vae, ctx)
    weights = {k: v.clone() for k, v in model.denoiser.state_dict().items()}

    lora_model, lora_clip = run_node("diffusion.load_lora", model=model, clip=clip,
                                     lora=tiny_models.lora_file, ctx=ctx)
    with_lora = _image(run_node, lora_model, lora_clip, vae, ctx)
    assert np.abs(with_lora - before).max() > 0.01
    assert lora_model is not model and lora_clip is not clip and not model.loras

    # The upstream (cached) model still gives exactly its own image, and its weights are intact.
    np.testing.assert_array_equal(_image(run_node, model, clip, vae, ctx), before)
    assert all(torch.equal(weights[k], v) for k, v in model.denoiser.state_dict().items()
               if k in weights)


def test_each_part_has_its_own_strength(base, run_node, ctx, tiny_models):
    model, clip, vae = base
    before = _image(run_node, model, clip, vae, ctx)
    only_model = run_node("diffusion.load_lora", model=model, clip=clip,
                          lora=tiny_models.lora_file, strength_clip=0.0, ctx=ctx)
    only_clip = run_node("diffusion.load_lora", model=model, clip=clip,
                         lora=tiny_models.lora_file, strength_model=0.0, ctx=ctx)
    assert only_model[1] is clip and only_clip[0] is model
    for lora_model, lora_clip in (only_model, only_clip):
        assert np.abs(_image(run_node, lora_model, lora_clip, vae, ctx) - before).max() > 0.01
    nothing = run_node("diffusion.load_lora", model=model, clip=clip, lora=tiny_models.lora_file,
                       strength_model=0.0, strength_clip=0.0, ctx=ctx)
    assert nothing == (model, clip)
    np.testing.assert_array_equal(_image(run_node, *nothing, vae, ctx), before)


def test_strength_scales_and_loras_chain(base, run_node, ctx, tiny_models):
    model, clip, vae = base
    half = run_node("diffusion.load_lora", model=model, clip=clip, lora=tiny_models.lora_file,
                    strength_model=0.5, strength_clip=0.5, ctx=ctx)
    full = run_node("diffusion.load_lora", model=model, clip=clip, lora=tiny_models.lora_file,
                    ctx=ctx)
    twice = run_node("diffusion.load_lora", model=half[0], clip=half[1],
                     lora=tiny_models.lora_file, strength_model=0.5, strength_clip=0.5, ctx=ctx)
    assert len(twice[0].loras) == 2
    half_image = _image(run_node, *half, vae, ctx)
    full_image = _image(run_node, *full, vae, ctx)
    assert np.abs(half_image - full_image).max() > 0.01
    # Two halves of one LoRA act like the whole LoRA (LoRA deltas add up).
    np.testing.assert_allclose(_image(run_node, *twice, vae, ctx), full_image, atol=2e-4)


def test_adapters_leave_the_model_when_no_handle_needs_them(base, run_node, ctx, tiny_models):
    from peft.tuners.tuners_utils import BaseTunerLayer

    model, clip, _ = base
    lora_model, lora_clip = run_node("diffusion.load_lora", model=model, clip=clip,
                                     lora=tiny_models.lora_file, ctx=ctx)
    name = lora_model.loras[0].adapter.name

    def adapters() -> set[str]:
        found = set()
        for module in (model.denoiser, clip.encoders[0].model):
            for layer in module.modules():
                if isinstance(layer, BaseTunerLayer):
                    found.update(layer.lora_A.keys())
        return found

    assert name in adapters()
    del lora_model, lora_clip
    gc.collect()
    assert name not in adapters()


def test_a_lora_for_another_model_is_refused_clearly(run_node, ctx, tiny_models):
    model, clip, _ = run_node("diffusion.load_checkpoint", checkpoint=tiny_models.sdxl_folder,
                              ctx=ctx)
    with pytest.raises(NodeError, match=r"tiny-lora\.safetensors"):
        run_node("diffusion.load_lora", model=model, clip=clip, lora=tiny_models.lora_file,
                 ctx=ctx)


def test_kohya_format_gives_the_same_image_as_the_diffusers_format(base, run_node, ctx,
                                                                   tiny_models, tmp_path):
    from diffusers.utils import convert_state_dict_to_kohya
    from safetensors.torch import load_file, save_file

    weights = load_file(str(tiny_models.lora(tiny_models.lora_file)))
    kohya = {
        # kohya names SD1's text encoder layers from "text_model.", which transformers dropped.
        key.replace("lora_te1_encoder_", "lora_te_text_model_encoder_"): value.contiguous()
        for key, value in convert_state_dict_to_kohya(weights).items()
    }
    assert any(k.startswith("lora_unet_down_blocks_0_") and k.endswith(".lora_down.weight")
               for k in kohya)
    path = tmp_path / "kohya_lora.safetensors"
    save_file(kohya, str(path))

    model, clip, vae = base
    images = []
    for lora in (tiny_models.lora_file, str(path)):
        loaded = run_node("diffusion.load_lora", model=model, clip=clip, lora=lora,
                          strength_model=0.8, strength_clip=0.6, ctx=ctx)
        images.append(_image(run_node, *loaded, vae, ctx))
    np.testing.assert_allclose(images[1], images[0], atol=1e-4)
