"""Farm jobs as run-queue jobs, so the window shows them the way it shows local runs.

The window's queue panel, status line, log and gallery all listen to the run queue: a
``(QueueChanged | RunEvent, Job)`` listener (app/queue.py). :class:`FarmFeed` submits jobs to
an execution backend (app/backends.py) and turns that backend's events into the same
listener calls — a queue :class:`~nodestudio.app.queue.Job` per farm job, ``QueueChanged`` as
its state moves (waiting, running on a worker, done), ``NodeStarted`` / ``NodeProgress`` while
it runs, ``NodeFinished`` with the files it wrote and ``RunFinished`` at the end — so farm
results take the local results' path rather than a parallel one. Nothing here imports Qt or
Ray.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodestudio.app.backends import CANCELLED as BACKEND_CANCELLED
from nodestudio.app.backends import FINISHED as BACKEND_FINISHED
from nodestudio.app.backends import BackendEvent, JobHandle
from nodestudio.app.queue import CANCELLED, FAILED, FINISHED, PENDING, RUNNING, Job, QueueChanged
from nodestudio.engine.events import NodeFinished, NodeProgress, NodeStarted, RunFinished
from nodestudio.engine.executor import RunResult
from nodestudio.graph.model import Graph

#: Finished farm jobs kept for the queue panel (the local queue keeps as many).
MAX_HISTORY = 50

Listener = Callable[[Any, Job | None], None]


@dataclass(eq=False)
class FarmJob(Job):
    """A queue Job that runs on a backend's worker. Ids are negative: never a local job's."""

    handle: JobHandle | None = None
    backend: Any = None
    #: The worker running it (or that ran it), as the backend names it.
    worker: str | None = None
    #: Why it waits again (a worker was lost and the job is retried), for its row.
    note: str = ""

    @property
    def display_id(self) -> str:
        return self.handle.id if self.handle is not None else str(self.id)


class FarmFeed:
    """Submits to backends and reports their jobs to ``listener`` as run-queue events."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self._jobs: list[FarmJob] = []
        self._by_handle: dict[str, FarmJob] = {}
        self._ids = itertools.count(-1, -1)
        # Re-entrant: a backend may report "queued" from inside submit, on this thread.
        self._lock = threading.RLock()
        self._unsubscribe: dict[int, Callable[[], None]] = {}

    # -- submitting and managing ----------------------------------------------------------------

    def submit(self, backend: Any, graph: Graph, *, label: str,
               outputs: tuple[str, ...] | None = None) -> FarmJob:
        """Send ``graph`` (a snapshot the caller no longer edits) to ``backend``."""
        self._listen_to(backend)
        # Under the lock: the backend's thread may start the job at once, and its events must
        # wait until the job is known here.
        with self._lock:
            handle = backend.submit(graph, label=label, outputs=outputs)
            job = FarmJob(next(self._ids), graph, handle.label, outputs=outputs,
                          handle=handle, backend=backend)
            self._jobs.append(job)
            self._by_handle[handle.id] = job
            self.listener(QueueChanged(job, "added"), job)
        return job

    def jobs(self) -> list[FarmJob]:
        with self._lock:
            return list(self._jobs)

    def job(self, job_id: int) -> FarmJob:
        with self._lock:
            for job in self._jobs:
                if job.id == job_id:
                    return job
        raise KeyError(f"no farm job {job_id}")

    def cancel(self, job_id: int) -> None:
        """Cancel a waiting or running farm job (the worker stops within one step)."""
        job = self.job(job_id)
        if not job.done and job.handle is not None:
            job.backend.cancel(job.handle)

    def cancel_all(self) -> None:
        for job in self.jobs():
            if not job.done:
                self.cancel(job.id)

    def remove(self, job_id: int) -> bool:
        """Drop a finished job's row; a job not done is cancelled first (its row stays until
        the backend says it ended)."""
        job = self.job(job_id)
        if not job.done:
            self.cancel(job_id)
            return False
        with self._lock:
            self._jobs.remove(job)
        self.listener(QueueChanged(job, "removed"), job)
        return True

    def clear_done(self) -> None:
        with self._lock:
            self._jobs = [job for job in self._jobs if not job.done]
        self.listener(QueueChanged(None, "cleared"), None)

    def detach(self) -> None:
        """Stop listening to every backend (the window is closing)."""
        for unsubscribe in self._unsubscribe.values():
            unsubscribe()
        self._unsubscribe.clear()

    # -- the backend's events -------------------------------------------------------------------

    def _listen_to(self, backend: Any) -> None:
        if id(backend) not in self._unsubscribe:
            self._unsubscribe[id(backend)] = backend.subscribe(self._on_event)

    def _on_event(self, event: BackendEvent) -> None:
        """Called on the backend's thread; the listener (the window's bridge) is thread-safe."""
        with self._lock:
            job = self._by_handle.get(event.job_id)
            if job is None:
                return
            handler = _HANDLERS.get(event.kind)
            if handler is not None:
                handler(self, job, event.data)

    def _started(self, job: FarmJob, data: dict[str, Any]) -> None:
        job.status, job.worker, job.note = RUNNING, data.get("worker"), ""
        self.listener(QueueChanged(job, "started"), job)

    def _waiting(self, job: FarmJob, data: dict[str, Any]) -> None:
        """Why it waits (its workers are still starting), for its row."""
        if job.status == PENDING:
            job.note = str(data.get("message") or "")
            self.listener(QueueChanged(job, "moved"), job)

    def _retry(self, job: FarmJob, data: dict[str, Any]) -> None:
        job.status = PENDING
        job.note = f"{data.get('worker', 'its worker')} was lost; waiting for another worker"
        self.listener(QueueChanged(job, "moved"), job)

    def _progress(self, job: FarmJob, data: dict[str, Any]) -> None:
        preview = data.get("image")
        if preview is not None:  # uint8 [H, W, 3] over the wire; a float batch on this side
            import numpy as np

            preview = (np.asarray(preview, np.float32) / 255.0)[None]
        self.listener(NodeProgress(job.display_id, str(data.get("node_id", "")),
                                   int(data.get("done", 0)), int(data.get("total", 0)),
                                   preview), job)

    def _node(self, job: FarmJob, data: dict[str, Any]) -> None:
        if data.get("event") == "node_started" and data.get("node_id"):
            self.listener(NodeStarted(job.display_id, str(data["node_id"])), job)

    def _finished(self, job: FarmJob, data: dict[str, Any]) -> None:
        result = job.handle.result if job.handle is not None else None
        status = result.status if result is not None else data.get("status", FAILED)
        job.error = (result.error if result is not None else data.get("error")) or None
        if status in (BACKEND_FINISHED, BACKEND_CANCELLED) and result is not None:
            job.status = FINISHED if status == BACKEND_FINISHED else CANCELLED
            job.result = _run_result(job, result)
            self._report_files(job, result)
            run = job.result
            self.listener(RunFinished(job.display_id, run.status, tuple(run.executed),
                                      tuple(run.cached), (), run.seconds), job)
        else:
            # No result: the window says "the run stopped: <why>" (a missing model, a node
            # that failed, a worker lost too often), as for a local job that could not run.
            job.status, job.result = FAILED, None
            job.error = job.error or "the farm could not run this job"
        self.listener(QueueChanged(job, "finished"), job)
        self._trim()

    def _report_files(self, job: FarmJob, result: Any) -> None:
        """The files, as the node that wrote each reports them locally (the gallery shows
        them with the node's title and the job)."""
        nodes = list(result.metadata.get("file_nodes") or [])
        by_node: dict[str, list[Path]] = {}
        for index, path in enumerate(result.files):
            node_id = nodes[index] if index < len(nodes) and nodes[index] else ""
            by_node.setdefault(node_id, []).append(Path(path))
        for node_id, files in by_node.items():
            self.listener(NodeFinished(job.display_id, node_id, files=tuple(files)), job)

    def _trim(self) -> None:
        done = [job for job in self._jobs if job.done]
        for old in done[:max(0, len(done) - MAX_HISTORY)]:
            self._jobs.remove(old)
            self._by_handle.pop(old.display_id, None)


def _run_result(job: FarmJob, result: Any) -> RunResult:
    metadata = result.metadata
    return RunResult(job.display_id, "finished" if result.ok else "cancelled",
                     executed=list(metadata.get("executed") or []),
                     cached=list(metadata.get("cached") or []),
                     files=[Path(path) for path in result.files],
                     seconds=float(metadata.get("seconds") or 0.0))


_HANDLERS: dict[str, Callable[[FarmFeed, FarmJob, dict[str, Any]], None]] = {
    "started": FarmFeed._started,
    "retry": FarmFeed._retry,
    "waiting": FarmFeed._waiting,
    "progress": FarmFeed._progress,
    "preview": FarmFeed._progress,
    "node": FarmFeed._node,
    "finished": FarmFeed._finished,
}
