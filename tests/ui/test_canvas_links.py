"""Adding nodes and drawing links with the mouse and the keyboard, on the real canvas."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from nodestudio.graph.model import Link
from nodestudio.ui.canvas.socket_item import SocketState


def test_tab_opens_the_palette_and_enter_adds_the_best_match(window, canvas):
    canvas.move((100, 100))
    canvas.key(Qt.Key.Key_Tab)
    assert window.palette.isVisible()
    QTest.keyClicks(window.palette.edit, "soft filt")
    assert window.palette.result_ids()[0] == "test.filter"
    QTest.keyClick(window.palette.edit, Qt.Key.Key_Return)
    assert not window.palette.isVisible()
    [node] = window.editor.graph
    assert node.type == "test.filter"
    assert node.values["strength"] == 0.5 and node.values["mode"] == "a"
    assert window.scene.selected_node_ids() == [node.id]


def test_palette_is_usable_from_the_keyboard_alone(window, canvas):
    canvas.key(Qt.Key.Key_Tab)
    QTest.keyClicks(window.palette.edit, "image")
    results = window.palette.result_ids()
    assert len(results) >= 2
    QTest.keyClick(window.palette.edit, Qt.Key.Key_Down)
    QTest.keyClick(window.palette.edit, Qt.Key.Key_Enter)
    [node] = window.editor.graph
    assert node.type == results[1]
    canvas.key(Qt.Key.Key_Tab)
    QTest.keyClick(window.palette.edit, Qt.Key.Key_Escape)
    assert not window.palette.isVisible() and len(window.editor.graph) == 1


def test_double_click_on_empty_canvas_opens_the_palette_there(window, canvas):
    canvas.double_click((250, 120))
    assert window.palette.isVisible()
    QTest.keyClicks(window.palette.edit, "mask maker")
    QTest.keyClick(window.palette.edit, Qt.Key.Key_Return)
    [node] = window.editor.graph
    assert window.editor.graph.layout.nodes[node.id].pos == (250.0, 120.0)


def _two_nodes(window, left="test.source", right="test.filter"):
    a = window.editor.add_node(left, (0, 0))
    b = window.editor.add_node(right, (360, 0))
    return window.scene.node_items[a], window.scene.node_items[b]


def test_dragging_from_an_output_to_a_compatible_input_links_them(window, canvas):
    source, target = _two_nodes(window)
    canvas.drag(source.output_pos("image"), target.input_pos("image"))
    assert window.editor.graph.links == [Link(source.node_id, "image", target.node_id, "image")]
    assert (target.node_id, "image") in window.scene.link_items


def test_dragging_backwards_from_an_input_links_too(window, canvas):
    source, target = _two_nodes(window)
    canvas.drag(target.input_pos("image"), source.output_pos("image"))
    assert window.editor.graph.links == [Link(source.node_id, "image", target.node_id, "image")]


def test_incompatible_sockets_refuse_and_compatible_ones_light_up(window, canvas):
    _source, target = _two_nodes(window)
    masks = window.scene.node_items[window.editor.add_node("test.mask", (0, 300))]
    canvas.press(masks.output_pos("mask"))
    canvas.move(target.input_pos("image"))
    scene = window.scene
    image_slot = target.geometry.inputs["image"]
    mask_slot = target.geometry.inputs["mask"]
    assert scene.socket_state(target, image_slot) is SocketState.REFUSES
    assert scene.socket_state(target, mask_slot) is SocketState.ACCEPTS
    canvas.release(target.input_pos("image"))
    assert window.editor.graph.links == []
    assert any("MASK cannot feed" in m for m in window.log_dock.messages("warning"))
    assert scene.link_drag is None


def test_int_output_may_feed_a_float_widget_input(window, canvas):
    flag = window.scene.node_items[window.editor.add_node("test.flag", (0, 0))]
    number = window.scene.node_items[window.editor.add_node("test.number", (360, 0))]
    slot = number.geometry.widget("value")
    canvas.drag(flag.output_pos("count"), number.mapToScene(slot.socket_pos))
    assert window.editor.graph.links == [Link(flag.node_id, "count", number.node_id, "value")]
    # The linked widget input is now drawn as a socket.
    assert "value" in number.geometry.inputs
    canvas.drag(flag.output_pos("flag"), number.input_pos("value"))  # BOOLEAN -> FLOAT: refused
    assert window.editor.graph.link_into(number.node_id, "value").output == "count"


def test_dropping_on_an_occupied_input_replaces_its_link(window, canvas):
    first, target = _two_nodes(window)
    second = window.scene.node_items[window.editor.add_node("test.source", (0, 300))]
    canvas.drag(first.output_pos("image"), target.input_pos("image"))
    canvas.drag(second.output_pos("image"), target.input_pos("image"))
    assert window.editor.graph.links == [Link(second.node_id, "image", target.node_id, "image")]
    window.editor.undo_stack.undo()
    assert window.editor.graph.links == [Link(first.node_id, "image", target.node_id, "image")]


def test_picking_up_a_link_by_its_input_and_dropping_it_on_empty_canvas_removes_it(
        window, canvas):
    source, target = _two_nodes(window)
    window.editor.connect(source.node_id, "image", target.node_id, "image")
    canvas.drag(target.input_pos("image"), (200, 400))
    assert window.editor.graph.links == []
    assert not window.palette.isVisible()


def test_dropping_a_new_link_on_empty_canvas_offers_matching_nodes_and_links_the_pick(
        window, canvas):
    source = window.scene.node_items[window.editor.add_node("test.source", (0, 0))]
    canvas.drag(source.output_pos("image"), (420, 60))
    palette = window.palette
    assert palette.isVisible()
    assert set(palette.result_ids()) == {"test.filter", "test.sink"}
    QTest.keyClicks(palette.edit, "keep")
    QTest.keyClick(palette.edit, Qt.Key.Key_Return)
    graph = window.editor.graph
    [new_id] = [n for n in graph.nodes if n != source.node_id]
    assert graph.node(new_id).type == "test.sink"
    assert graph.links == [Link(source.node_id, "image", new_id, "images")]
    assert graph.layout.nodes[new_id].pos == (420.0, 60.0)
    window.editor.undo_stack.undo()  # one step removes the node and its link
    assert list(graph.nodes) == [source.node_id] and graph.links == []


def test_dragging_from_an_input_to_empty_canvas_offers_nodes_that_give_that_type(
        window, canvas):
    target = window.scene.node_items[window.editor.add_node("test.filter", (400, 0))]
    canvas.drag(target.input_pos("mask"), (100, 40))
    assert window.palette.result_ids() == ["test.mask"]
    QTest.keyClick(window.palette.edit, Qt.Key.Key_Return)
    [link] = window.editor.graph.links
    assert (link.output, link.target, link.input) == ("mask", target.node_id, "mask")


def test_a_link_that_would_make_a_loop_is_refused(window, canvas):
    first, second = _two_nodes(window, "test.filter", "test.filter")
    window.editor.connect(first.node_id, "image", second.node_id, "image")
    canvas.drag(second.output_pos("image"), first.input_pos("image"))
    assert len(window.editor.graph.links) == 1
    assert any("loop" in m for m in window.log_dock.messages("warning"))


def test_escape_cancels_a_link_drag(window, canvas):
    source, target = _two_nodes(window)
    canvas.press(source.output_pos("image"))
    canvas.move((200, 200))
    assert window.scene.link_drag is not None
    canvas.key(Qt.Key.Key_Escape)
    assert window.scene.link_drag is None
    canvas.release(target.input_pos("image"))
    assert window.editor.graph.links == []


def test_delete_key_removes_the_selected_nodes_and_their_links(window, canvas):
    source, target = _two_nodes(window)
    window.editor.connect(source.node_id, "image", target.node_id, "image")
    canvas.click(source.mapToScene(QPointF(60, 12)))
    assert window.scene.selected_node_ids() == [source.node_id]
    canvas.shortcut("Delete")
    assert list(window.editor.graph.nodes) == [target.node_id]
    assert window.editor.graph.links == []
    assert source.node_id not in window.scene.node_items
