"""Peak memory of one node's run: process RSS high-water mark and CUDA allocator peak."""

from __future__ import annotations

import resource
import sys
from pathlib import Path

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


class PeakMemory:
    """Measures the peak between :meth:`start` and :meth:`stop`.

    On Linux the RSS high-water mark is reset per node (``clear_refs`` = 5), so the figure is
    the node's own peak; elsewhere it is the process's peak so far. VRAM is read from torch's
    CUDA allocator, only when torch is already imported and CUDA is in use.
    """

    def __init__(self) -> None:
        self._can_reset_rss = _CLEAR_REFS.exists()
        self._cuda = False

    def start(self) -> None:
        if self._can_reset_rss:
            try:
                _CLEAR_REFS.write_text("5")
            except OSError:
                self._can_reset_rss = False
        torch = sys.modules.get("torch")
        self._cuda = bool(torch is not None and torch.cuda.is_available()
                          and torch.cuda.is_initialized())
        if self._cuda and torch is not None:
            torch.cuda.reset_peak_memory_stats()

    def stop(self) -> tuple[int | None, int | None]:
        ram = _rss_high_water_mark()
        vram = None
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
            vram = int(torch.cuda.max_memory_allocated())
        return ram, vram


def _rss_high_water_mark() -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak * (1 if sys.platform == "darwin" else 1024)
