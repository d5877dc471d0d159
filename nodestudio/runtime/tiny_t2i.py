"""Tiny, seeded T2I-Adapters and a tiny diff ControlNet, made for the tiny UNets (:mod:`tiny`).

The adapters are diffusers ``T2IAdapter`` modules sized to a tiny UNet's levels and saved the
way they are shared: single files in TencentARC's original key layout (as ComfyUI users have
them) and a diffusers folder. The diff ControlNet is a tiny ControlNet's original-layout
weights minus its UNet's, with the ``difference`` marker key, as the diff ControlNets of SD 1.5
were published.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from nodestudio.runtime import original_layout, t2i_adapter
from nodestudio.runtime.diff_controlnet import DIFFERENCE_KEY
from nodestudio.runtime.model_configs import EMBEDDED_CONFIG_KEY
from nodestudio.runtime.tiny import _seeded


def tiny_t2i_adapter(block_out_channels: Sequence[int], adapter_type: str, seed: int,
                     in_channels: int = 3):
    """A T2I-Adapter whose features fit a UNet with ``block_out_channels`` levels.

    ``full_adapter`` (SD: unshuffle 8, a level per UNet level), ``full_adapter_xl`` (SDXL:
    unshuffle 16) or ``light_adapter`` (its last level repeats the width, so it gives one
    feature more than the levels; the UNet leaves it unused as it does SD's).
    """
    from diffusers import T2IAdapter

    factor = 16 if adapter_type == "full_adapter_xl" else 8
    with _seeded(seed):
        adapter = T2IAdapter(in_channels=in_channels, channels=list(block_out_channels),
                             num_res_blocks=2, downscale_factor=factor,
                             adapter_type=adapter_type)
        for parameter in adapter.parameters():
            # Default initialisation gives features too faint to change a tiny model's image.
            torch.nn.init.normal_(parameter, std=0.3)
    return adapter.eval()


def save_original_adapter(adapter, path: Path) -> Path:
    """The adapter as one ``.safetensors`` in TencentARC's original key layout."""
    from safetensors.torch import save_file

    weights = t2i_adapter.to_original(adapter.state_dict(), adapter.config)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous().clone() for k, v in weights.items()}, str(path))
    return path


def save_diff_controlnet(controlnet, unet, path: Path) -> Path:
    """``controlnet`` in the original layout, minus ``unet``'s weights where it has them."""
    from safetensors.torch import save_file

    whole = original_layout.controlnet_to_original(controlnet.state_dict(), controlnet.config)
    base = original_layout.unet_to_original(unet.state_dict(), unet.config)
    prefix = original_layout.CONTROLNET_PREFIX
    diff = {}
    for key, tensor in whole.items():
        counterpart = base.get(key.removeprefix(prefix))
        diff[key] = (tensor - counterpart if counterpart is not None else tensor).contiguous()
    diff[DIFFERENCE_KEY] = torch.tensor(1.0)  # the marker ComfyUI looks for; its value is unused
    path.parent.mkdir(parents=True, exist_ok=True)
    # The tiny sizes match no released ControlNet: the file carries its config, as the tiny
    # original-layout ControlNet does (tiny.save_original_controlnet).
    config = json.loads(controlnet.to_json_string())
    metadata = {EMBEDDED_CONFIG_KEY: json.dumps({"controlnet": config})}
    save_file({k: v.detach().clone() for k, v in diff.items()}, str(path), metadata=metadata)
    return path


@dataclass(frozen=True)
class TinyT2I:
    """Names (in the controlnet folder of ``root``) of what :func:`build_tiny_t2i` wrote."""

    root: Path
    full_file: str = "t2iadapter_tiny_depth.safetensors"
    full_folder: str = "tiny-t2i-adapter"
    sketch_file: str = "t2iadapter_tiny_sketch.safetensors"
    light_file: str = "t2iadapter_tiny_color.safetensors"
    xl_file: str = "t2i-adapter-tiny-sdxl.safetensors"
    diff_file: str = "diff_control_tiny_canny.safetensors"

    def path(self, name: str) -> Path:
        return self.root / "controlnet" / name


def build_tiny_t2i(root: Path, sd_folder: Path, sdxl_folder: Path,
                   controlnet_folder: Path, seed: int = 40) -> TinyT2I:
    """Write the tiny adapters for the tiny SD/SDXL checkpoint folders into
    ``root/controlnet``, and the diff form of the tiny ControlNet in ``controlnet_folder``
    (made from the SD folder's UNet)."""
    from diffusers import ControlNetModel, UNet2DConditionModel

    made = TinyT2I(root)
    sd_unet = UNet2DConditionModel.from_pretrained(sd_folder, subfolder="unet")
    sdxl_unet = UNet2DConditionModel.from_pretrained(sdxl_folder, subfolder="unet")
    sd_levels = sd_unet.config.block_out_channels
    full = tiny_t2i_adapter(sd_levels, "full_adapter", seed)
    save_original_adapter(full, made.path(made.full_file))
    full.save_pretrained(made.path(made.full_folder))
    save_original_adapter(tiny_t2i_adapter(sd_levels, "full_adapter", seed + 1, in_channels=1),
                          made.path(made.sketch_file))
    save_original_adapter(tiny_t2i_adapter(sd_levels, "light_adapter", seed + 2),
                          made.path(made.light_file))
    save_original_adapter(
        tiny_t2i_adapter(sdxl_unet.config.block_out_channels, "full_adapter_xl", seed + 3),
        made.path(made.xl_file))
    save_diff_controlnet(ControlNetModel.from_pretrained(controlnet_folder), sd_unet,
                         made.path(made.diff_file))
    return made
