"""The executor: order, caching by signature (counted executions), failures, cancellation."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from fakes import chain, make_bench

from nodestudio.engine import CancelToken, Executor, OutputCache, signatures, topological_order
from nodestudio.graph import Graph, GraphValidationError


@pytest.fixture
def bench():
    return make_bench()


def test_runs_in_dependency_order_and_delivers_values(bench):
    graph, ids = chain(bench, value=3.0)
    events = []
    result = Executor(bench.registry).run(graph, on_event=events.append)
    assert result.ok
    started = [e.node_id for e in events if e.kind == "node_started"]
    assert started.index(ids["number"]) < started.index(ids["scale"]) < started.index(ids["sink"])
    assert sorted(bench.sunk) == [5.0, 6.0]
    assert result.outputs[ids["scale"]] == {"x": 6.0}
    assert next(e.kind for e in events) == "run_started" and events[-1].kind == "run_finished"


def test_only_what_outputs_need_is_planned(bench):
    graph, _ids = chain(bench)
    orphan = graph.add_node("test.number", {"value": 9.0})
    result = Executor(bench.registry).run(graph)
    assert orphan.id not in result.executed
    assert bench.runs["test.number"] == 2


def test_nothing_changed_runs_nothing(bench):
    graph, _ = chain(bench)
    executor = Executor(bench.registry)
    executor.run(graph)
    before = dict(bench.runs)
    again = executor.run(graph)
    assert again.executed == []
    assert dict(bench.runs) == before
    assert set(again.cached) == {n for n in graph.nodes if graph.node(n).type == "test.sink"}


def test_changing_one_value_reruns_that_node_and_downstream_only(bench):
    graph, ids = chain(bench)
    executor = Executor(bench.registry)
    executor.run(graph)
    graph.set_value(ids["scale"], "factor", 4.0)
    result = executor.run(graph)
    assert result.executed == [ids["scale"], ids["sink"]]
    assert ids["number"] in result.cached
    assert bench.runs == {"test.number": 2, "test.scale": 2, "test.sink": 3}
    assert bench.sunk[-1] == 12.0


def test_equal_values_of_either_number_type_share_a_signature(bench):
    graph, ids = chain(bench, value=3.0)
    executor = Executor(bench.registry)
    executor.run(graph)
    graph.set_value(ids["number"], "value", 3)  # int 3 == float 3.0
    assert executor.run(graph).executed == []


def test_signatures_are_stable_across_processes(bench):
    graph, _ = chain(bench)
    order = topological_order(graph, list(graph.nodes))
    here = signatures(graph, bench.registry, order)
    script = (
        f"import sys, json; sys.path.insert(0, {str(Path(__file__).parents[1])!r});"
        "from fakes import make_bench, chain;"
        "from nodestudio.engine import signatures, topological_order;"
        "b = make_bench(); g, _ = chain(b);"
        "print(json.dumps(signatures(g, b.registry, topological_order(g, list(g.nodes)))))"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True, env={"PYTHONHASHSEED": "123"}).stdout
    import json

    assert json.loads(output) == here


def test_a_failing_branch_keeps_unrelated_cached_branches(bench):
    graph, ids = chain(bench)
    executor = Executor(bench.registry)
    executor.run(graph)
    # Now put a failing node into the first branch.
    fail = graph.add_node("test.fail", {"message": "the gears jammed"})
    graph.connect(ids["scale"], "x", fail.id, "x")
    graph.connect(fail.id, "x", ids["sink"], "x")
    events = []
    result = executor.run(graph, on_event=events.append)
    assert result.status == "failed"
    assert result.failed == {fail.id: "the gears jammed"}
    failed_event = next(e for e in events if e.kind == "node_failed")
    assert failed_event.node_id == fail.id and "NodeError" in failed_event.traceback
    assert any(e.kind == "node_skipped" and e.node_id == ids["sink"] for e in events)
    assert ids["sink2"] in result.cached  # the unrelated branch is still cached
    # After the fix only the repaired node and what follows it run.
    graph.set_value(fail.id, "message", "")
    runs_before = dict(bench.runs)
    fixed = executor.run(graph)
    assert fixed.ok and fixed.executed == [fail.id, ids["sink"]]
    assert bench.runs["test.scale"] == runs_before["test.scale"]


def test_unexpected_exceptions_are_reported_with_their_type(bench):
    graph = Graph()
    a = graph.add_node("test.number")
    b = graph.add_node("test.pick", {"mode": "a"})
    s = graph.add_node("test.sink")
    graph.connect(b.id, "value", s.id, "x")
    graph.add_node("test.sink")
    del a
    registry = bench.registry
    node_type = registry.get("test.pick")
    original = node_type.function

    def broken(mode):
        raise ZeroDivisionError("division by zero")

    object.__setattr__(node_type, "function", broken)
    try:
        result = Executor(registry).run(graph, outputs=[s.id])
    finally:
        object.__setattr__(node_type, "function", original)
    assert result.failed[b.id] == "ZeroDivisionError: division by zero"


def test_invalid_graph_raises_before_running_anything(bench):
    graph = Graph()
    graph.add_node("test.sink")
    events = []
    with pytest.raises(GraphValidationError) as caught:
        Executor(bench.registry).run(graph, on_event=events.append)
    assert caught.value.problems[0].kind == "missing_input"
    assert [e.kind for e in events] == ["run_started", "validation_failed"]
    assert sum(bench.runs.values()) == 0


def test_cancel_stops_inside_a_long_node_and_the_next_run_works(bench):
    graph = Graph()
    a = graph.add_node("test.number")
    slow = graph.add_node("test.slow", {"steps": 1000})
    s = graph.add_node("test.sink")
    graph.connect(a.id, "value", slow.id, "x")
    graph.connect(slow.id, "x", s.id, "x")
    executor = Executor(bench.registry)
    token = CancelToken()
    progress = []

    def on_event(event):
        if event.kind == "node_progress":
            progress.append(event.done)
            if event.done == 3:
                token.cancel()

    result = executor.run(graph, on_event=on_event, cancel=token)
    assert result.status == "cancelled"
    assert progress == [1, 2, 3]  # stopped within one step of the request
    assert bench.runs["test.sink"] == 0
    graph.set_value(slow.id, "steps", 3)
    assert executor.run(graph).ok
    assert bench.runs["test.number"] == 1  # the first node's output was kept


def test_cancel_from_another_thread(bench):
    graph = Graph()
    a = graph.add_node("test.number")
    slow = graph.add_node("test.slow", {"steps": 100000})
    s = graph.add_node("test.sink")
    graph.connect(a.id, "value", slow.id, "x")
    graph.connect(slow.id, "x", s.id, "x")
    token = CancelToken()
    results = []
    worker = threading.Thread(target=lambda: results.append(
        Executor(bench.registry).run(graph, cancel=token)))
    worker.start()
    assert bench.slow_started.wait(10)
    token.cancel()
    worker.join(10)
    assert results[0].status == "cancelled"


def test_lru_budget_evicts_least_recently_used(bench):
    import numpy as np

    cache = OutputCache(ram_budget=3_000)
    from nodestudio.engine import CacheEntry, footprint

    for name in "abc":
        value = (np.zeros(100, dtype=np.float64),)  # 800 bytes each
        cache.put(name, CacheEntry(value, footprint(value)))
    cache.get("a")  # a is now more recent than b
    value = (np.zeros(200, dtype=np.float64),)  # 1600 bytes: over the budget
    cache.put("d", CacheEntry(value, footprint(value)))
    assert "b" not in cache and "c" not in cache
    assert "a" in cache and "d" in cache


def test_footprint_counts_arrays_models_and_containers():
    import numpy as np
    import torch

    from nodestudio.engine import footprint

    model = torch.nn.Linear(10, 10)  # 110 float32 parameters
    array = np.zeros((4, 4), dtype=np.float32)
    size = footprint({"model": model, "images": [array, array], "note": "hi"})
    text_bytes = len("model") + len("images") + len("note") + len("hi")
    assert size.ram == 110 * 4 + 64 + text_bytes  # the shared array counted once
    assert size.vram == 0

    class Custom:
        def cache_nbytes(self) -> int:
            return 12345

    assert footprint(Custom()).ram == 12345


def test_bypassed_node_is_skipped_at_run_time(bench):
    graph, ids = chain(bench, value=3.0)
    graph.set_mode(ids["scale"], "bypassed")
    Executor(bench.registry).run(graph)
    assert sorted(bench.sunk) == [3.0, 5.0]
    assert bench.runs["test.scale"] == 0


def test_the_environment_s_node_scope_wraps_each_executed_node_on_its_thread(bench):
    """The Session's memory mode hooks in here: entered and left around every node that runs
    (not around cached ones), on the thread that runs the node's code."""
    import contextlib

    from nodestudio.engine.context import RunEnvironment

    graph, ids = chain(bench)
    scopes: list[tuple[str, str]] = []

    @contextlib.contextmanager
    def scope():
        scopes.append(("enter", threading.current_thread().name))
        try:
            yield
        finally:
            scopes.append(("exit", threading.current_thread().name))

    executor = Executor(bench.registry)
    result = executor.run(graph, environment=RunEnvironment(node_scope=scope))
    assert result.ok and len(result.executed) == len(graph.nodes)
    assert scopes == [("enter", "nodestudio-node"), ("exit", "nodestudio-node")] * len(
        graph.nodes)
    scopes.clear()
    executor.run(graph, environment=RunEnvironment(node_scope=scope))
    assert scopes == []  # everything came from the cache
    graph.set_value(ids["scale"], "factor", 4.0)
    again = executor.run(graph, environment=RunEnvironment(node_scope=scope))
    assert 0 < len(again.executed) < len(graph.nodes)  # the changed node and what follows
    assert len(scopes) == 2 * len(again.executed)
