"""Moving the open subgraph's boundary items with the mouse: one undo step that marks the
document modified, kept with the definition through save and reopen, leaving and opening
the level again, copy and paste into another window; a hostile stored value gives the
default place. Real mouse drags on the window's offscreen canvas."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QApplication
from test_subgraph_boundary import chain_graph, close, open_packed
from ui_helpers import Canvas, snapshot

from nodestudio.graph.subgraphs import BOUNDARY_KEY, boundary_position
from nodestudio.ui import subgraph_editing as editing
from nodestudio.ui.subgraph_boundary import INPUTS, OUTPUTS
from nodestudio.ui.subgraph_window import open_instance


def _header(window, side: str) -> QPointF:
    item = window.subgraph_boundary.items[side]
    return item.mapToScene(QPointF(item.width / 2, 12.0))


def _drag(window, side: str, delta: QPointF) -> None:
    start = _header(window, side)
    Canvas(window).drag(start, start + delta)
    QApplication.processEvents()


def _pos(window, side: str) -> QPointF:
    return window.subgraph_boundary.items[side].pos()


def test_moving_a_boundary_item_is_one_undo_step_and_marks_the_document(make_window):
    window = make_window()
    instance_id, definition = open_packed(window, chain_graph(mask_linked=True), ["2"])
    editor = window.editor
    window.document.editor.undo_stack.setClean()
    before, count = snapshot(editor.graph), editor.undo_stack.count()
    start = QPointF(_pos(window, OUTPUTS))
    inputs_at = QPointF(_pos(window, INPUTS))
    _drag(window, OUTPUTS, QPointF(120.0, -90.0))
    moved = QPointF(_pos(window, OUTPUTS))
    assert close(moved, start + QPointF(120.0, -90.0), tolerance=3.0)
    assert close(_pos(window, INPUTS), inputs_at)  # the other item stays where it was
    assert editor.undo_stack.count() == count + 1
    assert editor.undo_stack.undoText() == "Move Subgraph Outputs"
    assert window.document.dirty
    assert boundary_position(definition, OUTPUTS) == (moved.x(), moved.y())
    assert boundary_position(definition, INPUTS) is None
    editor.undo_stack.undo()
    assert close(_pos(window, OUTPUTS), start) and close(_pos(window, INPUTS), inputs_at)
    assert snapshot(editor.graph) == before  # the key is gone again, not left empty
    assert not window.document.dirty
    editor.undo_stack.redo()
    assert close(_pos(window, OUTPUTS), moved)
    # A click without a move is no edit.
    Canvas(window).click(_header(window, INPUTS))
    assert editor.undo_stack.count() == count + 1
    # Leaving and opening the level again: the moved item stays, the other is placed anew.
    editing.leave(editor)
    assert open_instance(window, instance_id)
    QApplication.processEvents()
    assert close(_pos(window, OUTPUTS), moved) and close(_pos(window, INPUTS), inputs_at)


def test_positions_survive_save_and_reopen(make_window, tmp_path: Path):
    window = make_window()
    instance_id, _definition = open_packed(window, chain_graph(mask_linked=True), ["2"])
    default_inputs = QPointF(_pos(window, INPUTS))
    _drag(window, INPUTS, QPointF(-80.0, 60.0))
    _drag(window, OUTPUTS, QPointF(40.0, 100.0))
    placed = {side: QPointF(_pos(window, side)) for side in (INPUTS, OUTPUTS)}
    assert not close(placed[INPUTS], default_inputs, tolerance=20.0)
    path = tmp_path / "placed.json"
    assert window.save_as(path)
    stored = json.loads(path.read_text())["definitions"][0]["layout"]["extra"][BOUNDARY_KEY]
    assert stored == {side: [placed[side].x(), placed[side].y()] for side in placed}
    other = _opened_in_a_new_window(make_window, path, instance_id)
    for side in (INPUTS, OUTPUTS):
        assert close(_pos(other, side), placed[side]), side


def _opened_in_a_new_window(make_window, path: Path, instance_id: str):
    """A second window with ``path`` open and subgraph instance ``instance_id`` entered."""
    other = make_window()
    assert other.open_file(path, ask=False)
    assert open_instance(other, instance_id)
    QApplication.processEvents()
    return other


def test_copied_instance_keeps_the_positions_in_another_window(make_window):
    window = make_window()
    instance_id, _definition = open_packed(window, chain_graph(mask_linked=True), ["2"])
    _drag(window, INPUTS, QPointF(-50.0, -70.0))
    placed = QPointF(_pos(window, INPUTS))
    editing.leave(window.editor)
    window.scene.select_nodes([instance_id])
    assert window.copy() is not None
    other = make_window()
    pasted = other.paste()
    assert len(pasted) == 1
    assert open_instance(other, pasted[0])
    QApplication.processEvents()
    assert close(_pos(other, INPUTS), placed)


def test_a_hostile_stored_position_gives_the_default_place(make_window, tmp_path: Path):
    window = make_window()
    instance_id, _definition = open_packed(window, chain_graph(mask_linked=True), ["2"])
    defaults = {side: QPointF(_pos(window, side)) for side in (INPUTS, OUTPUTS)}
    path = tmp_path / "hostile.json"
    assert window.save_as(path)
    document = json.loads(path.read_text())
    document["definitions"][0]["layout"]["extra"] = {
        BOUNDARY_KEY: {"inputs": [1e308, 5], "outputs": "far away"}}
    path.write_text(json.dumps(document))
    other = _opened_in_a_new_window(make_window, path, instance_id)
    for side in (INPUTS, OUTPUTS):
        assert close(_pos(other, side), defaults[side]), side
    # Moving it then stores a clean value in place of the broken one.
    _drag(other, OUTPUTS, QPointF(30.0, 30.0))
    definition = next(iter(other.editor.graph.definitions.values()))
    stored = definition.graph.layout.extra[BOUNDARY_KEY]
    assert set(stored) == {OUTPUTS} and boundary_position(definition, OUTPUTS) is not None
