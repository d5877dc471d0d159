"""Graph files from strangers (issue 14, items 1, 3, 4, 14): every file either loads, saves and
reopens equal, or is refused with a problem naming what is wrong; never another exception."""

from __future__ import annotations

import json
import os
import time

import pytest
from fakes import make_bench

from nodestudio.graph import Graph, GraphFileError, dumps, load, loads, save
from nodestudio.graph.files import MAX_VALUE_DEPTH

REGISTRY = make_bench().registry
HUGE = 10 ** 400  # an integer beyond float range: float(HUGE) raises OverflowError


def document(**parts) -> dict:
    data = {"format": "nodestudio.graph", "version": 2,
            "nodes": [{"id": "1", "type": "test.scale", "values": {"factor": 1.5}}],
            "links": [], "layout": {"nodes": {"1": {"pos": [0, 0]}}}}
    data.update(parts)
    return data


def nested(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = [value]
    return value


def reopened(graph: Graph) -> Graph:
    again = loads(dumps(graph), REGISTRY)
    assert again == graph
    return again


# -- item 1: integers beyond float range ---------------------------------------------------------


@pytest.mark.parametrize("layout", [
    {"nodes": {"1": {"pos": [HUGE, 0]}}},
    {"nodes": {"1": {"pos": [0, 0], "size": [1, -HUGE]}}},
    {"nodes": {}, "groups": [{"id": "g1", "title": "", "rect": [0, 0, HUGE, 1]}]},
    {"nodes": {}, "reroutes": {"1.x": [[HUGE, 1]]}},
])
def test_a_huge_integer_in_the_layout_is_a_problem_not_an_overflow_error(layout):
    with pytest.raises(GraphFileError) as caught:
        loads(json.dumps(document(layout=layout)), REGISTRY)
    assert caught.value.problems
    assert all("layout" in str(p) or p.node_id == "1" for p in caught.value.problems)


def test_a_huge_integer_in_a_value_loads_saves_and_reopens_equal():
    graph = loads(json.dumps(document(nodes=[
        {"id": "1", "type": "test.scale", "values": {"factor": HUGE}, "note": -HUGE}])),
        REGISTRY)
    assert graph.node("1").values["factor"] == HUGE
    reopened(graph)


# -- item 3: deep nesting -----------------------------------------------------------------------


@pytest.mark.parametrize("where", ["metadata", "node field", "layout extra", "value"])
@pytest.mark.parametrize("levels", [MAX_VALUE_DEPTH + 2, 500, 900])
def test_nesting_beyond_the_limit_is_refused_with_a_problem_naming_the_place(where, levels):
    deep = nested(levels)
    data = document()
    if where == "metadata":
        data["metadata"] = {"deep": deep}
    elif where == "node field":
        data["nodes"][0]["deep"] = deep
    elif where == "layout extra":
        data["layout"]["extra"] = {"deep": deep}
    else:
        data["nodes"][0]["values"]["deep"] = deep
    with pytest.raises(GraphFileError) as caught:
        loads(json.dumps(data), REGISTRY)
    message = " ".join(str(p) for p in caught.value.problems)
    assert f"deeper than {MAX_VALUE_DEPTH} levels" in message
    assert ("deep" in message) or ("node 1" in message)


def test_nesting_up_to_the_limit_loads_copies_saves_and_reopens_equal():
    data = document(metadata={"deep": nested(MAX_VALUE_DEPTH)})
    data["nodes"][0]["deep"] = nested(MAX_VALUE_DEPTH)
    graph = loads(json.dumps(data), REGISTRY)
    assert graph.copy() == graph
    reopened(graph)


# -- item 4: NaN and Infinity -------------------------------------------------------------------


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinity_outside_values_are_dropped_with_a_warning_and_the_graph_saves(
        bad, tmp_path):
    data = document(metadata={"title": "t", "score": bad, "deep": {"x": [1, bad]}})
    data["nodes"][0]["extra_field"] = {"a": bad}
    data["layout"]["extra"] = {"view": {"zoom": bad}, "kept": 1}
    text = json.dumps(data)  # Python writes NaN / Infinity; other tools do too
    graph = loads(text, REGISTRY)
    warnings = [str(p) for p in graph.load_warnings if p.kind == "dropped_value"]
    assert len(warnings) == 4, warnings
    assert any("metadata 'score'" in w for w in warnings)
    assert any("node 1" in w and "'extra_field'" in w for w in warnings)
    assert graph.metadata == {"title": "t"} and graph.layout.extra == {"kept": 1}
    path = save(graph, tmp_path / "g.json")  # raised ValueError before
    assert load(path, REGISTRY) == graph


def test_nan_in_a_node_value_is_refused_naming_node_and_input():
    data = document()
    data["nodes"][0]["values"]["factor"] = float("nan")
    with pytest.raises(GraphFileError) as caught:
        loads(json.dumps(data), REGISTRY)
    [problem] = caught.value.problems
    assert (problem.node_id, problem.input) == ("1", "factor")
    assert "NaN or Infinity" in problem.message


# -- item 14: temporary files left by a killed save -----------------------------------------------


def test_a_save_removes_stale_temporary_files_of_its_target_only(tmp_path):
    target = tmp_path / "g.json"
    save(Graph(), target)
    stale = tmp_path / ".g.json.0badc0de.tmp"     # left by a save killed a while ago
    fresh = tmp_path / ".g.json.1234abcd.tmp"     # perhaps another process saving right now
    other = tmp_path / ".h.json.0badc0de.tmp"     # another graph's
    unlike = tmp_path / ".g.json.notours.tmp"     # not the atomic-save pattern
    for path in (stale, fresh, other, unlike):
        path.write_bytes(b"{")
    old = time.time() - 3600
    for path in (stale, other, unlike):
        os.utime(path, (old, old))
    save(Graph(), target)
    assert not stale.exists()
    assert fresh.exists() and other.exists() and unlike.exists()
    assert load(target) == Graph()


@pytest.mark.timeout(20)  # opening a pipe for reading must not wait for a writer
@pytest.mark.parametrize(("make", "reason"), [
    (lambda path: None, "there is no such file"),
    (lambda path: path.mkdir(), "it is a folder, not a file"),
    (lambda path: os.mkfifo(path), "it is not a file (a pipe or a device)"),
])
def test_a_path_that_is_no_graph_file_is_refused_before_reading(tmp_path, make, reason):
    path = tmp_path / "shared.json"
    make(path)
    with pytest.raises(GraphFileError) as refused:
        load(path, REGISTRY)
    assert refused.value.summary == f"cannot read {path}"
    assert [problem.message for problem in refused.value.problems] == [reason]


def test_a_file_larger_than_any_graph_is_refused_unread(tmp_path):
    from nodestudio.graph.file_reading import read_graph_file

    path = tmp_path / "huge.json"
    with path.open("wb") as file:  # sparse: 3 GiB that cost no disk
        file.truncate(3 << 30)
    with pytest.raises(GraphFileError) as refused:
        load(path, REGISTRY)
    assert [p.message for p in refused.value.problems] == [
        "it is 3.0 GB; no graph file is larger than 1.0 GB"]
    small = save(Graph(), tmp_path / "small.json")
    assert read_graph_file(small, limit=small.stat().st_size) == small.read_bytes()
    with pytest.raises(GraphFileError, match="cannot read"):
        read_graph_file(small, limit=small.stat().st_size - 1)
