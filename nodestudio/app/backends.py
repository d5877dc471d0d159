"""Execution backends: where queued graphs run, behind one interface.

The window's queue, ``nodestudio run`` and the Python API submit jobs to an
:class:`ExecutionBackend` and read events and results back without knowing whether the graph
runs on this machine (:class:`LocalBackend`, over app/queue.py) or on a Ray cluster
(app/farm/ray_backend.py). Nothing here imports Ray, torch or Qt.

Results always land in the submitter's output folder, written atomically (tmp + os.replace) and
at most once per (job id, output index), so a job retried after a worker died never writes a
file twice.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from nodestudio.graph.model import Graph

PENDING, RUNNING, FINISHED, FAILED, CANCELLED = (
    "pending", "running", "finished", "failed", "cancelled")
DONE_STATES = (FINISHED, FAILED, CANCELLED)


@dataclass
class JobHandle:
    """What ``submit`` returns: the job's id, its state and, once done, its result."""

    id: str
    label: str
    status: str = PENDING
    worker: str | None = None
    attempts: int = 0
    result: JobResult | None = None
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def done(self) -> bool:
        return self.status in DONE_STATES

    def wait(self, timeout: float | None = None) -> JobResult | None:
        """Block until the job is done; None if ``timeout`` passed first."""
        self._done.wait(timeout)
        return self.result


@dataclass
class JobResult:
    """A finished, failed or cancelled job: files written here, and what the run reported."""

    job_id: str
    status: str
    files: list[Path] = field(default_factory=list)
    #: Plain JSON metadata: worker, seconds, executed and cached nodes, the values swept.
    metadata: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == FINISHED


@dataclass(frozen=True)
class BackendEvent:
    """One event of a job: "queued", "started", "progress", "preview", "node", "retry",
    "finished". ``data`` is JSON-able except a preview's ``image`` (uint8 [H, W, 3])."""

    job_id: str
    kind: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkerStatus:
    name: str
    state: str  # "starting", "idle", "busy", "dead"
    current_job: str | None = None
    models: tuple[str, ...] = ()
    jobs_done: int = 0


EventListener = Callable[[BackendEvent], None]


@runtime_checkable
class ExecutionBackend(Protocol):
    """Where jobs run. Implementations: LocalBackend (here), RayBackend (app/farm)."""

    name: str

    def submit(self, graph: Graph, *, label: str | None = None,
               outputs: tuple[str, ...] | None = None,
               metadata: dict[str, Any] | None = None) -> JobHandle: ...

    def cancel(self, handle: JobHandle) -> None: ...

    def subscribe(self, listener: EventListener) -> Callable[[], None]:
        """Call ``listener`` with every event (from any thread); returns an unsubscribe."""
        ...

    def workers(self) -> list[WorkerStatus]: ...

    def wait_all(self, handles: Iterable[JobHandle],
                 timeout: float | None = None) -> list[JobResult | None]: ...

    def shutdown(self) -> None: ...


class EventHub:
    """Listeners of a backend; a listener that raises never stops the backend."""

    def __init__(self) -> None:
        self._listeners: list[EventListener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: EventListener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)
        return unsubscribe

    def emit(self, event: BackendEvent) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            with contextlib.suppress(Exception):  # a broken listener must not stop the jobs
                listener(event)


def wait_all(handles: Iterable[JobHandle], timeout: float | None = None
             ) -> list[JobResult | None]:
    import time

    deadline = None if timeout is None else time.monotonic() + timeout
    results = []
    for handle in handles:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        results.append(handle.wait(remaining))
    return results


class OutputWriter:
    """Writes a job's files into the submitter's output folder, atomically and only once per
    (job id, output index): a retried job or a replayed result never makes a second copy."""

    def __init__(self, output_dir: Path) -> None:
        self.output_dir = Path(output_dir)
        self._written: dict[tuple[str, int], Path] = {}
        self._lock = threading.Lock()

    def write(self, job_id: str, index: int, name: str, data: bytes) -> Path:
        key = (job_id, index)
        with self._lock:
            if key in self._written:
                return self._written[key]
            target = self.output_dir / f"{_safe(job_id)}_{index:02d}_{_safe(Path(name).name)}"
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            with open(temporary, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)  # readers see the whole file or none
            self._written[key] = target
            return target


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text) or "file"


class LocalBackend:
    """Today's run queue (app/queue.py) behind the backend interface: this machine, in order."""

    name = "local"

    def __init__(self, session: Any, queue: Any = None) -> None:
        """``queue``: an existing RunQueue to report on (the window's), else a new one."""
        from nodestudio.app.queue import RunQueue

        self.session = session
        self._hub = EventHub()
        self._handles: dict[int, JobHandle] = {}
        self._metadata: dict[int, dict[str, Any]] = {}
        self._queue = queue if queue is not None else RunQueue(session, self._on_queue_event)

    @property
    def queue(self) -> Any:
        return self._queue

    def submit(self, graph: Graph, *, label: str | None = None,
               outputs: tuple[str, ...] | None = None,
               metadata: dict[str, Any] | None = None) -> JobHandle:
        # A copy: the queue moves seeds on after a submit, and a backend runs what it is given.
        job = self._queue.submit(graph.copy(), label=label, outputs=outputs)[0]
        handle = self._handles.setdefault(job.id, JobHandle(f"local-{job.id:04d}", job.label))
        self._metadata[job.id] = dict(metadata or {})
        self._hub.emit(BackendEvent(handle.id, "queued", {"label": job.label}))
        return handle

    def cancel(self, handle: JobHandle) -> None:
        job_id = int(handle.id.rsplit("-", 1)[1])
        try:
            job = self._queue.job(job_id)
        except KeyError:
            return
        if job.status == "pending":
            self._queue.remove(job_id)
            self._finish(handle, JobResult(handle.id, CANCELLED))
        else:
            job.cancel.cancel()

    def subscribe(self, listener: EventListener) -> Callable[[], None]:
        return self._hub.subscribe(listener)

    def workers(self) -> list[WorkerStatus]:
        running = next((j for j in self._queue.jobs() if j.status == "running"), None)
        handle = self._handles.get(running.id) if running else None
        current = handle.id if handle else (running.label if running else None)
        return [WorkerStatus("this machine", "busy" if running else "idle", current)]

    def wait_all(self, handles: Iterable[JobHandle],
                 timeout: float | None = None) -> list[JobResult | None]:
        return wait_all(handles, timeout)

    def shutdown(self) -> None:
        self._queue.shutdown()

    # -- the queue's events, translated ---------------------------------------------------------

    def _on_queue_event(self, event: Any, job: Any) -> None:
        if job is None:
            return
        handle = self._handles.setdefault(job.id, JobHandle(f"local-{job.id:04d}", job.label))
        what = getattr(event, "what", None)
        if what == "started":
            handle.status, handle.worker, handle.attempts = RUNNING, "this machine", 1
            self._hub.emit(BackendEvent(handle.id, "started", {"worker": "this machine"}))
        elif what == "finished":
            self._finish(handle, self._result(handle, job))
        elif what is None:
            self._hub.emit(run_event_to_backend(handle.id, event))

    def _result(self, handle: JobHandle, job: Any) -> JobResult:
        status = {"finished": FINISHED, "cancelled": CANCELLED}.get(job.status, FAILED)
        result = job.result
        metadata = dict(self._metadata.get(job.id, {}))
        metadata["worker"] = "this machine"
        if result is not None:
            metadata.update(executed=list(result.executed), cached=list(result.cached),
                            seconds=result.seconds)
        files = list(result.files) if result is not None else []
        # A node that failed is the job's error, named as the farm's workers name it.
        error = job.error or ("; ".join(f"node {node_id}: {message}" for node_id, message
                                        in result.failed.items()) if result else None) or None
        if job.problems:  # a graph that cannot run: say what is wrong, not only how much
            error = f"{error}: " + "; ".join(
                f"node {p.node_id} › {p.input}: {p.message}" if p.input else p.message
                for p in job.problems[:3])
        return JobResult(handle.id, status, files, metadata, error)

    def _finish(self, handle: JobHandle, result: JobResult) -> None:
        handle.result, handle.status = result, result.status
        handle._done.set()
        self._hub.emit(BackendEvent(handle.id, "finished", {"status": result.status,
                                                           "error": result.error}))


def open_backend(session: Any, farm: str | None = None) -> ExecutionBackend:
    """Where ``session``'s jobs run: this machine's queue without ``farm``, else the Ray farm at
    ``farm`` ("auto": the cluster `nodestudio farm start` started; ray://HOST:PORT). Workers
    read models from the settings' farm_models_dirs, else from the session's own roots."""
    if not farm:
        return LocalBackend(session)
    from nodestudio.app.farm.ray_backend import RayBackend

    settings = session.settings
    return RayBackend(farm, output_dir=settings.output_dir, session=session,
                      models_dirs=settings.farm_models_dirs or settings.models_dirs,
                      max_retries=settings.farm_max_retries,
                      send_token=settings.farm_send_token)


def run_event_to_backend(job_id: str, event: Any) -> BackendEvent:
    """An engine RunEvent as a backend event (previews become small uint8 pictures)."""
    kind = getattr(event, "kind", "event")
    if kind == "node_progress":
        data: dict[str, Any] = {"node_id": event.node_id, "done": event.done,
                                "total": event.total}
        if event.preview is not None:
            data["image"] = preview_bytes(event.preview)
            return BackendEvent(job_id, "preview", data)
        return BackendEvent(job_id, "progress", data)
    node_id = getattr(event, "node_id", None)
    return BackendEvent(job_id, "node", {"event": kind, "node_id": node_id})


def preview_bytes(preview: Any) -> Any:
    """The first picture of a preview batch as uint8 [H, W, 3] (small to send over the wire)."""
    import numpy as np

    array = np.asarray(preview)
    if array.ndim == 4:
        array = array[0]
    return (np.clip(array, 0.0, 1.0) * 255).round().astype(np.uint8)
