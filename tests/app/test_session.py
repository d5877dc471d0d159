"""The Python API contract: load_graph, Session.run, re-run counts, files written."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import nodestudio
from nodestudio.engine import NodeExecutionError
from nodestudio.graph import Graph, GraphValidationError


@pytest.fixture
def workspace(tmp_path):
    input_dir = tmp_path / "input"
    input_dir.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(input_dir / "in.png")
    session = nodestudio.Session(device="cpu", models_dir=tmp_path / "models",
                                 output_dir=tmp_path / "out", input_dir=input_dir)
    return session, tmp_path


def resize_graph() -> tuple[Graph, dict[str, str]]:
    graph = Graph()
    load = graph.add_node("image.load", {"image": "in.png"})
    resize = graph.add_node("image.resize", {"width": 16, "height": 12})
    save = graph.add_node("image.save", {"filename_prefix": "shots/test"})
    graph.connect(load.id, "image", resize.id, "image")
    graph.connect(resize.id, "image", save.id, "images")
    return graph, {"load": load.id, "resize": resize.id, "save": save.id}


def test_run_rerun_and_change_one_value(workspace):
    session, tmp_path = workspace
    graph, ids = resize_graph()
    first = session.run(graph)
    assert first.executed == [ids["load"], ids["resize"], ids["save"]]
    assert first.files == [tmp_path / "out" / "shots" / "test_00001_.png"]
    assert first.outputs[ids["resize"]]["image"].shape == (1, 12, 16, 3)

    again = session.run(graph)
    assert again.executed == [] and again.files == []

    graph.set_value(ids["resize"], "width", 8)
    third = session.run(graph)
    assert third.executed == [ids["resize"], ids["save"]]
    assert ids["load"] in third.cached
    with Image.open(third.files[0]) as image:
        assert image.size == (8, 12)


def test_saved_png_carries_its_graph_and_reopens(workspace):
    session, _ = workspace
    graph, _ids = resize_graph()
    result = session.run(graph)
    with Image.open(result.files[0]) as image:
        document = json.loads(image.text["nodestudio"])
    assert document["format"] == "nodestudio.graph"
    reopened = nodestudio.load_graph(result.files[0])
    assert reopened == graph


def test_changing_the_input_file_reruns_the_loader(workspace):
    session, tmp_path = workspace
    graph, ids = resize_graph()
    session.run(graph)
    Image.new("RGB", (10, 10), "red").save(tmp_path / "input" / "in.png")
    result = session.run(graph)
    assert result.executed == [ids["load"], ids["resize"], ids["save"]]


def test_invalid_graph_and_failing_node_raise_with_details(workspace):
    session, _ = workspace
    graph, ids = resize_graph()
    graph.set_value(ids["resize"], "width", -3)
    with pytest.raises(GraphValidationError) as invalid:
        session.run(graph)
    assert (invalid.value.problems[0].node_id, invalid.value.problems[0].input) == (
        ids["resize"], "width")
    graph.set_value(ids["resize"], "width", 16)
    graph.set_value(ids["load"], "image", "missing.png")
    with pytest.raises(NodeExecutionError) as failed:
        session.run(graph)
    assert ids["load"] in failed.value.result.failed
    assert "missing.png" in failed.value.result.failed[ids["load"]]
    result = session.run(graph, check=False)
    assert result.status == "failed"


def test_load_graph_reports_unknown_nodes_as_warnings(tmp_path):
    path = tmp_path / "g.json"
    path.write_text(json.dumps({"format": "nodestudio.graph", "version": 2,
                                "nodes": [{"id": "1", "type": "nobody.knows"}]}))
    graph = nodestudio.load_graph(path)
    assert graph.load_warnings[0].kind == "unknown_type"


def test_run_takes_a_graph_file_path_and_refuses_what_is_neither(workspace):
    session, tmp_path = workspace
    graph, ids = resize_graph()
    nodestudio.save_graph(graph, tmp_path / "resize.json")
    result = session.run(str(tmp_path / "resize.json"))
    assert result.executed == [ids["load"], ids["resize"], ids["save"]]
    assert session.run(tmp_path / "resize.json").executed == []  # same graph: all cached
    with pytest.raises(TypeError, match="takes a Graph or the path of a graph file, not dict"):
        session.run({"nodes": []})


def test_a_value_for_an_input_the_node_lacks_warns_at_the_callers_line(workspace):
    session, _ = workspace
    graph, ids = resize_graph()
    graph.set_value(ids["resize"], "widht", 8)  # the typo a script makes
    with pytest.warns(UserWarning) as caught:
        result = session.run(graph)
    [warning] = caught
    assert str(warning.message) == (
        f"node {ids['resize']}, input 'widht': Resize Image has no such input, so its value 8 "
        "is not used (did you mean 'width'?)")
    assert warning.filename == __file__  # the script's line, not NodeStudio's
    assert result.outputs[ids["resize"]]["image"].shape == (1, 12, 16, 3)  # ran without it


def test_a_device_name_that_is_no_device_is_refused_when_the_session_is_made(tmp_path):
    with pytest.raises(ValueError, match="'gpu' is not a device NodeStudio knows: use auto, "
                       r"cpu, cuda \(cuda:1 for a second card\) or mps"):
        nodestudio.Session(device="gpu", models_dir=tmp_path)


def test_load_graph_names_a_value_no_input_takes(tmp_path):
    graph, ids = resize_graph()
    graph.set_value(ids["save"], "filename_prefx", "renders/a")
    nodestudio.save_graph(graph, tmp_path / "typo.json")
    loaded = nodestudio.load_graph(tmp_path / "typo.json")
    assert [(w.kind, w.node_id, w.input) for w in loaded.load_warnings] == [
        ("unused_value", ids["save"], "filename_prefx")]
    assert "(did you mean 'filename_prefix'?)" in loaded.load_warnings[0].message
    assert loaded.node(ids["save"]).values["filename_prefx"] == "renders/a"  # kept


def test_load_graph_names_the_type_an_unknown_one_likely_meant(tmp_path):
    graph, ids = resize_graph()
    graph.retype_node(ids["resize"], "image.resise", 1)
    nodestudio.save_graph(graph, tmp_path / "typo.json")
    [warning] = nodestudio.load_graph(tmp_path / "typo.json").load_warnings
    assert warning.message == (
        "unknown node type 'image.resise': kept as a placeholder (did you mean "
        "'image.resize'?)")


def test_a_rerun_still_gives_the_outputs_upstream_of_its_cached_result(workspace):
    # Before, a re-run that reused Save Image gave only Save Image's outputs, so a script
    # reading the resized picture after changing nothing met a KeyError.
    session, _ = workspace
    graph, ids = resize_graph()
    first = session.run(graph)
    again = session.run(graph)
    assert again.executed == [] and again.cached == [ids["save"]]
    assert set(again.outputs) == {ids["load"], ids["resize"], ids["save"]}
    assert np.array_equal(again.outputs[ids["resize"]]["image"],
                          first.outputs[ids["resize"]]["image"])
    # What the cache no longer holds is not made up.
    plan = session.executor.prepare(graph, environment=session.environment())
    session.cache.discard(plan.signatures[ids["load"]])
    third = session.run(graph)
    assert third.executed == [] and set(third.outputs) == {ids["resize"], ids["save"]}


def test_an_output_that_is_not_there_names_the_node_likely_meant(workspace):
    session, _ = workspace
    graph = Graph()
    load = graph.add_node("image.load", {"image": "in.png"}, id="load")
    graph.connect(load.id, "image", graph.add_node("image.save", id="save_full").id, "images")
    with pytest.raises(GraphValidationError) as invalid:
        session.run(graph, outputs=["save_ful"])
    assert [str(p) for p in invalid.value.problems] == [
        "node save_ful: requested output node does not exist (did you mean 'save_full'?)"]


def test_outputs_may_name_nodes_by_title_as_only_does(workspace):
    session, tmp_path = workspace
    graph, ids = resize_graph()
    graph.set_title(ids["save"], "Small copy")
    result = session.run(graph, outputs=["small COPY"])
    assert result.executed == [ids["load"], ids["resize"], ids["save"]]
    assert result.files == [tmp_path / "out" / "shots" / "test_00001_.png"]
