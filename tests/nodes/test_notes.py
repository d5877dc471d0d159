"""The Note node: text on the canvas that never runs."""

from __future__ import annotations

from nodestudio.app.session import Session
from nodestudio.graph.model import Graph


def test_a_note_is_text_without_sockets_that_is_never_an_output(node):
    note = node("utils.note")
    assert (note.category, note.display_name) == ("utils", "Note")
    assert note.outputs == () and not note.output_node
    (text,) = note.inputs
    assert text.name == "text" and text.multiline and text.has_widget and not text.required


def test_notes_never_run_and_do_not_stop_a_run(registry, tmp_path):
    graph = Graph()
    graph.add_node("utils.note", {"text": "Remember: 20 steps look best."}, id="note")
    graph.add_node("primitive.int", {"value": 3}, id="number")
    graph.add_node("mask.solid", {"width": 8, "height": 8}, id="solid")
    graph.add_node("mask.to_image", {}, id="image")
    graph.add_node("image.preview", {}, id="preview")
    graph.connect("solid", "mask", "image", "mask")
    graph.connect("image", "image", "preview", "images")
    session = Session(device="cpu", registry=registry, output_dir=tmp_path / "out",
                      input_dir=tmp_path / "in")
    result = session.run(graph)
    assert "note" not in result.executed and "note" not in result.cached
    assert result.executed == ["solid", "image", "preview"]
    graph.set_value("note", "text", "changed")
    assert session.run(graph).executed == []  # editing a note changes nothing to compute
