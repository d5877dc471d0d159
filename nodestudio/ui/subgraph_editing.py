"""The window's subgraph intents on a :class:`~nodestudio.ui.editor.GraphEditor`: make,
unpack, open and leave, promote and unpromote, rename, reorder and remove ports. Each edit is
one undo command; opening and leaving are navigation, not edits."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import TYPE_CHECKING

from PySide6.QtGui import QUndoCommand

from nodestudio.graph import subgraphs
from nodestudio.graph.model import Graph, NodeChanged
from nodestudio.graph.subgraphs import PromotedWidget, SubgraphDefinition
from nodestudio.ui.subgraph_commands import (
    DefinitionCommand,
    LevelStateCommand,
    assign_level,
    with_root_definitions,
)
from nodestudio.ui.subgraph_types import definition_of

if TYPE_CHECKING:
    from nodestudio.ui.editor import GraphEditor


def make_subgraph(editor: GraphEditor, node_ids: Iterable[str], name: str = "Subgraph"
                  ) -> str | None:
    """Pack the nodes into a new subgraph at the open level; returns the instance's id."""
    level = editor.level
    node_ids = [node_id for node_id in node_ids if node_id in level]
    if not node_ids:
        editor.message.emit("Select the nodes to pack into a subgraph first", "warning")
        return None
    before = with_root_definitions(editor.graph, level)
    try:
        after, _definition, instance_id = subgraphs.make_subgraph(
            before, node_ids, name=name, registry=editor.registry)
    except ValueError as error:
        editor.message.emit(f"Cannot make a subgraph: {error}", "warning")
        return None
    editor.push(LevelStateCommand(editor.graph, level, before, after, "Make Subgraph"))
    return instance_id


def unpack(editor: GraphEditor, instance_id: str) -> bool:
    """Replace an instance at the open level by its inner nodes (one undo step)."""
    level = editor.level
    before = with_root_definitions(editor.graph, level)
    try:
        after = subgraphs.unpack(before, instance_id)
    except (ValueError, KeyError) as error:
        editor.message.emit(f"Cannot unpack: {error}", "warning")
        return False
    editor.push(LevelStateCommand(editor.graph, level, before, after, "Unpack Subgraph"))
    return True


def open_instance(editor: GraphEditor, instance_id: str) -> bool:
    """Show the inner graph of the definition ``instance_id`` (at the open level) runs."""
    node = editor.level.nodes.get(instance_id)
    definition = definition_of(editor.graph, node) if node is not None else None
    if definition is None:
        return False
    editor.set_path([*editor.path, (instance_id, definition.id)])
    return True


def leave(editor: GraphEditor, depth: int | None = None) -> None:
    """Go up to ``depth`` opened subgraphs (0: the top level; None: one level up)."""
    depth = max(len(editor.path) - 1, 0) if depth is None else depth
    editor.set_path(editor.path[:depth])


def open_definition(editor: GraphEditor) -> SubgraphDefinition | None:
    """The definition whose inner graph is open (None at the top level)."""
    if not editor.path:
        return None
    definition = editor.graph.definitions.get(editor.path[-1][1])
    return definition if isinstance(definition, SubgraphDefinition) else None


def promoted_name(editor: GraphEditor, node_id: str, input_name: str) -> str | None:
    definition = open_definition(editor)
    for widget in definition.widgets if definition is not None else []:
        if widget.node == node_id and widget.input == input_name:
            return widget.name
    return None


def set_promoted(editor: GraphEditor, node_id: str, input_name: str, promote: bool) -> None:
    """Show the open level's inner widget on every instance (each keeps its own value), or
    stop showing it (instances' values for it go)."""
    definition = open_definition(editor)
    current = promoted_name(editor, node_id, input_name)
    if definition is None or (current is not None) == promote:
        return
    if current is not None:
        unpromote(editor, definition, current)
        return
    after = copy.deepcopy(definition)
    after.graph = definition.graph  # not part of the interface; never copied back
    taken = {w.name for w in after.widgets} | {i.name for i in after.inputs}
    name, count = input_name, 2
    while name in taken:
        name, count = f"{input_name}_{count}", count + 1
    value = editor.level.node(node_id).values.get(input_name)
    after.widgets.append(PromotedWidget(name, node_id, input_name, copy.deepcopy(value)))
    values = _instance_values(editor.graph, definition.id, lambda v: v)
    editor.push(DefinitionCommand(editor.graph, definition, after, values,
                                  f"Promote {input_name}"))


def unpromote(editor: GraphEditor, definition: SubgraphDefinition, name: str) -> bool:
    """Stop showing promoted widget ``name`` of ``definition`` on its instances (their
    values for it go); one undo step."""
    widget = next((w for w in definition.widgets if w.name == name), None)
    if widget is None:
        return False
    after = copy.deepcopy(definition)
    after.graph = definition.graph  # not part of the interface; never copied back
    after.widgets = [w for w in after.widgets if w.name != name]
    values = _instance_values(editor.graph, definition.id,
                              lambda v: {k: x for k, x in v.items() if k != name})
    editor.push(DefinitionCommand(editor.graph, definition, after, values,
                                  f"Unpromote {widget.input}"))
    return True


def rename_port(editor: GraphEditor, definition: SubgraphDefinition, old: str, new: str,
                output: bool = False) -> bool:
    """Rename an input or promoted widget (or, with ``output``, an output) of
    ``definition``; links and instance values follow. Refuses an empty or taken name."""
    new = new.strip()
    if output:
        taken = {o.name for o in definition.outputs}
        items_of = lambda d: d.outputs  # noqa: E731 - chooses the list in both copies
    else:
        taken = {i.name for i in definition.inputs} | {w.name for w in definition.widgets}
        items_of = lambda d: [*d.inputs, *d.widgets]  # noqa: E731
    if old not in taken or new == old:
        return False
    if not new or new in taken:
        editor.message.emit(f"Cannot rename {old!r}: the name {new!r} is empty or taken",
                            "warning")
        return False
    after = copy.deepcopy(definition)
    after.graph = definition.graph
    for item in items_of(after):
        if item.name == old:
            item.name = new
    values = _instance_values(editor.graph, definition.id,
                              lambda v: {(new if k == old else k): x for k, x in v.items()})
    editor.undo_stack.beginMacro(f"Rename {old}")
    try:
        links = _relink(editor.graph, definition.id, old, new, output)
        editor.push(DefinitionCommand(editor.graph, definition, after, values, f"Rename {old}"))
        editor.push(links)
    finally:
        editor.undo_stack.endMacro()
    return True


def move_input(editor: GraphEditor, definition: SubgraphDefinition, name: str, delta: int
               ) -> bool:
    """Move input ``name`` of ``definition`` up (-1) or down (+1) on every instance."""
    names = [item.name for item in definition.inputs]
    if name not in names:
        return False
    index = names.index(name)
    target = index + delta
    if not 0 <= target < len(names):
        return False
    after = copy.deepcopy(definition)
    after.graph = definition.graph
    after.inputs.insert(target, after.inputs.pop(index))
    editor.push(DefinitionCommand(editor.graph, definition, after, {}, f"Move {name}"))
    return True


def remove_port(editor: GraphEditor, definition: SubgraphDefinition, name: str,
                output: bool = False) -> bool:
    """Remove input (with ``output``: output) ``name`` of ``definition``, the links to it
    on every instance and the instances' values for it; one undo step. The boundary's
    right-click and the ports dialog both come here."""
    after = copy.deepcopy(definition)
    after.graph = definition.graph  # not part of the interface; never copied back
    if output:
        after.outputs = [item for item in after.outputs if item.name != name]
    else:
        after.inputs = [item for item in after.inputs if item.name != name]
    if (after.outputs, after.inputs) == (definition.outputs, definition.inputs):
        return False
    values: dict[tuple[str | None, str], dict] = {}
    places: dict[int, tuple[Graph, list[str]]] = {}
    for where, node_id in subgraphs.instances_of(editor.graph, definition.id):
        graph = editor.graph if where is None else editor.graph.definitions[where].graph
        places.setdefault(id(graph), (graph, []))[1].append(node_id)
        kept = graph.node(node_id).values
        if not output and name in kept:
            values[(where, node_id)] = {k: copy.deepcopy(v) for k, v in kept.items()
                                        if k != name}
    unlinked = LevelStatesCommand([(graph, _unlinked(graph, ids, name, output))
                                   for graph, ids in places.values()])
    text = f"Remove {'output' if output else 'input'} {name}"
    editor.undo_stack.beginMacro(text)
    try:
        # Links first: none is left pointing at a port that is gone (undo runs in reverse,
        # so the port is back before its links are).
        editor.push(unlinked)
        editor.push(DefinitionCommand(editor.graph, definition, after, values, text))
    finally:
        editor.undo_stack.endMacro()
    return True


def _unlinked(graph: Graph, ids: list[str], name: str, output: bool) -> tuple[Graph, Graph]:
    """``graph`` before and after the links into (out of) port ``name`` of instances
    ``ids`` are gone."""
    before, after = graph.copy(), graph.copy()
    for link in list(after.links):
        if (output and link.source in ids and link.output == name) \
                or (not output and link.target in ids and link.input == name):
            after.disconnect(link.target, link.input)
    return before, after


def _instance_values(root: Graph, definition_id: str, change) -> dict:
    result = {}
    for where, node_id in subgraphs.instances_of(root, definition_id):
        graph = root if where is None else root.definitions[where].graph
        result[(where, node_id)] = change(copy.deepcopy(graph.node(node_id).values))
    return result


def _relink(root: Graph, definition_id: str, old: str, new: str, output: bool
            ) -> LevelStatesCommand:
    """Links to or from the renamed port, on every instance, moved to the new name."""
    places: dict[int, tuple[Graph, list[str]]] = {}
    for where, node_id in subgraphs.instances_of(root, definition_id):
        graph = root if where is None else root.definitions[where].graph
        places.setdefault(id(graph), (graph, []))[1].append(node_id)
    return LevelStatesCommand([(graph, _renamed_links(graph, ids, old, new, output))
                               for graph, ids in places.values()])


def _renamed_links(graph: Graph, ids: list[str], old: str, new: str, output: bool
                   ) -> tuple[Graph, Graph]:
    before, after = graph.copy(), graph.copy()
    for link in list(after.links):
        if output and link.source in ids and link.output == old:
            after.disconnect(link.target, link.input)
            after.connect(link.source, new, link.target, link.input)
        elif not output and link.target in ids and link.input == old:
            after.disconnect(link.target, link.input)
            after.connect(link.source, link.output, link.target, new)
    return before, after


class LevelStatesCommand(QUndoCommand):
    """Several levels moved between states together (links renamed on every instance)."""

    def __init__(self, changes: list[tuple[Graph, tuple[Graph, Graph]]]) -> None:
        super().__init__("Relink")
        self.changes = changes

    def redo(self) -> None:
        for graph, (_before, after) in self.changes:
            assign_level(graph, after)

    def undo(self) -> None:
        for graph, (before, _after) in self.changes:
            assign_level(graph, before)


def forward_inner_edits(editor: GraphEditor) -> object:
    """While a subgraph is open, tell the document's listeners (autosave, cache marks) that
    its instance changed whenever the inner graph does; returns the unsubscribe function."""
    if not editor.path:
        return None
    root, instance_id = editor.graph, editor.path[0][0]

    def changed(_event: object) -> None:
        if instance_id in root:
            root._emit(NodeChanged(instance_id, "definition"))

    return editor.level.subscribe(changed)

