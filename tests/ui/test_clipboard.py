"""Copy, cut, paste and duplicate: graph JSON on the clipboard, links inside the selection."""

from __future__ import annotations

import json

from PySide6.QtGui import QGuiApplication

from nodestudio.graph.model import Link


def _chain(window):
    editor = window.editor
    a = editor.add_node("test.source", (0, 0))
    b = editor.add_node("test.filter", (320, 0))
    c = editor.add_node("test.sink", (640, 0))
    editor.connect(a, "image", b, "image")
    editor.connect(b, "image", c, "images")
    editor.set_value(b, "prompt", "copied prompt")
    return a, b, c


def test_copy_puts_graph_json_with_the_inner_links_on_the_clipboard(window, canvas):
    a, b, _c = _chain(window)
    window.scene.select_nodes([a, b])
    canvas.shortcut("Ctrl+C")
    text = QGuiApplication.clipboard().text()
    data = json.loads(text)  # plain text a text editor can take
    assert data["format"] == "nodestudio.graph"
    assert sorted(n["id"] for n in data["nodes"]) == sorted([a, b])
    assert data["links"] == [{"from": [a, "image"], "to": [b, "image"]}]


def test_paste_adds_copies_with_new_ids_and_their_links(window, canvas):
    a, b, _c = _chain(window)
    window.scene.select_nodes([a, b])
    canvas.shortcut("Ctrl+C")
    canvas.move((100, 400))
    canvas.shortcut("Ctrl+V")
    graph = window.editor.graph
    new_ids = window.scene.selected_node_ids()
    assert len(new_ids) == 2 and not set(new_ids) & {a, b}
    new_a, new_b = new_ids
    assert graph.node(new_b).values == graph.node(b).values
    assert Link(new_a, "image", new_b, "image") in graph.links
    assert len(graph.links) == 3


def test_paste_into_another_window(make_window, canvas_of):
    first, second = make_window(), make_window()
    a, b, c = _chain(first)
    first.scene.select_nodes([a, b, c])
    first.copy()
    new_ids = second.paste()
    assert len(new_ids) == 3
    assert len(second.editor.graph.links) == 2
    assert second.editor.graph.node(new_ids[1]).values["prompt"] == "copied prompt"


def test_cut_removes_and_paste_brings_back(window, canvas):
    a, b, c = _chain(window)
    window.scene.select_nodes([b])
    canvas.shortcut("Ctrl+X")
    assert set(window.editor.graph.nodes) == {a, c}
    assert window.editor.graph.links == []
    assert len(window.paste()) == 1


def test_duplicate_keeps_inner_links_and_offsets(window, canvas):
    a, b, _c = _chain(window)
    window.scene.select_nodes([a, b])
    canvas.shortcut("Ctrl+D")
    new_a, new_b = window.scene.selected_node_ids()
    layout = window.editor.graph.layout
    assert layout.node(new_a).pos == (40.0, 40.0)
    assert Link(new_a, "image", new_b, "image") in window.editor.graph.links


def test_pasting_text_that_is_no_graph_changes_nothing(window, canvas):
    _chain(window)
    QGuiApplication.clipboard().setText("just some words")
    canvas.shortcut("Ctrl+V")
    QGuiApplication.clipboard().setText('{"format": "something else"}')
    canvas.shortcut("Ctrl+V")
    assert len(window.editor.graph) == 3
    warnings = window.log_dock.messages("warning")
    assert any("no nodes" in m for m in warnings)
    assert any("no usable graph" in m for m in warnings)
