"""Files: save and reopen, dirty state, asking before losing changes, drops, bad files."""

from __future__ import annotations

import io
import json

from PIL import Image, PngImagePlugin
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from nodestudio.graph import files


def _build(window):
    editor = window.editor
    a = editor.add_node("test.source", (0, 0))
    b = editor.add_node("test.filter", (320, 0))
    editor.connect(a, "image", b, "image")
    editor.set_value(b, "prompt", "line one\nline two")
    editor.set_reroutes(b, "image", [(250.0, 120.0)])
    editor.add_group("Inputs", (-20, -50, 260, 200), "#3a66b0")
    editor.set_node_layout([b], "collapsed", True)
    return a, b


def test_save_and_reopen_gives_an_equal_graph(make_window, tmp_path):
    window = make_window()
    _build(window)
    path = tmp_path / "graph.json"
    assert window.isWindowModified()
    assert window.save_as(path)
    assert not window.isWindowModified()
    assert window.windowTitle().startswith("graph.json")
    other = make_window()
    assert other.open_file(path)
    assert other.editor.graph == window.editor.graph
    assert files.to_document(other.editor.graph) == files.to_document(window.editor.graph)
    assert not other.document.dirty and other.document.path == path
    assert other.recent.paths()[0] == path.resolve()


def test_save_without_a_file_asks_where(window, tmp_path):
    _build(window)
    target = tmp_path / "chosen"
    window.choose_save_path = lambda suggested: target
    assert window.save()
    assert (tmp_path / "chosen.json").is_file()
    assert window.document.path == tmp_path / "chosen.json"


def test_replacing_a_dirty_graph_asks_first(window, tmp_path):
    other = tmp_path / "other.json"
    files.save(window.editor.graph, other)
    _build(window)
    asked = []
    window.ask_save_changes = lambda name: asked.append(name) or "cancel"
    assert not window.open_file(other)
    assert len(window.editor.graph) == 2 and asked == ["untitled"]
    window.ask_save_changes = lambda name: "save"
    window.choose_save_path = lambda suggested: tmp_path / "kept.json"
    assert window.new_graph()
    assert len(files.load(tmp_path / "kept.json")) == 2
    assert len(window.editor.graph) == 0 and not window.document.dirty


def test_a_malformed_file_shows_an_error_and_the_window_stays_usable(window, canvas,
                                                                      tmp_path):
    _build(window)
    before = window.editor.graph.copy()
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "nodestudio.graph", "version": 2, "nodes": [{"id": "1"}], '
                      '"links": [{"from": ["1", "x"], "to": ["9", "y"]}]}')
    assert not window.open_file(broken, ask=False)
    dialog = window.error_dialog
    assert dialog is not None and dialog.isVisible() and not dialog.isModal()
    assert "missing or invalid 'type'" in dialog.informativeText()
    assert "links[0] refers to missing node" in dialog.informativeText()
    assert any("broken.json" in m for m in window.log_dock.messages("error"))
    assert window.editor.graph == before
    dialog.close()
    (tmp_path / "text.json").write_text("not json at all")
    assert not window.open_file(tmp_path / "text.json", ask=False)
    canvas.key(Qt.Key.Key_Tab)
    QTest.keyClicks(window.palette.edit, "mask maker")
    QTest.keyClick(window.palette.edit, Qt.Key.Key_Return)
    assert len(window.editor.graph) == len(before) + 1


def test_opening_a_pipe_or_a_vanished_file_says_why_and_keeps_the_graph(window, tmp_path):
    import os

    _build(window)
    before = window.editor.graph.copy()
    pipe = tmp_path / "shared.json"
    os.mkfifo(pipe)  # before, the window froze here waiting for a writer
    assert not window.open_file(pipe, ask=False)
    assert "it is not a file (a pipe or a device)" in window.error_dialog.informativeText()
    window.error_dialog.close()
    window.error_dialog.close()
    gone = tmp_path / "gone.json"
    files.save(window.editor.graph, gone)
    assert window.open_file(gone, ask=False)
    assert gone.resolve() in window.recent.paths()
    gone.unlink()  # moved away since: Open Recent still lists it
    assert not window.open_file(gone.resolve(), ask=False)
    assert "there is no such file" in window.error_dialog.informativeText()
    assert "Errno" not in window.error_dialog.informativeText()
    assert gone.resolve() not in window.recent.paths()  # not offered again
    assert not window.open_file(pipe, ask=False)
    assert pipe.resolve() not in window.recent.paths()  # never opened: never listed
    assert window.editor.graph == before


def test_a_long_video_opens_as_its_graph_and_saving_asks_where(make_window, tmp_path):
    import numpy as np

    from nodestudio.api import Video
    from nodestudio.app.packs import create_registry
    from nodestudio.engine.cancel import CancelToken
    from nodestudio.engine.context import RunContext, RunEnvironment
    from nodestudio.graph.model import Graph

    registry = create_registry(entry_points=False)
    graph = Graph()
    graph.add_node("primitive.int", {"value": 7}, id="seven")
    environment = RunEnvironment(device="cpu", output_dir=tmp_path, input_dir=tmp_path)
    ctx = RunContext("save", environment, CancelToken(), lambda event: None, "run",
                     files.to_document(graph))
    registry.get("video.save").function(video=Video(np.zeros((2, 8, 8, 3), np.float32), 4.0),
                                        filename_prefix="clip", ctx=ctx, format="mp4", crf=30)
    [video] = ctx.files
    with video.open("r+b") as file:  # sparse: past the 1 GB cap for files read whole
        file.truncate(3 << 30)
    window = make_window(registry)
    assert window.open_file(video, ask=False)
    assert window.editor.graph.node("seven").values["value"] == 7
    assert window.document.path is None  # Save asks where: never over the video


def test_dropping_a_graph_file_on_the_canvas_opens_it(window, tmp_path):
    source = tmp_path / "dropped.json"
    _build(window)
    files.save(window.editor.graph, source)
    window.new_graph()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(source))])
    viewport = window.view.viewport()
    enter = QDragEnterEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, drop)
    assert drop.isAccepted()
    assert window.document.path == source
    assert len(window.editor.graph) == 2


def test_a_png_carrying_a_graph_opens_and_saves_as_new_json(window, tmp_path):
    _build(window)
    text = files.dumps(window.editor.graph)
    info = PngImagePlugin.PngInfo()
    info.add_text("nodestudio", text)
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "PNG", pnginfo=info)
    png = tmp_path / "render.png"
    png.write_bytes(buffer.getvalue())
    expected = window.editor.graph.copy()
    window.new_graph()
    assert window.open_file(png)
    assert window.editor.graph == expected
    assert window.document.path is None  # never overwrite the picture with JSON
    assert window.document.suggested_name == "render.json"


def test_a_value_no_input_takes_is_said_once_as_the_file_opens_and_kept(window, tmp_path):
    path = tmp_path / "edited.json"
    document = {
        "format": "nodestudio.graph", "version": 2,
        "nodes": [{"id": "1", "type": "test.source", "type_version": 1,
                   "values": {"width": 256, "widht": 320}},
                  {"id": "2", "type": "test.sink", "type_version": 1, "values": {}}],
        "links": [{"from": ["1", "image"], "to": ["2", "images"]}],
    }
    path.write_text(json.dumps(document))
    assert window.open_file(path)
    assert window.log_dock.messages("warning") == [
        "node 1, input 'widht': Image Source has no such input, so its value 320 is not used "
        "(did you mean 'width'?)"]
    window.editor.set_value("1", "width", 384)
    saved = tmp_path / "saved.json"
    assert window.save_as(saved)  # nothing of the file is lost, the stray value included
    [source] = [n for n in json.loads(saved.read_text())["nodes"] if n["id"] == "1"]
    assert source["values"] == {"width": 384, "widht": 320}


def test_a_placeholder_of_a_slip_offers_the_type_it_likely_meant(window, tmp_path):
    from nodestudio.ui.actions import context_menu

    path = tmp_path / "typo.json"
    path.write_text(json.dumps({
        "format": "nodestudio.graph", "version": 2,
        "nodes": [{"id": "1", "type": "test.sourc", "values": {"width": 256}},
                  {"id": "2", "type": "test.sink", "values": {}}],
        "links": [{"from": ["1", "image"], "to": ["2", "images"]}]}))
    assert window.open_file(path)
    assert ("node 1: unknown node type 'test.sourc': kept as a placeholder (did you mean "
            "'test.source'?)") in window.log_dock.messages("warning")
    item = window.scene.node_items["1"]
    menu = context_menu(window, item, item.scenePos())
    [replace] = [a for a in menu.actions() if a.text().startswith("Replace with")]
    assert replace.text() == "Replace with Image Source (test.source)"
    replace.trigger()
    graph = window.editor.graph
    assert graph.node("1").type == "test.source" and graph.node("1").values == {"width": 256}
    assert not window.scene.node_items["1"].is_placeholder
    assert [(link.source, link.target) for link in graph.links] == [("1", "2")]
    window.editor.undo_stack.undo()  # one step back to the file as it was
    assert window.editor.graph.node("1").type == "test.sourc"
    assert window.scene.node_items["1"].is_placeholder


def test_unknown_node_types_become_placeholders_that_keep_their_data(window, tmp_path):
    path = tmp_path / "future.json"
    document = {
        "format": "nodestudio.graph", "version": 2,
        "nodes": [
            {"id": "1", "type": "test.source", "type_version": 1,
             "values": {"width": 256, "name": "x"}},
            {"id": "2", "type": "acme.magic", "type_version": 3,
             "values": {"power": 9000, "spell": "fireball"}, "colour_of_magic": "octarine"},
            {"id": "3", "type": "test.sink", "type_version": 1, "values": {}},
        ],
        "links": [{"from": ["1", "image"], "to": ["2", "picture"]},
                  {"from": ["2", "result"], "to": ["3", "images"]}],
        "layout": {"nodes": {"1": {"pos": [0, 0]}, "2": {"pos": [300, 0]},
                             "3": {"pos": [600, 0]}}},
    }
    path.write_text(json.dumps(document))
    assert window.open_file(path)
    item = window.scene.node_items["2"]
    assert item.is_placeholder
    assert list(item.geometry.inputs) == ["picture"] and list(item.geometry.outputs) == ["result"]
    assert [w.name for w in item.geometry.widgets] == ["power", "spell"]
    assert any("acme.magic" in m for m in window.log_dock.messages("warning"))
    assert {("2", "picture"), ("3", "images")} == set(window.scene.link_items)
    window.editor.set_value("1", "width", 320)  # edit around it, then save
    saved = tmp_path / "saved.json"
    assert window.save_as(saved)
    data = json.loads(saved.read_text())
    [magic] = [n for n in data["nodes"] if n["id"] == "2"]
    assert magic == document["nodes"][1]
    assert data["links"] == document["links"]
