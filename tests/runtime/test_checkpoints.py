"""Loading models: single files in the original layout, family detection, shipped configs."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from nodestudio.api import NodeError
from nodestudio.paths import resources_dir
from nodestudio.runtime import detection
from nodestudio.runtime.checkpoints import (
    ModelLoadError,
    latent_format_of,
    load_checkpoint,
    load_controlnet,
    load_vae,
    read_state_dict,
)
from nodestudio.runtime.original_layout import UNET_PREFIX
from nodestudio.runtime.tiny import save_original_checkpoint


def _assert_same_weights(first: torch.nn.Module, second: torch.nn.Module) -> None:
    a, b = first.state_dict(), second.state_dict()
    assert a.keys() == b.keys()
    different = [key for key in a if not torch.equal(a[key], b[key])]
    assert not different, different[:5]


@pytest.mark.parametrize(("folder", "file"),
                         [("sd_folder", "sd_file"), ("sdxl_folder", "sdxl_file")])
def test_single_file_in_original_layout_holds_the_folders_weights(tiny_models, folder, file):
    from_folder = load_checkpoint(tiny_models.checkpoint(getattr(tiny_models, folder)), "cpu")
    from_file = load_checkpoint(tiny_models.checkpoint(getattr(tiny_models, file)), "cpu")
    keys = load_file(str(tiny_models.checkpoint(getattr(tiny_models, file)))).keys()
    assert any(key.startswith(UNET_PREFIX + "input_blocks.") for key in keys)
    assert any(key.startswith("first_stage_model.decoder.up.") for key in keys)
    _assert_same_weights(from_folder.model.denoiser, from_file.model.denoiser)
    _assert_same_weights(from_folder.vae.model, from_file.vae.model)
    for ours, theirs in zip(from_folder.clip.encoders, from_file.clip.encoders, strict=True):
        _assert_same_weights(ours.model, theirs.model)
        assert ours.tokenizer.get_vocab() == theirs.tokenizer.get_vocab()
        assert ours.tokenizer.pad_token == theirs.tokenizer.pad_token
    assert from_file.model.family == from_folder.model.family
    assert from_file.model.latent_format == from_folder.model.latent_format
    assert from_file.model.latent_format == ("sdxl" if "xl" in folder else "sd")
    assert from_file.model.scheduler_config["prediction_type"] == "epsilon"


def test_single_file_controlnet_holds_the_folders_weights(tiny_models):
    folder = load_controlnet(tiny_models.controlnet(tiny_models.controlnet_folder), "cpu")
    single = load_controlnet(tiny_models.controlnet(tiny_models.controlnet_file), "cpu")
    assert any(k.startswith("control_model.input_hint_block.14")
               for k in load_file(str(tiny_models.controlnet(tiny_models.controlnet_file))))
    _assert_same_weights(folder.model, single.model)
    assert single.family.id == detection.SD1


def test_inpainting_single_file_gets_a_9_channel_unet(tiny_models, tmp_path):
    path = save_original_checkpoint(tiny_models.checkpoint(tiny_models.sd_inpaint_folder),
                                    tmp_path / "inpaint.safetensors")
    loaded = load_checkpoint(path, "cpu")
    assert loaded.model.denoiser.config.in_channels == 9 and loaded.model.is_inpainting


def test_ckpt_files_load_only_plain_tensors(tiny_models, tmp_path):
    weights = load_file(str(tiny_models.checkpoint(tiny_models.sd_file)))
    good = tmp_path / "model.ckpt"
    torch.save({"state_dict": weights}, good)
    read, metadata = read_state_dict(good)
    assert read.keys() == weights.keys() and metadata == {}
    assert all(torch.equal(read[key], weights[key]) for key in weights)
    bad = tmp_path / "evil.ckpt"
    torch.save({"state_dict": weights, "payload": _Payload()}, bad)
    with pytest.raises(ModelLoadError, match=r"evil\.ckpt is a pickle that holds code"):
        load_checkpoint(bad, "cpu")


class _Payload:
    """An arbitrary object: unpickling it would run code, weights_only refuses it."""


def test_ckpt_uses_the_shipped_config_of_its_family(tiny_models, tmp_path):
    weights = load_file(str(tiny_models.checkpoint(tiny_models.sd_file)))
    path = tmp_path / "tiny.ckpt"
    torch.save({"state_dict": weights}, path)
    # The tiny weights do not fit SD1.5's real shapes: loading says so, naming the file.
    with pytest.raises(ModelLoadError, match=r"tiny\.ckpt"):
        load_checkpoint(path, "cpu")


def test_vae_single_file_in_either_layout(tiny_models, tmp_path):
    weights = load_file(str(tiny_models.checkpoint(tiny_models.sd_file)))
    vae_only = {k.removeprefix("first_stage_model."): v for k, v in weights.items()
                if k.startswith("first_stage_model.")}
    metadata = {"nodestudio.diffusers_config": json.dumps({"vae": json.loads(
        (tiny_models.vae(tiny_models.vae_folder) / "config.json").read_text())})}
    save_file(vae_only, str(tmp_path / "tiny_vae.safetensors"), metadata=metadata)
    from_file = load_vae(tmp_path / "tiny_vae.safetensors", "cpu")
    from_folder = load_vae(tiny_models.vae(tiny_models.vae_folder), "cpu")
    _assert_same_weights(from_folder.model, from_file.model)
    assert from_file.scale_factor == 8 and from_file.latent_channels == 4


def test_latent_format_follows_the_vae_scaling():
    from types import SimpleNamespace

    assert latent_format_of(SimpleNamespace(latent_channels=4, scaling_factor=0.18215)) == "sd"
    assert latent_format_of(SimpleNamespace(latent_channels=4, scaling_factor=0.13025)) == "sdxl"
    assert latent_format_of(SimpleNamespace(latent_channels=4, scaling_factor=1.0)) == "unknown"
    assert latent_format_of(SimpleNamespace(latent_channels=16, scaling_factor=0.18215)) == (
        "unknown")


def _sd2_shapes(statistic: float) -> tuple[dict, dict]:
    key = detection.SD2_V_STATISTIC_KEY
    bias = torch.tensor([-1.0, 1.0]) * statistic
    shapes = {
        UNET_PREFIX + "input_blocks.0.0.weight": (320, 4, 3, 3),
        UNET_PREFIX + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (320, 1024),
        "cond_stage_model.model.token_embedding.weight": (49408, 1024),
        key: (2,),
    }
    return shapes, {key: bias}


@pytest.mark.parametrize(("statistic", "prediction", "config"), [
    (0.2, "v_prediction", "sd2"), (0.05, "epsilon", "sd2_base"),
])
def test_sd2_prediction_type_from_the_weight_statistic(statistic, prediction, config):
    shapes, tensors = _sd2_shapes(statistic)
    kind = detection.detect_checkpoint(shapes, tensors.__getitem__)
    assert (kind.family, kind.prediction_type, kind.config_name) == ("sd2", prediction, config)


def test_explicit_markers_beat_the_heuristic(tmp_path):
    shapes, tensors = _sd2_shapes(0.2)
    declared = detection.detect_checkpoint(shapes, tensors.__getitem__,
                                           {"modelspec.prediction_type": "epsilon"})
    assert declared.prediction_type == "epsilon"
    sidecar = tmp_path / "model.yaml"
    sidecar.write_text('model:\n  params:\n    parameterization: "eps"\n')
    assert detection.detect_checkpoint(shapes, tensors.__getitem__, {},
                                       sidecar).prediction_type == "epsilon"
    sd1 = {UNET_PREFIX + "input_blocks.0.0.weight": (320, 4, 3, 3),
           "cond_stage_model.transformer.text_model.final_layer_norm.weight": (768,),
           "v_pred": (), "ztsnr": ()}
    kind = detection.detect_checkpoint(sd1, tensors.__getitem__)
    assert (kind.family, kind.prediction_type, kind.zero_terminal_snr) == ("sd1", "v_prediction",
                                                                            True)


def test_files_that_are_not_checkpoints_are_named_for_what_they_are():
    with pytest.raises(detection.NotACheckpointError, match="VAE"):
        detection.detect_checkpoint({"encoder.down.0.block.0.conv1.weight": (1,)}, dict().get)
    with pytest.raises(detection.NotACheckpointError, match="LoRA"):
        detection.detect_checkpoint({"lora_unet_down_blocks_0.lora_up.weight": (1,)}, dict().get)
    refiner = {UNET_PREFIX + "input_blocks.0.0.weight": (384, 4, 3, 3),
               "conditioner.embedders.0.model.ln_final.weight": (1280,)}
    # The SDXL refiner (OpenCLIP-bigG alone) is a checkpoint of its own family now.
    kind = detection.detect_checkpoint(refiner, dict().get)
    assert (kind.family, kind.config_name) == (detection.SDXL_REFINER, "sdxl_refiner")


def test_a_lora_loaded_as_checkpoint_is_a_clear_node_error(tiny_models):
    with pytest.raises(NodeError, match="LoRA: put it in the loras folder"):
        load_checkpoint(tiny_models.lora(tiny_models.lora_file), "cpu")


# Parameter counts of the released models, so a typo in a shipped config cannot go unnoticed.
REAL_SIZES = {
    "sd15": (859_520_964, 83_653_863, 123_060_480),
    "sd2": (865_910_724, 83_653_863, 340_387_840),
    "sd2_base": (865_910_724, 83_653_863, 340_387_840),
    "sdxl": (2_567_463_684, 83_653_863, 123_060_480),
}


@pytest.mark.parametrize("family", sorted(REAL_SIZES))
def test_shipped_configs_build_the_released_architectures(family):
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    folder = resources_dir() / "model_configs" / family

    def config(part: str) -> dict:
        return json.loads((folder / part / "config.json").read_text())

    def count(module: torch.nn.Module) -> int:
        return sum(parameter.numel() for parameter in module.parameters())

    with init_empty_weights():
        unet = UNet2DConditionModel.from_config(config("unet"))
        vae = AutoencoderKL.from_config(config("vae"))
        text = CLIPTextModel(CLIPTextConfig.from_dict(config("text_encoder")))
    assert (count(unet), count(vae), count(text)) == REAL_SIZES[family]
    assert (folder / "model_index.json").is_file()
    assert (folder / "scheduler" / "scheduler_config.json").is_file()


def test_sd2_style_single_file_gets_openclip_text_and_its_own_prediction(tmp_path):
    from diffusers import EulerDiscreteScheduler

    from nodestudio.runtime.tiny import SCHEDULER_CONFIG, save_sd_folder, tiny_sd_components

    parts = tiny_sd_components(seed=3)
    parts["scheduler"] = EulerDiscreteScheduler.from_config(
        {**SCHEDULER_CONFIG, "prediction_type": "v_prediction"})
    folder = save_sd_folder(parts, tmp_path / "sd2-like")
    path = save_original_checkpoint(folder, tmp_path / "sd2-like.safetensors", open_clip_text=True)
    assert any(k.startswith("cond_stage_model.model.transformer.resblocks.")
               for k in load_file(str(path)))

    loaded = load_checkpoint(path, "cpu")
    assert loaded.model.family.id == detection.SD2
    # No marker in the file: the prediction type its embedded scheduler config states stands.
    assert loaded.model.scheduler_config["prediction_type"] == "v_prediction"
    encoder = loaded.clip.encoders[0]
    assert encoder.tokenizer.pad_token == "!" and not encoder.penultimate
    _assert_same_weights(load_checkpoint(folder, "cpu").clip.encoders[0].model, encoder.model)


def test_handles_offload_to_the_cpu_and_the_sampler_brings_them_back(tiny_models, run_node, ctx):
    """On this CPU-only machine: the hooks exist, run, and leave the models usable."""
    loaded = load_checkpoint(tiny_models.checkpoint(tiny_models.sd_folder), "cpu")
    for handle in (loaded.model, loaded.clip, loaded.vae):
        handle.offload_to_cpu()
        handle.on_cache_evict()
    prompt = run_node("diffusion.text_encode", clip=loaded.clip, text="x")
    latent = run_node("diffusion.empty_latent", model=loaded.model, width=32, height=32)
    out = run_node("diffusion.sampler", model=loaded.model, positive=prompt, latent=latent,
                   seed=0, steps=1, cfg=1.0, ctx=ctx)
    assert out.samples.shape == (1, 4, 4, 4)
