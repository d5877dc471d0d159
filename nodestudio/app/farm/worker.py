"""A farm worker: one NodeStudio Session (engine, model cache) per GPU or CPU slot.

RayBackend runs this class as a threaded Ray actor (max_concurrency ≥ 2), so ``cancel`` and
``events`` are answered while ``run`` renders: the cancel flag is the run's CancelToken, which
the Sampler checks every step. The class itself imports nothing of Ray: it runs (and is
tested) as a plain object too.

A worker writes into a private scratch folder and sends the files' bytes back; the submitter
writes them into its own output folder (app/backends.OutputWriter).

A new worker warms up as it starts: a background thread imports what a diffusion job imports
first (:data:`WARM_IMPORTS`), so the farm's first job does not pay for it; a job that arrives
meanwhile waits for the warm-up, and one that failed fails the job with one sentence (the
worker stays up and says why in ``status``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nodestudio.app.backends import run_event_to_backend
from nodestudio.app.farm.routing import loader_nodes

#: Progress events kept per job between two polls of the submitter (the newest win).
_MAX_EVENTS = 500

#: What a fresh worker's first diffusion job imported, measured (`python -X importtime`, 2
#: busy cores): torch 1.8 s, transformers 0.7 s, diffusers 2.2 s and, through its lazy
#: exports, its model classes 3.1 s — about 8 s of a 9.3 s first job, against 0.5 s once these
#: are in (the model load is the rest). "module:Name" also resolves a lazily exported name.
WARM_IMPORTS: tuple[str, ...] = (
    "torch", "transformers", "diffusers",
    "diffusers:AutoencoderKL", "diffusers:UNet2DConditionModel", "transformers:CLIPTextModel",
    "nodestudio.runtime.checkpoints", "nodestudio.runtime.sampling",
    "nodestudio.runtime.text_encoding", "nodestudio.runtime.vae", "nodestudio.runtime.previews",
)
#: How often a job waiting for the warm-up looks at its cancel flag.
_WARM_POLL_SECONDS = 0.1


class FarmWorker:
    def __init__(self, name: str, models_dirs: list[str] | None = None,
                 device: str = "cpu", warm_imports: Sequence[str] | None = None) -> None:
        from nodestudio.app.session import Session
        from nodestudio.app.settings import Settings

        self.name = name
        self._scratch = Path(tempfile.mkdtemp(prefix=f"nodestudio-{name}-"))
        settings = Settings()  # the cluster's settings come from the submitter, not a file
        roots = [Path(root) for root in models_dirs] if models_dirs else None
        self.session = Session(device=device, models_dir=roots, settings=settings,
                               output_dir=self._scratch / "output",
                               input_dir=self._scratch / "input")
        self._lock = threading.Lock()
        self._cancels: dict[str, Any] = {}
        self._cancelled: set[str] = set()
        self._events: dict[str, list[dict[str, Any]]] = {}
        self._current: str | None = None
        self._models: dict[str, str] = {}  # loader signature → model name
        #: The running job's files → the node that wrote each (the submitter's gallery
        #: shows a farm image under its node, as a local one).
        self._file_nodes: dict[str, str] = {}
        self.loader_runs = 0
        self.jobs_done = 0
        self._warm = _WarmUp(name, WARM_IMPORTS if warm_imports is None else warm_imports)

    # -- asked by the submitter ---------------------------------------------------------------

    def ready(self) -> dict[str, Any]:
        """Answered as soon as the worker exists, while it may still be warming up."""
        return {"name": self.name, "pid": os.getpid(),
                "models_dirs": [str(root) for root in self.session.settings.models_dirs]}

    def warmed(self, timeout: float | None = None) -> dict[str, Any]:
        """Wait (at most ``timeout``) for the warm-up: {"state": "starting" | "ready" |
        "failed", "error", "seconds"}."""
        self._warm.done.wait(timeout)
        return self._warm.report()

    def status(self) -> dict[str, Any]:
        warm = self._warm.report()
        with self._lock:
            state = "busy" if self._current else "idle"
            return {"name": self.name,
                    "state": state if warm["state"] == "ready" else warm["state"],
                    "warm_error": warm["error"], "warm_seconds": warm["seconds"],
                    "current_job": self._current, "models": sorted(set(self._models.values())),
                    "jobs_done": self.jobs_done, "loader_runs": self.loader_runs}

    def cancel(self, job_id: str) -> bool:
        """Stop ``job_id`` at its next step (or before it starts)."""
        with self._lock:
            self._cancelled.add(job_id)
            token = self._cancels.get(job_id)
        if token is not None:
            token.cancel()
        return token is not None

    def events(self, job_id: str) -> list[dict[str, Any]]:
        """The job's events since the last call (progress, previews, node status)."""
        with self._lock:
            return self._events.pop(job_id, [])

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        """Run one job: {"id", "document", "outputs"} → status, error, files (name, bytes)."""
        from nodestudio.engine.cancel import CancelToken

        job_id = job["id"]
        token = CancelToken()
        with self._lock:
            self._cancels[job_id] = token
            self._current = job_id
            self._events = {}  # a job before this one is over: its last events are moot
            self._file_nodes = {}
            if job_id in self._cancelled:
                token.cancel()
        started = time.perf_counter()
        try:
            reply = self._after_warm_up(token) or self._run(job, token)
        finally:
            with self._lock:
                self._cancels.pop(job_id, None)
                self._cancelled.discard(job_id)
                self._current = None
                self.jobs_done += 1
        reply.update(worker=self.name, pid=os.getpid(),
                     worker_seconds=time.perf_counter() - started)
        return reply

    # -- inside --------------------------------------------------------------------------------

    def _after_warm_up(self, token: Any) -> dict[str, Any] | None:
        """Wait for the warm-up rather than import beside it (it would only take as long, on
        the same cores); a reply when the job ends here (cancelled, or the warm-up failed)."""
        while not self._warm.done.wait(_WARM_POLL_SECONDS):
            if token.cancelled:
                return {"status": "cancelled", "error": None}
        error = self._warm.report()["error"]
        return {"status": "failed", "error": error} if error else None

    def _run(self, job: dict[str, Any], token: Any) -> dict[str, Any]:
        from nodestudio.app.formats import graph_from_data
        from nodestudio.engine.executor import failure_message
        from nodestudio.graph.problems import GraphError

        session = self.session
        try:
            graph = graph_from_data(job["document"], session.registry)
        except GraphError as error:
            return {"status": "failed", "error": f"worker {self.name}: {error.summary}"}
        unknown = sorted({node.type for node in graph if session.registry.get(node.type) is None})
        if unknown:  # packs differ between the submitter and this machine
            return {"status": "failed", "error": (
                f"worker {self.name} does not know the node type(s) {', '.join(unknown)}: "
                "install the same node packs on the farm's machines")}
        missing = self.missing_models(graph)
        if missing:
            return {"status": "failed", "error": missing}
        folder = Path(tempfile.mkdtemp(dir=self._scratch, prefix="job-"))
        session.settings.output_dir = folder  # a fresh folder: only this job's files in it
        try:
            result = session.run(graph, outputs=job.get("outputs"), cancel=token,
                                 on_event=lambda event: self._record(job["id"], event),
                                 check=False)
            return self._reply(graph, result, folder)
        except GraphError as error:
            details = "; ".join(problem.message for problem in error.problems[:3])
            return {"status": "failed", "error": f"worker {self.name}: {details or error}"}
        except Exception as error:  # the worker must outlive any job
            return {"status": "failed",
                    "error": f"worker {self.name}: {failure_message(error, 'the run')}"}
        finally:
            self._forget_files_in(folder)
            shutil.rmtree(folder, ignore_errors=True)

    def _forget_files_in(self, folder: Path) -> None:
        """Drop cached results whose files live in this job's scratch folder, which is about to
        go: otherwise the same graph sent again finds its Save node cached, with files that no
        longer exist, and the submitter gets no pictures back."""
        self.session.cache.discard_where(
            lambda entry: any(Path(path).is_relative_to(folder) for path in entry.files))

    def _reply(self, graph: Any, result: Any, folder: Path) -> dict[str, Any]:
        loaders = loader_nodes(graph, self.session.registry)
        loads = [node_id for node_id in result.executed if node_id in loaders]
        with self._lock:
            self.loader_runs += len(loads)
            for node_id in loaders:
                self._models[node_id + ":" + loaders[node_id]] = loaders[node_id]
        written = [Path(path) for path in result.files if Path(path).is_file()]
        files = [(path.name, path.read_bytes()) for path in written]
        with self._lock:
            file_nodes = [self._file_nodes.get(str(path), "") for path in written]
        error = "; ".join(f"node {node_id}: {message}"
                          for node_id, message in result.failed.items()) or None
        return {"status": result.status, "error": error, "files": files,
                "executed": list(result.executed), "cached": list(result.cached),
                "loads": loads, "seconds": result.seconds, "file_nodes": file_nodes}

    def missing_models(self, graph: Any) -> str | None:
        """One sentence naming the first model this worker lacks, where it looked, and where
        to put it; None when it has them all."""
        registry, session = self.session.registry, self.session
        for node in graph:
            node_type = registry.get(node.type)
            for spec in node_type.inputs if node_type else ():
                source = spec.choices_source or ""
                value = node.values.get(spec.name, spec.default)
                if not source.startswith("models:") or not isinstance(value, str):
                    continue
                available = session.choices(source) or []
                if value not in available:
                    kind = source.split(":", 1)[1]
                    roots = session.settings.models_dirs
                    return (f"worker {self.name} lacks model {value!r} (node {node.id}): put it "
                            f"in {Path(roots[0]) / kind} on that machine, the folder this "
                            "worker reads models from")
        return None

    def _record(self, job_id: str, event: Any) -> None:
        if event.kind == "plan":
            return
        if event.kind == "node_finished":
            with self._lock:
                self._file_nodes.update({str(path): event.node_id for path in event.files})
        item = run_event_to_backend(job_id, event)
        with self._lock:
            events = self._events.setdefault(job_id, [])
            if item.kind == "preview":  # only the newest preview matters to a viewer
                events[:] = [e for e in events if e["kind"] != "preview"]
            events.append({"kind": item.kind, "data": item.data})
            del events[:-_MAX_EVENTS]


class _WarmUp:
    """Imports ``modules`` on a daemon thread, started at once; never raises."""

    def __init__(self, worker: str, modules: Sequence[str]) -> None:
        self.worker, self.modules = worker, tuple(modules)
        self.done = threading.Event()
        self.error: str | None = None
        self.seconds: float | None = None
        self._started = time.perf_counter()
        if not self.modules:
            self._finish()
            return
        threading.Thread(target=self._work, name=f"nodestudio-{worker}-warm-up",
                         daemon=True).start()

    def _work(self) -> None:
        import importlib

        for entry in self.modules:
            module, _, attribute = entry.partition(":")
            try:
                imported = importlib.import_module(module)
                if attribute:
                    getattr(imported, attribute)
            except BaseException as error:  # the worker must outlive it (even a sys.exit)
                first = (str(error).strip().splitlines() or [type(error).__name__])[0]
                self.error = (f"worker {self.worker} could not import {entry} while starting "
                              f"({first[:200]}): install NodeStudio with its dependencies "
                              "on that machine, then restart its farm workers")
                break
        self._finish()

    def _finish(self) -> None:
        self.seconds = time.perf_counter() - self._started
        self.done.set()

    def report(self) -> dict[str, Any]:
        if not self.done.is_set():
            return {"state": "starting", "error": None, "seconds": None}
        return {"state": "failed" if self.error else "ready", "error": self.error,
                "seconds": self.seconds}
