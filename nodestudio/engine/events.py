"""Events a run emits, in order: plain dataclasses any front end can adapt (Qt signals, JSON)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from nodestudio.graph.problems import Problem


@dataclass(frozen=True)
class RunEvent:
    run_id: str
    kind: ClassVar[str] = "event"

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (images are described by their shape, not included)."""
        data: dict[str, Any] = {"event": self.kind}
        for item in dataclasses.fields(self):
            data[item.name] = _plain(getattr(self, item.name))
        return data


@dataclass(frozen=True)
class RunStarted(RunEvent):
    node_count: int = 0
    kind: ClassVar[str] = "run_started"


@dataclass(frozen=True)
class ValidationFailed(RunEvent):
    problems: tuple[Problem, ...] = ()
    kind: ClassVar[str] = "validation_failed"


@dataclass(frozen=True)
class PlanReady(RunEvent):
    """Which nodes will run (in order) and which reuse cached outputs."""

    to_run: tuple[str, ...] = ()
    cached: tuple[str, ...] = ()
    signatures: dict[str, str] = field(default_factory=dict)
    kind: ClassVar[str] = "plan"


@dataclass(frozen=True)
class NodeStarted(RunEvent):
    node_id: str = ""
    type_id: str = ""
    kind: ClassVar[str] = "node_started"


@dataclass(frozen=True)
class NodeProgress(RunEvent):
    node_id: str = ""
    done: int = 0
    total: int = 0
    #: Optional image batch (float RGB [B, H, W, 3]) to show while the node works.
    preview: Any = None
    kind: ClassVar[str] = "node_progress"


@dataclass(frozen=True)
class NodeFinished(RunEvent):
    node_id: str = ""
    seconds: float = 0.0
    #: Peak resident memory of the process while the node ran, in bytes (None if unknown).
    peak_ram: int | None = None
    #: Peak GPU memory allocated while the node ran, in bytes (None without CUDA).
    peak_vram: int | None = None
    files: tuple[Path, ...] = ()
    images: tuple[Any, ...] = ()
    cached: bool = False
    #: The node's own share: how far RSS / CUDA allocations rose above what the process held
    #: when the node started (bytes; None if unknown). peak_* include all that came before.
    ram_added: int | None = None
    vram_added: int | None = None
    #: Bytes its outputs hold in the cache (RAM and VRAM together); None when cached.
    output_bytes: int | None = None
    kind: ClassVar[str] = "node_finished"


@dataclass(frozen=True)
class NodeFailed(RunEvent):
    node_id: str = ""
    message: str = ""
    error_type: str = ""
    traceback: str = ""
    kind: ClassVar[str] = "node_failed"


@dataclass(frozen=True)
class NodeSkipped(RunEvent):
    """Not run because a node it depends on failed."""

    node_id: str = ""
    reason: str = ""
    kind: ClassVar[str] = "node_skipped"


@dataclass(frozen=True)
class RunFinished(RunEvent):
    """The end of every run; ``status`` is "finished", "failed" or "cancelled"."""

    status: str = "finished"
    executed: tuple[str, ...] = ()
    cached: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def kind(self) -> str:  # type: ignore[override]
        return f"run_{self.status}"


def _plain(value: Any) -> Any:
    if isinstance(value, Problem):
        return value.to_json()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    shape = getattr(value, "shape", None)
    if shape is not None:
        return {"shape": list(shape)}
    return repr(value)
