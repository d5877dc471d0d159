"""Every kind of edit, made with the mouse and keyboard, undoes and redoes to the exact model."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu
from ui_helpers import snapshot

from nodestudio.graph.layout import NodeLayout
from nodestudio.graph.model import Graph
from nodestudio.ui.canvas.widgets import InlineEditor


@pytest.fixture
def graph_window(make_window):
    """source -> filter -> sink, a sampler, a reroute and a group, loaded as a file would be."""
    graph = Graph()
    graph.add_node("test.source", {"width": 512, "name": "pic"}, id="1",
                   layout=NodeLayout(pos=(0.0, 0.0)))
    graph.add_node("test.filter", {"strength": 0.5, "mode": "a", "enabled": True,
                                   "prompt": "hello"}, id="2", layout=NodeLayout(pos=(320.0, 0.0)))
    graph.add_node("test.sink", {}, id="3", layout=NodeLayout(pos=(640.0, 40.0)))
    graph.add_node("test.sampler", {"seed": 7, "model": "alpha.safetensors", "steps": 20},
                   id="4", layout=NodeLayout(pos=(0.0, 260.0)), controls={"seed": "fixed"})
    graph.connect("1", "image", "2", "image")
    graph.connect("2", "image", "3", "images")
    graph.set_reroutes("3", "images", [(600.0, 200.0)])
    graph.add_group("Start", (-30.0, -60.0, 260.0, 220.0), "#3a66b0")
    window = make_window()
    window.editor.set_graph(graph)
    return window


def assert_scene_matches(window) -> None:
    graph, scene = window.editor.graph, window.scene
    assert set(scene.node_items) == set(graph.nodes)
    assert set(scene.link_items) == {link.key for link in graph.links}
    assert set(scene.group_items) == {group.id for group in graph.layout.groups}
    for node_id, item in scene.node_items.items():
        assert (item.pos().x(), item.pos().y()) == graph.layout.node(node_id).pos


def check_undo(window, edit: Callable[[], object], steps: int = 1) -> None:
    """``edit`` changes the graph in ``steps`` undo steps; undo and redo restore it exactly."""
    graph = window.editor.graph
    stack = window.editor.undo_stack
    start_index = stack.index()
    before, before_doc = graph.copy(), snapshot(graph)
    edit()
    QApplication.processEvents()
    assert stack.index() == start_index + steps, [stack.text(i) for i in range(stack.count())]
    after, after_doc = graph.copy(), snapshot(graph)
    assert after_doc != before_doc
    for _ in range(steps):
        stack.undo()
    assert snapshot(graph) == before_doc
    assert graph == before
    assert_scene_matches(window)
    for _ in range(steps):
        stack.redo()
    assert snapshot(graph) == after_doc
    assert graph == after
    assert_scene_matches(window)
    for _ in range(steps):
        stack.undo()
    assert graph == before


def node_point(window, node_id: str, x: float = 60.0, y: float = 14.0) -> QPointF:
    return window.scene.node_items[node_id].mapToScene(QPointF(x, y))


def widget_point(window, node_id: str, name: str, kind: str | None = None,
                 fraction: float = 0.5) -> QPointF:
    item = window.scene.node_items[node_id]
    rect = item.geometry.widget(name, kind).rect
    return item.mapToScene(QPointF(rect.left() + rect.width() * fraction, rect.center().y()))


def test_add_from_the_palette(graph_window, canvas_of):
    canvas = canvas_of(graph_window)

    def edit():
        canvas.double_click((900, 300))
        QTest.keyClicks(graph_window.palette.edit, "number")
        QTest.keyClick(graph_window.palette.edit, Qt.Key.Key_Return)

    check_undo(graph_window, edit)


def test_delete_nodes_with_links_reroutes_and_a_group(graph_window, canvas_of):
    canvas = canvas_of(graph_window)

    def edit():
        canvas.click(node_point(graph_window, "2"))
        canvas.click(node_point(graph_window, "3"), Qt.KeyboardModifier.ControlModifier)
        group = graph_window.scene.group_items["g1"]
        canvas.click(group.mapToScene(QPointF(100, 10)), Qt.KeyboardModifier.ControlModifier)
        canvas.shortcut("Delete")
        assert set(graph_window.editor.graph.nodes) == {"1", "4"}
        assert graph_window.editor.graph.layout.groups == []

    check_undo(graph_window, edit)


def test_move_many_nodes_selected_with_the_rubber_band(graph_window, canvas_of):
    canvas = canvas_of(graph_window)

    def edit():
        canvas.drag((250, -100), (900, 150))  # empty start: a rubber band over 2 and 3
        assert graph_window.scene.selected_node_ids() == ["2", "3"]
        canvas.drag(node_point(graph_window, "2"), node_point(graph_window, "2") + QPointF(80, 50))
        layout = graph_window.editor.graph.layout
        assert layout.node("2").pos == (400.0, 50.0)
        assert layout.node("3").pos == (720.0, 90.0)
        assert layout.node("1").pos == (0.0, 0.0)

    check_undo(graph_window, edit)


def test_moving_a_group_moves_the_nodes_inside_it(graph_window, canvas_of):
    canvas = canvas_of(graph_window)
    group = graph_window.scene.group_items["g1"]

    def edit():
        start = group.mapToScene(QPointF(120, 12))
        canvas.drag(start, start + QPointF(100, 40))
        graph = graph_window.editor.graph
        assert graph.group("g1").rect == (70.0, -20.0, 260.0, 220.0)
        assert graph.layout.node("1").pos == (100.0, 40.0)
        assert graph.layout.node("4").pos == (0.0, 260.0)  # outside the group

    check_undo(graph_window, edit)


def test_connect_and_disconnect_by_dragging(graph_window, canvas_of):
    canvas = canvas_of(graph_window)
    items = graph_window.scene.node_items
    check_undo(graph_window, lambda: canvas.drag(items["1"].output_pos("image"),
                                                 items["3"].input_pos("images")))
    check_undo(graph_window, lambda: canvas.drag(items["2"].input_pos("image"),
                                                 QPointF(200, 500)))


def test_dragging_a_number_is_one_merged_step(graph_window, canvas_of):
    canvas = canvas_of(graph_window)

    def edit():
        start = widget_point(graph_window, "1", "width")
        canvas.drag(start, start + QPointF(60, 0), steps=12)
        assert graph_window.editor.graph.value("1", "width") > 512

    check_undo(graph_window, edit)


def test_slider_toggle_and_choice_arrows(graph_window, canvas_of):
    canvas = canvas_of(graph_window)

    def slide():
        canvas.drag(widget_point(graph_window, "2", "strength", fraction=0.2),
                    widget_point(graph_window, "2", "strength", fraction=0.9))
        assert graph_window.editor.graph.value("2", "strength") == pytest.approx(0.9, abs=0.02)

    check_undo(graph_window, slide)
    check_undo(graph_window, lambda: canvas.click(widget_point(graph_window, "2", "enabled")))
    check_undo(graph_window,
               lambda: canvas.click(widget_point(graph_window, "2", "mode", fraction=0.97)))
    assert graph_window.editor.graph.value("2", "mode") == "a"


def test_typing_text_in_place_is_one_step(graph_window, canvas_of):
    canvas = canvas_of(graph_window)

    def edit():
        canvas.click(widget_point(graph_window, "2", "prompt"))
        editor = InlineEditor.current
        assert editor is not None
        QTest.keyClicks(editor.widget, " world")
        assert graph_window.editor.graph.value("2", "prompt").endswith(" world")
        editor.close(commit=True)

    check_undo(graph_window, edit)


def test_seed_control_from_its_menu(graph_window, canvas_of):
    canvas = canvas_of(graph_window)

    def edit():
        canvas.click(widget_point(graph_window, "4", "seed", "control"))
        menu = QApplication.activePopupWidget()
        assert isinstance(menu, QMenu)
        [action] = [a for a in menu.actions() if a.text() == "randomize"]
        action.trigger()
        menu.close()
        assert graph_window.editor.graph.node("4").controls["seed"] == "randomize"

    check_undo(graph_window, edit)


def test_group_selection(graph_window, canvas_of):
    canvas = canvas_of(graph_window)

    def edit():
        canvas.click(node_point(graph_window, "2"))
        canvas.click(node_point(graph_window, "3"), Qt.KeyboardModifier.ShiftModifier)
        canvas.shortcut("Ctrl+G")
        assert len(graph_window.editor.graph.layout.groups) == 2

    check_undo(graph_window, edit)


def test_resize_and_rename_a_group(graph_window, canvas_of):
    canvas = canvas_of(graph_window)
    group = graph_window.scene.group_items["g1"]

    def resize():
        grip = group.mapToScene(group.grip_rect().center())
        canvas.drag(grip, grip + QPointF(50, 30))
        assert graph_window.editor.graph.group("g1").rect[2:] == (310.0, 250.0)

    check_undo(graph_window, resize)

    def rename():
        canvas.double_click(group.mapToScene(QPointF(100, 12)))
        editor = InlineEditor.current
        editor.widget.selectAll()
        QTest.keyClicks(editor.widget, "Inputs")
        QTest.keyClick(editor.widget, Qt.Key.Key_Return)
        assert graph_window.editor.graph.group("g1").title == "Inputs"

    check_undo(graph_window, rename)


def test_paste(graph_window, canvas_of):
    canvas = canvas_of(graph_window)
    canvas.click(node_point(graph_window, "1"))
    canvas.click(node_point(graph_window, "2"), Qt.KeyboardModifier.ControlModifier)
    canvas.shortcut("Ctrl+C")
    check_undo(graph_window, lambda: canvas.shortcut("Ctrl+V"))
    canvas.click(node_point(graph_window, "1"))
    check_undo(graph_window, lambda: canvas.shortcut("Ctrl+D"))


def test_reroutes_add_move_remove(graph_window, canvas_of):
    canvas = canvas_of(graph_window)
    scene = graph_window.scene
    link = scene.link_items[("2", "image")]
    middle = link.path().pointAtPercent(0.5)
    check_undo(graph_window, lambda: canvas.double_click(middle))
    canvas.double_click(middle)
    handle_pos = scene.link_items[("2", "image")].handles[0].scenePos()
    check_undo(graph_window, lambda: canvas.drag(handle_pos, handle_pos + QPointF(30, 60)))
    handle_pos = scene.link_items[("2", "image")].handles[0].scenePos()
    check_undo(graph_window, lambda: canvas.double_click(handle_pos))


def test_mute_bypass_collapse_and_rename(graph_window, canvas_of):
    canvas = canvas_of(graph_window)
    canvas.click(node_point(graph_window, "2"))
    check_undo(graph_window, lambda: canvas.shortcut("Ctrl+M"))
    check_undo(graph_window, lambda: canvas.shortcut("Ctrl+B"))
    check_undo(graph_window, lambda: canvas.shortcut("Alt+C"))
    toggle = graph_window.scene.node_items["2"].geometry.toggle_rect.center()
    check_undo(graph_window, lambda: canvas.click(node_point(graph_window, "2", toggle.x(),
                                                             toggle.y())))

    def rename():
        canvas.shortcut("F2")
        QTest.keyClicks(InlineEditor.current.widget, "Blur")
        QTest.keyClick(InlineEditor.current.widget, Qt.Key.Key_Return)
        assert graph_window.editor.graph.node("2").title == "Blur"

    check_undo(graph_window, rename)


def test_widget_to_socket_colour_and_resize(graph_window, canvas_of):
    canvas = canvas_of(graph_window)
    editor = graph_window.editor
    check_undo(graph_window, lambda: editor.set_socket_input("2", "strength", True))
    editor.set_socket_input("2", "strength", True)
    editor.connect("1", "image", "3", "images")
    number = editor.add_node("test.number", (0, 600))
    editor.connect(number, "value", "2", "strength")
    check_undo(graph_window, lambda: editor.set_socket_input("2", "strength", False), steps=1)
    canvas.click(node_point(graph_window, "2"))
    check_undo(graph_window, lambda: graph_window.set_color("#a33b3b"))
    item = graph_window.scene.node_items["1"]
    grip = item.mapToScene(item.geometry.resize_rect.center())
    check_undo(graph_window, lambda: canvas.drag(grip, grip + QPointF(80, 40)))
