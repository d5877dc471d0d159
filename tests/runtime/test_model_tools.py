"""Model tools: merges mean ComfyUI's arithmetic and never touch their parents, Save Checkpoint
writes what Load Checkpoint reads back exactly, Model Sampling Discrete and Rescale CFG change
how a model samples (Rescale CFG as diffusers' guidance_rescale)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from nodestudio.api import NodeError
from nodestudio.runtime import families, merging
from nodestudio.runtime.families.base import (
    ClassifierFreeGuidance,
    NoGuidance,
    RescaledGuidance,
)
from nodestudio.runtime.schedulers import build_scheduler

# Several sampled images per test: seconds each on 2 CPU cores.
pytestmark = pytest.mark.slow

SEED = 321
PROMPT, NEGATIVE = "a lighthouse on a cliff", "blurry"
#: The fidelity bound of tests/fidelity: an image equals the pipeline's to 2/255 per channel.
MAX_PIXEL_DIFFERENCE = 2 / 255


def _image(run_node, model, clip, vae, ctx, cfg: float = 6.0, steps: int = 3) -> np.ndarray:
    positive = run_node("diffusion.text_encode", clip=clip, text=PROMPT)
    negative = run_node("diffusion.text_encode", clip=clip, text=NEGATIVE)
    latent = run_node("diffusion.empty_latent", model=model, width=32, height=32)
    out = run_node("diffusion.sampler", model=model, positive=positive, negative=negative,
                   latent=latent, seed=SEED, steps=steps, cfg=cfg, sampler="euler",
                   scheduler="normal", ctx=ctx)
    image = run_node("diffusion.vae_decode", vae=vae, latent=out, ctx=ctx)
    assert image.std() > 0.01, "a blank image proves nothing"
    return image


def _weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.clone() for key, value in module.state_dict().items()}


def _assert_weights(module: torch.nn.Module, expected: dict[str, torch.Tensor]) -> None:
    actual = module.state_dict()
    assert set(actual) == set(expected)
    for key, value in expected.items():
        assert torch.equal(actual[key], value), key


@pytest.fixture(scope="module")
def other(sd_checkpoint):
    """A second SD 1.x model and CLIP: the tiny architecture with other random weights."""
    from nodestudio.runtime.tiny import tiny_sd_components

    model, clip, _ = sd_checkpoint
    parts = tiny_sd_components(seed=5)
    other_model = replace(model, denoiser=parts["unet"].eval(), source="/models/other-sd")
    encoders = (replace(clip.encoders[0], model=parts["text_encoder"].eval()),)
    return other_model, replace(clip, encoders=encoders, source="/models/other-sd")


@pytest.fixture(scope="module")
def parents_before(sd_checkpoint, other):
    """The parents' weights before any test merged them (they must never change)."""
    model, clip, _ = sd_checkpoint
    return [(module, _weights(module)) for module in (
        model.denoiser, clip.encoders[0].model, other[0].denoiser, other[1].encoders[0].model)]


# -- merging -----------------------------------------------------------------------------------


def test_ratio_one_and_zero_give_each_parent(sd_checkpoint, other, run_node, ctx,
                                             parents_before):
    model, clip, vae = sd_checkpoint
    model2 = other[0]
    first = run_node("diffusion.merge_models", model1=model, model2=model2, ratio=1.0, ctx=ctx)
    second = run_node("diffusion.merge_models", model1=model, model2=model2, ratio=0.0, ctx=ctx)
    # No copy is made where a parent's weights are the answer (handles share modules).
    assert first is model
    assert second.denoiser is model2.denoiser and second.scheduler_config == model.scheduler_config
    np.testing.assert_array_equal(_image(run_node, second, clip, vae, ctx),
                                  _image(run_node, model2, clip, vae, ctx))
    # The arithmetic itself gives each parent exactly, too.
    for ratio, parent in ((1.0, model), (0.0, model2)):
        merged = merging.merge_modules(model.denoiser, model2.denoiser, merging.simple(ratio))
        assert merged is not parent.denoiser
        _assert_weights(merged, _weights(parent.denoiser))
        np.testing.assert_array_equal(
            _image(run_node, replace(model, denoiser=merged), clip, vae, ctx),
            _image(run_node, parent, clip, vae, ctx))


def test_half_ratio_is_the_average_in_a_new_module(sd_checkpoint, other, run_node, ctx):
    model, clip, vae = sd_checkpoint
    merged = run_node("diffusion.merge_models", model1=model, model2=other[0], ratio=0.5, ctx=ctx)
    a, b = model.denoiser.state_dict(), other[0].denoiser.state_dict()
    result = merged.denoiser.state_dict()
    parent_storage = {t.data_ptr() for t in (*a.values(), *b.values())}
    for key, value in result.items():
        # halves are exact in float: one rounding of the sum either way
        assert torch.equal(value, (a[key] + b[key]) / 2), key
        assert value.data_ptr() not in parent_storage
    assert merged.denoiser.dtype == model.denoiser.dtype and not merged.denoiser.training
    image = _image(run_node, merged, clip, vae, ctx)
    assert np.abs(image - _image(run_node, model, clip, vae, ctx)).max() > 0.01


def test_add_and_subtract_are_comfyuis_arithmetic(sd_checkpoint, other, run_node, ctx):
    model, model2 = sd_checkpoint[0], other[0]
    a, b = model.denoiser.state_dict(), model2.denoiser.state_dict()
    added = run_node("diffusion.merge_models_add", model1=model, model2=model2, ctx=ctx)
    for key, value in added.denoiser.state_dict().items():
        torch.testing.assert_close(value, a[key] + b[key], rtol=0, atol=1e-6)
    # ComfyUI's ModelMergeSubtract scales model1 too: multiplier × (model1 − model2).
    difference = run_node("diffusion.merge_models_subtract", model1=model, model2=model2,
                          multiplier=0.5, ctx=ctx)
    for key, value in difference.denoiser.state_dict().items():
        torch.testing.assert_close(value, 0.5 * (a[key] - b[key]), rtol=0, atol=1e-6)
    # "Add difference": model2 + (model1 − model2) is model1 again.
    whole = run_node("diffusion.merge_models_subtract", model1=model, model2=model2, ctx=ctx)
    again = run_node("diffusion.merge_models_add", model1=model2, model2=whole, ctx=ctx)
    for key, value in again.denoiser.state_dict().items():
        torch.testing.assert_close(value, a[key], rtol=0, atol=1e-6)


def test_block_ratios_touch_only_their_blocks(sd_checkpoint, other, run_node, ctx):
    model, model2 = sd_checkpoint[0], other[0]
    a, b = model.denoiser.state_dict(), model2.denoiser.state_dict()
    parts = {key: merging.block_of(key) for key in a}
    assert parts["conv_in.weight"] == parts["down_blocks.0.resnets.0.conv1.weight"] == "input"
    assert parts["time_embedding.linear_1.weight"] == "input"  # ComfyUI's default ratio
    assert parts["mid_block.resnets.0.conv1.weight"] == "middle"
    assert parts["up_blocks.1.resnets.0.conv1.weight"] == parts["conv_out.weight"] == "out"
    assert parts["conv_norm_out.weight"] == "out"
    for taken in ("input", "middle", "out"):
        ratios = {name: 0.0 if name == taken else 1.0 for name in ("input", "middle", "out")}
        merged = run_node("diffusion.merge_model_blocks", model1=model, model2=model2,
                          ctx=ctx, **ratios).denoiser.state_dict()
        for key, value in merged.items():
            assert torch.equal(value, b[key] if parts[key] == taken else a[key]), (taken, key)
    half = run_node("diffusion.merge_model_blocks", model1=model, model2=model2, input=1.0,
                    middle=0.25, out=1.0, ctx=ctx).denoiser.state_dict()
    key = "mid_block.attentions.0.proj_in.weight"
    torch.testing.assert_close(half[key], 0.25 * a[key] + 0.75 * b[key], rtol=0, atol=1e-6)
    assert run_node("diffusion.merge_model_blocks", model1=model, model2=model2,
                    ctx=ctx) is model  # all at 1: model1 as it is


def test_clip_merge(sd_checkpoint, other, run_node, ctx):
    model, clip, vae = sd_checkpoint
    clip2 = other[1]
    merged = run_node("diffusion.merge_clip", clip1=clip, clip2=clip2, ratio=0.5, ctx=ctx)
    encoder = merged.encoders[0]
    assert encoder.tokenizer is clip.encoders[0].tokenizer and encoder.slot == "clip_l"
    a = clip.encoders[0].model.state_dict()
    b = clip2.encoders[0].model.state_dict()
    for key, value in encoder.model.state_dict().items():
        if value.is_floating_point():
            assert torch.equal(value, (a[key] + b[key]) / 2), key
    buffers = dict(encoder.model.named_buffers())
    for name, buffer in clip.encoders[0].model.named_buffers():
        assert torch.equal(buffers[name], buffer), name  # position ids are clip1's
    assert run_node("diffusion.merge_clip", clip1=clip, clip2=clip2, ratio=1.0, ctx=ctx) is clip
    image = _image(run_node, model, merged, vae, ctx)
    assert np.abs(image - _image(run_node, model, clip, vae, ctx)).max() > 0.01


def test_parents_are_unchanged_after_merging(sd_checkpoint, other, parents_before, run_node,
                                             ctx):
    model, clip, vae = sd_checkpoint
    before = _image(run_node, model, clip, vae, ctx)
    for ratio in (0.3, 0.5):
        run_node("diffusion.merge_models", model1=model, model2=other[0], ratio=ratio, ctx=ctx)
        run_node("diffusion.merge_models", model1=other[0], model2=model, ratio=ratio, ctx=ctx)
        run_node("diffusion.merge_clip", clip1=clip, clip2=other[1], ratio=ratio, ctx=ctx)
    run_node("diffusion.merge_models_subtract", model1=model, model2=other[0], ctx=ctx)
    for module, weights in parents_before:
        _assert_weights(module, weights)
    np.testing.assert_array_equal(_image(run_node, model, clip, vae, ctx), before)


def test_models_that_do_not_fit_are_refused_naming_both(sd_checkpoint, tiny_models, run_node,
                                                         ctx):
    model, clip, _ = sd_checkpoint
    sdxl_model, sdxl_clip, _ = run_node("diffusion.load_checkpoint",
                                        checkpoint=tiny_models.sdxl_folder, ctx=ctx)
    with pytest.raises(NodeError, match="different model families") as refused:
        run_node("diffusion.merge_models", model1=model, model2=sdxl_model, ratio=0.5, ctx=ctx)
    assert "tiny-sd (SD 1.x)" in str(refused.value) and "tiny-sdxl (SDXL)" in str(refused.value)
    with pytest.raises(NodeError, match="different model families"):
        run_node("diffusion.merge_clip", clip1=sdxl_clip, clip2=clip, ratio=0.5, ctx=ctx)
    inpaint = run_node("diffusion.load_checkpoint", checkpoint=tiny_models.sd_inpaint_folder,
                       ctx=ctx)[0]
    with pytest.raises(NodeError, match="differ in shape") as refused:
        run_node("diffusion.merge_models_add", model1=model, model2=inpaint, ctx=ctx)
    assert "tiny-sd-inpaint" in str(refused.value) and "conv_in.weight" in str(refused.value)


def test_a_parent_with_a_lora_is_refused(tiny_models, other, run_node, ctx):
    model, clip, _ = run_node("diffusion.load_checkpoint", checkpoint=tiny_models.sd_folder,
                              ctx=ctx)
    lora_model, lora_clip = run_node("diffusion.load_lora", model=model, clip=clip,
                                     lora=tiny_models.lora_file, ctx=ctx)
    with pytest.raises(NodeError, match="merge the plain models, then apply"):
        run_node("diffusion.merge_models", model1=other[0], model2=lora_model, ratio=0.5,
                 ctx=ctx)
    with pytest.raises(NodeError, match="has a LoRA applied"):
        run_node("diffusion.merge_clip", clip1=lora_clip, clip2=other[1], ratio=0.5, ctx=ctx)
    # The plain handle of a module another branch injected a LoRA into merges its base weights.
    merged = run_node("diffusion.merge_models", model1=model, model2=other[0], ratio=0.5,
                      ctx=ctx)
    assert not any("lora" in key for key in merged.denoiser.state_dict())
    merged_clip = run_node("diffusion.merge_clip", clip1=clip, clip2=other[1], ratio=0.5, ctx=ctx)
    assert not any("lora" in key for key in merged_clip.encoders[0].model.state_dict())


# -- Save Checkpoint ---------------------------------------------------------------------------


def test_saved_checkpoint_loads_back_to_the_same_weights_and_image(sd_checkpoint, other,
                                                                    run_node, ctx, recorder):
    model, clip, vae = sd_checkpoint
    merged = run_node("diffusion.merge_models", model1=model, model2=other[0], ratio=0.4, ctx=ctx)
    merged_clip = run_node("diffusion.merge_clip", clip1=clip, clip2=other[1], ratio=0.6, ctx=ctx)
    v_model = run_node("diffusion.model_sampling_discrete", model=merged,
                       sampling="v_prediction", zsnr=True)
    for handle in (merged, v_model):
        run_node("diffusion.save_checkpoint", model=handle, clip=merged_clip, vae=vae,
                 filename_prefix="checkpoints/merged", ctx=ctx)
    folder = Path(ctx.output_dir).resolve() / "checkpoints"
    paths = [folder / "merged_00001_.safetensors", folder / "merged_00002_.safetensors"]
    assert [path.resolve() for path in ctx.files] == paths
    assert sorted(folder.iterdir()) == paths  # no partial or reserved files left behind
    for path, handle in zip(paths, (merged, v_model), strict=True):
        loaded, loaded_clip, loaded_vae = run_node("diffusion.load_checkpoint",
                                                   checkpoint=str(path), ctx=ctx)
        _assert_weights(loaded.denoiser, _weights(handle.denoiser))
        _assert_weights(loaded_clip.encoders[0].model, _weights(merged_clip.encoders[0].model))
        _assert_weights(loaded_vae.model, _weights(vae.model))
        assert loaded.scheduler_config == handle.scheduler_config
        assert loaded.family is handle.family
        np.testing.assert_array_equal(_image(run_node, loaded, loaded_clip, loaded_vae, ctx),
                                      _image(run_node, handle, merged_clip, vae, ctx))
    from safetensors import safe_open

    with safe_open(str(paths[1]), framework="pt") as handle:
        keys = set(handle.keys())
    assert {"v_pred", "ztsnr"} <= keys  # what ComfyUI reads
    assert "model.diffusion_model.input_blocks.0.0.weight" in keys


def test_an_sdxl_checkpoint_saves_and_loads_back(tiny_models, run_node, ctx):
    model, clip, vae = run_node("diffusion.load_checkpoint", checkpoint=tiny_models.sdxl_folder,
                                ctx=ctx)
    run_node("diffusion.save_checkpoint", model=model, clip=clip, vae=vae,
             filename_prefix="xl", ctx=ctx)
    (path,) = ctx.files
    loaded, loaded_clip, loaded_vae = run_node("diffusion.load_checkpoint", checkpoint=str(path),
                                               ctx=ctx)
    assert loaded.family is families.SDXL and loaded.scheduler_config == model.scheduler_config
    _assert_weights(loaded.denoiser, _weights(model.denoiser))
    _assert_weights(loaded_vae.model, _weights(vae.model))
    for encoder, original in zip(loaded_clip.encoders, clip.encoders, strict=True):
        assert (encoder.slot, encoder.pooled) == (original.slot, original.pooled)
        _assert_weights(encoder.model, _weights(original.model))


def test_save_checkpoint_refuses_what_it_cannot_write(sd_checkpoint, tiny_models, run_node,
                                                      ctx):
    model, clip, vae = sd_checkpoint
    with pytest.raises(NodeError, match=r"SDXL checkpoints; this is a Flux model"):
        run_node("diffusion.save_checkpoint", model=replace(model, family=families.FLUX),
                 clip=clip, vae=vae, ctx=ctx)
    lora_model, lora_clip = run_node("diffusion.load_lora", model=model, clip=clip,
                                     lora=tiny_models.lora_file, ctx=ctx)
    with pytest.raises(NodeError, match="LoRA"):
        run_node("diffusion.save_checkpoint", model=lora_model, clip=lora_clip, vae=vae, ctx=ctx)
    with pytest.raises(NodeError, match="inside the output folder"):
        run_node("diffusion.save_checkpoint", model=model, clip=clip, vae=vae,
                 filename_prefix="../outside", ctx=ctx)
    assert not Path(ctx.output_dir).exists() or not any(Path(ctx.output_dir).rglob("*.*"))


# -- sampling settings -------------------------------------------------------------------------


def test_model_sampling_discrete_changes_the_scheduler_config(sd_checkpoint, run_node, ctx):
    model, clip, vae = sd_checkpoint
    before = dict(model.scheduler_config)
    v_model = run_node("diffusion.model_sampling_discrete", model=model,
                       sampling="v_prediction")
    assert v_model.scheduler_config == {**before, "prediction_type": "v_prediction",
                                        "rescale_betas_zero_snr": False}
    assert v_model.denoiser is model.denoiser and dict(model.scheduler_config) == before
    x0 = run_node("diffusion.model_sampling_discrete", model=model, sampling="x0", zsnr=True)
    assert x0.scheduler_config["prediction_type"] == "sample"
    assert x0.scheduler_config["rescale_betas_zero_snr"] is True
    lcm = run_node("diffusion.model_sampling_discrete", model=model, sampling="lcm")
    scheduler = build_scheduler("lcm", "normal", lcm.scheduler_config)
    assert (scheduler.config.prediction_type, scheduler.config.original_inference_steps,
            scheduler.config.timestep_scaling) == ("epsilon", 50, 10.0)
    eps = run_node("diffusion.model_sampling_discrete", model=model, sampling="eps")
    np.testing.assert_array_equal(_image(run_node, eps, clip, vae, ctx),
                                  _image(run_node, model, clip, vae, ctx))
    assert np.abs(_image(run_node, v_model, clip, vae, ctx)
                  - _image(run_node, model, clip, vae, ctx)).max() > 0.01
    with pytest.raises(NodeError, match="flow matching"):
        run_node("diffusion.model_sampling_discrete", model=replace(model, family=families.SD3))


def test_rescaled_guidance_is_diffusers_rescale_noise_cfg():
    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import rescale_noise_cfg

    generator = torch.Generator().manual_seed(0)
    prediction = torch.randn(4, 4, 8, 8, generator=generator)
    uncond, cond = prediction.chunk(2)
    guided = uncond + 7.5 * (cond - uncond)
    assert torch.equal(RescaledGuidance(7.5, 0.7).combine(prediction),
                       rescale_noise_cfg(guided, cond, guidance_rescale=0.7))
    assert torch.equal(RescaledGuidance(7.5, 0.0).combine(prediction),
                       ClassifierFreeGuidance(7.5).combine(prediction))


def test_the_family_picks_the_guidance_the_model_asks_for(sd_checkpoint, run_node):
    model = sd_checkpoint[0]
    rescaled = run_node("diffusion.rescale_cfg", model=model, multiplier=0.6)
    assert rescaled.guidance_rescale == 0.6 and model.guidance_rescale == 0.0
    assert model.family.guidance(rescaled, 5.0) == RescaledGuidance(5.0, 0.6)
    assert model.family.guidance(model, 5.0) == ClassifierFreeGuidance(5.0)
    assert isinstance(model.family.guidance(rescaled, 1.0), NoGuidance)
    plain = run_node("diffusion.rescale_cfg", model=model, multiplier=0.0)
    assert model.family.guidance(plain, 5.0) == ClassifierFreeGuidance(5.0)


def test_rescale_cfg_equals_the_pipeline_with_guidance_rescale(sd_checkpoint, tiny_models,
                                                                run_node, ctx):
    from diffusers import StableDiffusionPipeline

    model, clip, vae = sd_checkpoint
    rescaled = run_node("diffusion.rescale_cfg", model=model, multiplier=0.7)
    image = _image(run_node, rescaled, clip, vae, ctx, cfg=9.0, steps=4)
    pipeline = StableDiffusionPipeline.from_pretrained(
        tiny_models.checkpoint(tiny_models.sd_folder), local_files_only=True,
        safety_checker=None, requires_safety_checker=False)
    pipeline.scheduler = build_scheduler("euler", "normal", pipeline.scheduler.config, SEED)
    pipeline.set_progress_bar_config(disable=True)
    expected = pipeline(prompt=PROMPT, negative_prompt=NEGATIVE, width=32, height=32,
                        num_inference_steps=4, guidance_scale=9.0, guidance_rescale=0.7,
                        generator=torch.Generator("cpu").manual_seed(SEED),
                        output_type="np").images
    assert image.shape == expected.shape
    difference = float(np.abs(image - expected).max())
    assert difference <= MAX_PIXEL_DIFFERENCE, f"max pixel difference {difference * 255:.2f}/255"
    # and the rescale did something
    plain = _image(run_node, model, clip, vae, ctx, cfg=9.0, steps=4)
    assert np.abs(plain - image).max() > 2 * MAX_PIXEL_DIFFERENCE
    # multiplier 0 is plain CFG, bit for bit
    zero = run_node("diffusion.rescale_cfg", model=model, multiplier=0.0)
    np.testing.assert_array_equal(_image(run_node, zero, clip, vae, ctx, cfg=9.0, steps=4),
                                  plain)
