"""A cycle that exists only through a muted or bypassed node (issue 14, item 2): resolving
modes must not raise, and validation reports the cycle on the node and input that close it."""

from __future__ import annotations

import pytest
from fakes import make_bench

from nodestudio.engine.modes import resolve_modes
from nodestudio.engine.validate import validate
from nodestudio.graph import Graph

REGISTRY = make_bench().registry


def looped(mode: str) -> tuple[Graph, str, str]:
    """number -> add.a; add.sum -> scale (``mode``) -> add.b; add -> sink."""
    graph = Graph()
    number = graph.add_node("test.number", {"value": 1.0})
    add = graph.add_node("test.add")
    scale = graph.add_node("test.scale", {"factor": 2.0}, mode=mode)
    sink = graph.add_node("test.sink")
    graph.connect(number.id, "value", add.id, "a")
    graph.connect(add.id, "sum", scale.id, "x")
    graph.connect(scale.id, "x", add.id, "b")
    graph.connect(add.id, "sum", sink.id, "x")
    return graph, add.id, scale.id


@pytest.mark.parametrize("mode", ["bypassed", "muted"])
def test_a_cycle_through_a_bypassed_or_muted_node_is_a_validation_problem(mode):
    graph, add, scale = looped(mode)
    effective, notes = resolve_modes(graph, REGISTRY)  # raised ValueError when bypassed
    assert effective.link_into(add, "b") is None
    problems = validate(effective, REGISTRY, notes=notes)
    assert [(p.kind, p.node_id, p.input) for p in problems] == [("cycle", add, "b")]
    assert f"cycle through {mode} node {scale}" in problems[0].message


def test_a_bypassed_node_off_any_cycle_still_passes_through():
    graph, add, scale = looped("bypassed")
    graph.disconnect(add, "b")
    other = graph.add_node("test.number", {"value": 5.0})
    graph.connect(other.id, "value", scale, "x")
    graph.connect(scale, "x", add, "b")
    effective, notes = resolve_modes(graph, REGISTRY)
    assert effective.link_into(add, "b").source == other.id
    assert validate(effective, REGISTRY, notes=notes) == []
