"""The open subgraph's boundary: the "Subgraph Inputs" / "Subgraph Outputs" items drawn in
the inner view, their links to the inner sockets, that they are not nodes (delete, copy and
select leave the document alone), and promoting an inner socket by dropping a link on them,
with undo. Real mouse and key events on the window's canvas."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from ui_helpers import Canvas, snapshot

from nodestudio.graph.layout import NodeLayout
from nodestudio.graph.model import Graph
from nodestudio.graph.subgraph_flatten import flatten
from nodestudio.ui import subgraph_editing as editing
from nodestudio.ui.subgraph_boundary import (
    INPUTS,
    OUTPUTS,
    BoundaryItem,
    BoundaryLinkItem,
    inner_input_pos,
)
from nodestudio.ui.subgraph_window import make_from_selection, open_instance


def chain_graph(mask_linked: bool) -> Graph:
    """source -> filter -> sink, and (optionally) a mask maker feeding the filter's mask."""
    graph = Graph()
    graph.add_node("test.source", {"width": 512}, id="1", layout=NodeLayout(pos=(0.0, 0.0)))
    graph.add_node("test.filter", {"strength": 0.5}, id="2",
                   layout=NodeLayout(pos=(320.0, 0.0)))
    graph.add_node("test.sink", {}, id="3", layout=NodeLayout(pos=(640.0, 40.0)))
    graph.add_node("test.mask", {}, id="5", layout=NodeLayout(pos=(0.0, 300.0)))
    graph.connect("1", "image", "2", "image")
    graph.connect("2", "image", "3", "images")
    if mask_linked:
        graph.connect("5", "mask", "2", "mask")
    return graph


def open_packed(window, graph: Graph, node_ids: list[str]) -> tuple[str, object]:
    """Pack ``node_ids`` into a subgraph and open it the way a double-click does."""
    window.editor.set_graph(graph)
    window.scene.select_nodes(node_ids)
    instance_id = make_from_selection(window)
    assert instance_id is not None
    definition = window.editor.graph.definitions[
        window.editor.graph.node(instance_id).extra["subgraph"]["id"]]
    assert open_instance(window, instance_id)
    QApplication.processEvents()
    return instance_id, definition


def boundary_items(window) -> list[BoundaryItem]:
    return [item for item in window.scene.items() if isinstance(item, BoundaryItem)]


def link_pairs(window, side: str) -> set[tuple[str, tuple[str, str]]]:
    return {(link.port, link.inner) for link in window.scene.items()
            if isinstance(link, BoundaryLinkItem) and link.side == side and link.isVisible()}


def close(a: QPointF, b: QPointF, tolerance: float = 0.01) -> bool:
    return abs(a.x() - b.x()) < tolerance and abs(a.y() - b.y()) < tolerance


def test_inner_view_draws_the_boundary_with_linked_sockets(make_window, registry):
    window = make_window()
    _instance, definition = open_packed(window, chain_graph(mask_linked=True), ["2"])
    editing.set_promoted(window.editor, "2", "strength", True)
    overlay = window.subgraph_boundary
    assert len(boundary_items(window)) == 2
    inputs, outputs = overlay.items[INPUTS], overlay.items[OUTPUTS]
    # The instance's order: inputs, then promoted widgets; the outputs on the right.
    assert [(p.name, p.type, p.widget) for p in inputs.ports] == [
        ("image", "IMAGE", False), ("mask", "MASK", False), ("strength", "FLOAT", True)]
    assert [(p.name, p.type) for p in outputs.ports] == [("image", "IMAGE")]
    # Left and right of the inner nodes' bounding box.
    inner = window.scene.node_items["2"].sceneBoundingRect()
    assert inputs.sceneBoundingRect().right() < inner.left()
    assert outputs.sceneBoundingRect().left() > inner.right()
    # One link per boundary socket, from that socket to the inner socket it feeds, in the
    # socket type's colour.
    assert link_pairs(window, INPUTS) == {("image", ("2", "image")), ("mask", ("2", "mask")),
                                          ("strength", ("2", "strength"))}
    assert link_pairs(window, OUTPUTS) == {("image", ("2", "image"))}
    node_item = window.scene.node_items["2"]
    for link in boundary_links(window):
        port = next(p for p in overlay.items[link.side].ports if p.name == link.port)
        assert link.pen().color() == QColor(registry.sockets.get(port.type).color)
        ours = overlay.items[link.side].socket_scene_pos(link.port)
        if link.side == INPUTS:
            assert close(link.start, ours)
            assert close(link.end, inner_input_pos(node_item, link.inner[1]))
        else:
            assert close(link.start, node_item.output_pos("image"))
            assert close(link.end, ours)
    assert definition.graph is window.editor.level


def boundary_links(window) -> list[BoundaryLinkItem]:
    return [item for item in window.scene.items() if isinstance(item, BoundaryLinkItem)]


def test_boundary_items_are_not_nodes(make_window):
    window = make_window()
    instance_id, definition = open_packed(window, chain_graph(mask_linked=True), ["2"])
    overlay, editor = window.subgraph_boundary, window.editor
    before, interface = snapshot(editor.graph), (list(definition.inputs),
                                                 list(definition.outputs))
    count = editor.undo_stack.count()
    # Click selects it; Delete and Copy leave the document and the definition alone.
    inputs = overlay.items[INPUTS]
    header = inputs.mapToScene(QPointF(inputs.width / 2, 12.0))
    Canvas(window).click(header)
    assert inputs.isSelected() and window.scene.selected_node_ids() == []
    Canvas(window).key(Qt.Key.Key_Delete)
    assert snapshot(editor.graph) == before and editor.undo_stack.count() == count
    assert (definition.inputs, definition.outputs) == interface
    assert window.copy() is None
    assert len(boundary_items(window)) == 2
    # Moving it moves its links along; it is one undo step (test_subgraph_boundary_place.py).
    start = QPointF(inputs.pos())
    Canvas(window).drag(header, header + QPointF(-60.0, 80.0))
    inputs = overlay.items[INPUTS]  # built again by the move's undo step
    # (the mouse moves in whole viewport pixels: within a pixel or two of the scene drag)
    assert close(inputs.pos(), start + QPointF(-60.0, 80.0), tolerance=3.0)
    link = next(link for link in boundary_links(window) if link.port == "image"
                and link.side == INPUTS)
    assert close(link.start, inputs.socket_scene_pos("image"))
    assert editor.undo_stack.count() == count + 1
    editor.undo_stack.undo()
    assert snapshot(editor.graph) == before and close(overlay.items[INPUTS].pos(), start)
    # Select everything (rubber band / Ctrl+A style) and delete: only the inner node goes.
    window.scene.select_only([*overlay.items.values(), window.scene.node_items["2"]])
    window.delete_selection()
    assert "2" not in editor.level and (definition.inputs, definition.outputs) == interface
    editor.undo_stack.undo()
    assert snapshot(editor.graph) == before
    # Esc goes back out: the outer view has no boundary items.
    Canvas(window).key(Qt.Key.Key_Escape)
    assert editor.path == [] and boundary_items(window) == [] and overlay.items == {}
    assert set(window.scene.node_items) == {"1", "3", "5", instance_id}
    assert boundary_links(window) == []


def test_boundary_of_a_shipped_template(make_window):
    """The hires-fix template's definition, opened through an instance."""
    from nodestudio.ui.subgraph_library_items import read_definition, templates_dir
    from nodestudio.ui.subgraph_window import add_definition_instance

    window = make_window()
    definition = read_definition(templates_dir() / "hires_fix.json")
    assert definition is not None and definition.inputs and definition.outputs
    instance_id = add_definition_instance(window, definition, (0.0, 0.0))
    assert instance_id is not None and open_instance(window, instance_id)
    opened = window.editor.graph.definitions[definition.id]
    overlay = window.subgraph_boundary
    inputs = [p.name for p in overlay.items[INPUTS].ports]
    assert inputs == [i.name for i in opened.inputs] + [w.name for w in opened.widgets]
    assert [p.name for p in overlay.items[OUTPUTS].ports] == [o.name for o in opened.outputs]
    expected = {(i.name, tuple(t)) for i in opened.inputs for t in i.targets}
    expected |= {(w.name, (w.node, w.input)) for w in opened.widgets}
    assert link_pairs(window, INPUTS) == expected
    assert link_pairs(window, OUTPUTS) == {(o.name, tuple(o.source)) for o in opened.outputs}
    # Frame All (Home) inside shows the boundary items too, not only the nodes.
    window.view.frame_all()
    visible = window.view.mapToScene(window.view.viewport().rect()).boundingRect()
    for item in overlay.items.values():
        assert visible.contains(item.sceneBoundingRect()), item.side
    # The status bar counts what the canvas shows: the inner level, then the outer graph.
    inner = opened.graph
    assert window.count_label.text() == f"{len(inner)} nodes · {len(inner.links)} links"
    QTest.keyClick(window.view, Qt.Key.Key_Escape)
    assert window.count_label.text() == "1 nodes · 0 links"


@pytest.fixture
def packed_source_and_filter(make_window):
    window = make_window()
    instance_id, definition = open_packed(window, chain_graph(mask_linked=False), ["1", "2"])
    assert [i.name for i in definition.inputs] == []
    assert [o.name for o in definition.outputs] == ["image"]
    return window, instance_id, definition


def test_dragging_an_inner_input_onto_the_inputs_item_promotes_it(packed_source_and_filter):
    window, instance_id, definition = packed_source_and_filter
    editor, overlay = window.editor, window.subgraph_boundary
    before = snapshot(editor.graph)
    mask_socket = window.scene.node_items["2"].input_pos("mask")
    target = overlay.items[INPUTS].sceneBoundingRect().center()
    Canvas(window).drag(mask_socket, target)
    assert [(i.name, i.type, i.targets) for i in definition.inputs] == [
        ("mask", "MASK", [("2", "mask")])]
    assert [p.name for p in overlay.items[INPUTS].ports] == ["mask"]
    assert link_pairs(window, INPUTS) == {("mask", ("2", "mask"))}
    # The instance outside has the new input, and an outer link reaches the inner node.
    editing.leave(editor)
    assert window.scene.node_items[instance_id].node_type.input("mask") is not None
    editor.connect("5", "mask", instance_id, "mask")
    assert flatten(editor.graph).graph.link_into(f"{instance_id}/2", "mask").source == "5"
    editor.undo_stack.undo()  # the outer link
    editor.undo_stack.undo()  # the promotion
    assert definition.inputs == [] and snapshot(editor.graph) == before
    assert window.scene.node_items[instance_id].node_type.input("mask") is None
    editor.undo_stack.redo()
    assert [i.name for i in definition.inputs] == ["mask"]


def test_dragging_an_inner_output_onto_the_outputs_item_promotes_it(packed_source_and_filter):
    window, instance_id, definition = packed_source_and_filter
    editor, overlay = window.editor, window.subgraph_boundary
    source_out = window.scene.node_items["1"].output_pos("image")
    # Onto the inputs item: the wrong side, refused with a message, nothing changes.
    messages = []
    editor.message.connect(lambda text, _level: messages.append(text))
    Canvas(window).drag(source_out, overlay.items[INPUTS].sceneBoundingRect().center())
    assert definition.inputs == [] and messages and "Subgraph Outputs" in messages[-1]
    Canvas(window).drag(source_out, overlay.items[OUTPUTS].sceneBoundingRect().center())
    assert [(o.name, o.source) for o in definition.outputs] == [
        ("image", ("2", "image")), ("image_2", ("1", "image"))]
    assert link_pairs(window, OUTPUTS) == {("image", ("2", "image")),
                                           ("image_2", ("1", "image"))}
    instance = editor.graph.node(instance_id)
    assert [o.name for o in editor.type_of(instance).outputs] == ["image", "image_2"]
    editor.undo_stack.undo()
    assert [o.name for o in definition.outputs] == ["image"]
    assert [p.name for p in overlay.items[OUTPUTS].ports] == ["image"]
    assert [o.name for o in editor.type_of(instance).outputs] == ["image"]
