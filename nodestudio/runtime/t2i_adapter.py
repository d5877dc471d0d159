"""T2I-Adapters loaded as ComfyUI loads them: through Load ControlNet, from the controlnet folder.

A T2I-Adapter (TencentARC) is a small network that turns the hint image into one feature map
per UNet level; the UNet adds them inside its down blocks (diffusers'
``down_intrablock_additional_residuals``). Three architectures exist, all built here as
diffusers' :class:`~diffusers.T2IAdapter`:

- the full adapter of SD 1.x (``full_adapter``: pixel-unshuffle by 8, four levels),
- the SDXL full adapter (``full_adapter_xl``: unshuffle by 16, one downsampling),
- the light adapter (``light_adapter``: the "color" style adapters, SD 1.x).

Files come in TencentARC's original key layout (``conv_in``, ``body.<level * blocks + block>.
block1`` …; light: ``body.<level>.body.<block>`` …) or in diffusers' (``adapter.body.<level>.
resnets.<block>`` …), as single files or a diffusers folder. Single files carry no config: it is
read from the tensor shapes. The full adapters tell SD 1.x and SDXL apart by the width of the
unshuffled input, as ComfyUI does (``in_channels × factor²``: 64/192 for SD, 256/768 for SDXL).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from nodestudio.api.errors import NodeError
from nodestudio.runtime.memory_manager import loaded_to
from nodestudio.runtime.types import ControlNet

#: ``ControlNet.kind`` of a T2I-Adapter handle.
ADAPTER_KIND = "t2i_adapter"
ADAPTER_CLASS = "T2IAdapter"
DIFFUSERS_PREFIX = "adapter."
#: Unshuffled input widths (``in_channels × 16²``) of the SDXL full adapters (ComfyUI's rule).
_XL_INPUT_WIDTHS = (256, 768)

_FULL_BLOCK = re.compile(r"^body\.(\d+)\.(block1|block2|in_conv)\.(weight|bias)$")
_LIGHT_BLOCK = re.compile(r"^body\.(\d+)\.body\.(\d+)\.(block1|block2)\.(weight|bias)$")
_LIGHT_EDGE = re.compile(r"^body\.(\d+)\.(in_conv|out_conv)\.(weight|bias)$")
_DIFFUSERS_RESNET = re.compile(r"^adapter\.body\.(\d+)\.resnets\.(\d+)\.(.+)$")
_DIFFUSERS_LEVEL = re.compile(r"^adapter\.body\.(\d+)\.(in_conv|out_conv)\.(.+)$")


class AdapterFormatError(ValueError):
    """The weights look like a T2I-Adapter, but of a variant that cannot be built."""


def is_t2i_adapter(keys: Any) -> bool:
    """Whether a state dict's keys are a T2I-Adapter's (original or diffusers layout)."""
    keys = set(keys)
    return bool(
        {"body.0.block1.weight", "body.0.body.0.block1.weight",
         "adapter.body.0.resnets.0.block1.weight"} & keys
    )


def is_light(state_dict: Mapping[str, Any]) -> bool:
    return "body.0.out_conv.weight" in state_dict or (
        "adapter.body.0.out_conv.weight" in state_dict)


# -- key layouts ---------------------------------------------------------------------------------


def _blocks_per_level(state_dict: Mapping[str, Any]) -> int:
    """Resnet blocks per level of an original full adapter: level 1 always widens the
    channels, so its first block is the first ``body.N`` after 0 with an ``in_conv``."""
    widening = sorted(int(m.group(1)) for k in state_dict
                      if (m := _FULL_BLOCK.match(k)) and m.group(2) == "in_conv")
    if not widening or widening[0] == 0:
        raise AdapterFormatError("its level structure is not the T2I-Adapter's")
    return widening[0]


def to_diffusers(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Original TencentARC keys → diffusers' ``T2IAdapter`` keys (diffusers keys pass)."""
    if any(key.startswith(DIFFUSERS_PREFIX) for key in state_dict):
        return dict(state_dict)
    light = is_light(state_dict)
    per_level = 0 if light else _blocks_per_level(state_dict)
    converted: dict[str, torch.Tensor] = {}
    for key, tensor in state_dict.items():
        if light and (m := _LIGHT_BLOCK.match(key)):
            level, block, name, kind = m.groups()
            new = f"body.{level}.resnets.{block}.{name}.{kind}"
        elif (_LIGHT_EDGE.match(key) if light else key.startswith("conv_in.")):
            new = key
        elif not light and (m := _FULL_BLOCK.match(key)):
            index, name, kind = int(m.group(1)), m.group(2), m.group(3)
            level, block = divmod(index, per_level)
            new = (f"body.{level}.in_conv.{kind}" if name == "in_conv"
                   else f"body.{level}.resnets.{block}.{name}.{kind}")
        else:
            # down_opt (strided-conv downsampling) and skep (non-"sk" skips) exist in some
            # research checkpoints; diffusers' adapters (and the released ones) have neither.
            raise AdapterFormatError(f"its weight {key!r} belongs to an adapter variant "
                                     "that is not supported")
        converted[DIFFUSERS_PREFIX + new] = tensor
    return converted


def to_original(state_dict: Mapping[str, torch.Tensor],
                config: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """diffusers' ``T2IAdapter`` keys → TencentARC's original layout (as its releases ship)."""
    light = config["adapter_type"] == "light_adapter"
    per_level = config["num_res_blocks"]
    converted: dict[str, torch.Tensor] = {}
    for key, tensor in state_dict.items():
        if m := _DIFFUSERS_RESNET.match(key):
            level, block, rest = int(m.group(1)), int(m.group(2)), m.group(3)
            new = (f"body.{level}.body.{block}.{rest}" if light
                   else f"body.{level * per_level + block}.{rest}")
        elif m := _DIFFUSERS_LEVEL.match(key):
            level, name, rest = int(m.group(1)), m.group(2), m.group(3)
            new = (f"body.{level}.{name}.{rest}" if light
                   else f"body.{level * per_level}.{name}.{rest}")
        elif key.startswith("adapter.conv_in."):
            new = key.removeprefix(DIFFUSERS_PREFIX)
        else:
            raise ValueError(f"no original-layout name for T2I-Adapter weight {key!r}")
        converted[new] = tensor
    return converted


# -- config from shapes --------------------------------------------------------------------------


def _count(state_dict: Mapping[str, Any], pattern: str) -> int:
    found = {int(m.group(1)) for k in state_dict if (m := re.match(pattern, k))}
    return max(found) + 1 if found else 0


def infer_config(state_dict: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """``T2IAdapter`` arguments from diffusers-layout weights (single files carry no config)."""
    levels = _count(state_dict, r"^adapter\.body\.(\d+)\.")
    blocks = _count(state_dict, r"^adapter\.body\.0\.resnets\.(\d+)\.")
    if levels < 2 or blocks < 1:
        raise AdapterFormatError("it has too few levels to be a T2I-Adapter")
    if is_light(state_dict):
        outputs = [state_dict[f"adapter.body.{i}.out_conv.weight"].shape[0]
                   for i in range(levels)]
        if outputs[-1] != outputs[-2]:
            raise AdapterFormatError("its last level changes the width (not a light adapter)")
        factor, flat = 8, state_dict["adapter.body.0.in_conv.weight"].shape[1]
        config = {"adapter_type": "light_adapter", "channels": outputs[:-1]}
    else:
        channels = [state_dict[f"adapter.body.{i}.resnets.0.block1.weight"].shape[0]
                    for i in range(levels)]
        flat = state_dict["adapter.conv_in.weight"].shape[1]
        xl = flat in _XL_INPUT_WIDTHS
        factor = 16 if xl else 8
        config = {"adapter_type": "full_adapter_xl" if xl else "full_adapter",
                  "channels": channels}
    if flat % (factor * factor):
        raise AdapterFormatError(f"its input width {flat} is not a multiple of {factor}²")
    return {**config, "in_channels": flat // (factor * factor), "num_res_blocks": blocks,
            "downscale_factor": factor}


# -- loading -------------------------------------------------------------------------------------


def _family_of(config: Mapping[str, Any]):
    from nodestudio.runtime import families

    return families.SDXL if config["adapter_type"] == "full_adapter_xl" else families.SD1


def from_state_dict(state_dict: Mapping[str, torch.Tensor], source: Path,
                    device: torch.device, dtype: torch.dtype) -> ControlNet:
    """A T2I-Adapter handle from a single file's weights (either key layout)."""
    from diffusers import T2IAdapter

    try:
        weights = to_diffusers(state_dict)
        config = infer_config(weights)
        model = T2IAdapter(**config)
        model.load_state_dict(weights, strict=True)
    except (AdapterFormatError, RuntimeError, KeyError) as error:
        raise NodeError(f"{source.name} looks like a T2I-Adapter but cannot be loaded: "
                        f"{error}") from None
    model = loaded_to(model.to(dtype=dtype), device)
    return ControlNet(model, _family_of(config), device, str(source), kind=ADAPTER_KIND)


def from_folder(path: Path, device: torch.device, dtype: torch.dtype,
                class_name: str | None, variant: str | None) -> ControlNet | None:
    """A diffusers T2I-Adapter folder (``config.json`` names ``T2IAdapter``), else None."""
    if class_name != ADAPTER_CLASS:
        return None
    from diffusers import T2IAdapter

    model = T2IAdapter.from_pretrained(path, torch_dtype=dtype, local_files_only=True,
                                       variant=variant)
    return ControlNet(loaded_to(model, device), _family_of(model.config), device, str(path),
                      kind=ADAPTER_KIND)


def hint_channels(model: torch.nn.Module) -> int:
    """Channels the adapter reads (1 for sketch/canny-style adapters, 3 otherwise)."""
    return int(model.config.in_channels)
