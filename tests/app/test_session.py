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
