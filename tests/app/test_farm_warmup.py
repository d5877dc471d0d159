"""Farm workers warm up as they start, on the shared real Ray cluster (tests/app/conftest.py).

A new worker imports torch and diffusers on a background thread as soon as it exists: the
farm shows it "starting" until that is over, jobs sent meanwhile wait (told why) and then run;
a warm-up that fails leaves the worker up, "failed", and gives its jobs the reason. The
failing one runs first: it needs no heavy import, so its CPU is free again at once for the two
workers that warm up for real, side by side (one CPU each).
"""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

ray = pytest.importorskip("ray")

from nodestudio.app.backends import FAILED, FINISHED  # noqa: E402
from nodestudio.app.farm.feed import FarmFeed  # noqa: E402
from nodestudio.app.farm.ray_backend import RayBackend  # noqa: E402
from nodestudio.app.farm.worker import FarmWorker  # noqa: E402
from nodestudio.app.queue import QueueChanged  # noqa: E402
from nodestudio.graph.files import to_document  # noqa: E402
from tests.app.test_farm_worker_repeat import _mask_graph  # noqa: E402

pytestmark = pytest.mark.timeout(300)

MISSING = "nodestudio_no_such_module_for_the_test"


def _grey(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"))


def test_a_failed_warm_up_leaves_the_worker_up_and_fails_its_jobs_with_the_reason(
        ray_cluster, tmp_path: Path):
    # The warm-up list travels to the worker's own process as an actor argument.
    backend = RayBackend(output_dir=tmp_path / "out", workers=1,
                         models_dirs=[tmp_path / "models"], warm_imports=[MISSING])
    try:
        result = backend.submit(_mask_graph(0.5)).wait(120)
        assert result is not None and result.status == FAILED
        assert result.error == (
            f"worker worker-1 could not import {MISSING} while starting (No module named "
            f"'{MISSING}'): install NodeStudio with its dependencies on that machine, then "
            "restart its farm workers")
        assert result.files == [] and list((tmp_path / "out").glob("*")) == []
        [status] = backend.workers()
        assert (status.name, status.state, status.jobs_done) == ("worker-1", "failed", 0)
        pid = backend.worker_pids()["worker-1"]
        os.kill(pid, 0)  # its process is alive (raises when it is not)
        # A job sent later fails too, at once, rather than waiting for a worker forever; the
        # worker was neither replaced nor restarted.
        started = time.monotonic()
        later = backend.submit(_mask_graph(0.25)).wait(60)
        assert later is not None and later.status == FAILED and MISSING in later.error
        assert time.monotonic() - started < 10
        assert [w.name for w in backend.workers()] == ["worker-1"]
        assert backend.worker_pids() == {"worker-1": pid}
    finally:
        backend.shutdown()


class _Watch:
    """The farm's worker rows and job events, sampled from the moment it starts."""

    def __init__(self, backend: RayBackend) -> None:
        self.backend = backend
        self.states: list[tuple[str, bool]] = []  # (state, process up), each change once
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.stop.is_set():
            rows = self.backend.workers()
            if rows:
                now = (rows[0].state, bool(self.backend.worker_pids()))
                if not self.states or self.states[-1] != now:
                    self.states.append(now)
            time.sleep(0.02)


@pytest.fixture(scope="module")
def warming(ray_cluster, tmp_path_factory) -> Any:
    """A farm of one worker and a lone worker actor, both just started, warming up at once;
    each got a job at once."""
    root = tmp_path_factory.mktemp("warm")
    backend = RayBackend(output_dir=root / "out", workers=1, models_dirs=[root / "models"])
    watch = _Watch(backend)
    notes: list[tuple[str, str]] = []  # (what the queue heard, the job's note then)
    feed = FarmFeed(lambda event, job: notes.append(
        (event.what if isinstance(event, QueueChanged) else type(event).__name__,
         job.note if job is not None else "")))
    job = feed.submit(backend, _mask_graph(0.5), label="grey")

    actor = ray.remote(FarmWorker).options(num_cpus=1, max_concurrency=5).remote(
        "lone", [str(root / "models")], "cpu")
    first_status = ray.get(actor.status.remote(), timeout=120)
    run_ref = actor.run.remote({"id": "j1", "document": to_document(_mask_graph(0.25)),
                                "outputs": None})
    yield {"backend": backend, "watch": watch, "job": job, "notes": notes,
           "actor": actor, "first_status": first_status, "run_ref": run_ref}
    watch.stop.set()
    backend.shutdown()
    ray.kill(actor)


def test_the_farm_shows_a_new_worker_starting_until_warm_and_its_waiting_job_runs(
        warming):
    backend, watch, job = warming["backend"], warming["watch"], warming["job"]
    result = job.handle.wait(240)
    assert result is not None and result.status == FINISHED, result and result.error
    [path] = result.files
    assert np.all(np.abs(_grey(Path(path).read_bytes()).astype(int) - 128) <= 1)
    watch.stop.set()
    watch.thread.join(5)
    states = watch.states
    # Placed, then up but warming (its process answers: still "starting"), then ready; it
    # never took the job before its warm-up was over.
    assert states[0] == ("starting", False)
    assert ("starting", True) in states
    warm_end = next(i for i, (state, _) in enumerate(states) if state != "starting")
    assert all(state == "starting" for state, _ in states[:warm_end])
    assert {state for state, _ in states[warm_end:]} <= {"idle", "busy"}
    assert [w.state for w in backend.workers()] == ["idle"]
    # The queue row said why the job waited, then it ran on that worker.
    waiting = [note for what, note in warming["notes"] if what == "moved"]
    assert waiting and waiting[0].startswith("waiting for worker-1 to start")
    assert job.worker == "worker-1" and job.note == ""
    assert [what for what, _ in warming["notes"]][-2:] == ["RunFinished", "finished"]


def test_a_job_sent_to_a_worker_still_warming_up_waits_for_it_then_writes_its_file(
        warming):
    actor = warming["actor"]
    assert warming["first_status"]["state"] == "starting"
    reply = ray.get(warming["run_ref"], timeout=240)
    assert reply["status"] == "finished", reply.get("error")
    [(name, data)] = reply["files"]
    assert name.endswith(".png") and np.all(np.abs(_grey(data).astype(int) - 64) <= 1)
    after = ray.get(actor.status.remote(), timeout=30)
    assert after["state"] == "idle" and after["warm_error"] is None
    # The libraries were imported by the warm-up (seconds), and the job (milliseconds of
    # work) waited for it rather than starting beside it.
    assert after["warm_seconds"] > 1.0
    assert reply["worker_seconds"] > 0.5
    assert after["jobs_done"] == 1
