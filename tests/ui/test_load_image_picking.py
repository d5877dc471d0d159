"""Issue 13, item 4: Load Image can pick a file in the window — a Browse… button on its image
widget (the file is copied into the input folder), a picture dropped on the node or on the
canvas, and a dropdown that says where pictures go while the input folder is empty."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QMenu

from nodestudio.api.registry import NodeRegistry
from nodestudio.app.packs import create_registry
from nodestudio.graph import files


@pytest.fixture(scope="module")
def real_registry() -> NodeRegistry:
    return create_registry()


@pytest.fixture
def studio(make_window, real_registry, tmp_path):
    window = make_window(real_registry)
    window.input_folder = tmp_path / "input"  # the make_window fixture's ChoiceProvider's
    assert window.editor.choices.input_dir == window.input_folder
    return window


def picture(path: Path, colour: tuple[int, int, int], text: dict[str, str] | None = None
            ) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    Image.fromarray(np.full((8, 8, 3), colour, np.uint8)).save(path, pnginfo=info)
    return path


def add_load_image(window) -> tuple[str, object]:
    node_id = window.add_node_at("image.load", QPointF(0.0, 0.0))
    item = window.node_item(node_id)
    [slot] = [slot for slot in item.geometry.widgets if slot.name == "image"]
    return node_id, slot


def browse_button_at(window, node_id: str, slot) -> QPointF:
    """The scene position of the folder button drawn at the right end of the image row."""
    rect = slot.rect
    return window.node_item(node_id).mapToScene(QPointF(rect.right() - 12.0, rect.center().y()))


def drop(window, paths: list[Path], scene_pos: QPointF) -> QDropEvent:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    at = QPointF(window.view.mapFromScene(scene_pos))
    viewport = window.view.viewport()
    enter = QDragEnterEvent(at, Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, enter)
    assert enter.isAccepted()
    event = QDropEvent(at, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, event)
    return event


def test_browse_copies_the_picked_file_into_the_input_folder_and_sets_the_value(
        studio, canvas_of, tmp_path):
    picked = picture(tmp_path / "elsewhere" / "photo.png", (200, 30, 30))
    asked: list[Path | None] = []
    studio.image_inputs.choose_path = lambda start: asked.append(start) or picked
    node_id, slot = add_load_image(studio)
    canvas_of(studio).click(browse_button_at(studio, node_id, slot))
    assert asked == [studio.input_folder]  # the picker starts in the input folder
    copied = studio.input_folder / "photo.png"
    assert copied.read_bytes() == picked.read_bytes()
    assert studio.editor.graph.node(node_id).values["image"] == "photo.png"
    assert "photo.png" in studio.editor.choices.choices(
        studio.editor.node_type(node_id).input("image"))  # a valid choice at once
    studio.editor.undo_stack.undo()  # one undoable step: the value goes back
    assert studio.editor.graph.node(node_id).values["image"] == ""
    assert len(studio.editor.graph) == 1


def test_a_different_file_of_the_same_name_is_never_overwritten(studio, canvas_of, tmp_path):
    kept = picture(studio.input_folder / "photo.png", (0, 0, 255))
    before = kept.read_bytes()
    picked = picture(tmp_path / "camera" / "photo.png", (0, 255, 0))
    studio.image_inputs.choose_path = lambda start: picked
    node_id, slot = add_load_image(studio)
    canvas = canvas_of(studio)
    canvas.click(browse_button_at(studio, node_id, slot))
    assert kept.read_bytes() == before
    assert studio.editor.graph.node(node_id).values["image"] == "photo_1.png"
    assert (studio.input_folder / "photo_1.png").read_bytes() == picked.read_bytes()
    canvas.click(browse_button_at(studio, node_id, slot))  # the same file again: no 3rd copy
    assert studio.editor.graph.node(node_id).values["image"] == "photo_1.png"
    assert sorted(p.name for p in studio.input_folder.iterdir()) == ["photo.png", "photo_1.png"]


def test_a_file_that_is_not_a_picture_is_refused_with_a_message(studio, canvas_of, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    studio.image_inputs.choose_path = lambda start: notes
    node_id, slot = add_load_image(studio)
    canvas_of(studio).click(browse_button_at(studio, node_id, slot))
    assert studio.editor.graph.node(node_id).values["image"] == ""
    assert "notes.txt is not a picture" in studio.statusBar().currentMessage()


def test_dropping_a_picture_on_a_load_image_node_sets_it(studio, tmp_path):
    node_id, slot = add_load_image(studio)
    dropped = picture(tmp_path / "drop" / "shape.png", (255, 255, 0))
    event = drop(studio, [dropped], studio.node_item(node_id).mapToScene(slot.rect.center()))
    assert event.isAccepted()
    assert studio.editor.graph.node(node_id).values["image"] == "shape.png"
    assert (studio.input_folder / "shape.png").is_file()
    assert len(studio.editor.graph) == 1


def test_dropping_a_picture_on_the_canvas_makes_a_load_image_there(studio, tmp_path):
    dropped = picture(tmp_path / "drop" / "shape.png", (255, 0, 255))
    event = drop(studio, [dropped], QPointF(400.0, 240.0))
    assert event.isAccepted()
    [node] = studio.editor.graph
    assert node.type == "image.load" and node.values["image"] == "shape.png"
    x, y = studio.editor.graph.layout.node(node.id).pos
    assert abs(x - 400.0) <= 1 and abs(y - 240.0) <= 1
    assert studio.scene.selected_node_ids() == [node.id]
    studio.editor.undo_stack.undo()  # the node and its value: one step
    assert len(studio.editor.graph) == 0


def test_a_dropped_png_that_carries_a_graph_still_opens_it(studio, tmp_path):
    studio.add_node_at("image.invert", QPointF(0.0, 0.0))
    carrying = picture(tmp_path / "render.png", (1, 2, 3),
                       {"nodestudio": files.dumps(studio.editor.graph)})
    studio.new_graph()
    assert drop(studio, [carrying], QPointF(100.0, 100.0)).isAccepted()
    assert [node.type for node in studio.editor.graph] == ["image.invert"]
    assert not (studio.input_folder / "render.png").exists()


def test_a_dropped_subgraph_file_is_added_where_it_lands(studio, tmp_path):
    # Before, it was opened as a ComfyUI workflow and each inner node became a placeholder.
    import json

    from nodestudio.paths import resources_dir

    shared = json.loads((resources_dir() / "templates" / "hires_fix.json").read_text())
    shared.update(id="studio.upscale", name="Upscale 2x")
    (tmp_path / "upscale.json").write_text(json.dumps(shared))
    studio.add_node_at("image.invert", QPointF(0.0, 0.0))
    assert drop(studio, [tmp_path / "upscale.json"], QPointF(300.0, 200.0)).isAccepted()
    graph = studio.editor.graph
    [instance] = [node for node in graph if node.type == "subgraph"]
    assert graph.definitions[instance.extra["subgraph"]["id"]].name == "Upscale 2x"
    x, y = graph.layout.node(instance.id).pos
    assert abs(x - 300.0) <= 1 and abs(y - 200.0) <= 1
    assert len(graph) == 2  # added to the open graph, which stays open
    assert "Added the subgraph 'Upscale 2x'" in studio.log_dock.text.toPlainText()
    studio.editor.undo_stack.undo()
    assert [node.type for node in studio.editor.graph] == ["image.invert"]


def _open_image_menu(studio, canvas_of) -> QMenu:
    node_id, slot = add_load_image(studio)
    canvas_of(studio).click(studio.node_item(node_id).mapToScene(slot.rect.center()))
    menus = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMenu) and w.isVisible()]
    assert len(menus) == 1
    return menus[0]


def test_the_dropdown_says_where_to_put_pictures_while_the_input_folder_is_empty(
        studio, canvas_of):
    menu = _open_image_menu(studio, canvas_of)
    texts = [action.text() for action in menu.actions() if not action.isSeparator()]
    menu.close()
    assert texts[0] == "Browse…"
    assert any(str(studio.input_folder) in text for text in texts[1:3])


def test_the_dropdown_lists_the_input_folders_pictures_and_browse(studio, canvas_of):
    picture(studio.input_folder / "mine.png", (9, 9, 9))
    menu = _open_image_menu(studio, canvas_of)
    texts = [action.text() for action in menu.actions() if not action.isSeparator()]
    picked: list[Path | None] = []
    studio.image_inputs.choose_path = lambda start: picked.append(start)
    next(a for a in menu.actions() if a.text() == "Browse…").trigger()
    menu.close()
    assert "mine.png" in texts and texts[0] == "Browse…"
    assert not any(str(studio.input_folder) in text for text in texts)
    assert picked == [studio.input_folder]
