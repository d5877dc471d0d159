"""The render farm against a real local Ray cluster (2 CPU workers) and the demo model.

One cluster (tests/app/conftest.py: ray_cluster, shared by the farm modules) and one backend for
the module (starting workers imports torch in each); the tests run in file order: throughput
and fidelity, affinity, missing model, cancel, a worker killed mid-job, and last, a seed sweep
from the command line queued while no worker can start.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ray = pytest.importorskip("ray")

from nodestudio.app.backends import (  # noqa: E402
    CANCELLED,
    FAILED,
    FINISHED,
    ExecutionBackend,
)
from nodestudio.app.farm.ray_backend import RayBackend  # noqa: E402
from nodestudio.app.session import Session  # noqa: E402
from nodestudio.paths import demo_models_dir, resources_dir  # noqa: E402

pytestmark = pytest.mark.timeout(600)

WORKFLOW = resources_dir() / "workflows" / "text_to_image.json"
STEPS = 2


def _link(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


@pytest.fixture(scope="module")
def models_root(tmp_path_factory) -> Path:
    """The cluster's shared models root: the demo model again under a second name."""
    root = tmp_path_factory.mktemp("farm-models")
    (root / "checkpoints").mkdir()
    # Linked file by file: a symlinked folder would lead outside the models root (path rules).
    shutil.copytree(demo_models_dir() / "nodestudio-shapes", root / "checkpoints" / "shapes-b",
                    copy_function=_link)
    return root


@pytest.fixture(scope="module")
def local(models_root, tmp_path_factory) -> Session:
    return Session(device="cpu", models_dir=models_root,
                   output_dir=tmp_path_factory.mktemp("local-output"))


@pytest.fixture(scope="module")
def farm(ray_cluster, local, models_root, tmp_path_factory):
    # No stealing: affinity is then exact (each checkpoint is loaded on one worker only).
    backend = RayBackend(output_dir=tmp_path_factory.mktemp("farm-output"), session=local,
                         workers=2, models_dirs=[models_root], steal_backlog=10**6)
    # Both workers up before the first job: a worker still starting takes nothing, and the
    # one that is up would rightly take both checkpoints (on a busy box, it did).
    deadline = time.monotonic() + 300
    while [w.state for w in backend.workers()] != ["idle", "idle"]:
        assert time.monotonic() < deadline, backend.workers()
        time.sleep(0.1)
    yield backend
    backend.shutdown()


def _graph(session: Session, *, seed: int = 1, steps: int = STEPS,
           checkpoint: str = "nodestudio-shapes"):
    graph = session.load_graph(WORKFLOW)
    graph.set_value("sampler", "seed", seed)
    graph.set_value("sampler", "steps", steps)
    graph.set_value("checkpoint", "checkpoint", checkpoint)
    return graph


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _render_and_compare(farm, local, seeds: range) -> None:
    """Each seed on both checkpoints through the farm: pixels equal to a local run's, and
    each checkpoint read on one worker only, once."""
    held_before = sum(len(w.models) for w in farm.workers())
    done_before = sum(w.jobs_done for w in farm.workers())
    handles = {}
    for seed in seeds:
        for checkpoint in ("nodestudio-shapes", "shapes-b"):
            graph = _graph(local, seed=seed, checkpoint=checkpoint)
            handles[seed, checkpoint] = farm.submit(graph, metadata={"seed": seed})
    # The reference, on this process, while the farm renders.
    expected = {seed: _pixels(local.run(_graph(local, seed=seed)).files[0]) for seed in seeds}
    results = farm.wait_all(handles.values(), timeout=400)
    assert all(r is not None and r.status == FINISHED for r in results), \
        [r.error for r in results if r is not None and not r.ok]
    for (seed, _), handle in handles.items():
        assert len(handle.result.files) == 1
        np.testing.assert_array_equal(_pixels(handle.result.files[0]), expected[seed])
        assert handle.result.metadata["seed"] == seed
    # Affinity: every checkpoint ran on one worker, and was read there once.
    loads = [h.result.metadata["loads"] for h in handles.values()]
    assert sum("checkpoint" in job_loads for job_loads in loads) == 2 - held_before
    by_model = {c: {h.result.metadata["worker"] for (_, c2), h in handles.items() if c2 == c}
                for c in ("nodestudio-shapes", "shapes-b")}
    assert all(len(workers) == 1 for workers in by_model.values()), by_model
    assert by_model["nodestudio-shapes"] != by_model["shapes-b"]
    statuses = farm.workers()
    assert {w.state for w in statuses} == {"idle"}
    assert sum(w.jobs_done for w in statuses) - done_before == 2 * len(seeds)


def test_twenty_jobs_match_local_runs_and_each_checkpoint_loads_once(farm, local):
    _render_and_compare(farm, local, range(10))


@pytest.mark.slow
def test_forty_jobs_match_local_runs(farm, local):
    _render_and_compare(farm, local, range(100, 120))


def test_a_missing_model_names_the_model_the_worker_and_the_folder(farm, local, models_root):
    assert isinstance(farm, ExecutionBackend)  # what the window, CLI and API talk to
    result = farm.submit(_graph(local, checkpoint="not-on-the-farm")).wait(120)
    assert result is not None and result.status == FAILED
    assert "not-on-the-farm" in result.error
    assert "worker-" in result.error
    assert str(models_root / "checkpoints") in result.error
    assert result.files == []


def _wait_for_progress(farm, handle, steps: int = 2, timeout: float = 120) -> list:
    seen: list = []
    reached = threading.Event()

    def listen(event):
        if event.job_id == handle.id and event.kind in ("progress", "preview"):
            seen.append(event)
            if event.data.get("node_id") == "sampler" and event.data.get("done", 0) >= steps:
                reached.set()
    unsubscribe = farm.subscribe(listen)
    assert reached.wait(timeout), "no progress came back from the worker"
    unsubscribe()
    return seen


def test_cancel_reaches_the_worker_within_a_step(farm, local):
    handle = farm.submit(_graph(local, steps=400))
    _wait_for_progress(farm, handle)
    asked = time.monotonic()
    farm.cancel(handle)
    result = handle.wait(30)
    assert result is not None and result.status == CANCELLED
    assert time.monotonic() - asked < 5
    assert result.files == []
    # The worker is free again and renders the next job.
    assert farm.submit(_graph(local, seed=3)).wait(120).status == FINISHED


def test_a_worker_killed_mid_job_hands_the_job_to_another(farm, local):
    output = farm.writer.output_dir
    handle = farm.submit(_graph(local, seed=11, steps=25))
    _wait_for_progress(farm, handle)
    victim = handle.worker
    os.kill(farm.worker_pids()[victim], signal.SIGKILL)
    result = handle.wait(300)
    assert result is not None and result.status == FINISHED, result and result.error
    assert result.metadata["worker"] != victim
    assert result.metadata["attempts"] == 2
    written = sorted(output.glob(f"{handle.id}_*"))
    assert written == result.files and len(written) == 1
    expected = local.run(_graph(local, seed=11, steps=25)).files[0]
    np.testing.assert_array_equal(_pixels(written[0]), _pixels(expected))
    assert not list(output.glob(".*.tmp"))


def test_a_sweep_queued_while_no_worker_can_start_waits_then_matches_local_runs(
        farm, local, tmp_path, capsys, monkeypatch):
    """`nodestudio run --farm auto --sweep` while the farm above holds both CPUs: its workers
    cannot be placed and its jobs wait; once the CPUs are free they run, one file per seed.

    (Formerly two tests, each starting workers of its own: jobs submitted while no worker can
    start wait for one, and the command line's seed sweep on the farm.)"""
    from nodestudio.app.farm import cli as farm_cli
    from nodestudio.cli import main

    opened: list = []
    real_open = farm_cli.open_backend

    def open_and_watch(*args, **kwargs):
        backend = real_open(*args, **kwargs)  # the command's own backend, unchanged
        events: list = []
        backend.subscribe(events.append)
        opened.append((backend, events))
        return backend

    monkeypatch.setattr(farm_cli, "open_backend", open_and_watch)
    codes: list[int] = []
    command = threading.Thread(target=lambda: codes.append(main([
        "run", str(WORKFLOW), "--farm", "auto", "--device", "cpu", "--output", str(tmp_path),
        "--set", f"sampler.steps={STEPS}", "--sweep", "seed=200..203"])))  # seeds no other
    command.start()                                                      # test ran here
    deadline = time.monotonic() + 60
    while (not (opened and [e.kind for e in opened[0][1]].count("queued") >= 4)
           and time.monotonic() < deadline):
        time.sleep(0.05)
    waited_from = time.monotonic()
    # The reference images, on this process, while the jobs wait.
    expected = {seed: _pixels(local.run(_graph(local, seed=seed)).files[0])
                for seed in range(200, 204)}
    # Time enough for a worker that could start to take a job.
    time.sleep(max(0.0, 2 - (time.monotonic() - waited_from)))
    assert command.is_alive() and len(opened) == 1
    backend, events = opened[0]
    # One worker per CPU of the cluster, none placed yet; the four jobs queued, none started.
    assert [w.state for w in backend.workers()] == ["starting", "starting"]
    assert [e.kind for e in events if e.kind != "waiting"] == ["queued"] * 4
    # Each waiting job is told why: its workers are still starting.
    notes = {e.job_id: e.data["message"] for e in events if e.kind == "waiting"}
    assert len(notes) == 4 and all("worker-1, worker-2 to start" in n for n in notes.values())
    assert not list(tmp_path.glob("*.png"))
    farm.shutdown()  # frees the CPUs
    command.join(300)
    captured = capsys.readouterr()
    out = captured.out
    assert codes == [0], out
    # The terminal said once why nothing happened at first.
    assert captured.err.count("farm: waiting for worker-1, worker-2 to start") == 1
    written = sorted(tmp_path.glob("*.png"))  # the command's output folder, nowhere else
    assert len(written) == 4 and out.count("wrote ") == 4
    for seed in range(200, 204):
        line = next(line for line in out.splitlines() if line.endswith(f"(seed={seed})"))
        path = Path(line.split()[1])
        assert path.parent == tmp_path
        np.testing.assert_array_equal(_pixels(path), expected[seed])
