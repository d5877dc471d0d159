"""The run queue: jobs (graph snapshots) run one at a time on a worker thread.

The GUI and scripts submit graphs; the queue snapshots them, so the artist can keep editing
while jobs wait and run. Jobs can be removed or reordered while pending, and the running one
cancelled. After each queued run the seeds move on as their control-after-generate mode says
(fixed, increment, decrement, randomize), the way artists expect from ComfyUI.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nodestudio.api.registry import NodeRegistry
from nodestudio.api.schema import MAX_SEED
from nodestudio.app.formats import image_metadata
from nodestudio.engine.cancel import CancelToken
from nodestudio.engine.events import RunEvent
from nodestudio.engine.executor import RunResult, failure_message
from nodestudio.graph.files import to_document
from nodestudio.graph.model import Graph
from nodestudio.graph.problems import GraphValidationError, Problem

PENDING, RUNNING, FINISHED, FAILED, CANCELLED, INVALID = (
    "pending", "running", "finished", "failed", "cancelled", "invalid")


@dataclass
class Job:
    id: int
    graph: Graph
    label: str
    status: str = PENDING
    result: RunResult | None = None
    problems: list[Problem] = field(default_factory=list)
    error: str | None = None
    submitted_at: float = field(default_factory=time.time)
    cancel: CancelToken = field(default_factory=CancelToken)
    #: The nodes to compute (with what they need); None: every output node of the graph.
    outputs: tuple[str, ...] | None = None

    @property
    def done(self) -> bool:
        return self.status not in (PENDING, RUNNING)


@dataclass(frozen=True)
class QueueChanged:
    """The list of jobs or a job's status changed; ``job`` is the one concerned, if any."""

    job: Job | None
    what: str  # "added", "removed", "moved", "started", "finished", "cleared"


QueueListener = Callable[[QueueChanged | RunEvent, Job | None], None]


class RunQueue:
    def __init__(self, session: Any, listener: QueueListener | None = None) -> None:
        self.session = session
        self.listener = listener or (lambda event, job: None)
        self._jobs: list[Job] = []
        self._ids = itertools.count(1)
        self._lock = threading.Condition()
        self._worker: threading.Thread | None = None
        self._stopping = False
        self._random = random.Random()

    # -- submitting ---------------------------------------------------------------------------

    def submit(self, graph: Graph, *, batch: int = 1, label: str | None = None,
               outputs: tuple[str, ...] | None = None) -> list[Job]:
        """Queue ``batch`` runs of ``graph``; seeds advance on ``graph`` after each one.
        ``outputs``: run only these nodes and what they need (a partial run)."""
        jobs = []
        for index in range(max(1, batch)):
            snapshot = graph.copy()
            name = label or str(graph.metadata.get("title") or "graph")
            job = Job(next(self._ids), snapshot,
                      f"{name} ({index + 1}/{batch})" if batch > 1 else name, outputs=outputs)
            with self._lock:
                self._jobs.append(job)
                self._lock.notify_all()
            jobs.append(job)
            self.listener(QueueChanged(job, "added"), job)
            advance_seeds(graph, self.session.registry, self._random)
        self._ensure_worker()
        return jobs

    # -- managing -----------------------------------------------------------------------------

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs)

    def job(self, job_id: int) -> Job:
        with self._lock:
            for job in self._jobs:
                if job.id == job_id:
                    return job
        raise KeyError(f"no job {job_id}")

    def remove(self, job_id: int) -> bool:
        """Remove a pending or finished job (a running one must be cancelled first)."""
        with self._lock:
            job = self.job(job_id)
            if job.status == RUNNING:
                return False
            self._jobs.remove(job)
        self.listener(QueueChanged(job, "removed"), job)
        return True

    def move(self, job_id: int, index: int) -> None:
        """Put a pending job at position ``index`` among the pending jobs."""
        with self._lock:
            job = self.job(job_id)
            if job.status != PENDING:
                return
            pending = [j for j in self._jobs if j.status == PENDING and j is not job]
            index = max(0, min(index, len(pending)))
            pending.insert(index, job)
            others = [j for j in self._jobs if j.status != PENDING]
            self._jobs = others + pending
        self.listener(QueueChanged(job, "moved"), job)

    def cancel_current(self) -> Job | None:
        with self._lock:
            running = next((j for j in self._jobs if j.status == RUNNING), None)
        if running is not None:
            running.cancel.cancel()
        return running

    def cancel_all(self) -> None:
        with self._lock:
            pending = [j for j in self._jobs if j.status == PENDING]
            for job in pending:
                self._jobs.remove(job)
        for job in pending:
            self.listener(QueueChanged(job, "removed"), job)
        self.cancel_current()

    def clear_done(self) -> None:
        with self._lock:
            self._jobs = [j for j in self._jobs if not j.done]
        self.listener(QueueChanged(None, "cleared"), None)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no job is pending or running (for scripts and tests)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while any(not j.done for j in self._jobs):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._lock.wait(remaining)
        return True

    def shutdown(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        self.cancel_current()
        if self._worker is not None:
            self._worker.join(timeout)

    # -- the worker ---------------------------------------------------------------------------

    def _ensure_worker(self) -> None:
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._stopping = False
                self._worker = threading.Thread(target=self._work, name="nodestudio-runner",
                                                daemon=True)
                self._worker.start()

    def _next_job(self) -> Job | None:
        with self._lock:
            while not self._stopping:
                job = next((j for j in self._jobs if j.status == PENDING), None)
                if job is not None:
                    job.status = RUNNING
                    return job
                self._lock.wait()
            return None

    def _work(self) -> None:
        while True:
            job = self._next_job()
            if job is None:
                return
            try:
                self.listener(QueueChanged(job, "started"), job)
                self._run(job)
            except BaseException as error:  # the worker must outlive any job
                # A job left "running" with no worker would show as running forever.
                job.status, job.error = FAILED, failure_message(error, "code running this job")
            with self._lock:
                self._lock.notify_all()
            with contextlib.suppress(BaseException):  # a broken listener must not stop the queue
                self.listener(QueueChanged(job, "finished"), job)

    def _run(self, job: Job) -> None:
        try:
            job.result = self.session.executor.run(
                job.graph, self.session.environment(), outputs=job.outputs, cancel=job.cancel,
                on_event=lambda event: self.listener(event, job),
                graph_document=to_document(job.graph),
                image_metadata=image_metadata(job.graph, self.session.registry),
            )
            job.status = {"finished": FINISHED, "failed": FAILED,
                          "cancelled": CANCELLED}[job.result.status]
            if job.result.abandoned:  # the worker walked away from a node that ignored Cancel
                node_id = job.result.abandoned[0]
                job.error = f"node {node_id} {job.result.failed[node_id]}"
        except GraphValidationError as error:
            job.status, job.problems, job.error = INVALID, error.problems, error.summary
        except BaseException as error:  # the queue must outlive any bug in a run
            # Even SystemExit or a KeyboardInterrupt raised by code on this thread: the worker
            # has no one to pass it to, and dying would leave the job "running" forever.
            job.status, job.error = FAILED, failure_message(error, "code running this job")


def advance_seeds(graph: Graph, registry: NodeRegistry, rng: random.Random) -> list[str]:
    """Apply each seed input's control-after-generate mode; returns "node.input" changed."""
    changed = []
    for node in list(graph):
        node_type = registry.get(node.type)
        if node_type is None or node.mode != "normal":
            continue
        for spec in node_type.inputs:
            if not spec.control_after_generate or graph.link_into(node.id, spec.name):
                continue
            mode = node.controls.get(spec.name, "fixed")
            value = node.values.get(spec.name, spec.default)
            if not isinstance(value, int) or isinstance(value, bool):
                continue
            low = int(spec.min) if spec.min is not None else 0
            high = int(spec.max) if spec.max is not None else MAX_SEED
            if mode == "increment":
                new = value + 1 if value < high else low
            elif mode == "decrement":
                new = value - 1 if value > low else high
            elif mode == "randomize":
                new = rng.randint(low, high)
            else:
                continue
            graph.set_value(node.id, spec.name, new)
            changed.append(f"{node.id}.{spec.name}")
    return changed
