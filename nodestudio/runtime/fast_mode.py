"""Fast mode (the ``fast`` setting, ``--fast``): the denoiser and the VAE's decoder compiled
with ``torch.compile``.

Compiling costs time once (tens of seconds on a GPU); afterwards every step runs fused
kernels, and on CUDA with static shapes ("reduce-overhead") as one CUDA graph. The compiled
module is the model itself (``nn.Module.compile`` swaps its call in place), so it lives as long
as the cached model: a run that changes only the seed or the prompt reuses it without
recompiling (dynamo's guards check shapes and dtypes, not values). Inductor's FX graph cache is
kept on disk under the app's cache folder, so a new process compiles from cached artefacts.

Also here: the layout choice of the default mode — channels_last for UNets on CUDA (their
convolutions run faster in NHWC with cuDNN), contiguous elsewhere (transformers gain nothing,
the CPU loses). Like the memory policy this is process-wide and imports torch lazily.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

CHANNELS_LAST_CHOICES = ("auto", "on", "off")
_COMPILED_ATTRIBUTE = "_nodestudio_compiled"
_LAYOUT_ATTRIBUTE = "_nodestudio_channels_last"
_KEEPS_OUTPUTS_ATTRIBUTE = "_nodestudio_keeps_outputs"
_FUSED_ATTRIBUTE = "_nodestudio_fused_qkv"
#: Memory modes whose hooks move or cast weights inside the forward pass (run uncompiled).
_HOOKED_MODES = ("sequential", "fp8")
#: Parts of the state-dict keys that fused projections add (diffusers' Attention.fuse_projections).
FUSED_KEY_PARTS = (".to_qkv.", ".to_kv.", ".to_added_qkv.", ".to_added_kv.")


@dataclass(frozen=True)
class FastPolicy:
    enabled: bool = False
    #: Where inductor keeps compiled artefacts between runs (None: torch's default).
    cache_dir: Path | None = None
    channels_last: str = "auto"
    #: torch.compile's backend: inductor (fused kernels); tests use "eager" to check dynamo's
    #: graph reuse without minutes of C++ compilation on a slow CPU.
    backend: str = "inductor"
    #: Fuse the attention projections (:func:`fuse_projections`) of the models it compiles.
    fuse: bool = True


_policy = FastPolicy()


def configure(enabled: bool = False, cache_dir: Path | None = None,
              channels_last: str = "auto", backend: str = "inductor", fuse: bool = True) -> None:
    global _policy
    if channels_last not in CHANNELS_LAST_CHOICES:
        raise ValueError(f"channels_last must be one of {', '.join(CHANNELS_LAST_CHOICES)}")
    _policy = FastPolicy(enabled, cache_dir, channels_last, backend, fuse)


def current_policy() -> FastPolicy:
    return _policy


@contextlib.contextmanager
def policy(**changes: Any) -> Iterator[FastPolicy]:
    global _policy
    previous = _policy
    _policy = replace(previous, **changes)
    try:
        yield _policy
    finally:
        _policy = previous


def wants_channels_last(device: torch.device, module: torch.nn.Module,
                        setting: str = "auto") -> bool:
    """Whether ``module`` should run in channels_last: "on"/"off" as set; "auto" for
    convolutional UNets on CUDA only."""
    if setting != "auto":
        return setting == "on"
    return device.type == "cuda" and hasattr(module, "conv_in") and hasattr(module, "up_blocks")


def compile_mode(device: torch.device) -> str | None:
    """torch.compile's mode: CUDA graphs on CUDA (the Sampler's shapes are static within a
    run), inductor's default elsewhere."""
    return "reduce-overhead" if device.type == "cuda" else None


def use_disk_cache(cache_dir: Path | None) -> None:
    """Keep inductor's compiled artefacts under ``cache_dir`` (FX graph cache on)."""
    if cache_dir is None:
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir))
    import torch._inductor.config as inductor_config

    inductor_config.fx_graph_cache = True


def prepare(module: torch.nn.Module, device: torch.device, memory_mode: str = "keep",
            hooked: bool = False) -> bool:
    """Apply the layout and, in fast mode, fuse the attention projections and compile
    ``module`` once; True when it is compiled.

    Offloading hooks move weights inside the forward pass, which dynamo cannot trace
    into one graph: a model under "sequential" or "fp8" runs uncompiled. ``hooked``: the run
    hooks the separate q/k/v projections (hypernetworks), so they must stay separate.
    """
    import torch

    active = _policy
    compiles = active.enabled and memory_mode not in _HOOKED_MODES
    fuse_projections(module, wanted=compiles and active.fuse and not hooked)
    if not getattr(module, _LAYOUT_ATTRIBUTE, False) and wants_channels_last(
            device, module, active.channels_last):
        module.to(memory_format=torch.channels_last)
        setattr(module, _LAYOUT_ATTRIBUTE, True)
    if getattr(module, _COMPILED_ATTRIBUTE, False):
        return True
    if not compiles:
        return False
    _compile(module, device, active)
    return True


def prepare_vae(vae_model: torch.nn.Module, device: torch.device, memory_mode: str = "keep",
                tiled: bool = False) -> bool:
    """In fast mode, compile the VAE's decoder once (VAE Decode); True when it is compiled.

    Only the decoder (the convolution stack ``AutoencoderKL.decode`` calls): the latent
    scaling around it is elementwise and cheap. Tiled decoding runs the decoder on tiles of
    several sizes, each a recompile with static shapes, so it stays eager; so does a VAE whose
    layers are streamed by offloading hooks. The layout is left as loaded: the decoded pixels
    of the default mode must not change.
    """
    decoder = getattr(vae_model, "decoder", None)
    if decoder is None or tiled:
        return False
    if getattr(decoder, _COMPILED_ATTRIBUTE, False):
        return True
    active = _policy
    if not active.enabled or memory_mode in _HOOKED_MODES:
        return False
    _compile(decoder, device, active)
    return True


def fuse_projections(module: torch.nn.Module, wanted: bool = True) -> bool:
    """Fast mode's fused attention projections (diffusers' ``fuse_qkv_projections``): q, k
    and v of each self-attention in one matmul, k and v of each cross-attention in one.
    Returns whether ``module`` runs them fused now.

    Not for a model with LoRA adapters (peft wraps the separate projections, which the fused
    ones would bypass), nor when not ``wanted`` (fast mode off, a hypernetwork hooks the
    separate ones): a fused model is unfused then. The fused weights are copies beside the
    separate ones (diffusers keeps both); :func:`plain_state_dict` leaves them out of what is
    saved or merged."""
    fused = bool(getattr(module, _FUSED_ATTRIBUTE, False))
    if not wanted or getattr(module, "peft_config", None):
        if fused:
            model: Any = module  # a diffusers ModelMixin
            model.unfuse_qkv_projections()
            setattr(module, _FUSED_ATTRIBUTE, False)
        return False
    if fused:
        return True
    fuse = getattr(module, "fuse_qkv_projections", None)
    if fuse is None:
        return False
    try:
        fuse()
    except (ValueError, AttributeError, NotImplementedError):
        return False  # added-KV attention (IP-Adapter style processors) cannot be fused
    setattr(module, _FUSED_ATTRIBUTE, True)
    return True


def is_fused(module: torch.nn.Module) -> bool:
    return bool(getattr(module, _FUSED_ATTRIBUTE, False))


def plain_state_dict(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``module.state_dict()`` without the copies fast mode's fused projections add: what a
    saved checkpoint, a merge or a difference of weights must read."""
    return {key: tensor for key, tensor in module.state_dict().items()
            if not any(part in f".{key}" for part in FUSED_KEY_PARTS)}


def _compile(module: torch.nn.Module, device: torch.device, active: FastPolicy) -> None:
    use_disk_cache(active.cache_dir)
    # Modes are inductor's options; other backends take none.
    mode = compile_mode(device) if active.backend == "inductor" else None
    module.compile(backend=active.backend, mode=mode, fullgraph=False, dynamic=False)
    if mode == "reduce-overhead":
        keep_outputs_past_next_call(module)
    setattr(module, _COMPILED_ATTRIBUTE, True)


def keep_outputs_past_next_call(module: torch.nn.Module) -> None:
    """Clone a compiled module's outputs as they leave the compiled region.

    Under CUDA graphs every call writes its outputs into the same static buffers, and torch
    makes the previous call's outputs unreadable ("accessing tensor output of CUDAGraphs that
    has been overwritten by a subsequent run"). The Sampler's Euler loop lets each prediction
    go before the next step, but PNDM keeps its past predictions, which at cfg 1 are the
    denoiser's own outputs (with cfg the halves are combined into a new tensor). The copy is
    one latent-sized tensor per call (the decoder's: one image), made outside the graph.
    """
    compiled_call = getattr(module, "_compiled_call_impl", None)
    if compiled_call is None or getattr(compiled_call, _KEEPS_OUTPUTS_ATTRIBUTE, False):
        return

    def call_keeping_outputs(*args: Any, **kwargs: Any) -> Any:
        return _cloned(compiled_call(*args, **kwargs))

    setattr(call_keeping_outputs, _KEEPS_OUTPUTS_ATTRIBUTE, True)
    module._compiled_call_impl = call_keeping_outputs


def keeps_outputs(module: torch.nn.Module) -> bool:
    """Whether ``module``'s compiled call clones its outputs (CUDA graphs)."""
    return getattr(getattr(module, "_compiled_call_impl", None), _KEEPS_OUTPUTS_ATTRIBUTE, False)


def _cloned(value: Any) -> Any:
    """``value`` with every tensor in it cloned: a tensor, a tuple or list, or a mapping such
    as diffusers' output dataclasses (changed in place, so their type and fields stay)."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, (tuple, list)):
        return type(value)(_cloned(item) for item in value)
    if isinstance(value, dict):
        for key in list(value.keys()):
            value[key] = _cloned(value[key])
    return value


def is_compiled(module: torch.nn.Module) -> bool:
    return bool(getattr(module, _COMPILED_ATTRIBUTE, False))
