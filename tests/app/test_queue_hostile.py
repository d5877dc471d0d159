"""The run queue's worker outlives jobs that exit the process or whose listener breaks."""

from __future__ import annotations

import sys

from nodestudio.api import FLOAT, NodePack, NodeRegistry, Output, node
from nodestudio.app.queue import FAILED, FINISHED, RunQueue
from nodestudio.app.session import Session
from nodestudio.graph import Graph


@node("queue_hostile.exit", outputs=[Output("x", FLOAT)], output_node=True)
def exits() -> float:
    sys.exit(3)


@node("queue_hostile.fine", outputs=[Output("x", FLOAT)], output_node=True)
def fine() -> float:
    return 1.0


def _session(tmp_path) -> Session:
    registry = NodeRegistry()
    registry.add_pack(NodePack("queue_hostile", [exits, fine]))
    return Session(device="cpu", registry=registry, output_dir=tmp_path)


def _graph(type_id: str) -> Graph:
    graph = Graph()
    graph.add_node(type_id)
    return graph


def test_a_node_calling_sys_exit_fails_its_job_and_the_worker_goes_on(tmp_path):
    queue = RunQueue(_session(tmp_path))
    bad = queue.submit(_graph("queue_hostile.exit"))[0]
    # Before the fix the worker thread died of SystemExit and the job stayed "running".
    assert queue.wait_idle(timeout=20)
    assert bad.status == FAILED
    assert bad.result is not None
    assert "called sys.exit(3)" in next(iter(bad.result.failed.values()))
    good = queue.submit(_graph("queue_hostile.fine"))[0]
    assert queue.wait_idle(timeout=20) and good.status == FINISHED
    queue.shutdown()


def test_a_listener_exiting_on_the_worker_thread_ends_the_job_failed(tmp_path):
    def listener(event, job):
        if getattr(event, "what", None) == "started":
            raise SystemExit(4)

    queue = RunQueue(_session(tmp_path), listener)
    jobs = queue.submit(_graph("queue_hostile.fine"), batch=2)
    assert queue.wait_idle(timeout=20)  # never "running" forever
    assert [job.status for job in jobs] == [FAILED, FAILED]
    assert jobs[0].error == ("code running this job called sys.exit(4), which would have closed "
                             "NodeStudio; it was stopped and counted as failed")
    queue.shutdown()
