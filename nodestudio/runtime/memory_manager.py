"""How diffusion models are held in accelerator memory: ComfyUI's memory modes, chosen by size.

Modes (the ``memory_mode`` setting, ``--memory-mode``):

* ``keep`` — every model stays resident on the device (fastest; needs the room).
* ``offload`` — a denoiser moves to the device for its Sampler run and back to system memory
  after it, so models that do not fit together take turns.
* ``sequential`` — diffusers' group offloading: the denoiser's weights stay in system memory
  and each block is copied to the device just before it runs (cards too small for the model);
  on CUDA the next block's copy overlaps the current block's compute (:func:`transfer_options`).
* ``fp8`` — diffusers' layerwise casting: weights stored in float8 (e4m3), each layer cast to
  the compute precision when it runs (half the memory of bf16, a small change in the picture).
* ``auto`` — picks ``keep``, ``offload`` or ``sequential`` from the model's size and the free
  memory (CUDA's ``mem_get_info``; elsewhere the configured budget, so it is testable on the
  CPU). fp8 changes pixels, so auto never picks it: the user asks for it.

Text encoders and VAEs are held by the same policy (``models_in_use``, around Text Encode and
VAE Encode / Decode), as ComfyUI does: under ``offload`` a node's encoders come to the device
for it and go back to system memory after, so T5-XXL (≈ 9.5 GB in bf16) and a 12 B Flux
transformer take turns on a 12 GB card. ``sequential`` streams an encoder layer by layer only
when it does not fit alone; ``fp8`` places them as ``offload`` does (their weights keep their
precision: fp8 is the denoiser's storage). ``auto`` sizes a node's models together.

The policy is process-wide (one GPU per process, set from the settings by the Session and the
CLI). This module imports torch only inside functions: the Session configures it without
paying for torch.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import torch

MODES = ("auto", "keep", "offload", "sequential", "fp8")
#: A model runs with its weights plus activations and workspace; this much room on top of the
#: weights keeps "keep" from running out in the middle of a run (measured on SDXL 1024²:
#: activations are about a fifth of the UNet's weights).
HEADROOM = 1.25
#: Text encoders need little beyond their weights (a few hundred tokens of activations): a
#: smaller margin lets T5-XXL in bf16 (≈ 9.5 GB) count as fitting a 12 GB card.
ENCODER_HEADROOM = 1.05
#: Marks a module whose placement hooks own its device (ensure_on/offload_to_cpu leave it).
HOOKED_ATTRIBUTE = "_nodestudio_offload_hooks"
_APPLIED_ATTRIBUTE = "_nodestudio_memory_mode"
M = TypeVar("M", bound="torch.nn.Module")


@dataclass(frozen=True)
class MemoryPolicy:
    mode: str = "auto"
    #: Bytes models may use on the device; None: CUDA's free memory (unlimited elsewhere).
    budget_bytes: int | None = None
    #: Streamed blocks copy on a side stream on CUDA (:func:`transfer_options`); off: in line.
    streams: bool = True


_policy = MemoryPolicy()
_lock = threading.Lock()
#: Denoisers this process has prepared (weakly: the cache owns them), so "auto" knows what
#: else holds the device and "offload" can make room.
_prepared: weakref.WeakSet[Any] = weakref.WeakSet()


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"unknown memory mode {mode!r}: use one of {', '.join(MODES)}")
    return mode


def configure(mode: str = "auto", budget_bytes: int | None = None,
              streams: bool = True) -> None:
    """Set the process's memory policy (the Session does, from the settings)."""
    global _policy
    with _lock:
        _policy = MemoryPolicy(check_mode(mode), budget_bytes, streams)


def current_policy() -> MemoryPolicy:
    return _policy


@contextlib.contextmanager
def policy(mode: str | None = None, budget_bytes: int | None = None) -> Iterator[MemoryPolicy]:
    """A policy for the duration of a block (benchmarks and tests)."""
    global _policy
    previous = _policy
    changes: dict[str, Any] = {"budget_bytes": budget_bytes}
    if mode is not None:
        changes["mode"] = check_mode(mode)
    _policy = replace(previous, **changes)
    try:
        yield _policy
    finally:
        _policy = previous


def parameter_bytes(module: torch.nn.Module) -> int:
    """Bytes of a module's parameters and buffers (what keeping it resident costs)."""
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


def free_bytes(device: torch.device, budget: int | None = None) -> int | None:
    """Room for models on ``device``: the budget when set, else CUDA's free memory, else None
    (the CPU and MPS report no useful limit: no offloading is chosen there)."""
    import torch

    if budget is not None:
        return budget
    if device.type == "cuda" and torch.cuda.is_available():
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    return None


def choose_mode(model_bytes: int, free: int | None, resident_elsewhere: int = 0,
                headroom: float = HEADROOM) -> str:
    """``auto``'s choice for a model of ``model_bytes`` with ``free`` bytes of room, of which
    ``resident_elsewhere`` bytes are held by other models that could be offloaded first."""
    if free is None or model_bytes * headroom <= free:
        return "keep"
    if model_bytes * headroom <= free + resident_elsewhere:
        return "offload"
    return "sequential"


def resolve_mode(module: torch.nn.Module, device: torch.device,
                 active: MemoryPolicy | None = None,
                 companions: Iterable[torch.nn.Module] = (),
                 alternates: Iterable[torch.nn.Module] = ()) -> str:
    """The mode for a denoiser and the ``companions`` it runs with (ControlNets, an image
    encoder): auto sizes them together, since all of them are on the device for the run.

    ``alternates`` are denoisers that run in turn with ``module`` (Wan 2.2's low-noise expert
    after the boundary): auto keeps them all on the device when they fit together, and
    otherwise chooses offload, under which they take turns (:func:`take_turn`), when the
    largest fits with the companions."""
    companions, alternates = list(companions), list(alternates)
    together = _resolve_group([module, *alternates, *companions], device, active)
    if together == "keep" or not alternates:
        return together
    largest = max([module, *alternates], key=parameter_bytes)
    in_turn = _resolve_group([largest, *companions], device, active)
    return "offload" if in_turn in ("keep", "offload") else together


def _resolve_group(group: list[torch.nn.Module], device: torch.device,
                   active: MemoryPolicy | None = None, headroom: float = HEADROOM) -> str:
    """The mode for models that run together (a denoiser; a Text Encode's encoders): auto
    sizes them as one, since none of them can leave the device while the others run."""
    active = active or _policy
    if active.mode != "auto":
        return active.mode
    size = sum(parameter_bytes(module) for module in group)
    elsewhere = _resident_except(group, device)
    room = free_bytes(device, active.budget_bytes)
    if room is not None and active.budget_bytes is not None:
        room = max(room - elsewhere, 0)  # a budget is shared with the other resident models
    elif room is not None:
        # CUDA's free memory excludes the group's own resident bytes.
        room += sum(parameter_bytes(module) for module in group if _on(module, device))
    return choose_mode(size, room, elsewhere, headroom)


def resident_elsewhere(module: torch.nn.Module, device: torch.device) -> int:
    """Bytes of the other prepared models resident on ``device`` (offloadable)."""
    return _resident_except([module], device)


def _resident_except(group: list[torch.nn.Module], device: torch.device) -> int:
    return sum(parameter_bytes(other) for other in list(_prepared)
               if not any(other is member for member in group)
               and not getattr(other, HOOKED_ATTRIBUTE, False) and _on(other, device))


def _on(module: torch.nn.Module, device: torch.device) -> bool:
    from nodestudio.runtime.devices import module_device

    return module_device(module) == device


def applied_mode(module: torch.nn.Module) -> str | None:
    return getattr(module, _APPLIED_ATTRIBUTE, None)


def prepare(module: torch.nn.Module, device: torch.device, mode: str,
            staying: Iterable[torch.nn.Module] = ()) -> str:
    """Put ``module`` in ``mode`` for a run on ``device``; returns the mode it is in.

    Hooks (sequential, fp8) stay on the module for its life in the cache: a model prepared
    under one of them keeps it until it is loaded again (it is not undone mid-session).
    """
    import torch

    from nodestudio.runtime.devices import ensure_on

    applied = applied_mode(module)
    if applied in ("sequential", "fp8"):
        mode = applied
        if applied == "fp8":
            ensure_on(module, device)  # an encoder's offload mode may have moved it out
    elif mode == "sequential":
        _group_offload(module, device)
    elif mode == "fp8":
        compute = next(module.parameters()).dtype
        model: Any = module  # a diffusers ModelMixin (nn.Module's typing hides its methods)
        model.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=compute)
        ensure_on(module, device)
    else:
        if mode == "offload":
            # The other models leave the device, except the run's ``staying`` companions.
            _make_room(module, device, [module, *staying])
        ensure_on(module, device)
    _mark(module, mode)
    _prepared.add(module)
    return mode


_log = logging.getLogger("nodestudio.memory")
#: What each mode means for a model, as the Log says it when a model first runs in it.
_MODE_WORDS = {
    "offload": "comes to the device for each node and goes back to system memory after",
    "sequential": "streams from system memory block by block (slow, but it fits)",
    "fp8": "is stored in float8 on the device and computed in its own precision",
}


def _mark(module: torch.nn.Module, mode: str) -> None:
    """Record ``module``'s mode; tell the Log when a model first runs in a mode other than
    keep (a slow run under ``auto`` says why it is slow), once per model and mode."""
    if applied_mode(module) != mode and mode in _MODE_WORDS:
        why = ("auto: the models do not all fit the free memory" if _policy.mode == "auto"
               else f"memory mode {_policy.mode}")
        _log.info("%s (%.2f GiB) %s (%s)", type(module).__name__,
                  parameter_bytes(module) / 2**30, _MODE_WORDS[mode], why)
    setattr(module, _APPLIED_ATTRIBUTE, mode)


def load_device(device: torch.device, model_bytes: int | None = None) -> torch.device:
    """Where a loader should put a new model's weights: the device under ``keep``, system
    memory when the policy places models itself at first use (offload, sequential, fp8, auto
    under a budget), so a model larger than the card (Flux-dev's 24 GB transformer on a 12 GB
    card) loads at all. ``auto`` without a budget (the default) loads onto the device what
    fits in its free memory with room to run (CUDA's ``mem_get_info``; the CPU reports no
    limit) and leaves a bigger model in system memory, for its node to stream or offload."""
    import torch

    mode = _policy.mode
    if mode == "keep":
        return device
    if mode == "auto" and _policy.budget_bytes is None:
        room = free_bytes(device)
        if room is None or model_bytes is None or model_bytes * HEADROOM <= room:
            return device
        _log.info("a %.2f GiB model loads into system memory: %.2f GiB is free on %s",
                  model_bytes / 2**30, room / 2**30, device)
    return torch.device("cpu")


def loaded_to(module: M, device: torch.device) -> M:
    """A model a loader has just read, in eval mode, where :func:`load_device` puts it: the
    node that uses it brings it to ``device`` (the memory manager, or ``devices.ensure_on``)."""
    module.to(load_device(device, parameter_bytes(module)))
    return module.eval()


def prepared_modes() -> list[tuple[str, str, int]]:
    """(class, mode, bytes) of each model placed so far: which mode ``auto`` chose for what
    (benchmarks report it beside the figures)."""
    return sorted((type(module).__name__, applied_mode(module) or "?", parameter_bytes(module))
                  for module in list(_prepared))


def forget_prepared() -> None:
    """Stop counting the denoisers prepared so far (benchmarks and tests that start over)."""
    _prepared.clear()


def _make_room(module: torch.nn.Module, device: torch.device,
               group: list[torch.nn.Module] | None = None) -> None:
    """Offload mode: the other models (denoisers, encoders, VAEs) leave the device before this
    one (and the ``group`` it runs with) comes. On the CPU this moves nothing."""
    from nodestudio.runtime.devices import offload_to_cpu

    staying = group or [module]
    for other in list(_prepared):
        if not any(other is member for member in staying) and _on(other, device):
            offload_to_cpu(other)


def _group_offload(module: torch.nn.Module, device: torch.device) -> None:
    import torch

    from nodestudio.runtime.devices import offload_to_cpu

    offload_to_cpu(module)
    # One block at a time on the device: the smallest footprint diffusers' hooks offer.
    model: Any = module  # a diffusers ModelMixin (nn.Module's typing hides its methods)
    model.enable_group_offload(onload_device=device, offload_device=torch.device("cpu"),
                               offload_type="block_level", num_blocks_per_group=1,
                               **transfer_options(module, device))
    setattr(module, HOOKED_ATTRIBUTE, True)


#: Pin a streamed model's weights up front only while they take at most this share of the
#: available system memory; past it they are pinned block by block as they go.
PIN_SHARE = 0.5


def transfer_options(module: torch.nn.Module, device: torch.device,
                     available: int | None = None) -> dict[str, Any]:
    """How a streamed model's blocks travel (diffusers' group-offloading options).

    On CUDA the next block copies on a side stream while this one computes (``use_stream``:
    one more block on the device, the copies hidden behind the compute); the copies need
    pinned system memory, which diffusers pins for the whole model up front, faster but as
    large as the model, so a model beyond :data:`PIN_SHARE` of the ``available`` system
    memory is pinned block by block (``low_cpu_mem_usage``). Elsewhere the copies run in
    line (no streams to overlap them on the CPU or MPS)."""
    if device.type != "cuda" or not _policy.streams:
        return {}
    if available is None:
        import psutil

        available = int(psutil.virtual_memory().available)
    # non_blocking: the side stream's copy must not hold the host, or the block's kernels
    # would queue only after it. record_stream stays off: it saves a host sync per block at
    # the cost of device memory, which a card needing this mode has none of.
    return {"use_stream": True, "non_blocking": True,
            "low_cpu_mem_usage": parameter_bytes(module) > available * PIN_SHARE}


def after_use(module: torch.nn.Module, mode: str) -> None:
    """What a mode does once a run no longer needs ``module`` (offload: back to the CPU)."""
    if mode == "offload":
        from nodestudio.runtime.devices import offload_to_cpu

        offload_to_cpu(module)


@contextlib.contextmanager
def released_after(module: torch.nn.Module, mode: str) -> Iterator[None]:
    """Run the block, then release ``module`` as ``mode`` says (also when the block fails)."""
    try:
        yield
    finally:
        after_use(module, mode)


@contextlib.contextmanager
def in_use(module: torch.nn.Module, device: torch.device) -> Iterator[str]:
    """Hold ``module`` as the policy says for the block (a Sampler run); yields the mode."""
    mode = prepare(module, device, resolve_mode(module, device))
    try:
        yield mode
    finally:
        after_use(module, mode)


@contextlib.contextmanager
def models_in_use(modules: Iterable[torch.nn.Module | None], device: torch.device,
                  headroom: float = ENCODER_HEADROOM) -> Iterator[list[str]]:
    """Hold a node's text encoders or its VAE as the policy says for the block; yields their
    modes. keep: on the device, left there; offload: the other models leave, these come for
    the node and go back to system memory after (also when the node fails)."""
    group = [module for module in modules if module is not None]
    mode = _resolve_group(group, device, headroom=headroom)
    modes = [_prepare_auxiliary(module, device, mode, group) for module in group]
    try:
        yield modes
    finally:
        for module, used in zip(group, modes, strict=True):
            after_use(module, used)


def prepare_companions(modules: Iterable[torch.nn.Module], device: torch.device,
                       leader: torch.nn.Module, leader_mode: str) -> list[str]:
    """Place the models a Sampler run needs beside its denoiser ``leader`` (ControlNets,
    T2I-Adapters, a second expert, an image encoder) as the denoiser is held: on the device
    under keep, brought for the run and sent back after it (:func:`after_use`) otherwise.
    They stay whole unless one alone is too big for the device (then layer by layer)."""
    group = _unique(modules)
    mode = "keep" if leader_mode == "keep" else "sequential" \
        if leader_mode == "sequential" else "offload"
    return [_prepare_auxiliary(module, device, mode, [leader, *group]) for module in group]


def prepare_alternates(modules: Iterable[torch.nn.Module], device: torch.device,
                       mode: str) -> list[str]:
    """Place the denoisers that run in turn with the Sampler's (Wan 2.2's low-noise expert) in
    the denoiser's ``mode``: on the device under keep, stored in fp8 under fp8, streamed under
    sequential. Under offload each stays in system memory until its turn (:func:`take_turn`),
    so the device holds one expert at a time."""
    return [mode if mode == "offload" else prepare(module, device, mode)
            for module in _unique(modules)]


def take_turn(leaving: torch.nn.Module, arriving: torch.nn.Module, device: torch.device,
              mode: str, staying: Iterable[torch.nn.Module] = ()) -> None:
    """At an expert boundary: under offload the denoiser whose steps are done goes back to
    system memory before ``arriving`` comes (the run's ``staying`` companions stay); the
    other modes placed both at the start of the run and move nothing."""
    if mode != "offload":
        return
    after_use(leaving, mode)
    prepare(arriving, device, mode, staying)


@contextlib.contextmanager
def released_after_all(modules: Iterable[torch.nn.Module], modes: list[str]) -> Iterator[None]:
    """Run the block, then release each of ``modules`` as its mode says (also on failure)."""
    try:
        yield
    finally:
        for module, mode in zip(_unique(modules), modes, strict=True):
            after_use(module, mode)


def _unique(modules: Iterable[torch.nn.Module | None]) -> list[torch.nn.Module]:
    unique: list[torch.nn.Module] = []
    for module in modules:
        if module is not None and not any(module is seen for seen in unique):
            unique.append(module)
    return unique


def _prepare_auxiliary(module: torch.nn.Module, device: torch.device, mode: str,
                       group: list[torch.nn.Module]) -> str:
    from nodestudio.runtime.devices import ensure_on

    if applied_mode(module) == "sequential":
        return "sequential"  # its hooks stay for its life in the cache
    if mode == "fp8":
        mode = "offload"  # fp8 is the denoiser's storage; encoders keep their precision
    if mode == "sequential" and _fits_alone(module, device):
        mode = "offload"  # whole for its node is much faster than layer by layer
    if mode == "sequential":
        _leaf_offload(module, device)
    else:
        if mode == "offload":
            _make_room(module, device, group)
        ensure_on(module, device)
    _mark(module, mode)
    _prepared.add(module)
    return mode


def _fits_alone(module: torch.nn.Module, device: torch.device) -> bool:
    room = free_bytes(device, _policy.budget_bytes)
    if room is not None and _policy.budget_bytes is None:
        room += _resident_except([], device)  # what offloading the others frees on CUDA
    return room is None or parameter_bytes(module) * ENCODER_HEADROOM <= room


def _leaf_offload(module: torch.nn.Module, device: torch.device) -> None:
    """Layer-by-layer streaming for any module (transformers' encoders have no diffusers
    ``enable_group_offload``): each leaf layer comes to the device when it runs."""
    import torch
    from diffusers.hooks import apply_group_offloading

    from nodestudio.runtime.devices import offload_to_cpu

    offload_to_cpu(module)
    apply_group_offloading(module, onload_device=device, offload_device=torch.device("cpu"),
                           offload_type="leaf_level", **transfer_options(module, device))
    setattr(module, HOOKED_ATTRIBUTE, True)


#: The models ``devices.ensure_on`` brought to the device during the node running on this
#: thread (:func:`node_scope`).
_node_local = threading.local()


def note_brought(module: torch.nn.Module) -> None:
    """``devices.ensure_on`` moved ``module`` to the device (inside a node: remembered)."""
    moved = getattr(_node_local, "moved", None)
    if moved is not None:
        moved.append(module)


@contextlib.contextmanager
def node_scope() -> Iterator[None]:
    """Around each node's code (the Session hands it to the engine): under offload, sequential
    and fp8, a model the node brought to the device by itself (``devices.ensure_on``: Shap-E's
    parts, SVD's VAE and image encoder, GLIGEN's text model …) goes back to system memory when
    the node ends, as the models the manager holds do. Models the manager placed to stay
    (keep; an fp8 denoiser) stay. Imports torch only when a node moved something."""
    previous = getattr(_node_local, "moved", None)
    moved: list[torch.nn.Module] = []
    _node_local.moved = moved
    try:
        yield
    finally:
        _node_local.moved = previous
        if moved and _policy.mode in ("offload", "sequential", "fp8"):
            from nodestudio.runtime.devices import offload_to_cpu

            for module in _unique(moved):
                if applied_mode(module) not in ("keep", "fp8"):
                    offload_to_cpu(module)


def has_offload_hooks(module: torch.nn.Module) -> bool:
    """Whether diffusers' group-offloading hooks are attached to ``module``."""
    registry = getattr(module, "_diffusers_hook", None)
    return registry is not None and registry.get_hook("group_offloading") is not None
