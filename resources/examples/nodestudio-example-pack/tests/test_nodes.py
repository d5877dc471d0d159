"""The example pack's nodes, run as NodeStudio runs them (fixtures from nodestudio.testing)."""

from __future__ import annotations

import numpy as np
import pytest

from nodestudio.engine.executor import NodeExecutionError
from nodestudio.graph import Graph


def white_image_into_vignette(strength: float) -> tuple[Graph, str]:
    graph = Graph()
    solid = graph.add_node("mask.solid", {"value": 1.0, "width": 17, "height": 17})
    image = graph.add_node("mask.to_image")
    vignette = graph.add_node("example.vignette", {"strength": strength})
    graph.connect(solid.id, "mask", image.id, "mask")
    graph.connect(image.id, "image", vignette.id, "image")
    return graph, vignette.id


def test_the_pack_loads_beside_the_built_in_nodes(nodestudio_registry):
    assert "example.vignette" in nodestudio_registry
    assert "example.caption" in nodestudio_registry
    assert "image.save" in nodestudio_registry


def test_vignette_darkens_the_corners_and_keeps_the_centre(nodestudio_run):
    graph, vignette = white_image_into_vignette(1.0)
    result = nodestudio_run(graph, outputs=[vignette])
    image = result.outputs[vignette]["image"]
    assert image.shape == (1, 17, 17, 3)
    assert image.dtype == np.float32
    np.testing.assert_allclose(image[0, 8, 8], 1.0)
    np.testing.assert_allclose(image[0, 0, 0], 0.0, atol=1e-6)
    np.testing.assert_allclose(image[0, 0, 8], 0.5, atol=1e-6)  # edge middle: half the distance²


def test_an_unchanged_graph_comes_from_the_cache_and_a_new_strength_reruns_one_node(
    nodestudio_run,
):
    graph, vignette = white_image_into_vignette(0.5)
    first = nodestudio_run(graph, outputs=[vignette])
    assert len(first.executed) == 3
    again = nodestudio_run(graph, outputs=[vignette])
    assert again.executed == []
    graph.set_value(vignette, "strength", 0.25)
    changed = nodestudio_run(graph, outputs=[vignette])
    assert changed.executed == [vignette]


def test_caption_refuses_an_empty_shape_with_its_message(nodestudio_run):
    graph = Graph()
    caption = graph.add_node("example.caption", {"colour": "red", "shape": "  "})
    with pytest.raises(NodeExecutionError, match="the shape must not be empty"):
        nodestudio_run(graph, outputs=[caption.id])
    fine = Graph()
    caption = fine.add_node("example.caption", {"colour": " blue ", "shape": "square"})
    assert nodestudio_run(fine, outputs=[caption.id]).outputs[caption.id]["caption"] == (
        "a blue square")
