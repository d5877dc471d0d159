"""LoRA through peft adapters on shared models, without ever changing the cached base model.

The executor caches the MODEL and CLIP that Load Checkpoint returned, and other branches of the
graph may use them without a LoRA. So a LoRA is loaded as a named peft adapter *beside* the base
weights (``load_lora_adapter`` for the UNet; peft's own injection for the text encoders, whose
transformers integration needs a newer peft), the adapter layers are switched off right away,
and the new MODEL/CLIP handles merely list (adapter, strength) pairs. Whoever runs a model turns
exactly its handle's adapters on for the duration (:func:`applied`) and off again afterwards:
with no adapter active, peft layers compute the base layer alone, so the image is bit-identical
to the model without LoRA (strength 0 is not even loaded).

An adapter is removed from the model when the last handle using it is garbage-collected.
"""

from __future__ import annotations

import itertools
import threading
import warnings
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch

from nodestudio.api.errors import Cancelled, NodeError
from nodestudio.runtime.families.base import ModelFamily
from nodestudio.runtime.types import DiffusionModel, LoraUse, TextEncoders

_names = itertools.count(1)
_lock = threading.RLock()  # re-entrant: several encoders are switched inside one another


class LoraLoadError(NodeError):
    pass


def _tuner_layers(module: torch.nn.Module) -> list[torch.nn.Module]:
    from peft.tuners.tuners_utils import BaseTunerLayer

    return [m for m in module.modules() if isinstance(m, BaseTunerLayer)]


def _remove_adapter(modules: list[weakref.ref], name: str) -> None:
    for reference in modules:
        module = reference()
        if module is None:
            continue
        for layer in _tuner_layers(module):
            if name in getattr(layer, "lora_A", {}):
                layer.delete_adapter(name)
        config = getattr(module, "peft_config", None)
        if isinstance(config, dict):
            config.pop(name, None)


@dataclass(eq=False)
class LoraAdapter:
    """A LoRA file injected (as adapter ``name``) into some modules of one checkpoint."""

    name: str
    source: str
    modules: list[torch.nn.Module] = field(repr=False)

    def __post_init__(self) -> None:
        # Not a strong reference to the modules: the adapter must not keep a model alive.
        references = [weakref.ref(m) for m in self.modules]
        self.modules = []
        weakref.finalize(self, _remove_adapter, references, self.name)


def _activate(module: torch.nn.Module, uses: tuple[LoraUse, ...]) -> None:
    layers = _tuner_layers(module)
    if not layers:
        return
    names = [use.adapter.name for use in uses]
    for layer in layers:
        present = [name for name in names if name in layer.lora_A]
        if not present:
            layer.enable_adapters(False)
            continue
        layer.enable_adapters(True)
        layer.set_adapter(present, inference_mode=True)
        for use in uses:
            layer.set_scale(use.adapter.name, use.strength)


@contextmanager
def applied(module: torch.nn.Module, uses: tuple[LoraUse, ...]) -> Iterator[None]:
    """Run ``module`` with exactly the adapters of ``uses`` active, at their strengths."""
    with _lock:
        _activate(module, uses)
        try:
            yield
        finally:
            _activate(module, ())


def _read_lora(path: Path, family: ModelFamily) -> tuple[dict, dict | None, dict | None]:
    """(state dict in diffusers naming, network alphas, adapter metadata) of a LoRA file."""
    import json

    from nodestudio.runtime.checkpoints import read_state_dict

    weights, file_metadata = read_state_dict(path, "LoRA")
    _check_family(path, list(weights), family)
    state_dict, alphas = family.lora_state_dict(weights)
    raw = file_metadata.get("lora_adapter_metadata")
    metadata = json.loads(raw) if raw else None
    return state_dict, alphas, metadata


@contextmanager
def _more_adapters_expected() -> Iterator[None]:
    """peft warns when a model that has an adapter gets another: that is the design here (one
    named adapter per LoRA handle, switched on per use), not a mistake to show an artist."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Already found a `peft_config`")
        yield


def _check_family(path: Path, keys: list[str], family: ModelFamily) -> None:
    """Refuse a LoRA whose keys say it was trained for another family (a Flux LoRA on SD1.5)."""
    from nodestudio.runtime import families

    for other in families.FAMILIES:
        if other is not family and other.lora_markers and any(
                marker in key for key in keys for marker in other.lora_markers):
            raise LoraLoadError(f"LoRA {path.name} is for {other.label}; this model is "
                                f"{family.label}: use a {family.label} LoRA")


def _section(mapping: Mapping | None, prefix: str) -> dict | None:
    if mapping is None:
        return None
    head = prefix + "."
    found = {k.removeprefix(head): v for k, v in mapping.items() if k.startswith(head)}
    return found or None


def _inject_text_encoder(
    model: torch.nn.Module, state_dict: dict, alphas: dict | None, metadata: dict | None, name: str
) -> bool:
    """Add adapter ``name`` to a transformers CLIP encoder; False if the LoRA has no part for it."""
    from diffusers.utils import convert_state_dict_to_diffusers, convert_state_dict_to_peft
    from diffusers.utils.peft_utils import get_peft_kwargs
    from peft import LoraConfig, inject_adapter_in_model, set_peft_model_state_dict

    if not state_dict:
        return False
    state_dict = convert_state_dict_to_peft(convert_state_dict_to_diffusers(state_dict))
    if not hasattr(model, "text_model"):
        state_dict = {k.removeprefix("text_model."): v for k, v in state_dict.items()}
    ranks = {k: v.shape[1] for k, v in state_dict.items() if ".lora_B." in k and v.ndim == 2}
    if metadata is not None:
        config = LoraConfig(**metadata)
    else:
        config = LoraConfig(**get_peft_kwargs(ranks, alphas, state_dict, is_unet=False))
    with _more_adapters_expected():
        inject_adapter_in_model(config, model, adapter_name=name)
    result = set_peft_model_state_dict(model, state_dict, adapter_name=name)
    unexpected = [k for k in getattr(result, "unexpected_keys", []) if "lora" in k]
    if unexpected:
        raise LoraLoadError(f"LoRA weights that fit no layer of the text encoder: {unexpected[:3]}")
    return True


def _add_to_models(model: DiffusionModel, clip: TextEncoders,
                   lora: tuple[dict, dict | None, dict | None], name: str,
                   strengths: tuple[float, float], finished: Callable[[], None],
                   touched: list[torch.nn.Module]) -> None:
    """Add adapter ``name`` to the denoiser and the CLIP encoders the LoRA has weights for,
    appending each model to ``touched`` as it is changed (so a failure can take it off)."""
    state_dict, alphas, metadata = lora
    strength_model, strength_clip = strengths
    if strength_model != 0:
        prefix = model.family.lora_denoiser_prefix
        if any(k.startswith(prefix + ".") for k in state_dict):
            with _more_adapters_expected():
                model.denoiser.load_lora_adapter(
                    state_dict, prefix=prefix, network_alphas=alphas, adapter_name=name,
                    metadata=_section(metadata, prefix),
                )
            touched.append(model.denoiser)
        finished()
    if strength_clip == 0:
        return
    for encoder in clip.encoders:
        prefix = clip.family.lora_text_prefixes.get(encoder.slot)
        if prefix is None:
            finished()
            continue  # LoRAs train the CLIPs, not T5
        part = {k.removeprefix(prefix + "."): v for k, v in state_dict.items()
                if k.startswith(prefix + ".")}
        if _inject_text_encoder(encoder.model, part, _section(alphas, prefix),
                                _section(metadata, prefix), name):
            touched.append(encoder.model)
        finished()


def load_lora(
    model: DiffusionModel,
    clip: TextEncoders,
    path: Path,
    strength_model: float,
    strength_clip: float,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[DiffusionModel, TextEncoders]:
    """New MODEL/CLIP handles with the LoRA at ``path`` added (the inputs are left as they are).

    ``progress(done, total)`` is called after reading the file and after each model the LoRA
    is added to (the UNet, each text encoder).
    """
    if strength_model == 0 and strength_clip == 0:
        return model, clip
    total = 1 + (strength_model != 0) + (len(clip.encoders) if strength_clip != 0 else 0)
    done = itertools.count(1)

    def finished() -> None:
        if progress is not None:
            progress(next(done), total)

    try:
        state_dict, alphas, metadata = _read_lora(path, model.family)
    except NodeError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise LoraLoadError(f"could not read LoRA {path.name}: {error}") from error
    finished()
    name = f"nodestudio_lora_{next(_names)}"
    touched: list[torch.nn.Module] = []
    with _lock:
        try:
            _add_to_models(model, clip, (state_dict, alphas, metadata), name,
                           (strength_model, strength_clip), finished, touched)
        except (NodeError, Cancelled):  # a cancel arrives through progress, between models
            _remove_adapter([weakref.ref(m) for m in touched], name)
            raise
        except (ValueError, KeyError, RuntimeError) as error:
            _remove_adapter([weakref.ref(m) for m in touched], name)
            raise LoraLoadError(
                f"LoRA {path.name} does not fit this model "
                f"(is it for another model family?): {error}"
            ) from error
        for module in touched:
            _activate(module, ())  # loaded switched off: other users of the model see no change
    if not touched:
        raise LoraLoadError(f"no weights of LoRA {path.name} fit this model")
    adapter = LoraAdapter(name, str(path), touched)
    new_model = model
    if model.denoiser in touched:
        new_model = model.with_loras((*model.loras, LoraUse(adapter, strength_model)))
    new_clip = clip
    if any(encoder.model in touched for encoder in clip.encoders):
        new_clip = clip.with_loras((*clip.loras, LoraUse(adapter, strength_clip)))
    return new_model, new_clip
