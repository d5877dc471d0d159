"""Notes on the canvas: a sticky-note header, one text box and no sockets; they never run, so
they carry no run badge (not even "stale") and do not stop a run."""

from __future__ import annotations

from PySide6.QtGui import QColor

from nodestudio.app.queue import FINISHED
from nodestudio.ui.canvas.node_item import NOTE_COLOR


def test_a_note_is_drawn_as_text_only_and_never_gets_a_badge(kit):
    editor = kit.window.editor
    note = editor.add_node("utils.note", (0, 0))
    editor.set_value(note, "text", "Tune the seed first.\nThen the steps.")
    solid = editor.add_node("mask.solid", (0, 300))
    picture = editor.add_node("mask.to_image", (300, 300))
    preview = editor.add_node("image.preview", (600, 300))
    editor.set_value(solid, "width", 16)
    editor.set_value(solid, "height", 16)
    assert editor.connect(solid, "mask", picture, "mask")
    assert editor.connect(picture, "image", preview, "images")

    item = kit.window.node_item(note)
    geometry = item.geometry
    assert geometry.inputs == {} and geometry.outputs == {}
    assert [(slot.name, slot.kind) for slot in geometry.widgets] == [("text", "multiline")]
    assert item._compute_header_color() == QColor(NOTE_COLOR)

    kit.settle_marks()
    assert kit.badge(note) is None and kit.badge(preview) == "stale"
    job = kit.run()
    assert job.status == FINISHED and note not in job.result.executed
    kit.settle_marks()
    assert kit.badge(note) is None and kit.badge(preview) == "ran"
