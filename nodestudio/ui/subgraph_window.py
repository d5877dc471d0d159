"""Subgraphs in the main window: the actions (Make Subgraph Ctrl+Shift+G, Unpack, Open,
Save Selection as Template…), the breadcrumb above the canvas, the context-menu entries
(Open, Unpack, Promote) and adding templates from the Nodes panel."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QInputDialog, QMenu

from nodestudio.app.path_rules import write_failure_reason
from nodestudio.graph import subgraphs
from nodestudio.graph.subgraphs import SubgraphDefinition
from nodestudio.ui import subgraph_editing as editing
from nodestudio.ui.canvas.node_item import NodeItem
from nodestudio.ui.subgraph_boundary import BoundaryOverlay
from nodestudio.ui.subgraph_breadcrumb import Breadcrumb
from nodestudio.ui.subgraph_commands import LevelStateCommand, with_root_definitions

if TYPE_CHECKING:
    from nodestudio.ui.main_window import MainWindow


def install_subgraph_support(window: MainWindow) -> None:
    """Add the subgraph actions to the window's menus and the breadcrumb above the canvas."""
    window.breadcrumb = Breadcrumb(window.editor, window.centralWidget())
    # The open subgraph's inputs and outputs, drawn left and right of its inner nodes.
    window.subgraph_boundary = BoundaryOverlay(window.scene, window.editor)
    column = window.centralWidget().layout()
    column.insertWidget(column.indexOf(window.view), window.breadcrumb)
    specs = {
        "make_subgraph": ("Make Sub&graph", "Ctrl+Shift+G", lambda: make_from_selection(window)),
        "unpack_subgraph": ("&Unpack Subgraph", "", lambda: unpack_selection(window)),
        "open_subgraph": ("&Open Subgraph", "", lambda: open_selection(window)),
        "leave_subgraph": ("Leave Subgraph", "", lambda: editing.leave(window.editor)),
        "save_template": ("Save Selection as &Template…", "",
                          lambda: save_selection_as_template(window)),
        "subgraph_ports": ("Subgraph &Inputs and Outputs…", "", lambda: edit_ports(window)),
    }
    for name, (text, keys, handler) in specs.items():
        action = QAction(text, window)
        action.setObjectName(f"action_{name}")
        if keys:
            action.setShortcut(QKeySequence(keys))
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        window.view.addAction(action)
        action.triggered.connect(lambda _c=False, h=handler: h())
        window.named_actions[name] = action
    edit = window.menus["edit"]
    edit.addSeparator()
    edit.addActions([window.named_actions[n] for n in
                     ("make_subgraph", "unpack_subgraph", "open_subgraph", "subgraph_ports",
                      "save_template")])


def _selected_instance(window: MainWindow) -> str | None:
    level = window.editor.level
    return next((node_id for node_id in window.scene.selected_node_ids()
                 if subgraphs.is_instance(level.node(node_id))), None)


def make_from_selection(window: MainWindow, name: str = "Subgraph") -> str | None:
    instance_id = editing.make_subgraph(window.editor, window.scene.selected_node_ids(), name)
    if instance_id is not None:
        window.scene.select_nodes([instance_id])
    return instance_id


def unpack_selection(window: MainWindow) -> bool:
    instance_id = _selected_instance(window)
    if instance_id is None:
        window.report("Select a subgraph to unpack", "warning")
        return False
    return editing.unpack(window.editor, instance_id)


def open_selection(window: MainWindow) -> bool:
    instance_id = _selected_instance(window)
    return instance_id is not None and open_instance(window, instance_id)


def open_instance(window: MainWindow, instance_id: str) -> bool:
    if not editing.open_instance(window.editor, instance_id):
        return False
    window.view.frame_all()  # the nodes and the boundary items (scene.frame_extras)
    return True


def add_context_entries(window: MainWindow, item: NodeItem, menu: QMenu) -> None:
    """Open/Unpack for an instance; Promote/Unpromote for an inner node's widgets."""
    a = window.named_actions
    menu.addSeparator()
    if subgraphs.is_instance(item.node):
        window.scene.select_nodes([item.node_id])
        menu.addActions([a["open_subgraph"], a["unpack_subgraph"], a["subgraph_ports"]])
    menu.addAction(a["make_subgraph"])
    if not window.editor.path or item.node_type is None:
        return
    names = [spec.name for spec in item.node_type.inputs if spec.has_widget]
    if not names:
        return
    promote = menu.addMenu("Promote to Subgraph")
    for name in names:
        action = promote.addAction(name.replace("_", " "))
        action.setCheckable(True)
        action.setChecked(editing.promoted_name(window.editor, item.node_id, name) is not None)
        action.toggled.connect(lambda on, n=name: editing.set_promoted(
            window.editor, item.node_id, n, on))


def edit_ports(window: MainWindow) -> object:
    """Open the inputs-and-outputs dialog for the selected instance (or the open level)."""
    from nodestudio.ui.subgraph_dialogs import PortsDialog

    instance_id = _selected_instance(window)
    definition = (editing.open_definition(window.editor) if instance_id is None else
                  window.editor.graph.definitions.get(subgraphs.instance_ref(
                      window.editor.level.node(instance_id))[0]))
    if definition is None:
        window.report("Select a subgraph (or open one) to edit its inputs", "warning")
        return None
    dialog = PortsDialog(window.editor, definition, window)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.show()
    return dialog


def save_selection_as_template(window: MainWindow, name: str | None = None,
                               library: object = None) -> SubgraphDefinition | None:
    """Write the selection (or the selected instance's definition) to the user's library."""
    from nodestudio.app.subgraph_library import SubgraphLibrary

    editor = window.editor
    instance_id = _selected_instance(window)
    if instance_id is not None and len(window.scene.selected_node_ids()) == 1:
        definition = editor.graph.definitions[subgraphs.instance_ref(
            editor.level.node(instance_id))[0]]
    else:
        node_ids = window.scene.selected_node_ids()
        if not node_ids:
            window.report("Select the nodes to save as a template", "warning")
            return None
        state = with_root_definitions(editor.graph, editor.level)
        _graph, definition, _id = subgraphs.make_subgraph(state, node_ids,
                                                          registry=editor.registry)
    if name is None:
        name, ok = QInputDialog.getText(window, "Save as Template", "Template name:",
                                        text=definition.name)
        if not ok or not name.strip():
            return None
    saved = copy.deepcopy(definition)
    saved.name = name.strip()
    target = library if library is not None else SubgraphLibrary()
    try:
        path = target.save(saved)  # type: ignore[attr-defined]
    except (OSError, ValueError) as error:
        reason = (write_failure_reason(error, Path(error.filename or "."))
                  if isinstance(error, OSError) else str(error))
        window.report(f"Could not save the template {saved.name!r}: {reason}", "error")
        return None
    window.report(f"Saved the template {saved.name!r} to {path}")
    if hasattr(window.library_dock, "refresh_subgraphs"):
        window.library_dock.refresh_subgraphs()
    return saved


def add_definition_instance(window: MainWindow, definition: SubgraphDefinition,
                            pos: tuple[float, float]) -> str | None:
    """Add an instance of a library or template definition at the open level (undoable)."""
    editor = window.editor
    before = with_root_definitions(editor.graph, editor.level)
    after = before.copy()
    known = after.definitions.get(definition.id)
    try:
        node = subgraphs.add_instance(after, known if known is not None
                                      else copy.deepcopy(definition))
    except ValueError as error:
        window.report(f"Cannot add {definition.name!r}: {error}", "warning")
        return None
    after.move_node(node.id, (float(round(pos[0])), float(round(pos[1]))))
    editor.push(LevelStateCommand(editor.graph, editor.level, before, after,
                                  f"Add {definition.name}"))
    window.scene.select_nodes([node.id])
    return node.id
