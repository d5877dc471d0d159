"""Undo commands: each one changes the graph only through the model's methods.

Every command captures what it needs to put the model back exactly (ids, values, links,
reroutes, layout), so that undo after redo after undo gives the same document each time.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from PySide6.QtGui import QUndoCommand

from nodestudio.graph.layout import Group, NodeLayout, Point, reroute_key
from nodestudio.graph.model import Graph, Link, Node

_MERGE_VALUE, _MERGE_LAYOUT, _MERGE_GROUP = 1, 2, 3


@dataclass(frozen=True)
class _SavedLink:
    link: Link
    reroutes: list[Point] | None


def _save_link(graph: Graph, link: Link) -> _SavedLink:
    points = graph.layout.reroutes.get(reroute_key(link.target, link.input))
    return _SavedLink(link, list(points) if points else None)


def _restore_link(graph: Graph, saved: _SavedLink) -> None:
    link = saved.link
    graph.connect(link.source, link.output, link.target, link.input)
    if saved.reroutes:
        graph.set_reroutes(link.target, link.input, saved.reroutes)


def _restore_groups_at(graph: Graph, saved: list[tuple[int, Group]]) -> None:
    """Put groups back at their list positions (groups after them are re-added in order)."""
    for index, group in sorted(saved, key=lambda item: item[0]):
        trailing = [copy.deepcopy(g) for g in graph.layout.groups[index:]]
        for other in trailing:
            graph.remove_group(other.id)
        for restored in [group, *trailing]:
            graph.add_group(restored.title, restored.rect, restored.color, id=restored.id)


class InsertNodesCommand(QUndoCommand):
    """Add the nodes and links of ``part`` (a new node, a paste, a duplicate) at ``offset``.

    The ids chosen by the first redo are kept, so redo after undo recreates the same nodes.
    """

    def __init__(self, graph: Graph, part: Graph, offset: Point = (0.0, 0.0),
                 text: str = "Add nodes") -> None:
        super().__init__(text)
        self.graph = graph
        self.part = part
        self.offset = offset
        self.ids: dict[str, str] = {}

    def redo(self) -> None:
        for node in self.part:
            new_id = self.ids.get(node.id) or self.graph.new_id()
            placed = copy.deepcopy(self.part.layout.nodes.get(node.id, NodeLayout()))
            placed.pos = (placed.pos[0] + self.offset[0], placed.pos[1] + self.offset[1])
            self.graph.add_node(
                node.type, copy.deepcopy(node.values), id=new_id, type_version=node.type_version,
                mode=node.mode, title=node.title, controls=node.controls,
                extra=copy.deepcopy(node.extra), layout=placed,
            )
            self.ids[node.id] = new_id
        for link in self.part.links:
            target = self.ids[link.target]
            self.graph.connect(self.ids[link.source], link.output, target, link.input)
            points = self.part.layout.reroutes.get(reroute_key(link.target, link.input))
            if points:
                moved = [(x + self.offset[0], y + self.offset[1]) for x, y in points]
                self.graph.set_reroutes(target, link.input, moved)

    def undo(self) -> None:
        for node_id in reversed(list(self.ids.values())):
            if node_id in self.graph:
                self.graph.remove_node(node_id)

    @property
    def new_ids(self) -> list[str]:
        return list(self.ids.values())


class RemoveItemsCommand(QUndoCommand):
    """Delete nodes (with their links), single links and groups."""

    def __init__(self, graph: Graph, node_ids: list[str], links: list[tuple[str, str]] = (),
                 group_ids: list[str] = (), text: str = "Delete") -> None:
        super().__init__(text)
        self.graph = graph
        wanted = set(node_ids)
        self.nodes: list[tuple[Node, NodeLayout | None]] = [
            (copy.deepcopy(node), copy.deepcopy(graph.layout.nodes.get(node.id)))
            for node in graph if node.id in wanted
        ]
        link_keys = set(links)
        self.links = [
            _save_link(graph, link) for link in graph.links
            if link.source in wanted or link.target in wanted or link.key in link_keys
        ]
        self.groups = [(index, copy.deepcopy(group))
                       for index, group in enumerate(graph.layout.groups)
                       if group.id in set(group_ids)]

    def redo(self) -> None:
        for saved in self.links:
            self.graph.disconnect(saved.link.target, saved.link.input)
        for node, _layout in self.nodes:
            self.graph.remove_node(node.id)
        for _index, group in self.groups:
            self.graph.remove_group(group.id)

    def undo(self) -> None:
        for node, layout in self.nodes:
            self.graph.restore_node(node, layout)
        for saved in self.links:
            _restore_link(self.graph, saved)
        _restore_groups_at(self.graph, self.groups)


class ConnectCommand(QUndoCommand):
    """Link an output into an input; the link it replaces (if any) comes back on undo."""

    def __init__(self, graph: Graph, link: Link) -> None:
        super().__init__("Connect")
        self.graph = graph
        self.link = link
        existing = graph.link_into(link.target, link.input)
        self.replaced = _save_link(graph, existing) if existing is not None else None

    def redo(self) -> None:
        link = self.link
        self.graph.connect(link.source, link.output, link.target, link.input)

    def undo(self) -> None:
        self.graph.disconnect(self.link.target, self.link.input)
        if self.replaced is not None:
            _restore_link(self.graph, self.replaced)


class SetValueCommand(QUndoCommand):
    """Change one widget value. Changes made in one gesture (a drag, typing) merge into one."""

    def __init__(self, graph: Graph, node_id: str, name: str, value: Any,
                 gesture: object | None = None) -> None:
        super().__init__(f"Change {name}")
        self.graph = graph
        self.node_id, self.name, self.value = node_id, name, value
        node = graph.node(node_id)
        self.had_value = name in node.values
        self.old = copy.deepcopy(node.values.get(name))
        self.gesture = gesture

    def id(self) -> int:
        return _MERGE_VALUE

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not (isinstance(other, SetValueCommand) and self.gesture is not None
                and other.gesture is self.gesture and other.node_id == self.node_id
                and other.name == self.name and other.graph is self.graph):
            return False
        self.value = other.value
        if self.had_value and self.value == self.old and type(self.value) is type(self.old):
            self.setObsolete(True)
        return True

    def redo(self) -> None:
        self.graph.set_value(self.node_id, self.name, copy.deepcopy(self.value))

    def undo(self) -> None:
        if self.had_value:
            self.graph.set_value(self.node_id, self.name, copy.deepcopy(self.old))
        else:
            self.graph.unset_value(self.node_id, self.name)


class SetControlCommand(QUndoCommand):
    def __init__(self, graph: Graph, node_id: str, name: str, control: str) -> None:
        super().__init__(f"Change {name} control")
        self.graph, self.node_id, self.name, self.control = graph, node_id, name, control
        self.old = graph.node(node_id).controls.get(name)

    def redo(self) -> None:
        self.graph.set_control(self.node_id, self.name, self.control)

    def undo(self) -> None:
        self.graph.set_control(self.node_id, self.name, self.old)


class SetModesCommand(QUndoCommand):
    def __init__(self, graph: Graph, modes: dict[str, str], text: str = "Change mode") -> None:
        super().__init__(text)
        self.graph = graph
        self.changes = {node_id: (graph.node(node_id).mode, mode)
                        for node_id, mode in modes.items()}

    def redo(self) -> None:
        for node_id, (_old, new) in self.changes.items():
            self.graph.set_mode(node_id, new)  # type: ignore[arg-type]

    def undo(self) -> None:
        for node_id, (old, _new) in self.changes.items():
            self.graph.set_mode(node_id, old)  # type: ignore[arg-type]


class SetTitleCommand(QUndoCommand):
    def __init__(self, graph: Graph, node_id: str, title: str | None) -> None:
        super().__init__("Rename node")
        self.graph, self.node_id, self.title = graph, node_id, title
        self.old = graph.node(node_id).title

    def redo(self) -> None:
        self.graph.set_title(self.node_id, self.title)

    def undo(self) -> None:
        self.graph.set_title(self.node_id, self.old)


class MoveCommand(QUndoCommand):
    """Positions of nodes and rectangles of groups, before and after a drag."""

    def __init__(self, graph: Graph, nodes: dict[str, tuple[Point, Point]],
                 groups: dict[str, tuple[tuple, tuple]] | None = None) -> None:
        super().__init__("Move")
        self.graph = graph
        self.nodes = nodes
        self.groups = groups or {}

    def _apply(self, index: int) -> None:
        for node_id, positions in self.nodes.items():
            self.graph.move_node(node_id, positions[index])
        for group_id, rects in self.groups.items():
            self.graph.update_group(group_id, rect=rects[index])

    def redo(self) -> None:
        self._apply(1)

    def undo(self) -> None:
        self._apply(0)


class NodeLayoutCommand(QUndoCommand):
    """Change one field of nodes' layout: collapsed, color, size, socket_inputs or
    show_advanced."""

    def __init__(self, graph: Graph, field: str, values: dict[str, Any], text: str = "",
                 gesture: object | None = None) -> None:
        super().__init__(text or f"Change {field}")
        self.graph, self.field, self.gesture = graph, field, gesture
        self.changes = {
            node_id: (copy.deepcopy(getattr(graph.layout.node(node_id), field)), value)
            for node_id, value in values.items()
        }

    def id(self) -> int:
        return _MERGE_LAYOUT

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not (isinstance(other, NodeLayoutCommand) and self.gesture is not None
                and other.gesture is self.gesture and other.field == self.field
                and other.changes.keys() == self.changes.keys()):
            return False
        for node_id, (_old, new) in other.changes.items():
            self.changes[node_id] = (self.changes[node_id][0], new)
        return True

    def _apply(self, index: int) -> None:
        for node_id, values in self.changes.items():
            self.graph.update_node_layout(node_id, **{self.field: copy.deepcopy(values[index])})

    def redo(self) -> None:
        self._apply(1)

    def undo(self) -> None:
        self._apply(0)


class AddGroupCommand(QUndoCommand):
    def __init__(self, graph: Graph, title: str, rect: tuple, color: str | None) -> None:
        super().__init__("Add group")
        self.graph, self.title, self.rect, self.color = graph, title, rect, color
        self.group_id: str | None = None

    def redo(self) -> None:
        group = self.graph.add_group(self.title, self.rect, self.color, id=self.group_id)
        self.group_id = group.id

    def undo(self) -> None:
        if self.group_id is not None:
            self.graph.remove_group(self.group_id)


class UpdateGroupCommand(QUndoCommand):
    """Change a group's title, colour or rectangle (a resize gesture merges)."""

    def __init__(self, graph: Graph, group_id: str, changes: dict[str, Any],
                 gesture: object | None = None) -> None:
        super().__init__("Change group")
        self.graph, self.group_id, self.gesture = graph, group_id, gesture
        group = graph.group(group_id)
        self.old = {name: copy.deepcopy(getattr(group, name)) for name in changes}
        self.new = dict(changes)

    def id(self) -> int:
        return _MERGE_GROUP

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not (isinstance(other, UpdateGroupCommand) and self.gesture is not None
                and other.gesture is self.gesture and other.group_id == self.group_id
                and other.new.keys() == self.new.keys()):
            return False
        self.new = dict(other.new)
        return True

    def redo(self) -> None:
        self.graph.update_group(self.group_id, **self.new)

    def undo(self) -> None:
        self.graph.update_group(self.group_id, **self.old)


class SetReroutesCommand(QUndoCommand):
    def __init__(self, graph: Graph, target: str, input_name: str,
                 points: list[Point], text: str = "Reroute link") -> None:
        super().__init__(text)
        self.graph, self.target, self.input = graph, target, input_name
        self.old = list(graph.layout.reroutes.get(reroute_key(target, input_name), []))
        self.new = [(float(x), float(y)) for x, y in points]

    def redo(self) -> None:
        self.graph.set_reroutes(self.target, self.input, self.new)

    def undo(self) -> None:
        self.graph.set_reroutes(self.target, self.input, self.old)
