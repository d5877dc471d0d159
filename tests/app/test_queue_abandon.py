"""The run queue and the CLI move on when a node ignores Cancel."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from fakes import chain, make_bench

from nodestudio.api import FLOAT, Float, NodePack, Output, node
from nodestudio.app.queue import CANCELLED, FINISHED, RunQueue
from nodestudio.app.session import Session
from nodestudio.engine.node_thread import ABANDONED_MESSAGE
from nodestudio.graph import Graph, save


@pytest.fixture
def stuck():
    release = threading.Event()
    started = threading.Event()
    bench = make_bench()

    @node("stuck.sleep", inputs=[Float("x", 1.0)], outputs=[Output("x", FLOAT)])
    def sleep(x: float, ctx: Any) -> float:
        started.set()
        release.wait(30.0)  # never calls ctx.check_cancelled
        return x

    bench.registry.add_pack(NodePack("stuck", [sleep]))
    yield bench, started
    release.set()


def test_cancel_abandons_the_stuck_job_and_the_next_job_runs(stuck, tmp_path):
    bench, started = stuck
    session = Session(device="cpu", registry=bench.registry, output_dir=tmp_path)
    queue = RunQueue(session)
    graph = Graph()
    sleeper = graph.add_node("stuck.sleep")
    graph.connect(sleeper.id, "x", graph.add_node("test.sink").id, "x")
    follower, _ = chain(bench)
    (job,) = queue.submit(graph)
    (next_job,) = queue.submit(follower)
    assert started.wait(10)
    cancelled_at = time.monotonic()
    assert queue.cancel_current() is job
    assert queue.wait_idle(timeout=10)  # before the fix: the node's whole 30 s, and more
    assert time.monotonic() - cancelled_at < 3.0
    assert job.status == CANCELLED
    assert job.error == f"node {sleeper.id} {ABANDONED_MESSAGE}"
    assert next_job.status == FINISHED
    assert sorted(bench.sunk) == [5.0, 6.0]  # the next job really ran
    queue.shutdown()


STUCK_PACK = (
    "import time\n"
    "from nodestudio.api import NodePack, node\n"
    "@node('stuck.wait', output_node=True)\n"
    "def wait():\n"
    "    print('started', flush=True)\n"
    "    time.sleep(30)  # never looks at Cancel\n"
    "pack = NodePack('stuck', [wait])\n")


def _start_stuck_run(tmp_path: Any) -> subprocess.Popen[str]:
    packs = tmp_path / "home" / "packs"
    packs.mkdir(parents=True)
    (packs / "stuck.py").write_text(STUCK_PACK)
    graph = Graph()
    graph.add_node("stuck.wait")
    path = save(graph, tmp_path / "stuck.json")
    environment = dict(os.environ, NODESTUDIO_HOME=str(tmp_path / "home"))
    process = subprocess.Popen([sys.executable, "-m", "nodestudio.cli", "run", str(path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=environment)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "started"
    return process


def test_the_cli_ends_a_run_whose_node_ignores_ctrl_c(tmp_path):
    process = _start_stuck_run(tmp_path)
    interrupted = time.monotonic()
    process.send_signal(2)
    _stdout, stderr = process.communicate(timeout=30)
    assert time.monotonic() - interrupted < 5.0  # before the fix: the node's 30 s
    assert process.returncode == 130, stderr
    assert ABANDONED_MESSAGE in stderr
    assert "Traceback" not in stderr


def test_a_second_ctrl_c_stops_the_cli_at_once(tmp_path):
    process = _start_stuck_run(tmp_path)
    interrupted = time.monotonic()
    process.send_signal(2)
    time.sleep(0.3)
    process.send_signal(2)
    _stdout, stderr = process.communicate(timeout=30)
    assert time.monotonic() - interrupted < 1.9  # not the 2 s grace, not the 30 s
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
