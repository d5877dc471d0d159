"""Broken model files from strangers reach the artist as one sentence naming the file (issue 14,
item 10): truncated and oversized-header .safetensors, a pickled .bin in a diffusers folder, and
a ControlNet whose blocks do not match the model, refused before the first sampling step."""

from __future__ import annotations

import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from nodestudio.api import NodeError

#: Library text an artist must never see instead of a sentence about their file.
_RAW = ("SafetensorError", "deserializing", "Weights only load failed", "PyTorch 2.6",
        "weights_only", "size of tensor", "Traceback", "add_safe_globals")


def _assert_one_sentence(message: str, names: str) -> None:
    assert names in message, message
    assert "\n" not in message and len(message) < 400, message
    for raw in _RAW:
        assert raw not in message, message


def _truncated(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])  # a download that stopped half-way
    return target


def _huge_header(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    target.write_bytes(struct.pack("<Q", 2**40) + data[8:4096])  # claims a 1 TiB header
    return target


def _loaders() -> dict[str, Callable[[Path], object]]:
    from nodestudio.runtime.checkpoints import load_checkpoint, load_controlnet, load_vae
    from nodestudio.runtime.clip_vision import load_clip_vision
    from nodestudio.runtime.embeddings import read_embedding
    from nodestudio.runtime.gligen import load_gligen
    from nodestudio.runtime.split_files import load_diffusion_model, load_text_encoders
    from nodestudio.runtime.upscale import read_weights

    return {
        "checkpoint": lambda path: load_checkpoint(path, "cpu"),
        "VAE": lambda path: load_vae(path, "cpu"),
        "ControlNet": lambda path: load_controlnet(path, "cpu"),
        "embedding": read_embedding,
        "upscale model": read_weights,
        "CLIP vision": lambda path: load_clip_vision(path, "cpu"),
        "GLIGEN": lambda path: load_gligen(path, "cpu"),
        "diffusion model": lambda path: load_diffusion_model(path, "cpu"),
        "text encoder": lambda path: load_text_encoders([path], "flux", "cpu", None),
    }


@pytest.mark.parametrize("damage", [_truncated, _huge_header], ids=["truncated", "huge-header"])
@pytest.mark.parametrize("kind", list(_loaders()))
def test_damaged_safetensors_name_the_file_and_what_to_do(tiny_models, tmp_path, damage, kind):
    broken = damage(tiny_models.checkpoint(tiny_models.sd_file), tmp_path / "broken.safetensors")
    with pytest.raises(NodeError) as raised:
        _loaders()[kind](broken)
    message = str(raised.value)
    _assert_one_sentence(message, "broken.safetensors")
    assert message.startswith(kind), message
    assert "download it again" in message, message


def test_damaged_file_inside_a_diffusers_folder_is_named(tiny_models, tmp_path):
    from nodestudio.runtime.checkpoints import load_checkpoint

    folder = shutil.copytree(tiny_models.checkpoint(tiny_models.sd_folder), tmp_path / "mine")
    _truncated(folder / "vae" / "diffusion_pytorch_model.safetensors",
               folder / "vae" / "diffusion_pytorch_model.safetensors")
    with pytest.raises(NodeError) as raised:
        load_checkpoint(folder, "cpu")
    message = str(raised.value)
    _assert_one_sentence(message, "mine/vae/diffusion_pytorch_model.safetensors")
    assert "incomplete download" in message and "download it again" in message, message


class _Payload:
    """Pickles as a call to ``open(marker, "w")``: if it ever ran, the marker would exist."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickled_bin_in_a_diffusers_folder_is_refused_in_one_sentence(tiny_models, tmp_path):
    from nodestudio.runtime.checkpoints import load_checkpoint

    folder = shutil.copytree(tiny_models.checkpoint(tiny_models.sd_folder), tmp_path / "evil")
    (folder / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    marker = tmp_path / "ran"
    torch.save({"conv_in.weight": _Payload(marker)},
               folder / "unet" / "diffusion_pytorch_model.bin")
    with pytest.raises(NodeError) as raised:
        load_checkpoint(folder, "cpu")
    message = str(raised.value)
    _assert_one_sentence(message, "evil/unet/diffusion_pytorch_model.bin")
    assert ".safetensors version" in message, message
    assert not marker.exists()  # refused, never executed


@pytest.mark.parametrize("suffix", [".ckpt", ".pt"])
def test_truncated_pickle_names_the_file(tmp_path, suffix):
    from nodestudio.runtime.checkpoints import read_state_dict
    from nodestudio.runtime.hypernetwork import load_hypernetwork

    whole = tmp_path / f"whole{suffix}"
    torch.save({"weight": torch.zeros(4096)}, whole)
    broken = _truncated(whole, tmp_path / f"broken{suffix}")
    for read in (read_state_dict, load_hypernetwork):
        with pytest.raises(NodeError) as raised:
            read(broken)
        message = str(raised.value)
        _assert_one_sentence(message, f"broken{suffix}")
        assert "is damaged" in message and "download it again" in message, message


def test_controlnet_of_another_unet_is_refused_before_sampling(
        tiny_models, sd_checkpoint, run_node, ctx, tmp_path):
    from diffusers import UNet2DConditionModel

    from nodestudio.runtime.checkpoints import load_controlnet
    from nodestudio.runtime.tiny import tiny_controlnet

    # Same text width as the tiny SD model (32), other block channels: only the blocks differ.
    other = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 32),
        layers_per_block=2, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
        attention_head_dim=8, norm_num_groups=16,
    )
    folder = tmp_path / "other-controlnet"
    tiny_controlnet(other, 5).save_pretrained(folder)
    controlnet = load_controlnet(folder, "cpu")
    model, clip, _ = sd_checkpoint
    positive = run_node("diffusion.text_encode", clip=clip, text="a tower")
    negative = run_node("diffusion.text_encode", clip=clip, text="")
    hint = np.zeros((1, 32, 32, 3), np.float32)
    positive, negative = run_node("diffusion.apply_controlnet", positive=positive,
                                  negative=negative, control_net=controlnet, image=hint)
    latent = run_node("diffusion.empty_latent", model=model, width=32, height=32)
    with pytest.raises(NodeError) as raised:
        run_node("diffusion.sampler", model=model, positive=positive, negative=negative,
                 latent=latent, seed=1, steps=2, cfg=5.0, ctx=ctx)
    message = str(raised.value)
    _assert_one_sentence(message, "other-controlnet")
    assert tiny_models.sd_folder in message, message  # names the model too
    assert "block channels" in message, message
