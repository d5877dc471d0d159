"""Where ComfyUI drew a subgraph's virtual input and output nodes (``inputNode`` /
``outputNode`` of a definition, ``{"id": -10 / -20, "bounding": [x, y, w, h]}`` in the
frontend's schema) is where the opened subgraph shows its Subgraph Inputs / Outputs items
(``graph.subgraphs.boundary_position``), saved with the NodeStudio file. A value that is not a
point on the canvas is skipped: that side gets the default place, the import goes on.

The workflow is packed by test_comfy_subgraph_families.py's helper, as ComfyUI's "Convert to
Subgraph" writes it."""

from __future__ import annotations

import pytest

from nodestudio.app.formats import graph_from_data
from nodestudio.graph import files
from nodestudio.graph.subgraphs import BOUNDARY_KEY, boundary_position
from tests.interop.test_comfy_subgraph_families import (
    DEFINITION_ID,
    flat_workflow,
    packed,
)
from tests.interop.test_comfy_subgraph_families_reverse import NESTED_ID, nested_twice


def _workflow(inputs: object = None, outputs: object = None, *, keys: bool = True) -> dict:
    data = packed(flat_workflow("flux", "simple", "euler"), {7, 8})
    definition = data["definitions"]["subgraphs"][0]
    if not keys:
        del definition["inputNode"], definition["outputNode"]
    else:
        definition["inputNode"] = inputs
        definition["outputNode"] = outputs
    return data


def test_the_boundary_keeps_its_place_from_comfyui(registry):
    data = _workflow({"id": -10, "bounding": [-180.5, 240, 120, 160]},
                     {"id": -20, "bounding": [1430, 260.25, 120, 60]})
    graph = graph_from_data(data, registry)
    definition = graph.definitions[DEFINITION_ID]
    assert definition.resolved
    assert boundary_position(definition, "inputs") == (-180.5, 240.0)
    assert boundary_position(definition, "outputs") == (1430.0, 260.25)
    # Read as the inner nodes are (ComfyUI's pos as it is): the KSampler stays right of the
    # input items and the decoder left of the output ones, as the author laid them out.
    sampler = definition.graph.layout.nodes["7"].pos
    assert sampler == (700.0, 100.0)
    # Saved and opened again as a NodeStudio file, the places stay.
    reopened = files.loads(files.dumps(graph), registry)
    again = reopened.definitions[DEFINITION_ID]
    assert boundary_position(again, "inputs") == (-180.5, 240.0)
    assert boundary_position(again, "outputs") == (1430.0, 260.25)


def test_nested_definitions_keep_their_own_places(registry):
    data = nested_twice(flat_workflow("flux", "simple", "euler"), {1, 2})
    outer, inner = data["definitions"]["subgraphs"]
    outer["inputNode"]["bounding"] = [10, 20, 120, 60]
    inner["inputNode"]["bounding"] = [-300, 40, 120, 60]
    inner["outputNode"]["bounding"] = [900, 40, 120, 60]
    graph = graph_from_data(data, registry)
    assert boundary_position(graph.definitions[DEFINITION_ID], "inputs") == (10.0, 20.0)
    assert boundary_position(graph.definitions[NESTED_ID], "inputs") == (-300.0, 40.0)
    assert boundary_position(graph.definitions[NESTED_ID], "outputs") == (900.0, 40.0)


#: (NaN and infinity never get here: the reader refuses a workflow holding them, as JSON has
#: no such numbers.)
HOSTILE = [
    None, "here", 5, {"id": -10}, {"id": -10, "bounding": "0,0,1,1"},
    {"id": -10, "bounding": [1]}, {"id": -10, "bounding": []},
    {"id": -10, "bounding": ["0", "0", 1, 1]}, {"id": -10, "bounding": [True, 0, 1, 1]},
    {"id": -10, "bounding": [10 ** 400, 0, 1, 1]}, {"id": -10, "bounding": [1e9, 0, 1, 1]},
    {"id": -10, "bounding": [[0], 0, 1, 1]}, {"id": -10, "bounding": {"0": 1, "1": 2}},
]


@pytest.mark.parametrize("bad", HOSTILE, ids=range(len(HOSTILE)))
def test_an_unreadable_place_is_skipped_and_the_other_side_kept(registry, bad):
    graph = graph_from_data(_workflow(bad, {"id": -20, "bounding": [800, 50, 120, 60]}),
                            registry)
    definition = graph.definitions[DEFINITION_ID]
    assert definition.resolved and {node.id for node in definition.graph} == {"7", "8"}
    assert boundary_position(definition, "inputs") is None
    assert boundary_position(definition, "outputs") == (800.0, 50.0)
    assert definition.graph.layout.extra[BOUNDARY_KEY] == {"outputs": [800.0, 50.0]}
    files.loads(files.dumps(graph), registry)  # and the file saves and opens again


@pytest.mark.parametrize("keys", [True, False], ids=["unreadable", "absent"])
def test_no_readable_place_stores_nothing(registry, keys):
    graph = graph_from_data(_workflow({"bounding": None}, [], keys=keys), registry)
    definition = graph.definitions[DEFINITION_ID]
    assert definition.resolved
    assert BOUNDARY_KEY not in definition.graph.layout.extra
