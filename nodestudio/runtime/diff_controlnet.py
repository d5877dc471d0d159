"""'Diff' ControlNets: weights stored as differences to the UNet they were trained from.

Early SD 1.5 ControlNets were also shared as differences (``control_model.*`` minus the SD 1.5
UNet, in the original layout) so that they transfer to fine-tuned models: ComfyUI's
DiffControlNetLoader recognises them by a ``difference`` key and adds the chosen model's UNet
weight to every ControlNet weight that has a UNet counterpart (``control_model.X`` ↔
``model.diffusion_model.X``); the ControlNet's own parts (hint network, zero convolutions) are
stored whole. The result is an ordinary ControlNet.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from nodestudio.api.errors import NodeError
from nodestudio.runtime import fast_mode
from nodestudio.runtime.original_layout import CONTROLNET_PREFIX, unet_to_original
from nodestudio.runtime.types import DiffusionModel

#: The marker key of a diff ControlNet file.
DIFFERENCE_KEY = "difference"


def is_diff(state_dict: Mapping[str, torch.Tensor]) -> bool:
    return DIFFERENCE_KEY in state_dict


def _base_weights(base: DiffusionModel) -> dict[str, torch.Tensor]:
    """The base UNet's weights under original-layout names (without ``model.diffusion_model.``).

    A LoRA'd handle shares its UNet with peft layers inside: the base weights are the
    ``base_layer`` ones (the LoRA acts only for the handle that asked for it).
    """
    unet = base.denoiser
    weights = {}
    for key, tensor in fast_mode.plain_state_dict(unet).items():
        if "lora_" in key or "lora_magnitude" in key:
            continue
        weights[key.replace(".base_layer.", ".")] = tensor
    return unet_to_original(weights, unet.config)


def resolve(state_dict: dict[str, torch.Tensor], base: DiffusionModel | None,
            source: Path) -> dict[str, torch.Tensor]:
    """Whole ControlNet weights: ``state_dict`` itself unless it is a diff ControlNet."""
    if not is_diff(state_dict):
        return state_dict
    if base is None:
        raise NodeError(
            f"{source.name} is a diff ControlNet (its weights are differences to a model): "
            "load it with Load ControlNet (diff), connected to the model it goes with"
        )
    if not any(key.startswith(CONTROLNET_PREFIX) for key in state_dict):
        raise NodeError(f"{source.name} has a 'difference' marker but no ControlNet weights")
    if not hasattr(base.denoiser.config, "block_out_channels"):
        raise NodeError(f"{source.name} is a diff ControlNet for a UNet model; "
                        f"this model is {base.family.label}")
    unet = _base_weights(base)
    merged: dict[str, torch.Tensor] = {}
    added = 0
    for key, tensor in state_dict.items():
        if key == DIFFERENCE_KEY:
            continue
        counterpart = unet.get(key.removeprefix(CONTROLNET_PREFIX))
        if key.startswith(CONTROLNET_PREFIX) and counterpart is not None:
            if counterpart.shape != tensor.shape:
                raise NodeError(
                    f"{source.name} was made for another model: its {key} has shape "
                    f"{tuple(tensor.shape)}, the model's {tuple(counterpart.shape)}"
                )
            # Summed in float32 (a half-precision diff plus base loses less), then kept so.
            tensor = tensor.float() + counterpart.detach().to("cpu", torch.float32)
            added += 1
        merged[key] = tensor
    if added == 0:
        raise NodeError(f"{source.name}: none of its weights matches the model's UNet")
    return merged
