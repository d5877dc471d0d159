"""Merging models and text encoders (ComfyUI's ModelMerge… and CLIPMergeSimple nodes).

The executor caches the models Load Checkpoint returned, and other branches of the graph may
use them, so a merge never changes a parent: it builds a new module of the first model's
architecture (from its config, with its parameters on the meta device, so nothing is allocated
twice) and fills it tensor by tensor with

    merged = strength₁ × first + strength₂ × second

computed in float32 one tensor at a time (as ComfyUI applies its weight patches) and stored in
the first model's dtype, on the device its weights are on. So a merge costs one more copy of the
first model there, plus one tensor in float32. Which strengths ComfyUI's nodes use:

* Merge Simple (``ratio``): ``ratio`` and ``1 − ratio`` (1 gives the first model, 0 the second).
* Add: 1 and 1.
* Subtract (``multiplier``): ``multiplier`` and ``−multiplier``, i.e. ``multiplier × (first −
  second)``: ComfyUI scales the first model too (its patch's ``strength_model``), so at 1 it is
  the difference that "add difference" recipes then add to a third model.
* Blocks (``input``, ``middle``, ``out``): the Simple ratio per part of an SD UNet, as ComfyUI
  matches its own key names by prefix — ``input_blocks`` (diffusers: ``conv_in``,
  ``down_blocks``), ``middle_block`` (``mid_block``), ``output_blocks`` and ``out``
  (``up_blocks``, ``conv_norm_out``, ``conv_out``); everything else (the time and SDXL size
  embeddings) takes ComfyUI's default, the first ratio (``input``). A transformer (SD3, Flux)
  has none of these names: ComfyUI, and so NodeStudio, merges all of it at ``input``.

Only the denoiser is merged (ComfyUI's ``diffusion_model.`` weights): the result keeps the first
model's scheduler config and settings. Text encoders merge slot by slot, each encoder's
``position_ids`` and ``logit_scale`` kept from the first (as ComfyUI does).

A parent with a LoRA is refused: a LoRA is a peft adapter beside the shared weights (see
:mod:`lora`), not part of them — merge the plain models and apply the LoRA to the result.
Adapters that other handles injected into a parent's module are left out: only the base
weights are read.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

import torch

from nodestudio.api.errors import NodeError
from nodestudio.runtime import fast_mode
from nodestudio.runtime.types import DiffusionModel, TextEncoders

#: Parameter name → (strength of the first model, strength of the second).
Strengths = Callable[[str], tuple[float, float]]
#: ``progress(done, total)``
Progress = Callable[[int, int], None]

_KEEP_FIRST = (1.0, 0.0)
_TAKE_SECOND = (0.0, 1.0)


class MergeError(NodeError):
    """Two models that cannot be merged; the message names both and says why."""


# -- ComfyUI's strengths -----------------------------------------------------------------------


def simple(ratio: float) -> Strengths:
    return lambda key: (ratio, 1.0 - ratio)


def add() -> Strengths:
    return lambda key: (1.0, 1.0)


def subtract(multiplier: float) -> Strengths:
    return lambda key: (multiplier, -multiplier)


#: diffusers UNet name prefixes → ComfyUI's block argument whose prefix their original names
#: have (``input_blocks.0`` is ``conv_in``; ``out.0``/``out.2`` are the final norm and conv).
_UNET_PARTS = (
    ("conv_in.", "input"),
    ("down_blocks.", "input"),
    ("mid_block.", "middle"),
    ("up_blocks.", "out"),
    ("conv_norm_out.", "out"),
    ("conv_out.", "out"),
)


def block_of(key: str) -> str:
    """Which of ModelMergeBlocks' ratios (``input``, ``middle``, ``out``) merges weight ``key``
    (ComfyUI's default, the first argument, for every other weight)."""
    return next((part for prefix, part in _UNET_PARTS if key.startswith(prefix)), "input")


def blocks(input_ratio: float, middle: float, out: float) -> Strengths:
    ratios = {"input": input_ratio, "middle": middle, "out": out}

    def strengths(key: str) -> tuple[float, float]:
        ratio = ratios[block_of(key)]
        return (ratio, 1.0 - ratio)

    return strengths


def _text_encoder_strengths(strengths: Strengths) -> Strengths:
    # ComfyUI's CLIP merges skip these: ids and the temperature are not weights to average.
    def text(key: str) -> tuple[float, float]:
        if key.endswith((".position_ids", ".logit_scale")) or key in ("logit_scale",):
            return _KEEP_FIRST
        return strengths(key)

    return text


# -- weights -----------------------------------------------------------------------------------


def _plain_name(key: str) -> str | None:
    """A peft-injected module's weight name as the plain module names it; None for adapters."""
    parts = key.split(".")
    if any(part.startswith("lora_") for part in parts):
        return None
    return ".".join(part for part in parts if part != "base_layer")


def plain_state_dict(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The module's own weights (references, no copies), LoRA adapters injected into it left
    out and their wrapped layers under their plain names."""
    plain: dict[str, torch.Tensor] = {}
    for key, tensor in fast_mode.plain_state_dict(module).items():
        name = _plain_name(key)
        if name is not None:
            plain[name] = tensor
    return plain


def describe(handle: DiffusionModel | TextEncoders) -> str:
    """``name (family)`` for messages."""
    name = Path(handle.source).name if handle.source else "unnamed"
    return f"{name} ({handle.family.label})"


def _check_handles(what: str, first: DiffusionModel | TextEncoders,
                   second: DiffusionModel | TextEncoders) -> tuple[str, str]:
    names = (f"{what}1 {describe(first)}", f"{what}2 {describe(second)}")
    if first.family is not second.family:
        raise MergeError(f"cannot merge {names[0]} with {names[1]}: they are of different model "
                         f"families; merge two {first.family.label} models")
    for name, handle in zip(names, (first, second), strict=True):
        if handle.loras:
            raise MergeError(f"{name} has a LoRA applied: merge the plain models, then apply "
                             "the LoRA to the merged one with Load LoRA")
    return names


def _plan(first: Mapping[str, torch.Tensor], second: Mapping[str, torch.Tensor],
          strengths: Strengths, names: tuple[str, str]) -> dict[str, tuple[float, float]]:
    """Every weight's strengths, once both parents are seen to have the same weights."""
    missing = sorted(set(first) ^ set(second))
    if missing:
        owner = names[0] if missing[0] in first else names[1]
        raise MergeError(f"cannot merge {names[0]} with {names[1]}: they are different "
                         f"architectures (only {owner} has {missing[0]!r}, and "
                         f"{len(missing) - 1} more weights differ)")
    for key, tensor in first.items():
        other = second[key]
        if tensor.shape != other.shape:
            raise MergeError(
                f"cannot merge {names[0]} with {names[1]}: their weights differ in shape "
                f"({key}: {tuple(tensor.shape)} vs {tuple(other.shape)}), e.g. an inpainting "
                "and a plain model"
            )
    return {key: strengths(key) for key in first}


def _combine(first: torch.Tensor, second: torch.Tensor, strength_1: float,
             strength_2: float) -> torch.Tensor:
    """A new tensor: ``strength_1 × first + strength_2 × second`` in ``first``'s dtype."""
    if not first.is_floating_point():
        return first.clone()  # ids, counters: not weights to average
    if (strength_1, strength_2) == _KEEP_FIRST:
        return first.clone()
    if (strength_1, strength_2) == _TAKE_SECOND:
        return second.to(device=first.device, dtype=first.dtype, copy=True)
    # float32 whatever the storage (as ComfyUI's patches), one tensor at a time.
    merged = first.to(torch.float32) * strength_1  # a new tensor, even for float32 weights
    merged.add_(second.to(device=first.device, dtype=torch.float32), alpha=strength_2)
    return merged.to(first.dtype)


def _skeleton(module: torch.nn.Module) -> torch.nn.Module:
    """A module of ``module``'s class and config whose parameters are not allocated (meta)."""
    from accelerate import init_empty_weights
    from diffusers import ModelMixin
    from transformers import PreTrainedModel

    # From the config rather than a deep copy: it leaves out LoRA adapters that other handles
    # injected into the parent, and allocates nothing until the merged weights are assigned.
    with init_empty_weights():
        if isinstance(module, ModelMixin):
            return type(module).from_config(module.config)
        if isinstance(module, PreTrainedModel):
            return type(module)(copy.deepcopy(module.config))
    raise MergeError(f"cannot merge a {type(module).__name__}: not a diffusers or transformers "
                     "model")


def _copy_unsaved_buffers(parent: torch.nn.Module, merged: torch.nn.Module,
                          saved: Mapping[str, torch.Tensor]) -> None:
    """Buffers outside the state dict (CLIP's position ids) as the parent has them."""
    own = {_plain_name(name): buffer for name, buffer in parent.named_buffers()}
    for name, _ in list(merged.named_buffers()):
        if name in saved or own.get(name) is None:
            continue
        owner_name, _, leaf = name.rpartition(".")
        owner = merged.get_submodule(owner_name) if owner_name else merged
        owner._buffers[leaf] = own[name].clone()


@torch.no_grad()
def merge_modules(
    first: torch.nn.Module, second: torch.nn.Module, strengths: Strengths,
    names: tuple[str, str] = ("model1", "model2"), progress: Progress | None = None,
    check_cancelled: Callable[[], None] | None = None,
) -> torch.nn.Module:
    """A new module of ``first``'s architecture holding the merged weights (both parents are
    only read)."""
    first_weights, second_weights = plain_state_dict(first), plain_state_dict(second)
    plan = _plan(first_weights, second_weights, strengths, names)
    merged_weights: dict[str, torch.Tensor] = {}
    # Tied weights (one tensor under two names) are merged once and stay one tensor.
    done_before: dict[tuple, torch.Tensor] = {}
    total = len(plan)
    every = max(1, total // 100)
    for index, (key, (strength_1, strength_2)) in enumerate(plan.items(), start=1):
        if check_cancelled is not None:
            check_cancelled()
        a, b = first_weights[key], second_weights[key]
        identity = (a.data_ptr(), a.shape, a.stride(), b.data_ptr(), b.stride(), strength_1,
                    strength_2)
        if a.numel() and identity in done_before:
            merged_weights[key] = done_before[identity]
        else:
            merged_weights[key] = done_before[identity] = _combine(a, b, strength_1, strength_2)
        if progress is not None and (index % every == 0 or index == total):
            progress(index, total)
    merged = _skeleton(first)
    try:
        merged.load_state_dict(merged_weights, strict=True, assign=True)
    except RuntimeError as error:
        raise MergeError(f"cannot merge {names[0]} with {names[1]}: {error}") from error
    _copy_unsaved_buffers(first, merged, merged_weights)
    return merged.eval()


def _same_storage(first: torch.nn.Module, second: torch.nn.Module) -> bool:
    """Whether ``second``'s weights can stand in for the merge (same dtypes and device)."""
    a, b = plain_state_dict(first), plain_state_dict(second)
    return all(a[key].dtype == b[key].dtype and a[key].device == b[key].device for key in a)


def _outcome(first: torch.nn.Module, second: torch.nn.Module, strengths: Strengths,
             names: tuple[str, str]) -> str:
    """"first" or "second" when the merge would give a parent's weights exactly (no copy is
    made then: the parent's module is shared, as handles never change one), else "merge"."""
    plan = _plan(plain_state_dict(first), plain_state_dict(second), strengths, names)
    chosen = set(plan.values())
    if chosen == {_KEEP_FIRST}:
        return "first"
    if chosen == {_TAKE_SECOND} and _same_storage(first, second):
        return "second"
    return "merge"


def merge_models(
    model1: DiffusionModel, model2: DiffusionModel, strengths: Strengths,
    progress: Progress | None = None, check_cancelled: Callable[[], None] | None = None,
) -> DiffusionModel:
    """MODEL: ``model1`` with its denoiser's weights merged with ``model2``'s."""
    names = _check_handles("model", model1, model2)
    outcome = _outcome(model1.denoiser, model2.denoiser, strengths, names)
    if outcome == "first":
        return model1
    if outcome == "second":
        denoiser = model2.denoiser
    else:
        denoiser = merge_modules(model1.denoiser, model2.denoiser, strengths, names, progress,
                                 check_cancelled)
    return replace(model1, denoiser=denoiser,
                   source=f"merge of {describe(model1)} and {describe(model2)}")


def merge_text_encoders(
    clip1: TextEncoders, clip2: TextEncoders, strengths: Strengths,
    progress: Progress | None = None, check_cancelled: Callable[[], None] | None = None,
) -> TextEncoders:
    """CLIP: ``clip1`` with each text encoder merged with ``clip2``'s in the same slot."""
    names = _check_handles("clip", clip1, clip2)
    slots = ([e.slot for e in clip1.encoders], [e.slot for e in clip2.encoders])
    if slots[0] != slots[1]:
        raise MergeError(f"cannot merge {names[0]} with {names[1]}: they hold different text "
                         f"encoders ({', '.join(slots[0])} vs {', '.join(slots[1])})")
    text_strengths = _text_encoder_strengths(strengths)
    outcomes = [_outcome(a.model, b.model, text_strengths, names)
                for a, b in zip(clip1.encoders, clip2.encoders, strict=True)]
    if set(outcomes) == {"first"}:
        return clip1
    encoders = []
    for position, (first, second, outcome) in enumerate(
            zip(clip1.encoders, clip2.encoders, outcomes, strict=True)):
        if outcome == "first":
            model = first.model
        elif outcome == "second":
            model = second.model
        else:
            def part(done: int, total: int, position: int = position) -> None:
                if progress is not None:
                    progress(position * total + done, len(outcomes) * total)

            model = merge_modules(first.model, second.model, text_strengths,
                                  (f"{names[0]} {first.slot}", f"{names[1]} {second.slot}"),
                                  part, check_cancelled)
        # The first CLIP's tokenizer and settings, as ComfyUI's clone keeps them.
        encoders.append(replace(first, model=model))
    return replace(clip1, encoders=tuple(encoders),
                   source=f"merge of {describe(clip1)} and {describe(clip2)}")
