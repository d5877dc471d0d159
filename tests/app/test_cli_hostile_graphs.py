"""Hostile graphs through the CLI (issue 14, items 1 and 2): exit 2 with a
one-line problem naming the node and input, never a traceback."""

from __future__ import annotations

import json
import os

import pytest

from nodestudio.api.schema import Float, check_value, coerce_value
from nodestudio.cli import EXIT_INVALID, main
from nodestudio.graph import Graph, save

HUGE_TEXT = "1" + "0" * 400


@pytest.fixture
def graph_file(tmp_path, monkeypatch):
    monkeypatch.setenv("NODESTUDIO_INPUT", str(tmp_path))
    graph = Graph()
    load = graph.add_node("image.load", {"image": "a.png"})
    scale = graph.add_node("image.scale_by", {"scale": 2.0})
    out = graph.add_node("image.save", {"filename_prefix": "x"})
    graph.connect(load.id, "image", scale.id, "image")
    graph.connect(scale.id, "image", out.id, "images")
    return save(graph, tmp_path / "graph.json")


def test_a_huge_integer_for_a_float_widget_is_reported(graph_file, capsys):
    data = json.loads(graph_file.read_text())
    data["nodes"][1]["values"]["scale"] = int(HUGE_TEXT)
    data["layout"]["extra"] = {"zoom": int(HUGE_TEXT)}  # plain JSON: kept, saves as it came
    graph_file.write_text(json.dumps(data))
    assert main(["validate", str(graph_file)]) == EXIT_INVALID
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    assert "node 2" in out.out and "scale" in out.out
    assert "expected a finite number, got a huge integer" in out.out


def test_a_huge_layout_position_is_reported(graph_file, capsys):
    data = json.loads(graph_file.read_text())
    data["layout"]["nodes"]["2"] = {"pos": [int(HUGE_TEXT), 0]}
    graph_file.write_text(json.dumps(data))
    assert main(["validate", str(graph_file)]) == EXIT_INVALID
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    assert "node 2: invalid layout entry" in out.out


def test_set_with_a_huge_integer_exits_2_naming_the_input(graph_file, tmp_path, capsys):
    code = main(["run", str(graph_file), "--output", str(tmp_path / "out"),
                 "--set", f"2.scale={HUGE_TEXT}"])
    assert code == EXIT_INVALID
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    assert "expected a finite number, got a huge integer" in out.out + out.err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_schema_checks_handle_integers_beyond_float_range():
    spec = Float("cfg", 7.0, min=0.0, max=100.0)
    huge = int(HUGE_TEXT)
    assert coerce_value(spec, huge) == huge  # float(huge) would raise OverflowError
    assert check_value(spec, huge) == "expected a finite number, got a huge integer"
    assert check_value(spec, coerce_value(spec, HUGE_TEXT)) == \
        "expected a finite number, got inf"


def test_validate_exits_2_on_a_cycle_through_a_bypassed_node(tmp_path, monkeypatch, capsys):
    # Issue 14, item 2: A -> bypassed B -> A raised ValueError from resolve_modes.
    monkeypatch.setenv("NODESTUDIO_INPUT", str(tmp_path))
    graph = Graph()
    first = graph.add_node("image.scale_by", {"scale": 2.0})
    second = graph.add_node("image.scale_by", {"scale": 2.0}, mode="bypassed")
    out = graph.add_node("image.save", {"filename_prefix": "x"})
    graph.connect(first.id, "image", second.id, "image")
    graph.connect(second.id, "image", first.id, "image")
    graph.connect(first.id, "image", out.id, "images")
    path = save(graph, tmp_path / "loop.json")
    assert main(["validate", str(path)]) == EXIT_INVALID
    out_text = capsys.readouterr()
    assert "Traceback" not in out_text.err + out_text.out
    assert "is part of a cycle: it closes a cycle through bypassed node 2" in out_text.out


@pytest.mark.parametrize(("content", "problem"), [
    ("[" * 100_000 + "]" * 100_000,
     "the JSON nests lists or objects thousands of levels deep; no graph does"),
    ('{"nodes": [{"id": 1}]}', 'expected a NodeStudio graph ("format": "nodestudio.graph")'),
])
def test_validate_names_an_unreadable_file_once_with_a_plain_reason(tmp_path, capsys, content,
                                                                    problem):
    path = tmp_path / "stranger.json"
    path.write_text(content)
    assert main(["validate", str(path)]) == EXIT_INVALID
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    assert "recursion" not in out.out
    first_line, detail = out.out.splitlines()[:2]
    assert first_line.count("stranger.json") == 1
    assert detail.startswith(f"  - {problem}")


@pytest.mark.timeout(30)  # before, `nodestudio run` on a pipe waited for a writer, and on a
# device such as /dev/zero read until the memory ran out
@pytest.mark.parametrize("command", ["run", "validate"])
def test_a_pipe_given_as_the_graph_is_refused_at_once_in_plain_words(tmp_path, capsys,
                                                                     command):
    pipe = tmp_path / "graph.json"
    os.mkfifo(pipe)
    assert main([command, str(pipe)]) == EXIT_INVALID
    out = capsys.readouterr()
    said = (out.out + out.err).splitlines()
    assert said[-2:] == [said[-2], "  - it is not a file (a pipe or a device)"]
    assert said[-2].endswith(f"cannot read {pipe}") and "Errno" not in out.out + out.err
