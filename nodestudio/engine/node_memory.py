"""Memory in use right now (resident set and CUDA allocations), so that a node's figures can
be its own: the peak while it ran minus what the process held when it started.

The peak alone (engine.memory.PeakMemory) includes everything loaded before, so every node of
a run showed about the same process-wide "1.1 GB".
"""

from __future__ import annotations

import sys
from pathlib import Path

_STATUS = Path("/proc/self/status")


def in_use() -> tuple[int | None, int | None]:
    """(resident bytes, CUDA bytes allocated) now; None where the platform does not say."""
    return _resident(), _cuda_allocated()


def added(peak: int | None, before: int | None) -> int | None:
    """How far ``peak`` rose above ``before`` (never negative); None if either is unknown."""
    if peak is None or before is None:
        return None
    return max(peak - before, 0)


def _resident() -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cuda_allocated() -> int | None:
    torch = sys.modules.get("torch")  # never import it here: the window runs without it
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return int(torch.cuda.memory_allocated())
