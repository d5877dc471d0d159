"""Undo commands for subgraphs: make, unpack, promote, rename, reorder and moving the
boundary items.

Making and unpacking are pure functions of the graph (graph/subgraphs.py); the commands keep
the level's state before and after and move the live graph between them with the model's own
methods, so the canvas follows through the usual events and undo restores ids, values,
layout and links exactly. Definitions are kept by object where both states have them: an
inner graph open in the canvas must stay the object the canvas watches.
"""

from __future__ import annotations

import copy
from typing import Any

from PySide6.QtGui import QUndoCommand

from nodestudio.graph.layout import reroute_key
from nodestudio.graph.model import Graph, NodeChanged
from nodestudio.graph.subgraphs import (
    BOUNDARY_KEY,
    SubgraphDefinition,
    instances_of,
    moved_boundary,
    set_boundary,
)


def assign_level(graph: Graph, target: Graph) -> None:
    """Change ``graph``'s nodes, links and reroutes into ``target``'s (same ids)."""
    wanted_links = set(target.links)
    for link in list(graph.links):
        if link not in wanted_links:
            graph.disconnect(link.target, link.input)
    for node in list(graph):
        other = target.nodes.get(node.id)
        if other != node or graph.layout.nodes.get(node.id) != target.layout.nodes.get(node.id):
            graph.remove_node(node.id)
    for node in target:
        if node.id not in graph:
            graph.restore_node(copy.deepcopy(node),
                               copy.deepcopy(target.layout.nodes.get(node.id)))
    present = set(graph.links)
    for link in target.links:
        if link not in present:
            graph.connect(link.source, link.output, link.target, link.input)
    for link in target.links:
        key = reroute_key(link.target, link.input)
        points = target.layout.reroutes.get(key, [])
        if graph.layout.reroutes.get(key, []) != points:
            graph.set_reroutes(link.target, link.input, list(points))


def assign_definitions(root: Graph, target: dict[str, Any]) -> None:
    """Add and drop definitions so ``root`` has ``target``'s ids; kept ones stay as they are."""
    for definition_id in list(root.definitions):
        if definition_id not in target:
            del root.definitions[definition_id]
    for definition_id, definition in target.items():
        if definition_id not in root.definitions:
            root.definitions[definition_id] = copy.deepcopy(definition)


class LevelStateCommand(QUndoCommand):
    """Move a level (``graph``, inside document ``root``) between two saved states."""

    def __init__(self, root: Graph, graph: Graph, before: Graph, after: Graph,
                 text: str) -> None:
        super().__init__(text)
        self.root, self.graph = root, graph
        self.before, self.after = before, after

    def _apply(self, state: Graph) -> None:
        assign_definitions(self.root, state.definitions)
        assign_level(self.graph, state)

    def redo(self) -> None:
        self._apply(self.after)

    def undo(self) -> None:
        self._apply(self.before)


def with_root_definitions(root: Graph, graph: Graph) -> Graph:
    """A copy of level ``graph`` holding the document's definitions (which live at the top)."""
    state = graph.copy()
    state.definitions = copy.deepcopy(root.definitions)
    return state


class DefinitionCommand(QUndoCommand):
    """Replace a definition's interface (inputs, outputs, promoted widgets, name) and every
    instance's values; the inner graph is not touched."""

    def __init__(self, root: Graph, definition: SubgraphDefinition,
                 after: SubgraphDefinition, values: dict[tuple[str | None, str], dict],
                 text: str) -> None:
        super().__init__(text)
        self.root, self.definition = root, definition
        self.before = _interface(definition)
        self.after = _interface(after)
        self.values_after = values
        self.values_before = {key: copy.deepcopy(_instance_graph(root, key[0]).node(key[1])
                                                 .values) for key in values}

    def _apply(self, interface: dict[str, Any], values: dict) -> None:
        for name, value in interface.items():
            setattr(self.definition, name, copy.deepcopy(value))
        for (where, node_id), node_values in values.items():
            graph = _instance_graph(self.root, where)
            node = graph.node(node_id)
            node.values.clear()
            node.values.update(copy.deepcopy(node_values))
        for where, node_id in instances_of(self.root, self.definition.id):
            # The instance's sockets and widgets changed: let the canvas redraw it.
            _instance_graph(self.root, where)._emit(NodeChanged(node_id, "type"))

    def redo(self) -> None:
        self._apply(self.after, self.values_after)

    def undo(self) -> None:
        self._apply(self.before, self.values_before)


def _interface(definition: SubgraphDefinition) -> dict[str, Any]:
    return {name: copy.deepcopy(getattr(definition, name))
            for name in ("name", "inputs", "outputs", "widgets")}


def _instance_graph(root: Graph, where: str | None) -> Graph:
    return root if where is None else root.definitions[where].graph


class BoundaryMoveCommand(QUndoCommand):
    """Place a boundary item (Subgraph Inputs or Outputs) of a definition, as MoveCommand
    places nodes: the stored value before and after (its absence included, so an undo gives
    back the file exactly as it was)."""

    def __init__(self, root: Graph, definition_id: str, side: str,
                 pos: tuple[float, float], text: str) -> None:
        super().__init__(text)
        # By id: undoing a make or an unpack may put back a copy of the definition.
        self.root, self.definition_id = root, definition_id
        extra = root.definitions[definition_id].graph.layout.extra
        self.had_before = BOUNDARY_KEY in extra
        self.before = copy.deepcopy(extra.get(BOUNDARY_KEY))
        self.after = moved_boundary(self.before, side, pos)

    def _apply(self, value: Any, present: bool) -> None:
        definition = self.root.definitions.get(self.definition_id)
        if isinstance(definition, SubgraphDefinition):
            set_boundary(definition, value, present)

    def redo(self) -> None:
        self._apply(self.after, True)

    def undo(self) -> None:
        self._apply(self.before, self.had_before)
