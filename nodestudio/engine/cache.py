"""The output cache: node outputs by signature, least recently used first out, with budgets.

Entries stay as they are (tensors on their device, models loaded) while the cache holds them.
Over the VRAM budget, entries that can offload to the CPU (``offload_to_cpu()``) do so first;
over either budget, the least recently used entries are dropped (``on_cache_evict()`` is
called on values that define it).
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from nodestudio.engine.sizing import Footprint, footprint


@runtime_checkable
class Offloadable(Protocol):
    """A cached value that can give its accelerator memory back by moving to the CPU (the
    runtime's model handles). Structural: runtime never imports the engine to declare it."""

    def offload_to_cpu(self) -> None: ...


@runtime_checkable
class EvictionAware(Protocol):
    """A cached value that releases what it holds when the cache drops it."""

    def on_cache_evict(self) -> None: ...


@dataclass
class CacheEntry:
    outputs: tuple[Any, ...]
    size: Footprint
    #: What an output node showed or wrote, replayed when the cached result is shown again.
    files: list[Path] = field(default_factory=list)
    images: list[Any] = field(default_factory=list)


class OutputCache:
    def __init__(self, ram_budget: int | None = None, vram_budget: int | None = None) -> None:
        self.ram_budget = ram_budget
        self.vram_budget = vram_budget
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self._lock = threading.RLock()
        self.evictions = 0

    def __contains__(self, signature: object) -> bool:
        return signature in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def get(self, signature: str) -> CacheEntry | None:
        with self._lock:
            entry = self._entries.get(signature)
            if entry is not None:
                self._entries.move_to_end(signature)
            return entry

    def put(self, signature: str, entry: CacheEntry) -> None:
        with self._lock:
            self._entries[signature] = entry
            self._entries.move_to_end(signature)
            self._enforce_budgets(keep=signature)

    def total(self) -> Footprint:
        with self._lock:
            total = Footprint()
            for entry in self._entries.values():
                total = total + entry.size
            return total

    def clear(self) -> None:
        with self._lock:
            for signature in list(self._entries):
                self._drop(signature)

    def discard(self, signature: str) -> None:
        with self._lock:
            if signature in self._entries:
                self._drop(signature)

    def discard_where(self, drop: Callable[[CacheEntry], bool]) -> None:
        """Drop every entry ``drop`` picks, leaving the others' recency (LRU order) alone."""
        with self._lock:
            for signature, entry in list(self._entries.items()):
                if drop(entry):
                    self._drop(signature)

    def free_accelerator_memory(self) -> None:
        """After an out-of-memory error: every model offloads to the CPU, and entries still
        holding accelerator memory (latents, masks on the GPU) are dropped."""
        with self._lock:
            for signature, entry in list(self._entries.items()):
                if entry.size.vram == 0:
                    continue
                if _offload(entry):
                    entry.size = footprint(entry.outputs)
                if entry.size.vram:
                    self._drop(signature)

    def _enforce_budgets(self, keep: str) -> None:
        total = self.total()
        if self.vram_budget is not None and total.vram > self.vram_budget:
            for signature, entry in list(self._entries.items()):
                if total.vram <= self.vram_budget:
                    break
                if signature == keep or entry.size.vram == 0:
                    continue
                if _offload(entry):
                    before, entry.size = entry.size, footprint(entry.outputs)
                    total = Footprint(total.ram - before.ram + entry.size.ram,
                                      total.vram - before.vram + entry.size.vram)
                if entry.size.vram:
                    total = Footprint(total.ram - entry.size.ram, total.vram - entry.size.vram)
                    self._drop(signature)
        if self.ram_budget is not None and total.ram > self.ram_budget:
            for signature, entry in list(self._entries.items()):
                if total.ram <= self.ram_budget:
                    break
                if signature == keep or entry.size.ram == 0:
                    continue
                total = Footprint(total.ram - entry.size.ram, total.vram - entry.size.vram)
                self._drop(signature)

    def _drop(self, signature: str) -> None:
        entry = self._entries.pop(signature)
        self.evictions += 1
        for value in entry.outputs:
            if isinstance(value, EvictionAware):
                # A value's clean-up must never break the cache.
                with contextlib.suppress(Exception):
                    value.on_cache_evict()


def _offload(entry: CacheEntry) -> bool:
    moved = False
    for value in entry.outputs:
        if isinstance(value, Offloadable):
            try:
                value.offload_to_cpu()
                moved = True
            except Exception:
                pass
    return moved
