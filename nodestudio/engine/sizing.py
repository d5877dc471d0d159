"""How much memory a cached value holds, in RAM and in VRAM, without importing torch."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Footprint:
    ram: int = 0
    vram: int = 0

    def __add__(self, other: Footprint) -> Footprint:
        return Footprint(self.ram + other.ram, self.vram + other.vram)


_MAX_DEPTH = 6


def footprint(value: Any) -> Footprint:
    """Bytes held by ``value``: tensors and arrays by size, models by parameters and buffers.

    Objects may say for themselves with ``cache_nbytes()`` (counted in VRAM when their
    ``device`` attribute names a CUDA device). Shared objects are counted once.
    """
    return _measure(value, set(), 0)


def _measure(value: Any, seen: set[int], depth: int) -> Footprint:
    if value is None or isinstance(value, bool | int | float | complex):
        return Footprint()
    if id(value) in seen or depth > _MAX_DEPTH:
        return Footprint()
    seen.add(id(value))
    if isinstance(value, str | bytes | bytearray):
        return Footprint(ram=len(value))
    custom = getattr(value, "cache_nbytes", None)
    if callable(custom):
        size = int(custom())
        on_gpu = str(getattr(value, "device", "cpu")).startswith("cuda")
        return Footprint(vram=size) if on_gpu else Footprint(ram=size)
    torch = sys.modules.get("torch")
    if torch is not None:
        if isinstance(value, torch.Tensor):
            return _tensor_footprint(value)
        if isinstance(value, torch.nn.Module):
            total = Footprint()
            for tensor in list(value.parameters()) + list(value.buffers()):
                if id(tensor) not in seen:
                    seen.add(id(tensor))
                    total = total + _tensor_footprint(tensor)
            return total
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):  # numpy arrays and friends
        return Footprint(ram=nbytes)
    if type(value).__module__.startswith("PIL.") and hasattr(value, "getbands"):
        width, height = value.size
        return Footprint(ram=width * height * len(value.getbands()))
    if isinstance(value, dict):
        items: Any = list(value.keys()) + list(value.values())
    elif isinstance(value, list | tuple | set | frozenset):
        items = value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = [getattr(value, f.name) for f in dataclasses.fields(value)]
    elif hasattr(value, "__dict__"):
        items = list(vars(value).values())
    else:
        return Footprint(ram=sys.getsizeof(value, 0))
    total = Footprint()
    for item in items:
        total = total + _measure(item, seen, depth + 1)
    return total


def _tensor_footprint(tensor: Any) -> Footprint:
    size = tensor.element_size() * tensor.nelement()
    return Footprint(vram=size) if tensor.device.type == "cuda" else Footprint(ram=size)
