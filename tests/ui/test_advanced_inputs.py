"""Advanced inputs fold away on the canvas and in the Properties dock, with real events."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLineEdit, QMenu

from nodestudio.app.models import ModelLibrary
from nodestudio.app.packs import create_registry
from nodestudio.graph import files
from nodestudio.graph.model import Link
from nodestudio.ui.canvas import geometry as geo
from nodestudio.ui.canvas.widgets import InlineEditor
from nodestudio.ui.choices import ChoiceProvider

SDXL_EXTRAS = ["text_2", "original_width", "original_height", "crop_left", "crop_top",
               "target_width", "target_height"]


@pytest.fixture
def window(make_window):
    return make_window(create_registry(entry_points=False),
                       choices=ChoiceProvider(ModelLibrary([]), None))


def _add(window, type_id, pos=(0.0, 0.0)):
    return window.scene.node_items[window.editor.add_node(type_id, pos)]


def _rows(item) -> list[str]:
    return list(dict.fromkeys(slot.name for slot in item.geometry.widgets))


def _toggle_pos(item) -> QPointF:
    return item.mapToScene(item.geometry.advanced_rect.center())


def _widget_pos(item, name, fraction=0.5) -> QPointF:
    rect = item.geometry.widget(name).rect
    return item.mapToScene(QPointF(rect.left() + rect.width() * fraction, rect.center().y()))


def _away(item) -> QPointF:
    """A point of empty canvas to the right of ``item`` (moving there ends its hover)."""
    return item.mapToScene(QPointF(item.geometry.width + 150.0, 20.0))


def test_a_text_encode_shows_clip_text_and_clip_skip_and_a_toggle_for_the_rest(window):
    item = _add(window, "diffusion.text_encode")
    assert list(item.geometry.inputs) == ["clip"]
    assert _rows(item) == ["text", "clip_skip"]
    assert list(item.geometry.foldable) == SDXL_EXTRAS
    assert item.geometry.advanced_label == "7 advanced"
    # The toggle is the last row, under the widgets, inside the node.
    toggle = item.geometry.advanced_rect
    assert toggle.top() > item.geometry.widget("clip_skip").rect.bottom()
    assert toggle.bottom() < item.geometry.height
    # Nodes without advanced inputs have no toggle row.
    assert _add(window, "diffusion.empty_latent", (400.0, 0.0)).geometry.advanced_rect is None


def test_clicking_the_toggle_shows_the_rows_and_undo_folds_them_again(window, canvas):
    clip = _add(window, "diffusion.load_checkpoint", (-400.0, 0.0))
    item = _add(window, "diffusion.text_encode")
    window.editor.connect(clip.node_id, "clip", item.node_id, "clip")
    folded_height = item.geometry.height
    canvas.click(_toggle_pos(item))
    assert window.editor.graph.layout.node(item.node_id).show_advanced is True
    assert _rows(item) == ["text", "clip_skip", *SDXL_EXTRAS]
    assert item.geometry.advanced_label == "hide advanced"
    assert item.geometry.height > folded_height + 7 * geo.WIDGET_HEIGHT
    # The link into clip still ends on its socket.
    link = window.scene.link_items[(item.node_id, "clip")]
    assert link.path().pointAtPercent(1.0) == item.input_pos("clip")
    canvas.shortcut("Ctrl+Z")
    assert window.editor.graph.layout.node(item.node_id).show_advanced is False
    assert _rows(item) == ["text", "clip_skip"]
    assert item.geometry.height == folded_height
    canvas.shortcut("Ctrl+Shift+Z")
    assert _rows(item) == ["text", "clip_skip", *SDXL_EXTRAS]
    # Clicking "hide advanced" folds them, as one more undo step.
    canvas.click(_toggle_pos(item))
    assert _rows(item) == ["text", "clip_skip"]
    assert window.editor.undo_stack.undoText() == "Hide advanced inputs"


def test_an_advanced_value_set_away_from_its_default_stays_visible_when_folded(window, canvas):
    item = _add(window, "diffusion.text_encode")
    canvas.click(_toggle_pos(item))
    canvas.click(_widget_pos(item, "crop_top"))  # a click without a drag types the number
    editor = InlineEditor.current.widget
    assert isinstance(editor, QLineEdit)
    QTest.keyClicks(editor, "64")
    QTest.keyClick(editor, Qt.Key.Key_Return)
    assert window.editor.graph.value(item.node_id, "crop_top") == 64
    canvas.click(_toggle_pos(item))  # fold
    assert _rows(item) == ["text", "clip_skip", "crop_top"]
    assert item.geometry.advanced_label == "6 advanced"
    # Stepped back to its default under the pointer, the row stays until the pointer leaves.
    canvas.move(_widget_pos(item, "crop_top"))
    for _ in range(8):
        canvas.click(_widget_pos(item, "crop_top", fraction=0.02))  # the left arrow: -8
    assert window.editor.graph.value(item.node_id, "crop_top") == 0
    assert _rows(item) == ["text", "clip_skip", "crop_top"]
    canvas.move(_away(item))
    assert _rows(item) == ["text", "clip_skip"]
    assert item.geometry.advanced_label == "7 advanced"
    # A value changed elsewhere (the Properties dock, undo) shows or folds its row at once.
    window.editor.set_value(item.node_id, "text_2", "a second prompt")
    assert _rows(item) == ["text", "clip_skip", "text_2"]
    window.editor.undo_stack.undo()
    assert _rows(item) == ["text", "clip_skip"]


def test_linking_into_an_advanced_input_shows_its_socket(window, canvas):
    number = _add(window, "primitive.int", (-400.0, 0.0))
    item = _add(window, "diffusion.text_encode")
    canvas.click(_toggle_pos(item))
    target = item.mapToScene(item.geometry.widget("target_width").socket_pos)
    canvas.drag(number.output_pos("value"), target)
    assert window.editor.graph.links == [Link(number.node_id, "value", item.node_id,
                                              "target_width")]
    canvas.click(_toggle_pos(item))  # fold: the linked input stays, as a socket
    assert window.editor.graph.layout.node(item.node_id).show_advanced is False
    assert list(item.geometry.inputs) == ["clip", "target_width"]
    assert "target_width" not in _rows(item) and "target_width" not in item.geometry.foldable
    link = window.scene.link_items[(item.node_id, "target_width")]
    assert link.path().pointAtPercent(1.0) == item.input_pos("target_width")
    # Unlinked, it folds away again; an input shown as a socket stays like a linked one.
    window.editor.disconnect(item.node_id, "target_width")
    assert list(item.geometry.inputs) == ["clip"] and _rows(item) == ["text", "clip_skip"]
    window.editor.set_socket_input(item.node_id, "crop_left", True)
    assert list(item.geometry.inputs) == ["clip", "crop_left"]
    assert item.geometry.advanced_label == "6 advanced"


def test_save_and_open_keep_the_expanded_state(window, canvas, tmp_path):
    expanded = _add(window, "diffusion.sampler")
    folded = _add(window, "diffusion.vae_decode", (400.0, 0.0))
    canvas.click(_toggle_pos(expanded))
    assert window.save_as(tmp_path / "graph.json")
    saved = files.load(tmp_path / "graph.json")
    assert saved.layout.nodes[expanded.node_id].show_advanced is True
    assert saved.layout.nodes[folded.node_id].show_advanced is False
    window.new_graph()
    assert window.open_file(tmp_path / "graph.json")
    sampler = window.scene.node_items[expanded.node_id]
    decode = window.scene.node_items[folded.node_id]
    assert {"add_noise", "start_step", "end_step", "return_with_leftover_noise"} <= set(
        _rows(sampler))
    assert _rows(decode) == ["tiled"] and decode.geometry.advanced_label == "1 advanced"


def test_the_node_context_menu_toggles_from_the_keyboard(window, canvas):
    item = _add(window, "diffusion.sampler")
    window.scene.select_nodes([item.node_id])
    canvas.key(Qt.Key.Key_Menu)
    menu = QApplication.activePopupWidget()
    assert isinstance(menu, QMenu)
    action = window.named_actions["advanced"]
    assert action in menu.actions() and action.isEnabled() and not action.isChecked()
    QTest.keyClick(menu, Qt.Key.Key_V)  # Show Ad&vanced Inputs
    assert window.editor.graph.layout.node(item.node_id).show_advanced is True
    assert "start_step" in _rows(item)
    canvas.key(Qt.Key.Key_F10, Qt.KeyboardModifier.ShiftModifier)
    menu = QApplication.activePopupWidget()
    assert window.named_actions["advanced"].isChecked()
    QTest.keyClick(menu, Qt.Key.Key_V)
    assert "start_step" not in _rows(item)


def test_the_properties_dock_lists_advanced_inputs_in_a_section(window):
    item = _add(window, "diffusion.text_encode")
    window.editor.set_value(item.node_id, "crop_top", 32)
    window.scene.select_nodes([item.node_id])
    dock = window.properties_dock

    def shown() -> list[str]:
        return [name for name, rows in dock.advanced_rows.items()
                if dock.form.isRowVisible(rows[0])]

    assert list(dock.advanced_rows) == SDXL_EXTRAS
    header = dock.editors["__advanced__"]
    assert header.text() == "Advanced (7)" and not header.isChecked()
    assert shown() == ["crop_top"]  # in use: shown even while the section is closed
    assert dock.form.isRowVisible(dock.editors["clip_skip"].parentWidget())
    header.click()
    assert shown() == SDXL_EXTRAS
    # Opening the section is a view choice: the node on the canvas stays folded.
    assert window.editor.graph.layout.node(item.node_id).show_advanced is False
    header.click()
    assert shown() == ["crop_top"]
    # Edits reveal rows at once; rows fold when the section closes or the node is re-shown.
    window.editor.set_value(item.node_id, "text_2", "more")
    assert shown() == ["text_2", "crop_top"]
    # Expanding the node on the canvas opens the section.
    window.editor.toggle_show_advanced([item.node_id])
    assert header.isChecked() and shown() == SDXL_EXTRAS
