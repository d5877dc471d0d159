"""Subgraph definitions in the graph layer: make/unpack, nesting, files (version 3)."""

from __future__ import annotations

import json

import pytest

from nodestudio.graph import Graph, dumps, loads
from nodestudio.graph.subgraph_flatten import flatten
from nodestudio.graph.subgraphs import (
    SubgraphDefinition,
    add_definition,
    add_instance,
    instance_ref,
    make_subgraph,
    unpack,
)
from tests.fakes import make_bench


def _graph() -> Graph:
    """number(1) -> scale(2) -> scale(3) -> sink(4), number(5) -> add.b ; scale(3) -> add.a."""
    graph = Graph()
    graph.add_node("test.number", {"value": 3.0}, id="1", pos=(0, 0))
    graph.add_node("test.scale", {"factor": 2.0}, id="2", pos=(200, 0), title="Double")
    graph.add_node("test.scale", {"factor": 3.0}, id="3", pos=(400, 50))
    graph.add_node("test.sink", id="4", pos=(600, 0))
    graph.add_node("test.add", id="5", pos=(600, 200))
    graph.connect("1", "value", "2", "x")
    graph.connect("2", "x", "3", "x")
    graph.connect("3", "x", "4", "x")
    graph.connect("3", "x", "5", "a")
    graph.connect("1", "value", "5", "b")
    graph.set_reroutes("4", "x", [(500.0, 10.0)])
    graph.set_reroutes("2", "x", [(100.0, 5.0)])
    return graph


def test_make_turns_boundary_links_into_inputs_and_outputs_and_unpack_restores_exactly() -> None:
    bench = make_bench()
    original = _graph()
    before = original.copy()
    packed, definition, instance = make_subgraph(
        original, ["2", "3"], name="Hires fix", registry=bench.registry,
        promote=[("3", "factor")])
    assert original == before  # pure: the input graph is untouched
    assert set(packed.nodes) == {"1", "4", "5", instance}
    assert [(i.name, i.type, i.targets) for i in definition.inputs] == [
        ("x", "FLOAT", [("2", "x")])]
    assert [(o.name, o.type, o.source) for o in definition.outputs] == [
        ("x", "FLOAT", ("3", "x"))]
    assert {(ln.source, ln.output, ln.target, ln.input) for ln in packed.links} == {
        ("1", "value", instance, "x"), (instance, "x", "4", "x"), (instance, "x", "5", "a"),
        ("1", "value", "5", "b")}
    assert packed.node(instance).values == {"factor": 3.0}
    assert packed.layout.node(instance).pos == (200.0, 0.0)
    assert instance_ref(packed.node(instance)) == (definition.id, 1)
    restored = unpack(packed, instance)
    assert restored == before
    assert restored.definitions == {}


def test_two_instances_share_a_definition_but_keep_their_own_promoted_values() -> None:
    packed, definition, first = make_subgraph(_graph(), ["3"], promote=[("3", "factor")])
    second = add_instance(packed, definition, values={"factor": 7.0}).id
    packed.connect("2", "x", second, "x")
    flat = flatten(packed).graph
    assert flat.node(f"{first}/3").values["factor"] == 3.0
    assert flat.node(f"{second}/3").values["factor"] == 7.0
    # Unpacking one instance keeps the definition the other still uses.
    assert definition.id in unpack(packed, first).definitions


def test_nested_definitions_flatten_to_path_ids() -> None:
    inner_packed, inner_def, inner_id = make_subgraph(_graph(), ["3"], name="Inner")
    outer_packed, outer_def, outer_id = make_subgraph(inner_packed, ["2", inner_id],
                                                      name="Outer")
    assert set(outer_packed.definitions) == {inner_def.id, outer_def.id}
    flat = flatten(outer_packed).graph
    assert f"{outer_id}/{inner_id}/3" in flat and f"{outer_id}/2" in flat
    assert {(ln.source, ln.target) for ln in flat.links} == {
        ("1", f"{outer_id}/2"), (f"{outer_id}/2", f"{outer_id}/{inner_id}/3"),
        (f"{outer_id}/{inner_id}/3", "4"), (f"{outer_id}/{inner_id}/3", "5"), ("1", "5")}
    path = flat.node(f"{outer_id}/{inner_id}/3").extra["subgraph_path"]
    assert path == "Outer › Inner › test.scale"
    assert unpack(unpack(outer_packed, outer_id), inner_id) == _graph()


def test_a_definition_that_contains_itself_is_refused() -> None:
    packed, definition, instance = make_subgraph(_graph(), ["3"], name="Loop")
    with pytest.raises(ValueError, match="would contain itself"):
        _self_add(packed, definition)
    # Forced in (as a hostile file could), flattening refuses it with a named problem.
    definition.graph.add_node("subgraph", id="9", extra={"subgraph": {"id": definition.id}})
    problems = flatten(packed).problems
    assert [p.kind for p in problems] == ["subgraph_cycle"]
    assert "Loop › Loop" in problems[0].message and problems[0].node_id == f"{instance}/9"


def _self_add(graph: Graph, definition: SubgraphDefinition) -> None:
    inner = SubgraphDefinition(definition.id, definition.name, definition.graph.copy())
    inner.graph.add_node("subgraph", id="9", extra={"subgraph": {"id": definition.id}})
    add_definition(graph, inner)


def test_file_version_3_round_trip_writes_each_definition_once() -> None:
    packed, definition, _first = make_subgraph(_graph(), ["2", "3"], name="Hires fix",
                                              promote=[("3", "factor")])
    add_instance(packed, definition, values={"factor": 5.0}, title="Second")
    text = dumps(packed)
    data = json.loads(text)
    assert data["version"] == 3 and [d["id"] for d in data["definitions"]] == [definition.id]
    again = loads(text)
    assert again == packed
    assert dumps(again) == text


def test_version_2_files_load_unchanged() -> None:
    document = {"format": "nodestudio.graph", "version": 2,
                "nodes": [{"id": "1", "type": "test.number", "values": {"value": 2.0}}],
                "links": [], "layout": {"nodes": {"1": {"pos": [5, 6]}}}}
    graph = loads(json.dumps(document))
    assert graph.node("1").values == {"value": 2.0} and graph.layout.node("1").pos == (5, 6)
    assert graph.definitions == {}
    assert json.loads(dumps(graph))["version"] == 3


def test_unknown_and_broken_definitions_are_kept_and_saved_unchanged() -> None:
    broken = {"id": "b-1", "name": "Broken", "nodes": [{"id": "1"}], "links": "nope",
              "future": {"x": 1}}
    library = {"id": "lib-1", "version": 4, "name": "Face detail", "library": True}
    document = {"format": "nodestudio.graph", "version": 3,
                "nodes": [{"id": "1", "type": "subgraph", "subgraph": {"id": "b-1"}},
                          {"id": "2", "type": "subgraph", "subgraph": {"id": "lib-1",
                                                                       "version": 4}},
                          {"id": "3", "type": "subgraph", "subgraph": {"id": "gone"}}],
                "links": [], "layout": {}, "definitions": [broken, library]}
    graph = loads(json.dumps(document))
    assert {p.kind for p in graph.load_warnings} == {"broken_subgraph"}
    assert "Broken" in graph.load_warnings[0].message
    saved = json.loads(dumps(graph))
    assert saved["definitions"] == [broken, library]
    assert saved["nodes"][2]["subgraph"] == {"id": "gone"}
    kinds = {p.node_id: p.kind for p in flatten(graph).problems}
    assert kinds == {"1": "broken_subgraph", "2": "broken_subgraph", "3": "unknown_subgraph"}
