"""A CPU stand-in for a GPU that catches what only a GPU would: a model run while its weights
are still in system memory (on CUDA: "Expected all tensors to be on the same device").

On the CPU the device and system memory are one place, so a loader that leaves a model in
system memory, or a node that runs a model the memory manager has offloaded, works here and
fails on a GPU. This harness gives runs a device of their own: ``torch.device("cpu", 0)``,
which computes on the CPU like ``"cpu"`` but compares unequal to it. It records where weights
go: to the accelerator on every ``Module.to`` that names it, to system memory when a loader
leaves a model there (``memory_manager.load_device``) or the memory manager or the cache
offloads one (``devices.offload_to_cpu``). ``devices.module_device`` answers from that record,
and a global forward pre-hook fails any module with weights that runs while recorded in system
memory. Other moves (a test's own ``.to("cpu")``, PEFT placing LoRA layers by a weight's
device) leave the record alone: they say nothing about what a GPU would see. Modules streamed
by diffusers' group-offloading hooks (memory mode ``sequential``) move block by block inside
those hooks and are left to them.

Results may differ from a ``"cpu"`` run in the last bits (measured: 2.4e-7 in one forward of
Shap-E's prior, some kernels choose differently for an indexed device), so comparisons as tight
as Shap-E's 1e-5 on two Heun steps can miss under the harness; pictures compare as usual.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import torch

from nodestudio.runtime import devices, memory_manager

#: The device a run under the harness uses: the CPU, under a name unequal to "cpu".
ACCELERATOR = torch.device("cpu", 0)
SYSTEM_MEMORY = torch.device("cpu")
_PLACE = "_virtual_device"


@dataclass
class Residency:
    """What the harness saw: modules that ran off the accelerator, and every placement."""

    violations: list[str] = field(default_factory=list)
    moves: list[tuple[str, str]] = field(default_factory=list)

    def resident(self, module: torch.nn.Module) -> bool:
        return module.__dict__.get(_PLACE) == ACCELERATOR


def place_of(module: torch.nn.Module) -> torch.device | None:
    """Where the harness last saw ``module``'s weights sent (None: never moved)."""
    return module.__dict__.get(_PLACE)


def _streamed_ids() -> set[int]:
    """Submodules of models under group-offloading hooks (they move inside the hooks)."""
    return {id(sub) for root in list(memory_manager._prepared)
            if getattr(root, memory_manager.HOOKED_ATTRIBUTE, False) for sub in root.modules()}


@contextlib.contextmanager
def virtual_accelerator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Residency]:
    record = Residency()
    original_to = torch.nn.Module.to
    original_module_device = devices.module_device
    original_offload, original_load_device = devices.offload_to_cpu, memory_manager.load_device
    #: Set while the manager or a loader sends weights to system memory (their next .to).
    to_system_memory = [False]

    def to(module: torch.nn.Module, *args, **kwargs):
        result = original_to(module, *args, **kwargs)
        target = torch._C._nn._parse_to(*args, **kwargs)[0]
        if target is not None:
            target = torch.device(target)
            if target == ACCELERATOR or (to_system_memory[0] and target == SYSTEM_MEMORY):
                to_system_memory[0] = False
                record.moves.append((type(module).__name__, str(target)))
                for sub in module.modules():
                    object.__setattr__(sub, _PLACE, target)
        return result

    def offload_to_cpu(module: torch.nn.Module) -> None:
        to_system_memory[0] = True
        try:
            original_offload(module)
        finally:
            to_system_memory[0] = False

    def load_device(device: torch.device, model_bytes: int | None = None) -> torch.device:
        target = original_load_device(device, model_bytes)
        # loaded_to's .to comes next; a model loaded for a CPU run is where it runs.
        to_system_memory[0] = target == SYSTEM_MEMORY and device == ACCELERATOR
        return target

    def module_device(module: torch.nn.Module) -> torch.device:
        return place_of(module) or original_module_device(module)

    def check(module: torch.nn.Module, _inputs) -> None:
        if next(module.parameters(recurse=False), None) is None:
            return
        place = place_of(module)
        if place != SYSTEM_MEMORY or id(module) in _streamed_ids():
            return
        record.violations.append(f"{type(module).__name__} ran with its weights on {place}")

    monkeypatch.setattr(torch.nn.Module, "to", to)
    monkeypatch.setattr(devices, "module_device", module_device)
    monkeypatch.setattr(devices, "offload_to_cpu", offload_to_cpu)
    monkeypatch.setattr(memory_manager, "load_device", load_device)
    handle = torch.nn.modules.module.register_module_forward_pre_hook(check)
    memory_manager.forget_prepared()
    try:
        yield record
    finally:
        handle.remove()
        memory_manager.forget_prepared()
