"""Issue 18: the mask / sketch editor. Real mouse strokes on the editor's canvas change the
right pixels of the right layer, undo and redo them, land on the Paint node as one undoable
edit, and come back identical from a saved file."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor

from nodestudio.app.packs import create_registry
from nodestudio.ui.paint.editing import EDIT_TEXT, open_paint_editor, paint_from_load_image
from nodestudio.ui.paint.layers import MASK, SKETCH, mask_array, sketch_array
from nodestudio.ui.paint.strokes import ERASER, FILL

SIZE = 64


def _paint_module():
    """nodes/paint.py as the pack loader loads it (the built-in pack is never a top-level
    ``nodes`` package)."""
    import sys

    function = create_registry(entry_points=False).get("image.paint").function
    return sys.modules[function.__module__]


@pytest.fixture(scope="module")
def pack_registry():
    return create_registry(entry_points=False)


@pytest.fixture
def paint_window(make_window, pack_registry):
    window = make_window(pack_registry)
    node_id = window.add_node_at("image.paint", window.view.scene_center())
    window.editor.set_value(node_id, "width", SIZE)
    window.editor.set_value(node_id, "height", SIZE)
    return window, node_id


def _open(qtbot, window, node_id):
    editor = open_paint_editor(window, node_id, show=False)
    qtbot.addWidget(editor)
    editor.show()
    qtbot.waitExposed(editor)
    editor.canvas.fit()
    editor.size_spin.setValue(6)
    editor.hardness_slider.setValue(100)
    return editor


def _at(canvas, x: float, y: float) -> QPoint:
    return canvas.to_widget(QPointF(x + 0.5, y + 0.5)).toPoint()


def _stroke(qtbot, canvas, points, modifier=Qt.KeyboardModifier.NoModifier):
    left = Qt.MouseButton.LeftButton
    qtbot.mousePress(canvas, left, modifier, _at(canvas, *points[0]))
    for point in points[1:]:
        qtbot.mouseMove(canvas, _at(canvas, *point))
    qtbot.mouseRelease(canvas, left, modifier, _at(canvas, *points[-1]))


def test_strokes_paint_the_right_pixels_of_the_active_layer(qtbot, paint_window):
    window, node_id = paint_window
    editor = _open(qtbot, window, node_id)
    canvas = editor.canvas
    editor.set_color(QColor(255, 0, 0))
    _stroke(qtbot, canvas, [(8, 20), (30, 20), (56, 20)])  # a horizontal sketch line
    sketch = sketch_array(canvas.layers[SKETCH])
    assert sketch[20, 12:52, 3].min() == 255 and (sketch[20, 12:52, :3] == [255, 0, 0]).all()
    assert sketch[40, :, 3].max() == 0 and sketch[:, 62, 3].max() == 0
    assert not mask_array(canvas.layers[MASK]).any()  # the mask layer is untouched

    editor.set_layer(MASK)
    _stroke(qtbot, canvas, [(40, 4), (40, 30), (40, 60)])  # a vertical mask line
    mask = mask_array(canvas.layers[MASK])
    assert mask[8:56, 40].min() == 255 and mask[:, 10].max() == 0
    # The sketch did not change where the mask went.
    assert (sketch_array(canvas.layers[SKETCH]) == sketch).all()
    assert canvas.undo_stack.count() == 2


def test_undo_redo_straight_lines_eraser_fill_clear_and_invert(qtbot, paint_window):
    window, node_id = paint_window
    editor = _open(qtbot, window, node_id)
    canvas = editor.canvas
    editor.set_layer(MASK)
    _stroke(qtbot, canvas, [(10, 10), (12, 10)])
    # Shift: a straight line from where the last stroke ended.
    _stroke(qtbot, canvas, [(50, 50)], Qt.KeyboardModifier.ShiftModifier)
    drawn = mask_array(canvas.layers[MASK])
    assert drawn[30, 30] == 255 and drawn[50, 10] == 0  # on the diagonal, not beside it
    canvas.undo_stack.undo()
    assert mask_array(canvas.layers[MASK])[30, 30] == 0
    canvas.undo_stack.redo()
    assert (mask_array(canvas.layers[MASK]) == drawn).all()

    editor.set_tool(ERASER)
    _stroke(qtbot, canvas, [(26, 30), (34, 30)])
    assert mask_array(canvas.layers[MASK])[30, 30] == 0 and drawn[30, 30] == 255

    canvas.invert_mask()
    inverted = mask_array(canvas.layers[MASK])
    assert inverted[50, 10] == 255 and inverted[12, 12] == 0
    canvas.clear_layer()
    assert not mask_array(canvas.layers[MASK]).any()
    canvas.undo_stack.undo()
    assert (mask_array(canvas.layers[MASK]) == inverted).all()

    # Fill: a closed sketch outline, filled inside on the sketch layer, leaves the outside.
    canvas.undo_stack.clear()
    editor.set_layer(SKETCH)
    editor.set_tool("brush")
    _stroke(qtbot, canvas, [(16, 16), (48, 16), (48, 48), (16, 48), (16, 16)])
    editor.set_tool(FILL)
    editor.set_color(QColor(0, 0, 255))
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=_at(canvas, 32, 32))
    sketch = sketch_array(canvas.layers[SKETCH])
    assert (sketch[32, 32] == [0, 0, 255, 255]).all() and sketch[4, 4, 3] == 0


def test_apply_is_one_graph_edit_and_a_saved_file_reopens_the_same_bitmaps(
        qtbot, paint_window, tmp_path):
    window, node_id = paint_window
    editor = _open(qtbot, window, node_id)
    canvas = editor.canvas
    editor.set_color(QColor(0, 128, 255))
    _stroke(qtbot, canvas, [(5, 5), (60, 60)])
    editor.set_layer(MASK)
    _stroke(qtbot, canvas, [(5, 60), (60, 5)])
    sketch, mask = sketch_array(canvas.layers[SKETCH]), mask_array(canvas.layers[MASK])
    steps = window.editor.undo_stack.count()
    editor.apply_button.click()
    values = window.editor.graph.node(node_id).values
    assert values["mask_png"] and values["sketch_png"]
    assert window.editor.undo_stack.count() == steps + 1  # one undoable edit

    # The node decodes exactly what the editor drew.
    background = np.ones((1, SIZE, SIZE, 3), np.float32)
    image, node_mask = _paint_module().composite(background, values["mask_png"],
                                                 values["sketch_png"])
    assert np.array_equal(np.round(node_mask[0] * 255).astype(np.uint8), mask)
    on_line = sketch[..., 3] == 255
    assert np.allclose(image[0][on_line], sketch[on_line][:, :3] / 255.0, atol=1e-6)

    path = tmp_path / "drawn.json"
    assert window.save_as(path)
    window.editor.undo_stack.undo()
    assert not window.editor.graph.node(node_id).values["mask_png"]
    assert window.open_file(path, ask=False)
    reopened = _open(qtbot, window, node_id)
    assert np.array_equal(sketch_array(reopened.canvas.layers[SKETCH]), sketch)
    assert np.array_equal(mask_array(reopened.canvas.layers[MASK]), mask)


def test_load_image_offers_edit_mask_and_sketch_through_a_fed_paint_node(
        qtbot, make_window, pack_registry):
    from nodestudio.ui.actions import context_menu

    window = make_window(pack_registry)
    load_id = window.add_node_at("image.load", window.view.scene_center())
    window.editor.set_value(load_id, "image", "controlnet_shape.png")  # shipped example
    menu = context_menu(window, window.node_item(load_id), window.view.scene_center())
    assert EDIT_TEXT in [action.text() for action in menu.actions()]
    editor = paint_from_load_image(window, load_id, show=False)
    qtbot.addWidget(editor)
    graph = window.editor.graph
    [paint] = [node for node in graph if node.type == "image.paint"]
    assert graph.link_into(paint.id, "image").source == load_id
    # The editor draws over the loaded picture, at its size.
    assert editor.canvas.background.width() > 8
    assert editor.canvas.background.pixelColor(0, 0) != QColor(0, 0, 0, 0)


def test_double_clicking_a_paint_node_asks_for_its_editor(qtbot, paint_window):
    window, node_id = paint_window
    item = window.node_item(node_id)
    body = item.mapToScene(item.boundingRect().center() + QPointF(0, 10))
    with qtbot.waitSignal(window.scene.paint_edit_requested, timeout=2000) as blocker:
        qtbot.mouseDClick(window.view.viewport(), Qt.MouseButton.LeftButton,
                          pos=window.view.mapFromScene(body))
    assert blocker.args == [node_id]
    for dialog in window.findChildren(type(_open(qtbot, window, node_id))):
        dialog.close()
