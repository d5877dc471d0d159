"""Where a definition's boundary items (Subgraph Inputs / Outputs) sit, stored with the
definition in graph files (``layout.extra["subgraph_boundary"]`` of its inner graph): round
trips through files, the clipboard's text and the subgraph library; files without it; values
a hostile or broken file may hold (ignored, never a crash, written back unchanged)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nodestudio.app.subgraph_library import SubgraphLibrary
from nodestudio.graph import Graph, dumps, loads
from nodestudio.graph.files import load, save
from nodestudio.graph.model import LayoutChanged
from nodestudio.graph.subgraphs import (
    BOUNDARY_KEY,
    SubgraphDefinition,
    boundary_position,
    make_subgraph,
    moved_boundary,
    set_boundary,
)


def _packed() -> tuple[Graph, SubgraphDefinition, str]:
    graph = Graph()
    graph.add_node("test.number", {"value": 3.0}, id="1", pos=(0, 0))
    graph.add_node("test.scale", {"factor": 2.0}, id="2", pos=(200, 0))
    graph.add_node("test.sink", id="3", pos=(400, 0))
    graph.connect("1", "value", "2", "x")
    graph.connect("2", "x", "3", "x")
    return make_subgraph(graph, ["2"], name="Scale")


def _placed() -> tuple[Graph, SubgraphDefinition, str]:
    graph, definition, instance = _packed()
    set_boundary(definition, moved_boundary(None, "inputs", (-250.5, 40.0)))
    set_boundary(definition, moved_boundary(
        definition.graph.layout.extra[BOUNDARY_KEY], "outputs", (610.0, -35.25)))
    return graph, definition, instance


def test_positions_round_trip_through_a_saved_file(tmp_path: Path) -> None:
    graph, definition, _instance = _placed()
    assert boundary_position(definition, "inputs") == (-250.5, 40.0)
    assert boundary_position(definition, "outputs") == (610.0, -35.25)
    path = save(graph, tmp_path / "placed.json")
    entry = json.loads(path.read_text())["definitions"][0]
    assert entry["layout"]["extra"][BOUNDARY_KEY] == {"inputs": [-250.5, 40.0],
                                                      "outputs": [610.0, -35.25]}
    reopened = load(path).definitions[definition.id]
    assert boundary_position(reopened, "inputs") == (-250.5, 40.0)
    assert boundary_position(reopened, "outputs") == (610.0, -35.25)


def test_a_file_without_positions_loads_as_before() -> None:
    graph, definition, _instance = _packed()
    text = dumps(graph)
    assert BOUNDARY_KEY not in text
    reopened = loads(text).definitions[definition.id]
    assert reopened.resolved and reopened.graph.layout.extra == {}
    assert boundary_position(reopened, "inputs") is None
    assert boundary_position(reopened, "outputs") is None


def test_positions_travel_with_copied_instances_and_library_files(tmp_path: Path) -> None:
    graph, definition, instance = _placed()
    # What Copy puts on the clipboard (ui/clipboard.copy_nodes) and Paste reads back.
    pasted = loads(dumps(graph.subgraph([instance]))).definitions[definition.id]
    assert boundary_position(pasted, "outputs") == (610.0, -35.25)
    # Save as Template writes the definition alone to the library folder.
    library = SubgraphLibrary(tmp_path / "library")
    library.save(definition)
    kept = library.load(definition.id, definition.version)
    assert kept is not None and boundary_position(kept, "inputs") == (-250.5, 40.0)
    # Undo snapshots copy definitions: the copy carries the place too.
    assert boundary_position(graph.copy().definitions[definition.id], "inputs") == (
        -250.5, 40.0)


def test_setting_a_position_tells_the_inner_graph_listeners() -> None:
    _graph, definition, _instance = _packed()
    events: list[Any] = []
    definition.graph.subscribe(events.append)
    set_boundary(definition, {"inputs": [1.0, 2.0]})
    set_boundary(definition, None, present=False)
    assert events == [LayoutChanged(None, BOUNDARY_KEY)] * 2
    assert BOUNDARY_KEY not in definition.graph.layout.extra


HOSTILE: list[Any] = [
    "left", 12, None, True, [], [[0, 0]], {"inputs": "10,20"}, {"inputs": [10]},
    {"inputs": [1, 2, 3]}, {"inputs": ["10", 20]}, {"inputs": [True, 0]},
    {"inputs": [1e300, 0]}, {"inputs": [10**400, 0]}, {"inputs": [-100_001, 5]},
    {"inputs": {"x": 1, "y": 2}}, {"inputs": [[1], [2]]}, {"inputs": None},
]


@pytest.mark.parametrize("value", HOSTILE, ids=[repr(v)[:30] for v in HOSTILE])
def test_unreadable_positions_are_ignored_and_written_back_unchanged(value: Any) -> None:
    graph, definition, _instance = _packed()
    document = json.loads(dumps(graph))
    document["definitions"][0]["layout"]["extra"] = {BOUNDARY_KEY: value}
    reopened = loads(json.dumps(document))
    inner = reopened.definitions[definition.id]
    assert inner.resolved  # the definition itself still opens
    assert boundary_position(inner, "inputs") is None
    assert boundary_position(inner, "outputs") is None
    # As with every layout extra, what was there is saved again as it was.
    assert json.loads(dumps(reopened))["definitions"][0]["layout"]["extra"] == {
        BOUNDARY_KEY: value}


def test_not_a_number_in_the_file_is_left_out_with_a_warning() -> None:
    graph, definition, _instance = _packed()
    document = json.loads(dumps(graph))
    document["definitions"][0]["layout"]["extra"] = {BOUNDARY_KEY: {"inputs": [0, 0]}}
    raw = json.dumps(document).replace("[0, 0]", "[NaN, 0]")
    inner = loads(raw).definitions[definition.id]
    assert inner.resolved and boundary_position(inner, "inputs") is None


def test_a_move_keeps_the_other_readable_side_and_drops_unreadable_entries() -> None:
    assert moved_boundary(None, "inputs", (1, 2)) == {"inputs": [1.0, 2.0]}
    assert moved_boundary("junk", "outputs", (3, 4)) == {"outputs": [3.0, 4.0]}
    assert moved_boundary({"inputs": [1.0, 2.0], "other": 5}, "outputs", (3, 4)) == {
        "inputs": [1.0, 2.0], "outputs": [3.0, 4.0]}
    assert moved_boundary({"inputs": [1e300, 2.0]}, "outputs", (3, 4)) == {
        "outputs": [3.0, 4.0]}
    stored = {"inputs": [9.0, 9.0]}
    assert moved_boundary(stored, "inputs", (0, 0)) == {"inputs": [0.0, 0.0]}
    assert stored == {"inputs": [9.0, 9.0]}  # the old value (kept for undo) is not changed
