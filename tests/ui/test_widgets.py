"""Values edited on the canvas and in the properties dock reach the model, and back."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QComboBox, QMenu, QPlainTextEdit, QSpinBox

from nodestudio.ui.canvas.widgets import InlineEditor, format_value, from_ratio, stepped


def _widget_pos(item, name, kind=None, fraction=0.5):
    rect = item.geometry.widget(name, kind).rect
    return item.mapToScene(QPointF(rect.left() + rect.width() * fraction, rect.center().y()))


def _render(item, rect: QRectF | None = None) -> QImage:
    area = item.mapRectToScene(rect) if rect is not None else item.sceneBoundingRect()
    image = QImage(int(area.width()) * 2, int(area.height()) * 2, QImage.Format.Format_ARGB32)
    image.fill(0)
    painter = QPainter(image)
    item.scene().render(painter, QRectF(image.rect()), area)
    painter.end()
    return image


def _add(window, type_id, pos=(0, 0)):
    return window.scene.node_items[window.editor.add_node(type_id, pos)]


def test_number_arrows_step_and_clamp(window, canvas):
    item = _add(window, "test.source")
    canvas.click(_widget_pos(item, "width", fraction=0.98))
    assert window.editor.graph.value(item.node_id, "width") == 520
    canvas.click(_widget_pos(item, "width", fraction=0.02))
    canvas.click(_widget_pos(item, "width", fraction=0.02))
    assert window.editor.graph.value(item.node_id, "width") == 504


def test_dragging_a_number_changes_it_by_steps(window, canvas):
    item = _add(window, "test.source")
    start = _widget_pos(item, "width")
    canvas.drag(start, start + QPointF(-30, 0), steps=10)
    assert window.editor.graph.value(item.node_id, "width") < 512
    assert window.editor.graph.value(item.node_id, "width") % 8 == 0


def test_clicking_a_number_types_it_and_bad_text_is_refused(window, canvas):
    item = _add(window, "test.source")
    canvas.click(_widget_pos(item, "width"))
    editor = InlineEditor.current
    assert editor is not None and editor.text() == "512"
    QTest.keyClicks(editor.widget, "99999")
    QTest.keyClick(editor.widget, Qt.Key.Key_Return)
    assert window.editor.graph.value(item.node_id, "width") == 4096  # clamped to the maximum
    canvas.click(_widget_pos(item, "width"))
    QTest.keyClicks(InlineEditor.current.widget, "lots")
    QTest.keyClick(InlineEditor.current.widget, Qt.Key.Key_Return)
    assert window.editor.graph.value(item.node_id, "width") == 4096
    assert any("whole number" in m for m in window.log_dock.messages("warning"))


def test_choices_from_the_model_library_are_offered(window, canvas):
    item = _add(window, "test.sampler")
    assert window.editor.graph.value(item.node_id, "model") == ""
    canvas.click(_widget_pos(item, "model"))
    menu = QApplication.activePopupWidget()
    assert isinstance(menu, QMenu)
    assert [a.text() for a in menu.actions()] == ["alpha.safetensors", "beta.safetensors"]
    menu.actions()[1].trigger()
    menu.close()
    assert window.editor.graph.value(item.node_id, "model") == "beta.safetensors"


def test_single_line_text_is_typed_in_place(window, canvas):
    item = _add(window, "test.source")
    canvas.click(_widget_pos(item, "name"))
    QTest.keyClicks(InlineEditor.current.widget, "cat")
    assert window.editor.graph.value(item.node_id, "name") == "cat"
    QTest.keyClick(InlineEditor.current.widget, Qt.Key.Key_Return)
    assert InlineEditor.current is None
    assert window.editor.undo_stack.count() == 2  # add node, one merged text edit


def test_model_changes_repaint_the_canvas_widget_and_update_the_dock(window, canvas):
    item = _add(window, "test.filter")
    canvas.click(item.mapToScene(QPointF(60, 12)))  # select: the dock shows it
    slot = item.geometry.widget("strength")
    before = _render(item, slot.rect)
    spin = window.properties_dock.editors["strength"]
    assert spin.value() == 0.5
    window.editor.graph.set_value(item.node_id, "strength", 0.9)
    assert _render(item, slot.rect) != before
    assert spin.value() == 0.9
    window.editor.graph.set_value(item.node_id, "prompt", "a red fox")
    assert window.properties_dock.editors["prompt"].toPlainText() == "a red fox"


def test_editing_in_the_properties_dock_changes_the_model(window, canvas):
    item = _add(window, "test.filter")
    canvas.click(item.mapToScene(QPointF(60, 12)))
    dock = window.properties_dock
    mode = dock.editors["mode"]
    assert isinstance(mode, QComboBox)
    mode.setCurrentIndex(2)
    assert window.editor.graph.value(item.node_id, "mode") == "c"
    prompt = dock.editors["prompt"]
    assert isinstance(prompt, QPlainTextEdit)
    prompt.setFocus()
    QTest.keyClicks(prompt, "dusk")
    assert window.editor.graph.value(item.node_id, "prompt") == "dusk"
    assert [window.editor.undo_stack.text(i) for i in range(window.editor.undo_stack.count())] \
        == ["Add Soft Filter", "Change mode", "Change prompt"]


def test_seed_widget_and_its_control_in_the_dock(window, canvas):
    item = _add(window, "test.sampler")
    canvas.click(item.mapToScene(QPointF(60, 12)))
    dock = window.properties_dock
    seed = dock.editors["seed"]
    assert not isinstance(seed, QSpinBox)  # 64-bit seeds do not fit a spin box
    seed.setFocus()
    seed.selectAll()
    QTest.keyClicks(seed, "18446744073709551615")
    QTest.keyClick(seed, Qt.Key.Key_Return)
    assert window.editor.graph.value(item.node_id, "seed") == 2**64 - 1
    control = dock.editors["__control__seed"]
    control.setCurrentText("increment")
    assert window.editor.graph.node(item.node_id).controls == {"seed": "increment"}
    window.editor.undo_stack.undo()
    assert control.currentText() == "fixed"


def test_linked_widget_inputs_are_disabled_in_the_dock(window, canvas):
    number = _add(window, "test.number", (0, 300))
    item = _add(window, "test.filter", (300, 0))
    canvas.click(item.mapToScene(QPointF(60, 12)))
    window.editor.connect(number.node_id, "value", item.node_id, "strength")
    assert not window.properties_dock.editors["strength"].isEnabled()
    assert window.properties_dock.editors["__socket__strength"].isChecked()
    window.editor.undo_stack.undo()
    assert window.properties_dock.editors["strength"].isEnabled()


def test_value_helpers():
    from nodestudio.api import Float, Int

    seed_like = Int("n", 0, min=0, max=10, step=3)
    assert stepped(seed_like, 9, 1) == 10 and stepped(seed_like, 2, -1) == 0
    ratio = Float("r", 0.5, min=0.0, max=1.0, step=0.05)
    assert from_ratio(ratio, 0.52) == 0.5 and from_ratio(ratio, 2.0) == 1.0
    assert format_value(ratio, 0.5) == "0.50"
