"""Hypernetworks (A1111's format) on a UNet, as ComfyUI's HypernetworkLoader applies them.

**Files** (models/hypernetworks, ``.pt``, read with ``torch.load(weights_only=True)``): a dict
with, for each attention width it acts on, ``{width: [key_module_state, value_module_state]}``
(each an MLP's ``linear.N.weight/bias``), and the MLP's settings ``activation_func``,
``is_layer_norm``, ``activate_output`` (``layer_structure``, ``use_dropout``,
``last_layer_dropout`` and training state only matter for training: dropout is off in use).

**What it does** (ComfyUI's ``hypernetwork_patch``, installed as attn1 and attn2 patch): in
every attention of the UNet's transformer blocks, the context the keys are computed from becomes
``k + mlp_k(k) × strength`` and the one for the values ``v + mlp_v(v) × strength``, when the
file has MLPs for the context's width (self-attention: the block's own width, cross-attention:
the text encoder's). Several hypernetworks apply one after the other, in the order loaded.

**How**: forward pre-hooks on the ``to_k`` / ``to_v`` projections of those attentions change
their input for the duration of one UNet call (:func:`applied`) and are removed afterwards,
also on error, so the cached UNet and its other users never see them; the attention itself is
diffusers' own processor, untouched.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import torch

from nodestudio.api.errors import NodeError
from nodestudio.runtime import devices
from nodestudio.runtime.types import DiffusionModel

#: The activations A1111 and ComfyUI build hypernetworks with ("swish" is Hardswish in both).
ACTIVATIONS: dict[str, type[torch.nn.Module]] = {
    "linear": torch.nn.Identity,
    "relu": torch.nn.ReLU,
    "leakyrelu": torch.nn.LeakyReLU,
    "elu": torch.nn.ELU,
    "swish": torch.nn.Hardswish,
    "tanh": torch.nn.Tanh,
    "sigmoid": torch.nn.Sigmoid,
    "softsign": torch.nn.Softsign,
    "mish": torch.nn.Mish,
}
_LAYER_KEY = re.compile(r"^(?:.*\.)?(\d+)\.(weight|bias)$")


class HypernetworkLoadError(NodeError):
    pass


@dataclass(frozen=True, eq=False)
class Hypernetwork:
    """A hypernetwork: (key MLP, value MLP) per context width."""

    layers: Mapping[int, tuple[torch.nn.Module, torch.nn.Module]]
    source: str = ""

    def describe(self) -> str:
        return "widths " + ", ".join(str(width) for width in sorted(self.layers))


@dataclass(frozen=True, eq=False)
class HypernetworkUse:
    """A hypernetwork applied to a MODEL at a strength."""

    hypernetwork: Hypernetwork
    strength: float


def _mlp(state: Mapping[str, Any], activation: str, activate_output: bool,
         name: str) -> torch.nn.Sequential:
    """The MLP of one state dict, layered as A1111 builds it: Linear, activation (not after
    the last Linear unless ``activate_output``), LayerNorm when the file has them."""
    entries: dict[int, dict[str, torch.Tensor]] = {}
    for key, tensor in state.items():
        found = _LAYER_KEY.match(str(key))
        if found is None or not isinstance(tensor, torch.Tensor):
            raise HypernetworkLoadError(f"{name}: unexpected weight {key!r} in a hypernetwork")
        entries.setdefault(int(found.group(1)), {})[found.group(2)] = tensor
    ordered = [entries[index] for index in sorted(entries)]
    if any("weight" not in entry or "bias" not in entry for entry in ordered):
        raise HypernetworkLoadError(f"{name}: a hypernetwork layer lacks its weight or bias")
    linear_count = sum(entry["weight"].ndim == 2 for entry in ordered)
    if linear_count == 0:
        raise HypernetworkLoadError(f"{name}: a hypernetwork without linear layers")
    layers: list[torch.nn.Module] = []
    seen_linears = 0
    for entry in ordered:
        weight, bias = entry["weight"].float(), entry["bias"].float()
        if weight.ndim == 2:
            seen_linears += 1
            layer: torch.nn.Module = torch.nn.Linear(weight.shape[1], weight.shape[0])
            layer.load_state_dict({"weight": weight, "bias": bias})
            layers.append(layer)
            if activation != "linear" and (seen_linears < linear_count or activate_output):
                layers.append(ACTIVATIONS[activation]())
        else:
            layer = torch.nn.LayerNorm(weight.shape[0])
            layer.load_state_dict({"weight": weight, "bias": bias})
            layers.append(layer)
    return torch.nn.Sequential(*layers).eval()


def _read(path: Path) -> dict:
    from nodestudio.runtime.model_files import ModelLoadError, load_pickle

    try:
        data = load_pickle(path, "hypernetwork")  # one sentence naming the file, no code run
    except ModelLoadError as error:
        raise HypernetworkLoadError(str(error)) from None
    if not isinstance(data, dict):
        raise HypernetworkLoadError(f"{path.name} is not a hypernetwork (no dict inside)")
    return data


def load_hypernetwork(path: Path) -> Hypernetwork:
    """Read an A1111-format hypernetwork file (see the module docstring)."""
    data = _read(path)
    activation = str(data.get("activation_func") or "linear").lower()
    if activation not in ACTIVATIONS:
        raise HypernetworkLoadError(
            f"{path.name}: activation {activation!r} is not supported (ComfyUI's are "
            f"{', '.join(ACTIVATIONS)})")
    activate_output = bool(data.get("activate_output", False))
    layers: dict[int, tuple[torch.nn.Module, torch.nn.Module]] = {}
    for key, value in data.items():
        try:
            width = int(key)
        except (TypeError, ValueError):
            continue  # settings and training state
        if not isinstance(value, list | tuple) or len(value) < 2:
            raise HypernetworkLoadError(f"{path.name}: width {width} has no key and value MLPs")
        try:
            pair = tuple(_mlp(state, activation, activate_output, path.name)
                         for state in value[:2])
        except (RuntimeError, AttributeError) as error:
            raise HypernetworkLoadError(f"{path.name}: unreadable MLP for width {width}: "
                                        f"{error}") from error
        for mlp in pair:
            first = next(m for m in mlp if isinstance(m, torch.nn.Linear))
            if first.in_features != width:
                raise HypernetworkLoadError(f"{path.name}: the MLP for width {width} reads "
                                            f"{first.in_features} values")
        layers[width] = (pair[0], pair[1])
    if not layers:
        raise HypernetworkLoadError(f"{path.name} is not a hypernetwork (no attention widths)")
    return Hypernetwork(layers, str(path))


def add_hypernetwork(model: DiffusionModel, path: Path, strength: float) -> DiffusionModel:
    """A new MODEL handle with the hypernetwork at ``path`` applied after the model's own ones
    (the incoming handle and its UNet stay as they are; strength 0 returns it unchanged)."""
    from nodestudio.runtime.families.unet import UNetFamily

    if not isinstance(model.family, UNetFamily):
        raise NodeError(f"hypernetworks act on UNet models (SD 1.x, SD 2.x, SDXL); this model "
                        f"is {model.family.label}")
    hypernetwork = load_hypernetwork(path)
    if strength == 0:
        return model
    widths = widths_of(model.denoiser)
    if not widths & set(hypernetwork.layers):
        raise NodeError(
            f"hypernetwork {path.name} acts on attention widths {sorted(hypernetwork.layers)}, "
            f"this model's are {sorted(widths)}: it was trained for another model")
    use = HypernetworkUse(hypernetwork, strength)
    return replace(model, hypernetworks=(*model.hypernetworks, use))


def widths_of(unet: torch.nn.Module) -> set[int]:
    """The context widths the UNet's transformer-block attentions read."""
    from nodestudio.runtime.gligen import transformer_blocks

    widths: set[int] = set()
    for block in transformer_blocks(unet):
        for attention in (block.attn1, getattr(block, "attn2", None)):
            if attention is not None:
                widths.add(int(attention.to_k.in_features))
    return widths


def _shifted(uses: tuple[HypernetworkUse, ...], which: int, module: torch.nn.Module,
             args: tuple) -> tuple:
    """The pre-hook: the projection's input plus each hypernetwork's MLP of it, × strength."""
    context = args[0]
    for use in uses:
        pair = use.hypernetwork.layers.get(int(context.shape[-1]))
        if pair is not None:
            context = context + pair[which](context) * use.strength
    return (context, *args[1:])


@contextmanager
def applied(unet: torch.nn.Module, uses: tuple[HypernetworkUse, ...]) -> Iterator[None]:
    """While inside, every attention of the UNet's transformer blocks reads its keys and
    values through ``uses`` (see the module docstring)."""
    from nodestudio.runtime.gligen import transformer_blocks

    device, dtype = devices.module_device(unet), devices.module_dtype(unet)
    for use in uses:
        for mlp in (m for pair in use.hypernetwork.layers.values() for m in pair):
            if devices.module_device(mlp) != device or devices.module_dtype(mlp) != dtype:
                mlp.to(device=device, dtype=dtype)
    handles = []
    try:
        for block in transformer_blocks(unet):
            for attention in (block.attn1, getattr(block, "attn2", None)):
                if attention is None:
                    continue
                handles.append(attention.to_k.register_forward_pre_hook(
                    partial(_shifted, uses, 0)))
                handles.append(attention.to_v.register_forward_pre_hook(
                    partial(_shifted, uses, 1)))
        yield
    finally:
        for handle in handles:
            handle.remove()
