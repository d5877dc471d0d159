"""The run queue: snapshots, order, removal, cancellation, batches and seed controls."""

from __future__ import annotations

import random
import threading

import pytest
from fakes import chain, make_bench

from nodestudio.api import NodePack, Seed, node
from nodestudio.app.queue import CANCELLED, FINISHED, INVALID, RunQueue, advance_seeds
from nodestudio.app.session import Session
from nodestudio.graph import Graph


@pytest.fixture
def bench():
    bench = make_bench()

    @node("test.seeded", inputs=[Seed()], output_node=True)
    def seeded(seed: int) -> None:
        bench.sunk.append(("seed", seed))

    bench.registry.add_pack(NodePack("seeded", [seeded]))
    return bench


@pytest.fixture
def session(bench, tmp_path):
    return Session(device="cpu", registry=bench.registry, output_dir=tmp_path)


def test_jobs_run_in_order_on_a_snapshot(bench, session):
    graph, ids = chain(bench, value=1.0)
    seen = []
    queue = RunQueue(session, lambda event, job: seen.append((getattr(event, "what", None)
                                                              or event.kind, job and job.id)))
    first = queue.submit(graph)[0]
    graph.set_value(ids["number"], "value", 2.0)  # edits after submit don't touch the job
    second = queue.submit(graph)[0]
    assert queue.wait_idle(10)
    assert first.status == second.status == FINISHED
    assert bench.sunk == [2.0, 5.0, 4.0]  # the second job saw the edit; its sink2 was cached
    assert ("started", first.id) in seen and ("finished", second.id) in seen
    assert ("node_started", first.id) in seen
    queue.shutdown()


def test_pending_jobs_can_be_reordered_and_removed(bench, session):
    gate, gate_reached = threading.Event(), threading.Event()

    @node("test.gate", inputs=[], output_node=True)
    def wait_for_gate() -> None:
        gate_reached.set()
        gate.wait(10)

    bench.registry.add_pack(NodePack("gate", [wait_for_gate]))
    blocker = Graph()
    blocker.add_node("test.gate")
    queue = RunQueue(session)
    running = queue.submit(blocker)[0]
    assert gate_reached.wait(10)
    labelled = {}
    for value in (1.0, 2.0, 3.0):
        graph, _ids = chain(bench, value=value)
        labelled[value] = queue.submit(graph, label=str(value))[0]
    queue.move(labelled[3.0].id, 0)
    assert queue.remove(labelled[2.0].id)
    assert not queue.remove(running.id)  # running: cancel it instead
    gate.set()
    assert queue.wait_idle(10)
    doubled = [value for value in bench.sunk if value in (2.0, 4.0, 6.0)]
    assert doubled == [6.0, 2.0]
    queue.shutdown()


def test_cancel_current_job_and_keep_going(bench, session):
    slow = Graph()
    number = slow.add_node("test.number")
    wait = slow.add_node("test.slow", {"steps": 100000})
    sink = slow.add_node("test.sink")
    slow.connect(number.id, "value", wait.id, "x")
    slow.connect(wait.id, "x", sink.id, "x")
    queue = RunQueue(session)
    job = queue.submit(slow)[0]
    assert bench.slow_started.wait(10)
    queue.cancel_current()
    graph, _ = chain(bench)
    after = queue.submit(graph)[0]
    assert queue.wait_idle(10)
    assert job.status == CANCELLED and after.status == FINISHED
    queue.shutdown()


def test_invalid_graph_job_reports_problems(bench, session):
    graph = Graph()
    graph.add_node("test.sink")
    queue = RunQueue(session)
    job = queue.submit(graph)[0]
    assert queue.wait_idle(10)
    assert job.status == INVALID and job.problems[0].kind == "missing_input"
    queue.shutdown()


def test_batch_advances_seeds_between_jobs(bench, session):
    graph = Graph()
    seeded = graph.add_node("test.seeded", {"seed": 10}, controls={"seed": "increment"})
    queue = RunQueue(session)
    jobs = queue.submit(graph, batch=3)
    assert queue.wait_idle(10)
    assert [job.graph.value(seeded.id, "seed") for job in jobs] == [10, 11, 12]
    assert graph.value(seeded.id, "seed") == 13  # ready for the next submission
    assert [value for kind, value in bench.sunk] == [10, 11, 12]
    queue.shutdown()


def test_seed_control_modes(bench):
    graph = Graph()
    fixed = graph.add_node("test.seeded", {"seed": 5})
    down = graph.add_node("test.seeded", {"seed": 0}, controls={"seed": "decrement"})
    rolled = graph.add_node("test.seeded", {"seed": 5}, controls={"seed": "randomize"})
    changed = advance_seeds(graph, bench.registry, random.Random(1))
    assert graph.value(fixed.id, "seed") == 5
    assert graph.value(down.id, "seed") == 2**64 - 1  # wraps around
    assert graph.value(rolled.id, "seed") != 5
    assert sorted(changed) == sorted([f"{down.id}.seed", f"{rolled.id}.seed"])


def test_cache_states_follow_edits_without_running(bench, session):
    graph, ids = chain(bench)
    assert set(session.cache_states(graph).values()) == {"stale"}
    session.run(graph)
    assert set(session.cache_states(graph).values()) == {"cached"}
    graph.set_value(ids["scale"], "factor", 3.0)
    states = session.cache_states(graph)
    assert states[ids["number"]] == "cached"
    assert states[ids["scale"]] == states[ids["sink"]] == "stale"
    assert sum(bench.runs.values()) == 5  # computing states ran nothing
