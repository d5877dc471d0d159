"""Issue 18: "Edit Mask / Sketch…" on a picture of the Outputs panel. A right-click on the
large view or a thumbnail adds Load Image → Paint (one undo step), opens the editor over the
output's pixels, and a run of the Paint node reads the output file without a second prompt."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import QPoint
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication, QDialog

from nodestudio.app.queue import FINISHED
from nodestudio.graph.model import Graph
from nodestudio.ui.run.gallery import EDIT_DRAWING_TEXT


def _saved_output(kit):
    graph = Graph()
    source = graph.add_node("test.gradient", {"width": 40, "height": 24, "red": 0.25})
    save = graph.add_node("image.save", {"filename_prefix": "drawn"})
    graph.connect(source.id, "image", save.id, "images")
    kit.window.editor.set_graph(graph)
    job = kit.run()
    assert job.status == FINISHED
    entry = kit.controller.gallery.current()
    assert entry is not None and entry.path is not None and entry.path.is_file()
    return entry


def _right_click(widget, pos: QPoint):
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos, widget.mapToGlobal(pos))
    QApplication.sendEvent(widget, event)


def _edit_action(gallery):
    menu = gallery.last_menu
    assert menu is not None
    [action] = [a for a in menu.actions() if a.text() == EDIT_DRAWING_TEXT]
    menu.close()
    return action


def _refuse_asking(kit, monkeypatch):
    asked = []
    monkeypatch.setattr(kit.controller.consent, "ask",
                        lambda _p, outside, _t: asked.append(outside) or False)
    return asked


def test_edit_on_the_large_view_adds_load_and_paint_and_runs(kit, qtbot, monkeypatch):
    entry = _saved_output(kit)
    asked = _refuse_asking(kit, monkeypatch)
    window, gallery = kit.window, kit.controller.gallery
    before = {node.id for node in window.editor.graph}
    rightmost = max(window.node_item(n).sceneBoundingRect().right() for n in before)
    undo_count = window.editor.undo_stack.count()

    _right_click(gallery.preview, gallery.preview.rect().center())
    action = _edit_action(gallery)
    assert action.isEnabled()
    action.trigger()

    graph = window.editor.graph
    new = [node for node in graph if node.id not in before]
    load = next(node for node in new if node.type == "image.load")
    paint = next(node for node in new if node.type == "image.paint")
    assert len(new) == 2 and load.values["image"] == str(entry.path)
    link = graph.link_into(paint.id, "image")
    assert link is not None and link.source == load.id
    assert window.scene.selected_node_ids() == [paint.id]
    assert window.node_item(load.id).sceneBoundingRect().left() > rightmost
    # The editor is open over the output's own pixels.
    [editor] = [d for d in window.findChildren(QDialog, "paintEditor") if d.isVisible()]
    qtbot.addWidget(editor)
    saved = np.asarray(Image.open(entry.path).convert("RGB"))
    background = editor.canvas.background
    assert (background.width(), background.height()) == (40, 24)
    for x, y in ((0, 0), (39, 12), (20, 23)):
        color = background.pixelColor(x, y)
        assert (color.red(), color.green(), color.blue()) == tuple(saved[y, x])
    editor.reject()

    # One undo step added them (and undo takes both away).
    assert window.editor.undo_stack.count() == undo_count + 1

    # A run of the Paint node reads the output file with no prompt (the action consented).
    jobs = kit.controller.run_branch([paint.id])
    assert jobs
    kit.wait_done(jobs[-1])
    job = jobs[-1]
    assert job.status == FINISHED and not asked, job.result
    assert paint.id in job.result.executed
    # The window drops a finished job's values; the session's cache still holds Paint's.
    result = kit.session.run(graph.copy(), outputs=[paint.id])
    assert paint.id in result.cached
    image = np.asarray(result.outputs[paint.id]["image"])
    assert np.allclose(image[0] * 255.0, saved, atol=0.5)
    assert not np.asarray(result.outputs[paint.id]["mask"]).any()

    window.editor.undo_stack.undo()
    assert {node.id for node in window.editor.graph} == before


def test_edit_on_a_thumbnail_and_what_cannot_be_edited(kit, qtbot, monkeypatch):
    entry = _saved_output(kit)
    gallery = kit.controller.gallery
    opened = []
    monkeypatch.setattr(gallery, "edit_drawing", opened.append)
    rect = gallery.list.visualItemRect(gallery.list.item(0))
    _right_click(gallery.list.viewport(), rect.center())
    _edit_action(gallery).trigger()
    assert opened == [entry]

    # A preview that was never saved has no file to load: the entry is there, disabled.
    preview = gallery.add_image(np.zeros((1, 8, 8, 3), np.float32), "Preview", "9", None)
    gallery.build_menu(preview)
    assert not _edit_action(gallery).isEnabled()


def test_a_vanished_output_is_one_sentence_and_no_nodes(kit, qtbot):
    from nodestudio.ui.paint.outputs import paint_from_output

    entry = _saved_output(kit)
    entry.path.unlink()
    before = len(kit.window.editor.graph)
    messages = []
    kit.window.report = lambda text, level="info": messages.append(text)
    assert paint_from_output(kit.window, entry.path) is None
    assert len(kit.window.editor.graph) == before
    assert len(messages) == 1 and entry.path.name in messages[0] and "moved" in messages[0]
