"""What `nodestudio run` prints: one line per node and the files written, or one JSON event
per line (``--json``). The run's events come from the engine; these turn them into text."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

from nodestudio.graph.problems import Problem


def node_label(node: Any, registry: Any) -> str:
    node_type = registry.get(node.type)
    name = node.title or (node_type.display_name if node_type else node.type)
    return f"{name} (node {node.id})"


class ProgressPrinter:
    """Human output: one line per node, a live bar for long nodes, then the files written."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.titles: dict[str, str] = {}
        self.total = 0
        self.index = 0
        self.live = stream.isatty()
        self._last_bar = 0.0
        self._bar_shown = False

    def event(self, event: Any) -> None:
        kind = event.kind
        if kind == "plan":
            self.total = len(event.to_run)
            if event.cached:
                self._line(f"reusing {len(event.cached)} cached node(s)")
        elif kind == "node_started":
            self.index += 1
            self._bar_shown = False
        elif kind == "node_progress" and event.total > 1:
            self._bar(event)
        elif kind == "node_finished" and not event.cached:
            memory = megabytes(event.peak_vram or event.peak_ram)
            self._end_bar()
            self._line(f"[{self.index}/{self.total}] {self.titles.get(event.node_id, '')} "
                       f"{event.seconds:.2f}s" + (f", peak {memory}" if memory else ""))
        elif kind == "node_failed":
            self._end_bar()
            self._line(f"error: {self.titles.get(event.node_id, event.node_id)}: "
                       f"{event.message}", error=True)
        elif kind == "node_skipped":
            self._line(f"skipped {self.titles.get(event.node_id, event.node_id)}: "
                       f"{event.reason}")
        elif kind == "run_cancelled":
            self._end_bar()
            self._line("cancelled", error=True)

    def _bar(self, event: Any) -> None:
        now = time.monotonic()
        if not self.live:
            return
        if now - self._last_bar < 0.1 and event.done < event.total:
            return
        self._last_bar = now
        width = 30
        filled = int(width * event.done / max(event.total, 1))
        self.stream.write(f"\r  {'#' * filled}{'.' * (width - filled)} "
                          f"{event.done}/{event.total}")
        self.stream.flush()
        self._bar_shown = True

    def _end_bar(self) -> None:
        if self._bar_shown:
            self.stream.write("\r" + " " * 60 + "\r")
            self._bar_shown = False

    def _line(self, text: str, error: bool = False) -> None:
        print(text, file=sys.stderr if error else self.stream, flush=True)

    def invalid(self, summary: str, problems: list[Problem], heading: str = "invalid graph"
                ) -> None:
        print(f"{heading}: {summary}", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)

    def warnings(self, warnings: list[Problem]) -> None:
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)

    def done(self, result: Any) -> None:
        for path in result.files:
            self._line(f"wrote {path}")
        if not result.files:
            self._line("done (nothing new written)")


class JsonPrinter:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.titles: dict[str, str] = {}

    def _write(self, data: dict[str, Any]) -> None:
        self.stream.write(json.dumps(data) + "\n")
        self.stream.flush()

    def event(self, event: Any) -> None:
        data = event.to_json()
        self._track_memory(data)
        data.pop("preview", None)
        data.pop("images", None)
        self._write(data)

    def invalid(self, summary: str, problems: list[Problem], heading: str = "") -> None:
        # One event for every refusal before a run (graph or options): readers act on exit 2.
        self._write({"event": "invalid_graph", "message": summary,
                     "problems": [p.to_json() for p in problems]})

    def warnings(self, warnings: list[Problem]) -> None:
        for warning in warnings:
            self._write({"event": "warning", **warning.to_json()})

    def _track_memory(self, data: dict[str, Any]) -> None:
        # A run's peak is its largest node peak: each node's is measured from its own start.
        if data.get("event") != "node_finished":
            return
        peaks = getattr(self, "peaks", {})
        for key in ("peak_ram", "peak_vram", "ram_added", "vram_added"):
            if isinstance(data.get(key), int):
                peaks[key] = max(peaks.get(key, 0), data[key])
        self.peaks = peaks

    def done(self, result: Any) -> None:
        # Peak memory of the whole run (bytes): RSS and CUDA allocator peaks, and how far each
        # rose above what the process held before the node that raised it most.
        self._write({"event": "run_memory", **getattr(self, "peaks", {})})
        self._write({"event": "files", "files": [str(p) for p in result.files]})


def megabytes(value: int | None) -> str:
    return f"{value / 2**20:.0f} MiB" if value else ""
