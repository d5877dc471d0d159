"""Right-click menus on nodes, links, groups and the empty canvas."""

from __future__ import annotations

from PySide6.QtCore import QPointF
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication, QMenu


def _right_click(window, scene_pos: QPointF) -> QMenu:
    view = window.view
    local = view.mapFromScene(scene_pos)
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, local,
                              view.viewport().mapToGlobal(local))
    QApplication.sendEvent(view.viewport(), event)
    menu = QApplication.activePopupWidget()
    assert isinstance(menu, QMenu)
    return menu


def _action(menu: QMenu, text: str):
    for action in menu.actions():
        if action.text().replace("&", "") == text:
            return action
        if action.menu() is not None:
            found = _action(action.menu(), text)
            if found is not None:
                return found
    return None


def test_node_menu_turns_a_widget_into_a_socket_and_colours_it(window):
    node_id = window.editor.add_node("test.filter", (0, 0))
    item = window.scene.node_items[node_id]
    menu = _right_click(window, item.mapToScene(QPointF(60, 12)))
    _action(menu, "strength").trigger()
    menu.close()
    assert window.editor.graph.layout.node(node_id).socket_inputs == ["strength"]
    assert "strength" in item.geometry.inputs
    menu = _right_click(window, item.mapToScene(QPointF(60, 12)))
    _action(menu, "Purple").trigger()
    menu.close()
    assert window.editor.graph.layout.node(node_id).color == "#7a4fb3"


def test_link_group_and_canvas_menus(window):
    editor = window.editor
    a = editor.add_node("test.source", (0, 0))
    b = editor.add_node("test.sink", (400, 0))
    editor.connect(a, "image", b, "images")
    link = window.scene.link_items[(b, "images")]
    menu = _right_click(window, link.path().pointAtPercent(0.5))
    _action(menu, "Delete Link").trigger()
    menu.close()
    assert editor.graph.links == []
    group_id = editor.add_group("Frame", (-40, 300, 300, 200))
    menu = _right_click(window, QPointF(0, 310))
    _action(menu, "Teal").trigger()
    menu.close()
    assert editor.graph.group(group_id).color == "#24857a"
    menu = _right_click(window, QPointF(900, 900))
    _action(menu, "Add Node…").trigger()
    menu.close()
    assert window.palette.isVisible()
