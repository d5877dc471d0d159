from __future__ import annotations

import json
import os

import pytest
from fakes import make_bench

from nodestudio.graph import FORMAT_VERSION, Graph, GraphFileError, dumps, load, loads, save
from nodestudio.graph.files import to_document


def sample_graph() -> Graph:
    graph = Graph()
    graph.metadata["title"] = "Sample"
    a = graph.add_node("test.number", {"value": 3.0}, pos=(0, 0))
    b = graph.add_node("test.scale", {"factor": 1.5}, pos=(200, 40), title="Double",
                       mode="bypassed")
    c = graph.add_node("test.sink", pos=(400, 40), controls={"seed": "increment"})
    graph.connect(a.id, "value", b.id, "x")
    graph.connect(b.id, "x", c.id, "x")
    graph.update_node_layout(b.id, collapsed=True, color="#223344", size=(180, 90))
    graph.add_group("Numbers", (-10, -10, 300, 200), "#445566")
    graph.set_reroutes(c.id, "x", [(300, 10)])
    return graph


def test_round_trip_keeps_everything(tmp_path):
    graph = sample_graph()
    path = save(graph, tmp_path / "g.json")
    again = load(path)
    assert again == graph
    assert to_document(again) == to_document(graph)


def test_file_is_diffable_json_with_format_and_separate_layout(tmp_path):
    data = json.loads(dumps(sample_graph()))
    assert data["format"] == "nodestudio.graph" and data["version"] == FORMAT_VERSION
    assert "pos" not in json.dumps(data["nodes"])  # positions live in the layout section
    assert data["layout"]["nodes"]["2"]["collapsed"] is True
    assert data["links"][0] == {"from": ["1", "value"], "to": ["2", "x"]}


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path, monkeypatch):
    path = tmp_path / "g.json"
    save(sample_graph(), path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        save(Graph(), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.json"]


def test_every_problem_is_reported_at_once():
    document = {
        "format": "nodestudio.graph", "version": 2,
        "nodes": [
            {"id": "1", "type": "test.number", "values": {"value": 1}},
            {"id": "1", "type": "test.sink"},
            {"id": "2", "type": "", "values": []},
            {"id": "3", "type": "test.sink", "mode": "asleep"},
            "not a node",
        ],
        "links": [{"from": ["1", "value"], "to": ["9", "x"]}, {"from": ["1"], "to": ["3", "x"]}],
        "layout": {"nodes": {"1": {"pos": ["a", 0]}}},
    }
    with pytest.raises(GraphFileError) as caught:
        loads(json.dumps(document))
    problems = caught.value.problems
    messages = [str(p) for p in problems]
    assert any("node 1: duplicate node id" in m for m in messages)
    assert any("node 2: missing or invalid 'type'" in m for m in messages)
    assert any("node 2: 'values' must be an object" in m for m in messages)
    assert any("node 3: unknown mode" in m for m in messages)
    assert any("nodes[4] must be an object" in m for m in messages)
    assert any("missing node '9'" in m for m in messages)
    assert any("links[1].from" in m for m in messages)
    assert any("node 1: invalid layout entry" in m for m in messages)
    assert len(problems) >= 8


@pytest.mark.parametrize("text", ["", "[]", "{\"format\": \"other\"}", "{nope",
                                  "{\"format\": \"nodestudio.graph\", \"version\": 99}"])
def test_non_graph_files_raise_graph_file_error(text):
    with pytest.raises(GraphFileError):
        loads(text)


def test_version_1_files_are_migrated():
    draft = {
        "format": "nodestudio.graph", "version": 1,
        "nodes": [{"id": "1", "type": "test.number", "values": {"value": 2}, "pos": [5, 6]},
                  {"id": "2", "type": "test.sink", "pos": [50, 6]}],
        "links": [["1", "value", "2", "x"]],
    }
    graph = loads(json.dumps(draft))
    assert graph.layout.nodes["1"].pos == (5.0, 6.0)
    assert graph.link_into("2", "x").source == "1"
    assert json.loads(dumps(graph))["version"] == FORMAT_VERSION


def test_node_types_are_migrated_by_legacy_id_and_version():
    registry = make_bench().registry
    document = {
        "format": "nodestudio.graph", "version": 2,
        "nodes": [{"id": "1", "type": "test.old_scale", "type_version": 1,
                   "values": {"factor": 3.0}},
                  {"id": "2", "type": "test.pick", "type_version": 1,
                   "values": {"old_mode": "c"}}],
    }
    graph = loads(json.dumps(document), registry)
    assert graph.node("1").type == "test.scale"
    assert graph.node("2").type_version == 2
    assert graph.node("2").values == {"mode": "c"}
    assert graph.load_warnings == []


def test_unknown_node_types_are_placeholders_that_survive_a_save():
    registry = make_bench().registry
    document = {
        "format": "nodestudio.graph", "version": 2,
        "nodes": [{"id": "7", "type": "someone.magic", "type_version": 4,
                   "values": {"strength": 0.7, "nested": {"a": [1, 2]}},
                   "plugin_data": {"kept": True}},
                  {"id": "8", "type": "test.sink"}],
        "links": [{"from": ["7", "out"], "to": ["8", "x"]}],
        "layout": {"nodes": {"7": {"pos": [1, 2]}}},
    }
    graph = loads(json.dumps(document), registry)
    assert [w.kind for w in graph.load_warnings] == ["unknown_type"]
    assert graph.load_warnings[0].node_id == "7"
    saved = json.loads(dumps(graph))
    assert saved["nodes"][0] == document["nodes"][0]
    assert saved["links"] == document["links"]


def test_show_advanced_is_saved_only_when_set_and_read_back(tmp_path):
    graph = Graph()
    folded = graph.add_node("test.number", {"value": 1.0}, pos=(0, 0))
    expanded = graph.add_node("test.number", {"value": 2.0}, pos=(200, 0))
    graph.update_node_layout(expanded.id, show_advanced=True)
    data = json.loads(dumps(graph))
    assert "show_advanced" not in data["layout"]["nodes"][folded.id]
    assert data["layout"]["nodes"][expanded.id]["show_advanced"] is True
    again = load(save(graph, tmp_path / "g.json"))
    assert again.layout.nodes[expanded.id].show_advanced is True
    assert again.layout.nodes[folded.id].show_advanced is False
    assert again == graph


def test_a_show_advanced_that_is_not_true_or_false_is_a_clear_problem():
    document = {"format": "nodestudio.graph", "version": 2,
                "nodes": [{"id": "1", "type": "test.number", "values": {}}],
                "layout": {"nodes": {"1": {"pos": [0, 0], "show_advanced": "yes"}}}}
    with pytest.raises(GraphFileError) as caught:
        loads(json.dumps(document))
    assert [(p.node_id, p.message) for p in caught.value.problems] == [
        ("1", "invalid layout entry")]
