"""Fuzzy search of node types, in the palette and the library dock."""

from __future__ import annotations

from nodestudio.ui.palette import fuzzy_score, search


def test_fuzzy_score_prefers_prefixes_word_starts_and_runs():
    assert fuzzy_score("ksa", "KSampler") > fuzzy_score("ksa", "Mask Save")
    assert fuzzy_score("samp", "KSampler") > fuzzy_score("smp", "KSampler")
    assert fuzzy_score("load", "Load Image") > fuzzy_score("load", "Reload Image")
    assert fuzzy_score("xyz", "KSampler") is None
    assert fuzzy_score("", "anything") == 0.0


def test_search_matches_names_categories_and_descriptions(registry):
    ids = lambda query: [t.id for t in search(query, registry)]  # noqa: E731
    assert ids("soft")[0] == "test.filter"
    assert "test.mask" in ids("mask")
    assert ids("sampling")[0] == "test.sampler"  # category
    assert ids("softens")[0] == "test.filter"  # description
    assert ids("image keep")[0] == "test.sink"  # every word must match somewhere
    assert ids("qqq") == []
    assert len(ids("")) == len(registry)


def test_library_dock_filters_and_adds(window):
    dock = window.library_dock
    dock.filter.setText("mask")
    visible = dock.visible_type_ids()
    assert "test.mask" in visible and "test.source" not in visible
    dock.add_requested.emit("test.mask")
    [node] = window.editor.graph
    assert node.type == "test.mask"
