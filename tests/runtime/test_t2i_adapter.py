"""T2I-Adapters through Load ControlNet, and diff ControlNets, on tiny seeded models.

The adapters are tiny diffusers ``T2IAdapter`` modules sized to the tiny UNets, saved in
TencentARC's original key layout (nodestudio.runtime.tiny_t2i); the reference for
sampling is diffusers' own StableDiffusionAdapterPipeline on the same folder.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nodestudio.api import NodeError
from nodestudio.app.models import ModelLibrary
from nodestudio.engine.cancel import CancelToken
from nodestudio.engine.context import RunContext, RunEnvironment
from nodestudio.runtime.types import ControlUse

SEED = 1234


@pytest.fixture(scope="module")
def adapters(tiny_models, tmp_path_factory):
    from nodestudio.runtime.tiny_t2i import build_tiny_t2i

    return build_tiny_t2i(tmp_path_factory.mktemp("adapters"),
                          tiny_models.checkpoint(tiny_models.sd_folder),
                          tiny_models.checkpoint(tiny_models.sdxl_folder),
                          tiny_models.controlnet(tiny_models.controlnet_folder))


@pytest.fixture(scope="module")
def prompts(sd_checkpoint, run_node):
    _, clip, _ = sd_checkpoint
    return (run_node("diffusion.text_encode", clip=clip, text="a tower"),
            run_node("diffusion.text_encode", clip=clip, text=""))


def _load(path, **extra):
    from nodestudio.runtime.checkpoints import load_controlnet

    return load_controlnet(path, "cpu", **extra)


def _hint(size: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((1, size, size, 3)).astype(np.float32)


def _image(run_node, ctx, checkpoint, positive, negative, size=64, steps=4):
    model, _, vae = checkpoint
    latent = run_node("diffusion.empty_latent", model=model, width=size, height=size)
    out = run_node("diffusion.sampler", model=model, positive=positive, negative=negative,
                   latent=latent, seed=SEED, steps=steps, cfg=5.0, sampler="euler", ctx=ctx)
    return run_node("diffusion.vae_decode", vae=vae, latent=out, ctx=ctx)


def _with(prompts, handle, hint, strength=1.0, start=0.0, end=1.0):
    pixels = torch.from_numpy(hint).permute(0, 3, 1, 2).contiguous()
    use = ControlUse(handle, pixels, strength, start, end)
    return prompts[0].with_control(use), prompts[1].with_control(use)


@pytest.mark.parametrize(("name", "adapter_type", "seed", "in_channels"), [
    ("full_file", "full_adapter", 40, 3), ("sketch_file", "full_adapter", 41, 1),
    ("light_file", "light_adapter", 42, 3), ("xl_file", "full_adapter_xl", 43, 3)])
def test_original_layout_files_give_diffusers_adapters(adapters, name, adapter_type, seed,
                                                       in_channels, tiny_models):
    from diffusers import UNet2DConditionModel

    from nodestudio.runtime.tiny_t2i import tiny_t2i_adapter

    folder = tiny_models.sdxl_folder if adapter_type == "full_adapter_xl" else (
        tiny_models.sd_folder)
    unet_config = UNet2DConditionModel.load_config(tiny_models.checkpoint(folder),
                                                   subfolder="unet")
    expected = tiny_t2i_adapter(unet_config["block_out_channels"], adapter_type, seed,
                                in_channels)
    handle = _load(adapters.path(getattr(adapters, name)))
    assert handle.kind == "t2i_adapter"
    assert type(handle.model).__name__ == "T2IAdapter"
    assert handle.model.config.adapter_type == adapter_type
    assert handle.model.config.in_channels == in_channels
    assert handle.family.id.value == ("sdxl" if adapter_type == "full_adapter_xl" else "sd1")
    hint = torch.rand(1, in_channels, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        got, want = handle.model(hint), expected(hint)
    assert len(got) == len(want) >= 2
    for mine, theirs in zip(got, want, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=0)
        assert mine.abs().max() > 0.1


def test_the_original_file_and_the_diffusers_folder_are_the_same_adapter(adapters):
    from_file = _load(adapters.path(adapters.full_file)).model.state_dict()
    from_folder = _load(adapters.path(adapters.full_folder))
    assert from_folder.kind == "t2i_adapter"
    reference = from_folder.model.state_dict()
    assert from_file.keys() == reference.keys()
    for key, tensor in reference.items():
        assert torch.equal(from_file[key], tensor), key


# The reference pipeline decodes with its own deprecated helper.
@pytest.mark.filterwarnings("ignore:The decode_latents method:FutureWarning")
def test_sampling_matches_diffusers_adapter_pipeline(adapters, tiny_models, prompts, run_node,
                                                     ctx, sd_checkpoint):
    from diffusers import StableDiffusionAdapterPipeline, T2IAdapter

    from nodestudio.runtime.schedulers import build_scheduler

    handle = _load(adapters.path(adapters.full_file))
    hint = _hint()
    image = _image(run_node, ctx, sd_checkpoint, *_with(prompts, handle, hint, strength=0.8))

    pipeline = StableDiffusionAdapterPipeline.from_pretrained(
        tiny_models.checkpoint(tiny_models.sd_folder), local_files_only=True,
        adapter=T2IAdapter.from_pretrained(adapters.path(adapters.full_folder)),
        safety_checker=None, requires_safety_checker=False)
    pipeline.scheduler = build_scheduler("euler", "normal", pipeline.scheduler.config, SEED)
    pipeline.set_progress_bar_config(disable=True)
    expected = pipeline(prompt="a tower", negative_prompt="", image=torch.from_numpy(hint)
                        .permute(0, 3, 1, 2), height=64, width=64, num_inference_steps=4,
                        guidance_scale=5.0, adapter_conditioning_scale=0.8,
                        generator=torch.Generator("cpu").manual_seed(SEED),
                        output_type="np").images
    assert image.std() > 0.01
    assert float(np.abs(image - expected).max()) <= 2 / 255
    plain = _image(run_node, ctx, sd_checkpoint, *prompts)
    assert np.abs(plain - expected).max() > 0.01  # the adapter acts


def test_strength_zero_is_no_adapter_and_the_step_range_counts(adapters, prompts, run_node,
                                                               ctx, sd_checkpoint):
    handle = _load(adapters.path(adapters.full_file))
    hint = _hint()
    plain = _image(run_node, ctx, sd_checkpoint, *prompts)
    zero = _image(run_node, ctx, sd_checkpoint, *_with(prompts, handle, hint, strength=0.0))
    np.testing.assert_array_equal(zero, plain)
    full = _image(run_node, ctx, sd_checkpoint, *_with(prompts, handle, hint))
    late = _image(run_node, ctx, sd_checkpoint, *_with(prompts, handle, hint, start=0.5))
    empty = _image(run_node, ctx, sd_checkpoint,
                   *_with(prompts, handle, hint, start=0.9, end=0.95))  # no step of 4 in it
    np.testing.assert_array_equal(empty, plain)
    assert np.abs(full - plain).max() > 0.01
    assert np.abs(late - plain).max() > 0.01 and np.abs(late - full).max() > 0.01


def test_features_per_step_follow_start_end_strength_and_halves(adapters, prompts):
    from nodestudio.runtime import control

    handle = _load(adapters.path(adapters.sketch_file))
    hint = _hint(32)
    positive = prompts[0].with_control(
        ControlUse(handle, torch.from_numpy(hint).permute(0, 3, 1, 2), 0.5, 0.25, 0.75))
    (prepared,) = control.prepare_controls(positive, prompts[1], batch=2, height=64, width=64,
                                           do_cfg=True, cross_attention_dim=32,
                                           device=torch.device("cpu"))
    # One-channel adapters read the grey value of the resized hint (ComfyUI's rule).
    grey = torch.nn.functional.interpolate(torch.from_numpy(hint).permute(0, 3, 1, 2),
                                           size=(64, 64)).mean(dim=1, keepdim=True)
    with torch.no_grad():
        expected = handle.model(grey.repeat(2, 1, 1, 1))
    for feature, want in zip(prepared.features, expected, strict=True):
        assert feature.shape[0] == 4  # [negative × 2, positive × 2]
        torch.testing.assert_close(feature[2:], want)
    unet = _unet_like_sd()
    sample = torch.zeros(4, 4, 8, 8)
    per_step = [control.adapter_residuals([prepared], step=i, total=4, sample=sample, unet=unet)
                for i in range(4)]
    assert per_step[0] is None and per_step[3] is None  # outside [0.25, 0.75]
    first, second = per_step[1], per_step[2]
    assert first is not second  # a new list per call: the UNet pops it
    for feature, want in zip(first, expected, strict=True):
        assert torch.count_nonzero(feature[:2]) == 0  # applied to the positive prompt only
        torch.testing.assert_close(feature[2:], want * 0.5)


def _unet_like_sd():
    from diffusers import UNet2DConditionModel

    from nodestudio.runtime.tiny import tiny_sd_components

    unet = tiny_sd_components(0)["unet"]
    assert isinstance(unet, UNet2DConditionModel)
    return unet


def test_an_adapter_for_another_family_is_explained(adapters, prompts, run_node, ctx,
                                                    sd_checkpoint):
    handle = _load(adapters.path(adapters.xl_file))
    with pytest.raises(NodeError, match="does not fit this model"):
        _image(run_node, ctx, sd_checkpoint, *_with(prompts, handle, _hint()))


def test_sdxl_adapter_acts_on_the_sdxl_model(adapters, tiny_models, diffusion_registry,
                                             run_node, ctx):
    environment = RunEnvironment(device="cpu", models=ModelLibrary([tiny_models.root],
                                                                   include_demo=False))
    loading = RunContext("load", environment, CancelToken(), lambda event: None, "run-x", None)
    load = diffusion_registry.get("diffusion.load_checkpoint").function
    checkpoint = load(checkpoint=tiny_models.sdxl_folder, ctx=loading)
    clip = checkpoint[1]
    prompts = (run_node("diffusion.text_encode", clip=clip, text="a bridge"),
               run_node("diffusion.text_encode", clip=clip, text=""))
    handle = _load(adapters.path(adapters.xl_file))
    plain = _image(run_node, ctx, checkpoint, *prompts, steps=3)
    # 72 px is no multiple of the SDXL adapter's 16: the hint is taken at 80 px (ComfyUI's
    # rounding up) and the features still fit the UNet's levels.
    adapted = _image(run_node, ctx, checkpoint, *_with(prompts, handle, _hint(72)), size=72,
                     steps=3)
    plain_72 = _image(run_node, ctx, checkpoint, *prompts, size=72, steps=3)
    assert plain.shape[1] == 64 and adapted.shape[1] == 72
    assert np.abs(adapted - plain_72).max() > 0.01


def test_diff_controlnet_equals_the_whole_controlnet(adapters, tiny_models, sd_checkpoint,
                                                     diffusion_registry):
    whole = _load(tiny_models.controlnet(tiny_models.controlnet_folder)).model.state_dict()
    model = sd_checkpoint[0]
    environment = RunEnvironment(device="cpu", models=ModelLibrary(
        [tiny_models.root, adapters.root], include_demo=False))
    context = RunContext("diff", environment, CancelToken(), lambda event: None, "run-d", None)
    node = diffusion_registry.get("diffusion.load_diff_controlnet").function
    merged = node(model=model, control_net_name=adapters.diff_file, ctx=context)
    assert merged.kind == "controlnet"
    got = merged.model.state_dict()
    assert got.keys() == whole.keys()
    for key, tensor in whole.items():
        torch.testing.assert_close(got[key], tensor, rtol=0, atol=1e-6, msg=key)
    with pytest.raises(NodeError, match=r"diff ControlNet.*Load ControlNet \(diff\)"):
        _load(adapters.path(adapters.diff_file))
    # Without a difference marker, the model is not used: an ordinary ControlNet loads.
    plain = node(model=model, control_net_name=tiny_models.controlnet_file, ctx=context)
    assert plain.model.state_dict().keys() == whole.keys()


def test_a_t2i_adapter_in_the_checkpoints_folder_is_named(adapters):
    from safetensors.torch import load_file

    from nodestudio.runtime.detection import NotACheckpointError, detect_checkpoint

    weights = load_file(str(adapters.path(adapters.full_file)))
    with pytest.raises(NotACheckpointError, match=r"T2I-Adapter.*controlnet folder"):
        detect_checkpoint({k: tuple(v.shape) for k, v in weights.items()}, weights.__getitem__)
