"""The Subgraph Inputs and Outputs dialog's Remove button: disabled with no row selected;
removes the selected input or output with the links to it inside (the boundary) and outside
(every instance), or unpromotes a selected widget; one undo step, and the list follows undo.
Real clicks on the list and the button."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from test_subgraph_boundary import chain_graph, link_pairs, open_packed
from ui_helpers import snapshot

from nodestudio.ui import subgraph_editing as editing
from nodestudio.ui.subgraph_boundary import INPUTS, OUTPUTS
from nodestudio.ui.subgraph_dialogs import PORT_ROLE
from nodestudio.ui.subgraph_window import edit_ports


def _opened(make_window):
    """source -> [filter, its strength promoted] -> sink, mask maker -> filter.mask."""
    window = make_window()
    instance_id, definition = open_packed(window, chain_graph(mask_linked=True), ["2"])
    editing.set_promoted(window.editor, "2", "strength", True)
    return window, instance_id, definition


def _port_items(dialog) -> list:
    """The rows that are ports (the kind headings between them are labels)."""
    items = [dialog.list.item(i) for i in range(dialog.list.count())]
    return [item for item in items if item.data(PORT_ROLE) is not None]


def _rows(dialog) -> list[str]:
    return [item.text() for item in _port_items(dialog)]


def _click_row(dialog, row: int) -> None:
    """Click the ``row``-th port."""
    _click_item(dialog, _port_items(dialog)[row])


def _click_item(dialog, item) -> None:
    rect = dialog.list.visualItemRect(item)
    QTest.mouseClick(dialog.list.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, rect.center())


def _click_remove(dialog) -> None:
    QTest.mouseClick(dialog.remove, Qt.MouseButton.LeftButton)
    QApplication.processEvents()


def test_remove_button_takes_an_input_and_its_links_in_one_undo_step(make_window):
    window, instance_id, definition = _opened(make_window)
    editor, overlay = window.editor, window.subgraph_boundary
    before, count = snapshot(editor.graph), editor.undo_stack.count()
    dialog = edit_ports(window)  # the open level's definition
    assert _rows(dialog) == ["image", "mask", "strength", "image"]
    everything = [dialog.list.item(i).text() for i in range(dialog.list.count())]
    assert everything == ["Inputs", "image", "mask", "Promoted widgets", "strength",
                          "Outputs", "image"]
    _click_item(dialog, dialog.list.item(0))  # a heading: nothing to select
    assert not dialog.remove.isEnabled()
    _click_remove(dialog)  # disabled: nothing happens
    assert editor.undo_stack.count() == count
    _click_row(dialog, 1)
    assert dialog.list.currentItem().text() == "mask" and dialog.remove.isEnabled()
    _click_remove(dialog)
    assert _rows(dialog) == ["image", "strength", "image"]
    assert not dialog.remove.isEnabled()  # nothing selected after a removal
    assert [i.name for i in definition.inputs] == ["image"]
    # Inside: the boundary row and its link are gone; outside: the instance's socket and
    # the link from the mask maker.
    assert [p.name for p in overlay.items[INPUTS].ports] == ["image", "strength"]
    assert ("mask", ("2", "mask")) not in link_pairs(window, INPUTS)
    assert editor.graph.link_into(instance_id, "mask") is None
    instance = editor.graph.node(instance_id)
    assert "mask" not in [s.name for s in editor.type_of(instance).inputs]
    assert editor.undo_stack.count() == count + 1
    editor.undo_stack.undo()
    assert _rows(dialog) == ["image", "mask", "strength", "image"]
    assert [i.name for i in definition.inputs] == ["image", "mask"]
    assert editor.graph.link_into(instance_id, "mask").source == "5"
    assert ("mask", ("2", "mask")) in link_pairs(window, INPUTS)
    assert snapshot(editor.graph) == before
    dialog.close()


def test_remove_button_takes_an_output_or_unpromotes_a_widget(make_window):
    window, instance_id, definition = _opened(make_window)
    editor = window.editor
    editing.leave(editor)
    before, count = snapshot(editor.graph), editor.undo_stack.count()
    window.scene.select_nodes([instance_id])
    dialog = edit_ports(window)  # the selected instance's definition
    assert editor.graph.link_into("3", "images").source == instance_id
    _click_row(dialog, 3)  # the output
    assert dialog.remove.isEnabled() and not dialog.up.isEnabled()
    _click_remove(dialog)
    assert definition.outputs == [] and _rows(dialog) == ["image", "mask", "strength"]
    assert editor.graph.link_into("3", "images") is None
    _click_row(dialog, 2)  # the promoted widget
    _click_remove(dialog)
    assert definition.widgets == [] and _rows(dialog) == ["image", "mask"]
    assert "strength" not in editor.graph.node(instance_id).values
    assert "strength" not in [s.name for s in editor.type_of(
        editor.graph.node(instance_id)).inputs]
    assert editor.undo_stack.count() == count + 2
    editor.undo_stack.undo()
    assert [w.name for w in definition.widgets] == ["strength"]
    assert _rows(dialog) == ["image", "mask", "strength"]
    editor.undo_stack.undo()
    assert _rows(dialog) == ["image", "mask", "strength", "image"]
    assert editor.graph.link_into("3", "images").source == instance_id
    assert snapshot(editor.graph) == before
    # Back in the open level, the boundary shows the output again.
    assert editing.open_instance(editor, instance_id)
    QApplication.processEvents()
    assert link_pairs(window, OUTPUTS) == {("image", ("2", "image"))}
    dialog.close()


def test_a_selected_input_stays_selected_through_undo_though_an_output_shares_its_name(
        make_window):
    window, _instance_id, _definition = _opened(make_window)
    dialog = edit_ports(window)
    _click_row(dialog, 3)  # the output "image" (an input is called "image" too)
    assert dialog.selected() == ("output", "image")
    _click_row(dialog, 1)
    _click_remove(dialog)  # remove the input "mask" …
    _click_row(dialog, 0)  # … select the input "image" …
    window.editor.undo_stack.undo()  # … and undo the removal: the list is filled again
    QApplication.processEvents()
    assert _rows(dialog) == ["image", "mask", "strength", "image"]
    assert dialog.selected() == ("input", "image")  # not the output of the same name
    assert dialog.up.isEnabled()  # an input: it can move
