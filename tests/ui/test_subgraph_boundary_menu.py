"""Right-click on a port row of the open subgraph's boundary: "Remove input/output ‹name›"
and "Unpromote ‹name›", each one undo step, with the links to a removed port on the
instances outside gone and back on undo. Real right-clicks on the window's canvas."""

from __future__ import annotations

from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QMenu
from test_context_menus import _action, _right_click
from test_subgraph_boundary import chain_graph, link_pairs, open_packed
from ui_helpers import snapshot

from nodestudio.ui import subgraph_editing as editing
from nodestudio.ui.subgraph_boundary import INPUTS, OUTPUTS


def _row(window, side: str, name: str) -> QPointF:
    """The middle of port ``name``'s row on the ``side`` item, in scene coordinates."""
    item = window.subgraph_boundary.items[side]
    return item.mapToScene(QPointF(item.width / 2, item.row_y(item.names.index(name))))


def _texts(menu: QMenu) -> list[str]:
    return [action.text().replace("&", "") for action in menu.actions() if action.text()]


def _opened(make_window):
    """source -> [filter, its strength promoted] -> sink, mask maker -> filter.mask."""
    window = make_window()
    instance_id, definition = open_packed(window, chain_graph(mask_linked=True), ["2"])
    editing.set_promoted(window.editor, "2", "strength", True)
    assert [i.name for i in definition.inputs] == ["image", "mask"]
    assert window.editor.graph.link_into(instance_id, "mask").source == "5"
    return window, instance_id, definition


def test_removing_an_input_by_right_click_unlinks_it_outside_in_one_undo_step(make_window):
    window, instance_id, definition = _opened(make_window)
    editor, overlay = window.editor, window.subgraph_boundary
    before, count = snapshot(editor.graph), editor.undo_stack.count()
    assert "mask" in [i.name for i in editor.type_of(editor.graph.node(instance_id)).inputs]
    menu = _right_click(window, _row(window, INPUTS, "mask"))
    assert _texts(menu) == ["Remove input mask"]
    _action(menu, "Remove input mask").trigger()
    menu.close()
    assert [i.name for i in definition.inputs] == ["image"]
    assert [p.name for p in overlay.items[INPUTS].ports] == ["image", "strength"]
    assert ("mask", ("2", "mask")) not in link_pairs(window, INPUTS)
    # Outside: the instance has no mask socket, and the link that fed it is gone.
    instance = editor.graph.node(instance_id)
    assert "mask" not in [i.name for i in editor.type_of(instance).inputs]
    assert editor.graph.link_into(instance_id, "mask") is None
    assert editor.graph.link_into(instance_id, "image").source == "1"
    # One step back restores the port, its boundary row and the outer link.
    assert editor.undo_stack.count() == count + 1
    editor.undo_stack.undo()
    assert [i.name for i in definition.inputs] == ["image", "mask"]
    assert [p.name for p in overlay.items[INPUTS].ports] == ["image", "mask", "strength"]
    assert ("mask", ("2", "mask")) in link_pairs(window, INPUTS)
    assert snapshot(editor.graph) == before
    editor.undo_stack.redo()
    assert editor.graph.link_into(instance_id, "mask") is None
    assert [p.name for p in overlay.items[INPUTS].ports] == ["image", "strength"]


def test_removing_an_output_by_right_click(make_window):
    window, instance_id, definition = _opened(make_window)
    editor, overlay = window.editor, window.subgraph_boundary
    before = snapshot(editor.graph)
    assert editor.graph.link_into("3", "images").source == instance_id
    menu = _right_click(window, _row(window, OUTPUTS, "image"))
    assert _texts(menu) == ["Remove output image"]
    _action(menu, "Remove output image").trigger()
    menu.close()
    assert definition.outputs == [] and overlay.items[OUTPUTS].ports == []
    assert editor.graph.link_into("3", "images") is None
    editor.undo_stack.undo()
    assert [o.name for o in definition.outputs] == ["image"]
    assert [p.name for p in overlay.items[OUTPUTS].ports] == ["image"]
    assert snapshot(editor.graph) == before


def test_unpromoting_a_widget_by_right_click(make_window):
    window, _instance_id, definition = _opened(make_window)
    editor, overlay = window.editor, window.subgraph_boundary
    menu = _right_click(window, _row(window, INPUTS, "strength"))
    assert _texts(menu) == ["Unpromote strength"]
    _action(menu, "Unpromote strength").trigger()
    menu.close()
    assert definition.widgets == []
    assert [p.name for p in overlay.items[INPUTS].ports] == ["image", "mask"]
    editor.undo_stack.undo()
    assert [w.name for w in definition.widgets] == ["strength"]
    assert [p.name for p in overlay.items[INPUTS].ports] == ["image", "mask", "strength"]


def test_right_click_off_a_port_row_is_the_canvas_menu(make_window):
    """The header and the add row are no port: the window's own menu opens, as before."""
    window, _instance_id, definition = _opened(make_window)
    item = window.subgraph_boundary.items[INPUTS]
    for local in (QPointF(item.width / 2, 12.0),
                  QPointF(item.width / 2, item.row_y(len(item.ports)))):
        menu = _right_click(window, item.mapToScene(local))
        texts = _texts(menu)
        menu.close()
        assert texts and not any(t.startswith(("Remove", "Unpromote")) for t in texts), texts
    assert [i.name for i in definition.inputs] == ["image", "mask"]
