"""What each node's run badge says: the run state board, free of Qt.

A node's badge combines three things: its live state in the run going on (queued, running),
what the newest run did with it (ran — with time and memory —, reused from the
cache, failed, skipped), and what the next run would do (cached or stale, from
Session.cache_states). Stale wins over an old record: once an edit invalidates a node, what it
cost last time no longer describes what will happen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

QUEUED, RUNNING = "queued", "running"
RAN, REUSED, FAILED, SKIPPED = "ran", "reused", "failed", "skipped"
CACHED, STALE = "cached", "stale"
#: Teal: apart from the theme's blue (running), green (ran) and amber (stale).
CACHED_COLOR = "#45b5c4"


@dataclass(frozen=True)
class RunRecord:
    """What the last run did with a node."""

    kind: str  # RAN, REUSED, FAILED or SKIPPED
    seconds: float = 0.0
    peak_ram: int | None = None
    peak_vram: int | None = None
    message: str = ""
    #: The node's own memory (engine.events.NodeFinished): how far RAM / VRAM rose above
    #: what the process held when it started, and what its outputs keep in the cache.
    ram_added: int | None = None
    vram_added: int | None = None
    output_bytes: int | None = None


@dataclass(frozen=True)
class Badge:
    kind: str
    text: str
    #: A theme colour name (nodestudio.ui.theme.Theme) or "#rrggbb" for the badge's mark.
    color: str
    tooltip: str


def format_seconds(seconds: float) -> str:
    if seconds < 1.0:
        return f"{seconds:.2f} s"
    if seconds < 60.0:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def format_bytes(count: int) -> str:
    if count >= 1024**3:
        return f"{count / 1024**3:.1f} GB"
    if count >= 1024**2:
        return f"{count / 1024**2:.0f} MB"
    return f"{max(count, 0) / 1024:.0f} KB"


def memory_text(record: RunRecord) -> tuple[str, str]:
    """(short text, explanation) of the node's own memory: how far it raised the process's
    peak (VRAM when a GPU was used, RAM otherwise), with "+" since it is an increase. The
    process-wide peak is the same for every node, so it is only in the explanation."""
    notes = []
    short = ""
    for added, peak, unit, what in ((record.vram_added, record.peak_vram, "VRAM", "GPU memory"),
                                    (record.ram_added, record.peak_ram, "RAM", "RAM")):
        if added is None:
            if peak:
                notes.append(f"process peak {what} {format_bytes(peak)}")
            continue
        if not short and (added or unit == "RAM"):
            short = f"+{format_bytes(added)} {unit}"
        total = f" (process peak {format_bytes(peak)})" if peak else ""
        notes.append(f"it raised {what} by {format_bytes(added)} at its peak{total}")
    if record.output_bytes is not None:
        notes.append(f"its outputs hold {format_bytes(record.output_bytes)} in the cache")
    return short, "; ".join(notes)


def badge_for(live: str | None, record: RunRecord | None, cache_state: str | None
              ) -> Badge | None:
    """The badge above a node. Queued and running nodes have none: their header says so
    (with the step), and a second mark would only repeat it."""
    if live in (QUEUED, RUNNING):
        return None
    if record is not None and record.kind == FAILED:
        return Badge(FAILED, "failed", "error", record.message or "Failed in the last run")
    if record is not None and record.kind == SKIPPED:
        return Badge(SKIPPED, "skipped", "text_dim", (record.message or "Not run") +
                     "; it runs again next time")
    if cache_state == STALE:
        return Badge(STALE, "stale", "warning",
                     "Will run again: it or something it depends on changed")
    if record is not None and record.kind == RAN:
        memory, memory_tip = memory_text(record)
        seconds = format_seconds(record.seconds)
        text = f"{seconds} · {memory}" if memory else seconds
        tip = f"Ran in {seconds}" + (f"; {memory_tip}" if memory_tip else "")
        return Badge(RAN, text, "success", tip + ". Its outputs are cached.")
    if (record is not None and record.kind == REUSED) or cache_state == CACHED:
        return Badge(CACHED, "cached", CACHED_COLOR, "Its cached outputs are reused")
    return None


class RunBoard:
    """Per node: live state, last record, next-run cache state; gives the badges."""

    def __init__(self) -> None:
        self.live: dict[str, str] = {}
        self.progress: dict[str, tuple[int, int]] = {}
        self.records: dict[str, RunRecord] = {}
        self.cache_states: dict[str, str] = {}

    def clear(self) -> None:
        self.live.clear()
        self.progress.clear()
        self.records.clear()
        self.cache_states.clear()

    def begin_run(self, to_run: Iterable[str], cached: Iterable[str]) -> None:
        """A new run's plan: records describe the newest run only (nodes it does not touch
        fall back to their cache state), and old failures go, the run tries again."""
        self.live.clear()
        self.progress.clear()
        self.records.clear()
        for node_id in to_run:
            self.live[node_id] = QUEUED
        for node_id in cached:
            self.records[node_id] = RunRecord(REUSED)

    def node_started(self, node_id: str) -> None:
        self.live[node_id] = RUNNING

    def node_progress(self, node_id: str, done: int, total: int) -> None:
        self.progress[node_id] = (done, total)

    def node_finished(self, node_id: str, record: RunRecord) -> None:
        self.live.pop(node_id, None)
        self.progress.pop(node_id, None)
        # What the next run would do is known now, before the cache states are recomputed.
        self.cache_states[node_id] = CACHED if record.kind in (RAN, REUSED) else STALE
        self.records[node_id] = record

    def end_run(self) -> list[str]:
        """The run is over (finished, failed or cancelled); returns the nodes still marked."""
        left = list(self.live)
        self.live.clear()
        self.progress.clear()
        return left

    def set_cache_states(self, states: Mapping[str, str]) -> None:
        self.cache_states = dict(states)
        for node_id, state in states.items():
            record = self.records.get(node_id)
            # Failed and skipped stay until the next run: they explain why nothing is cached.
            if state == STALE and record is not None and record.kind in (RAN, REUSED) \
                    and node_id not in self.live:
                del self.records[node_id]

    def forget(self, node_ids: Iterable[str]) -> None:
        for node_id in node_ids:
            self.live.pop(node_id, None)
            self.progress.pop(node_id, None)
            self.records.pop(node_id, None)
            self.cache_states.pop(node_id, None)

    def badge(self, node_id: str) -> Badge | None:
        return badge_for(self.live.get(node_id), self.records.get(node_id),
                         self.cache_states.get(node_id))
