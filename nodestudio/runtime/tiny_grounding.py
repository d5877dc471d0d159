"""Tiny, seeded GLIGEN and hypernetwork files for the tiny SD UNet (:mod:`tiny`): for tests.

The GLIGEN file is made the way a real one relates to its UNet: a diffusers UNet built from the
tiny SD UNet's config with ``attention_type="gated"`` (which gives it diffusers' own position net
and one fuser per transformer block), its GLIGEN weights randomised (the gates too: trained
GLIGENs have opened them; at their initial 0 a fuser would change nothing), and saved under
ComfyUI's pruned key layout (``position_net.*``, ``input_blocks.1.1.transformer_blocks.0.fuser.*``
…, see :mod:`nodestudio.runtime.gligen`). The hypernetwork file is A1111's format.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from nodestudio.runtime import original_layout
from nodestudio.runtime.tiny import _seeded

#: Hypernetwork layer indices of A1111's Sequential: Linear, activation, Linear (no layer norm).
_PLAIN_LAYERS = (0, 2)


def tiny_gated_unet(unet_config: Mapping[str, Any], seed: int) -> Any:
    """A diffusers GLIGEN ("gated") UNet of ``unet_config``'s shape with random GLIGEN weights
    (the rest of its weights are whatever the seed gives: load the base UNet's over them)."""
    from diffusers import UNet2DConditionModel

    config = {key: value for key, value in dict(unet_config).items() if not key.startswith("_")}
    with _seeded(seed):
        unet = UNet2DConditionModel.from_config({**config, "attention_type": "gated"})
        for name, parameter in unet.named_parameters():
            if ".fuser." in name and name.endswith(("alpha_attn", "alpha_dense")):
                torch.nn.init.uniform_(parameter, 0.5, 1.5)
            elif name.startswith("position_net.null_"):
                torch.nn.init.normal_(parameter, std=0.5)
            elif name.startswith("position_net.linears.") and name.endswith("weight"):
                # Wider than the default init: at these tiny sizes phrases and boxes would
                # otherwise barely move the grounding tokens.
                torch.nn.init.normal_(parameter, std=2.0 / parameter.shape[1] ** 0.5)
    return unet.eval()


def gligen_weights(gated_unet: Any) -> dict[str, torch.Tensor]:
    """A gated UNet's GLIGEN weights in ComfyUI's pruned layout."""
    state = gated_unet.state_dict()
    fusers = {key: value for key, value in state.items() if ".fuser." in key}
    weights = original_layout.unet_to_original(fusers, gated_unet.config)
    weights.update({key: value for key, value in state.items() if key.startswith("position_net.")})
    return {key: value.detach().contiguous().clone() for key, value in weights.items()}


def save_tiny_gligen(gated_unet: Any, path: Path) -> Path:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(gligen_weights(gated_unet), str(path))
    return path


def hypernetwork_state(widths: Iterable[int], seed: int, hidden_factor: int = 2,
                       activation: str = "relu") -> dict[Any, Any]:
    """An A1111 hypernetwork: for each width, key and value MLPs width → factor × width →
    width (layer structure [1, factor, 1]) with seeded weights."""
    state: dict[Any, Any] = {}
    with _seeded(seed):
        for width in widths:
            pair = []
            for _ in range(2):
                hidden = width * hidden_factor
                first, last = _PLAIN_LAYERS
                pair.append({
                    f"linear.{first}.weight": torch.randn(hidden, width) * 0.3,
                    f"linear.{first}.bias": torch.randn(hidden) * 0.1,
                    f"linear.{last}.weight": torch.randn(width, hidden) * 0.3,
                    f"linear.{last}.bias": torch.randn(width) * 0.1,
                })
            state[width] = pair
    state.update({
        "layer_structure": [1, hidden_factor, 1], "activation_func": activation,
        "is_layer_norm": False, "use_dropout": False, "activate_output": False,
        "last_layer_dropout": False, "name": "tiny", "step": 0,
    })
    return state


def save_tiny_hypernetwork(path: Path, state: Mapping[Any, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(dict(state), str(path))
    return path
