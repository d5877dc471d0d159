"""A placeholder whose type id is a slip of a known one ("image.sav", a hand edit's typo, a
node renamed by hand) offers, in its context menu, to become that type: one undoable step
that keeps its values, links and place. The file said "did you mean 'image.save'?" as it
opened; this is where the artist acts on it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QMenu

from nodestudio.ui.subgraph_commands import LevelStateCommand, with_root_definitions

if TYPE_CHECKING:
    from nodestudio.ui.canvas.node_item import NodeItem
    from nodestudio.ui.main_window import MainWindow


def add_context_entries(window: MainWindow, item: NodeItem, menu: QMenu) -> None:
    """"Replace with Save Image (image.save)" for a placeholder of a likely slip."""
    if not item.is_placeholder:
        return
    registry = window.editor.registry
    meant = registry.likely_meant(item.node.type)
    node_type = registry.get(meant) if meant is not None else None
    if node_type is None:
        return
    menu.addSeparator()
    action = menu.addAction(f"Replace with {node_type.display_name} ({node_type.id})")
    action.triggered.connect(lambda: replace_type(window, item.node_id, node_type.id))


def replace_type(window: MainWindow, node_id: str, type_id: str) -> None:
    """Make the node ``node_id`` of the open level a ``type_id`` node (undoable)."""
    editor = window.editor
    node_type = editor.registry.get(type_id)
    if node_type is None:
        return
    before = with_root_definitions(editor.graph, editor.level)
    after = before.copy()
    old_type = after.node(node_id).type
    after.retype_node(node_id, type_id, node_type.version)
    editor.push(LevelStateCommand(editor.graph, editor.level, before, after,
                                  f"Replace {old_type} with {node_type.display_name}"))
    window.scene.select_nodes([node_id])
    window.report(f"Node {node_id} is now a {node_type.display_name} ({type_id}); values no "
                  "input of it takes are kept but not used", "info")
