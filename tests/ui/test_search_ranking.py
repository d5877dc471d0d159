"""Issue 13, item 16: the node search ranks by name match first and lists no unrelated nodes
(the real registry, as a new user sees it)."""

from __future__ import annotations

import pytest

from nodestudio.api.registry import NodeRegistry
from nodestudio.app.packs import create_registry
from nodestudio.ui.palette import search


@pytest.fixture(scope="module")
def real_registry() -> NodeRegistry:
    return create_registry()


def names(query: str, registry: NodeRegistry) -> list[str]:
    return [node_type.display_name for node_type in search(query, registry)]


def test_invert_lists_invert_image_first_then_invert_mask(real_registry):
    found = names("invert", real_registry)
    assert found[:2] == ["Invert Image", "Invert Mask"]


def test_canny_lists_only_nodes_that_mention_canny(real_registry):
    found = names("canny", real_registry)
    assert found[0] == "Canny Edges"
    assert "Crop Image" not in found and "Integer Math" not in found
    for node_type in search("canny", real_registry):
        text = " ".join((node_type.id, node_type.display_name, node_type.category,
                         node_type.description or "")).lower()
        assert "canny" in text, node_type.display_name


def test_name_matches_rank_before_description_matches(real_registry):
    found = names("image", real_registry)
    first_without = next(i for i, name in enumerate(found) if "image" not in name.lower())
    assert all("image" not in name.lower() for name in found[first_without:])
    assert names("load image", real_registry)[0] == "Load Image"
    assert names("text", real_registry)[0] == "Text"  # the whole name, exactly


def test_library_dock_filter_hides_unrelated_nodes(make_window, real_registry):
    window = make_window(real_registry)
    window.library_dock.filter.setText("canny")
    visible = window.library_dock.visible_type_ids()
    assert [real_registry.get(type_id).display_name for type_id in visible] == ["Canny Edges"]
