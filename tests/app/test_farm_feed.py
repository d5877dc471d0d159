"""FarmFeed without Ray: a backend's jobs reported as run-queue events, on the local backend
(the same ExecutionBackend interface the farm implements). The Ray farm in the window's queue
panel and gallery: tests/ui/run/test_farm_jobs.py."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PIL import Image

from nodestudio.app.farm.feed import FarmFeed, FarmJob
from nodestudio.app.queue import CANCELLED, FAILED, FINISHED, PENDING, QueueChanged
from nodestudio.app.session import Session
from nodestudio.engine.events import NodeFinished, RunFinished
from nodestudio.graph import Graph


@pytest.fixture
def session(tmp_path) -> Session:
    return Session(device="cpu", output_dir=tmp_path / "out", input_dir=tmp_path / "in")


def _mask_graph(value: float) -> Graph:
    graph = Graph()
    solid = graph.add_node("mask.solid", {"value": value, "width": 8, "height": 8})
    image = graph.add_node("mask.to_image")
    save = graph.add_node("image.save", {"filename_prefix": "m"})
    graph.connect(solid.id, "mask", image.id, "mask")
    graph.connect(image.id, "image", save.id, "images")
    return graph


class Heard:
    """What the feed told its listener, in order (from any thread)."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, FarmJob | None]] = []
        self.lock = threading.Lock()

    def __call__(self, event: object, job: FarmJob | None) -> None:
        with self.lock:
            self.calls.append((event, job))

    def names(self, job: FarmJob) -> list[str]:
        with self.lock:
            return [event.what if isinstance(event, QueueChanged) else type(event).__name__
                    for event, other in self.calls if other is job]


def _wait(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_backend_job_becomes_a_queue_job_with_its_files_and_end(session):
    backend, heard = session.backend(), Heard()
    feed = FarmFeed(heard)
    job = feed.submit(backend, _mask_graph(0.25), label="grey")
    assert job.id < 0 and job.label == "grey" and job in feed.jobs()
    _wait(lambda: "finished" in heard.names(job))
    assert job.status == FINISHED and job.worker == "this machine"
    names = heard.names(job)
    assert names[0] == "added" and names[1] == "started"
    assert names[-3:] == ["NodeFinished", "RunFinished", "finished"]
    [files] = [event.files for event, other in heard.calls
               if other is job and isinstance(event, NodeFinished) and event.files]
    assert list(files) == job.result.files == job.handle.result.files
    picture = np.asarray(Image.open(files[0]).convert("L"))
    assert (picture == 64).all()  # 0.25 of white, the mask the graph drew
    [end] = [event for event, other in heard.calls if isinstance(event, RunFinished)]
    assert end.status == "finished" and len(end.executed) == 3
    backend.shutdown()


def test_waiting_jobs_cancel_and_failed_jobs_say_why(session):
    backend, heard = session.backend(), Heard()
    feed = FarmFeed(heard)
    first = feed.submit(backend, _mask_graph(0.5), label="first")
    broken = _mask_graph(0.75)
    broken.set_value(next(iter(broken.nodes)), "width", -4)  # the node refuses it
    failing = feed.submit(backend, broken, label="broken")
    waiting = feed.submit(backend, _mask_graph(1.0), label="waiting")
    assert waiting.status == PENDING  # the local backend runs one job at a time
    assert feed.remove(waiting.id) is False  # not done: cancelled, its row kept
    assert waiting.status == CANCELLED and heard.names(waiting)[-1] == "finished"
    _wait(lambda: all(job.done for job in (first, failing, waiting)))
    assert first.status == FINISHED
    assert failing.status == FAILED and failing.result is None
    assert failing.error.startswith("the graph has 1 problem(s): node ")
    assert " › width: " in failing.error
    assert waiting.handle.result.files == []
    assert heard.names(failing)[-1] == "finished"
    assert feed.remove(first.id) is True and first not in feed.jobs()
    feed.clear_done()
    assert feed.jobs() == []
    feed.detach()
    backend.shutdown()
