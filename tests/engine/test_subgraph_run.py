"""Running subgraph instances: flattened per inner node, cached per inner node."""

from __future__ import annotations

import pytest

from nodestudio.engine import Executor
from nodestudio.graph import Graph, GraphValidationError
from nodestudio.graph.subgraphs import add_instance, make_subgraph
from tests.fakes import make_bench


def _packed() -> tuple[Graph, str, str]:
    """number -> [Hires fix: scale(factor promoted) -> scale] -> sink, plus number -> sink2."""
    graph = Graph()
    graph.add_node("test.number", {"value": 3.0}, id="1")
    graph.add_node("test.scale", {"factor": 2.0}, id="2", title="First")
    graph.add_node("test.scale", {"factor": 3.0}, id="3", title="Sampler")
    graph.add_node("test.sink", id="4")
    graph.connect("1", "value", "2", "x")
    graph.connect("2", "x", "3", "x")
    graph.connect("3", "x", "4", "x")
    packed, definition, instance = make_subgraph(graph, ["2", "3"], name="Hires fix",
                                                 promote=[("3", "factor")])
    return packed, definition.id, instance


def test_an_instance_runs_its_inner_nodes_and_a_promoted_widget_reruns_only_its_dependants():
    bench = make_bench()
    executor = Executor(bench.registry)
    graph, _, instance = _packed()
    result = executor.run(graph)
    assert bench.sunk == [18.0]
    assert set(result.executed) == {"1", f"{instance}/2", f"{instance}/3", "4"}
    assert result.outputs[f"{instance}/3"] == {"x": 18.0}
    bench.runs.clear()
    graph.set_value(instance, "factor", 5.0)
    result = executor.run(graph)
    assert bench.sunk[-1] == 30.0
    assert result.executed == [f"{instance}/3", "4"]  # the first scale and number are cached
    assert bench.runs == {"test.scale": 1, "test.sink": 1}


def test_nested_instances_run_and_cache_per_inner_node():
    bench = make_bench()
    executor = Executor(bench.registry)
    graph, _, inner = _packed()
    outer_graph, _, outer = make_subgraph(graph, ["1", inner], name="Outer")
    executor.run(outer_graph)
    assert bench.sunk == [18.0]
    bench.runs.clear()
    outer_graph_def = next(d for d in outer_graph.definitions.values() if d.name == "Outer")
    outer_graph_def.graph.set_value(inner, "factor", 1.0)  # edit inside: every instance sees it
    result = executor.run(outer_graph)
    assert bench.sunk[-1] == 6.0
    assert result.executed == [f"{outer}/{inner}/3", "4"]


def test_validation_and_failures_name_the_path():
    bench = make_bench()
    graph, _, instance = _packed()
    graph.set_value(instance, "factor", 50.0)  # above the maximum of 10
    with pytest.raises(GraphValidationError) as caught:
        Executor(bench.registry).prepare(graph)
    [problem] = caught.value.problems
    assert problem.node_id == f"{instance}/3"
    assert problem.message.startswith("Hires fix › Sampler › factor: ")

    failing = Graph()
    failing.add_node("test.number", id="1")
    failing.add_node("test.fail", {"message": "out of memory"}, id="2", title="Decode")
    failing.add_node("test.sink", id="3")
    failing.connect("1", "value", "2", "x")
    failing.connect("2", "x", "3", "x")
    packed, _, inst = make_subgraph(failing, ["2"], name="Upscale")
    result = Executor(bench.registry).run(packed)
    assert result.failed == {f"{inst}/2": "Upscale › Decode: out of memory"}


def test_a_cycle_through_an_instance_is_refused():
    bench = make_bench()
    graph, _definition_id, instance = _packed()
    add = graph.add_node("test.add", id="9")
    graph.connect(instance, "x", "9", "a")
    graph.connect("1", "value", "9", "b")
    graph.connect("9", "sum", instance, "x")  # the instance's input now depends on its output
    with pytest.raises(GraphValidationError) as caught:
        Executor(bench.registry).prepare(graph)
    assert {p.kind for p in caught.value.problems} == {"cycle"}
    assert add.id in {p.node_id for p in caught.value.problems}


def test_a_self_containing_definition_is_refused_before_anything_runs():
    bench = make_bench()
    graph, definition_id, _instance = _packed()
    definition = graph.definitions[definition_id]
    definition.graph.add_node("subgraph", id="9", extra={"subgraph": {"id": definition_id}})
    with pytest.raises(GraphValidationError) as caught:
        Executor(bench.registry).run(graph)
    assert [p.kind for p in caught.value.problems] == ["subgraph_cycle"]
    assert "Hires fix › Hires fix" in caught.value.problems[0].message
    assert bench.runs == {}
    with pytest.raises(ValueError, match="contain itself"):
        add_instance(graph, definition)
