"""The in-node widgets, split by what each part holds (values, painting, interactions, inline
editor): the canvas's node item is what the interactions are typed against, and the modules
share one inline editor."""

from __future__ import annotations

from PySide6.QtCore import QPointF

from nodestudio.ui.canvas import inline_editor, widget_interactions, widgets
from nodestudio.ui.canvas.node_item import NodeItem


def test_the_node_item_is_a_widget_host(window):
    item = window.scene.node_items[window.editor.add_node("test.source", (0, 0))]
    assert isinstance(item, NodeItem)
    assert isinstance(item, widget_interactions.WidgetHost)


def test_one_inline_editor_at_a_time_across_the_modules(window):
    """The canvas imports InlineEditor through ``widgets``, the interactions from its own
    module: one class, so opening an editor closes (and commits) the one already open."""
    assert widgets.InlineEditor is inline_editor.InlineEditor
    item = window.scene.node_items[window.editor.add_node("test.source", (0, 0))]
    slot = item.geometry.widget("width", None)
    widget_interactions.open_value_editor(item, slot)
    first = widgets.InlineEditor.current
    assert first is not None
    first.widget.setText("300")
    press = widget_interactions.press_widget(
        item, slot, QPointF(slot.rect.center().x(), slot.rect.center().y()), 0.0)
    assert press is not None
    press.release(QPointF(slot.rect.center()), 0.0)  # a click without a drag types again
    assert first.closed and inline_editor.InlineEditor.current is not first
    assert window.editor.graph.value(item.node_id, "width") == 300
