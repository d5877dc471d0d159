"""The Ray backend: jobs go to FarmWorker actors on a Ray cluster; results come back here.

One dispatcher thread owns all the state: it starts workers (one per GPU, else one per CPU),
hands each idle worker the job routing.py picks for it, collects events and results, and
retries a job whose worker died on another one (at most ``max_retries`` times). Jobs submitted
while no worker is alive wait in the queue; a worker that dies is replaced when the cluster has
room for it. Files are written here, by the submitter, atomically and once per output.

A worker is "starting" until its process is up *and* has warmed up (worker.py imports torch and
diffusers as it starts): jobs wait here meanwhile, told why ("waiting" events), so routing
still picks among ready workers; a worker whose warm-up failed stays up as "failed" and gets
no jobs, and when every worker failed the waiting jobs fail with its reason.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nodestudio.app.backends import (
    CANCELLED,
    FAILED,
    FINISHED,
    PENDING,
    RUNNING,
    BackendEvent,
    EventHub,
    EventListener,
    JobHandle,
    JobResult,
    OutputWriter,
    WorkerStatus,
    wait_all,
)
from nodestudio.app.farm.connection import connect
from nodestudio.app.farm.routing import WorkerLoad, choose_job, model_keys
from nodestudio.graph.files import to_document
from nodestudio.graph.model import Graph


@dataclass
class _Job:
    handle: JobHandle
    document: dict[str, Any]
    keys: frozenset[str]
    outputs: tuple[str, ...] | None
    metadata: dict[str, Any]
    cancel_requested: bool = False
    #: Why it waits, as last told to the listeners ("waiting" events).
    note: str = ""


@dataclass
class _Worker:
    name: str
    actor: Any
    models_dirs: list[str] | None
    ready_ref: Any = None
    #: Asked once its process is up: answered when the warm-up is over.
    warm_ref: Any = None
    warm_error: str | None = None
    warm_seconds: float | None = None
    state: str = "starting"  # then "idle" / "busy", or "failed" (warm-up), "dead"
    pid: int | None = None
    job: _Job | None = None
    run_ref: Any = None
    events_ref: Any = None
    load: WorkerLoad = field(default_factory=lambda: WorkerLoad("", False))


class RayBackend:
    name = "farm"

    def __init__(self, address: str = "auto", *, output_dir: str | Path,
                 session: Any = None, registry: Any = None, workers: int | None = None,
                 models_dirs: list[str | Path] | None = None,
                 worker_models_dirs: dict[int, list[str | Path]] | None = None,
                 max_retries: int = 2, device: str = "auto", steal_backlog: int = 2,
                 poll_seconds: float = 0.05, init_kwargs: dict[str, Any] | None = None,
                 warm_imports: Sequence[str] | None = None, send_token: bool = False) -> None:
        """``warm_imports``: what each new worker imports as it starts (None: worker.py's
        WARM_IMPORTS; empty: nothing, the first job imports what it needs). ``send_token``:
        connection.connect's."""
        self._owns_ray = connect(address, send_token=send_token, **(init_kwargs or {}))
        import ray

        self._ray = ray
        self.session = session
        if registry is None and session is not None:
            registry = session.registry
        if registry is None:
            from nodestudio.app.packs import create_registry

            registry = create_registry()
        self.registry: Any = registry
        self.writer = OutputWriter(Path(output_dir))
        self.max_retries, self.steal_backlog, self.poll = max_retries, steal_backlog, poll_seconds
        self.warm_imports = list(warm_imports) if warm_imports is not None else None
        # "auto": a GPU per worker where the cluster has GPUs, else a CPU slot each.
        has_gpus = int(ray.cluster_resources().get("GPU", 0)) > 0
        self.device = ("cuda" if has_gpus else "cpu") if device == "auto" else device
        self._start_failures: list[str] = []
        self._hub = EventHub()
        self._lock = threading.Lock()
        self._pending: list[_Job] = []
        self._jobs: dict[str, _Job] = {}
        self._token = uuid.uuid4().hex[:6]
        self._ids = itertools.count(1)
        self._names = itertools.count(1)
        self._target = workers or _worker_slots(ray)
        default_dirs = [str(Path(d)) for d in models_dirs] if models_dirs else None
        self._dirs = [[str(Path(d)) for d in (worker_models_dirs or {}).get(i, [])]
                      or default_dirs for i in range(self._target)]
        self._workers: list[_Worker] = []
        self._stopping = False
        self._thread = threading.Thread(target=self._dispatch, name="nodestudio-farm",
                                        daemon=True)
        self._thread.start()

    # -- the interface --------------------------------------------------------------------------

    def submit(self, graph: Graph, *, label: str | None = None,
               outputs: tuple[str, ...] | None = None,
               metadata: dict[str, Any] | None = None) -> JobHandle:
        job_id = f"{self._token}-{next(self._ids):04d}"
        name = label or str(graph.metadata.get("title") or "graph")
        environment = self.session.environment() if self.session is not None else None
        executor = self.session.executor if self.session is not None else None
        keys = model_keys(graph, self.registry, executor, environment)
        job = _Job(JobHandle(job_id, name), to_document(graph), keys, outputs,
                   dict(metadata or {}))
        with self._lock:
            self._jobs[job_id] = job
            self._pending.append(job)
        self._hub.emit(BackendEvent(job_id, "queued", {"label": name}))
        return job.handle

    def cancel(self, handle: JobHandle) -> None:
        with self._lock:
            job = self._jobs.get(handle.id)
            if job is None or handle.done:
                return
            job.cancel_requested = True
            if job in self._pending:
                self._pending.remove(job)
                waiting = True
            else:
                waiting = False
            worker = next((w for w in self._workers if w.job is job), None)
        if waiting:
            self._finish(job, JobResult(handle.id, CANCELLED))
        elif worker is not None:
            worker.actor.cancel.remote(handle.id)  # answered at once: a threaded actor

    def subscribe(self, listener: EventListener) -> Callable[[], None]:
        return self._hub.subscribe(listener)

    def workers(self) -> list[WorkerStatus]:
        with self._lock:
            return [WorkerStatus(w.name, w.state, w.job.handle.id if w.job else None,
                                 tuple(sorted(w.load.models)), w.load.jobs_done)
                    for w in self._workers]

    def worker_pids(self) -> dict[str, int]:
        with self._lock:
            return {w.name: w.pid for w in self._workers if w.pid and w.state != "dead"}

    def wait_all(self, handles: Iterable[JobHandle],
                 timeout: float | None = None) -> list[JobResult | None]:
        return wait_all(handles, timeout)

    def shutdown(self) -> None:
        """Stop the workers; jobs not done end as cancelled (nobody waits forever)."""
        self._stopping = True
        self._thread.join(10)
        with self._lock:
            unfinished = [job for job in self._jobs.values() if not job.handle.done]
        for job in unfinished:
            self._finish(job, JobResult(job.handle.id, CANCELLED,
                                        error="the farm backend was shut down"))
        for worker in self._workers:
            with contextlib.suppress(Exception):  # already gone
                self._ray.kill(worker.actor)
        if self._owns_ray:
            self._ray.shutdown()

    # -- the dispatcher ---------------------------------------------------------------------

    def _dispatch(self) -> None:
        while not self._stopping:
            try:
                self._replenish()
                self._check_starting()
                self._assign()
                self._explain_waits()
                self._collect()
            except Exception as error:  # the farm must outlive a bad cycle
                self._hub.emit(BackendEvent("", "error", {"message": str(error)}))
                time.sleep(0.5)

    def _replenish(self) -> None:
        alive = [w for w in self._workers if w.state != "dead"]
        if len(self._start_failures) >= 3 * self._target:
            # Workers die as they start (a broken install on the cluster): say so, do not
            # start them forever.
            self._fail_pending(f"farm workers fail to start ({self._start_failures[-1]}); "
                               "check that NodeStudio is installed on the cluster's machines")
            return
        for slot in range(len(alive), self._target):
            from nodestudio.app.farm.worker import FarmWorker

            name = f"worker-{next(self._names)}"
            dirs = self._dirs[slot % len(self._dirs)]
            # Calls answered while a job runs: run, events, cancel, warmed, and a spare.
            options: dict[str, Any] = {"max_concurrency": 5, "max_restarts": 0,
                                       "num_cpus": 1}
            if self.device == "cuda":
                options["num_gpus"] = 1
            remote: Any = self._ray.remote(FarmWorker)
            actor = remote.options(**options).remote(
                name, dirs, self.device, self.warm_imports)
            worker = _Worker(name, actor, dirs, ready_ref=actor.ready.remote(),
                             load=WorkerLoad(name, False))
            with self._lock:
                self._workers.append(worker)

    def _check_starting(self) -> None:
        for worker in [w for w in self._workers if w.state == "starting"]:
            if worker.warm_ref is None:
                self._check_ready(worker)
            else:
                self._check_warm(worker)
        live = [w for w in self._workers if w.state != "dead"]
        if live and all(w.state == "failed" for w in live) and self._pending:
            # Nothing here will ever run them: say why rather than keep them waiting.
            self._fail_pending(live[0].warm_error or "every farm worker failed to start")

    def _check_ready(self, worker: _Worker) -> None:
        done, _ = self._ray.wait([worker.ready_ref], timeout=0)
        if not done:
            return
        try:
            worker.pid = self._ray.get(done[0])["pid"]
        except Exception as error:  # it died while starting: replace it
            self._lost_while_starting(worker, error)
            return
        # Up, and importing what jobs need (worker.py): still "starting" until that is over.
        worker.warm_ref = worker.actor.warmed.remote()

    def _check_warm(self, worker: _Worker) -> None:
        done, _ = self._ray.wait([worker.warm_ref], timeout=0)
        if not done:
            return
        try:
            report = self._ray.get(done[0])
        except Exception as error:  # it died while importing (a broken library)
            self._lost_while_starting(worker, error)
            return
        worker.warm_seconds = report.get("seconds")
        if report.get("error"):
            worker.state, worker.warm_error = "failed", str(report["error"])
            self._hub.emit(BackendEvent("", "error", {"message": worker.warm_error}))
        else:
            worker.state, worker.load.idle = "idle", True

    def _lost_while_starting(self, worker: _Worker, error: Exception) -> None:
        worker.state = "dead"
        text = str(error).strip()
        self._start_failures.append(f"{worker.name}: {text.splitlines()[-1][:200]}" if text
                                    else f"{worker.name}: {type(error).__name__}")

    def _explain_waits(self) -> None:
        """Tell each waiting job why it waits while no worker is ready yet (a new worker
        imports torch and diffusers first), and when that is no longer why."""
        live = [w for w in self._workers if w.state != "dead"]
        starting = [w.name for w in live if w.state == "starting"]
        note = ""
        if starting and not any(w.state in ("idle", "busy") for w in live):
            note = (f"waiting for {', '.join(starting)} to start (a new farm worker imports "
                    "torch and diffusers before its first job)")
        with self._lock:
            changed = [job for job in self._pending if job.note != note]
            for job in changed:
                job.note = note
        for job in changed:
            self._hub.emit(BackendEvent(job.handle.id, "waiting", {"message": note}))

    def _assign(self) -> None:
        loads = [w.load for w in self._workers if w.state in ("idle", "busy")]
        for worker in [w for w in self._workers if w.state == "idle"]:
            with self._lock:
                pending = [(job.handle.id, job.keys) for job in self._pending]
                job_id = choose_job(worker.load, pending, loads, self.steal_backlog)
                if job_id is None:
                    continue
                job = self._jobs[job_id]
                self._pending.remove(job)
                worker.job, worker.state, worker.load.idle = job, "busy", False
                # Claimed now, not when it finishes: the next idle worker must not load the
                # same checkpoint for the job behind this one.
                worker.load.models |= job.keys
                job.handle.status, job.handle.worker = RUNNING, worker.name
                job.note = ""
                job.handle.attempts += 1
            worker.run_ref = worker.actor.run.remote(
                {"id": job_id, "document": job.document, "outputs": job.outputs})
            if job.cancel_requested:
                worker.actor.cancel.remote(job_id)
            self._hub.emit(BackendEvent(job_id, "started", {"worker": worker.name,
                                                           "attempt": job.handle.attempts}))

    def _collect(self) -> None:
        busy = [w for w in self._workers if w.state == "busy"]
        if not busy:
            time.sleep(self.poll)
            return
        done, _ = self._ray.wait([w.run_ref for w in busy], num_returns=len(busy),
                                 timeout=self.poll)
        for worker in busy:
            self._poll_events(worker)
            if worker.run_ref in done:
                self._completed(worker)

    def _poll_events(self, worker: _Worker) -> None:
        if worker.events_ref is not None:
            ready, _ = self._ray.wait([worker.events_ref], timeout=0)
            if not ready:
                return
            try:
                events = self._ray.get(ready[0])
            except Exception:  # the worker died; its run ref says so
                events = []
            for item in events:
                self._hub.emit(BackendEvent(worker.job.handle.id if worker.job else "",
                                            item["kind"], item["data"]))
        worker.events_ref = (worker.actor.events.remote(worker.job.handle.id)
                             if worker.job is not None else None)

    def _completed(self, worker: _Worker) -> None:
        job = worker.job
        assert job is not None
        worker.job, worker.events_ref = None, None
        try:
            reply = self._ray.get(worker.run_ref)
        except Exception:  # the actor died (killed, out of memory, node lost)
            worker.state, worker.load.idle = "dead", False
            self._retry(job, worker.name)
            return
        worker.state, worker.load.idle = "idle", True
        worker.load.jobs_done += 1
        self._finish(job, self._result(job, reply))

    def _fail_pending(self, message: str) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        for job in pending:
            self._finish(job, JobResult(job.handle.id, FAILED, error=message))

    def _retry(self, job: _Job, worker_name: str) -> None:
        if job.cancel_requested:
            self._finish(job, JobResult(job.handle.id, CANCELLED))
        elif job.handle.attempts > self.max_retries:
            self._finish(job, JobResult(job.handle.id, FAILED, error=(
                f"job {job.handle.id} lost its worker {job.handle.attempts} times (last: "
                f"{worker_name}); it was not retried again (farm retries: {self.max_retries})")))
        else:
            self._hub.emit(BackendEvent(job.handle.id, "retry", {"worker": worker_name}))
            with self._lock:
                job.handle.status = PENDING
                self._pending.insert(0, job)

    def _result(self, job: _Job, reply: dict[str, Any]) -> JobResult:
        files = [self.writer.write(job.handle.id, index, name, data)
                 for index, (name, data) in enumerate(reply.get("files", []))]
        metadata = dict(job.metadata)
        for key in ("worker", "pid", "executed", "cached", "loads", "seconds",
                    "worker_seconds", "file_nodes"):
            if key in reply:
                metadata[key] = reply[key]
        metadata["attempts"] = job.handle.attempts
        status = reply.get("status", FAILED)
        return JobResult(job.handle.id, status if status in (FINISHED, CANCELLED) else FAILED,
                         files, metadata, reply.get("error"))

    def _finish(self, job: _Job, result: JobResult) -> None:
        job.handle.result, job.handle.status = result, result.status
        job.handle._done.set()
        self._hub.emit(BackendEvent(job.handle.id, "finished",
                                    {"status": result.status, "error": result.error,
                                     "files": [str(path) for path in result.files]}))


def _worker_slots(ray: Any) -> int:
    """One worker per GPU of the cluster, else one per CPU."""
    resources = ray.cluster_resources()
    return max(1, int(resources.get("GPU", 0)) or int(resources.get("CPU", 1)))
