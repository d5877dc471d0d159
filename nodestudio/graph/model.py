"""The graph model: nodes, links and values, plus the layout beside them, with change events.

Views observe a Graph through :meth:`Graph.subscribe` and change it only through its methods,
so the canvas, the properties panel, undo commands and scripts all see the same truth.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from nodestudio.graph.layout import Group, Layout, NodeLayout, Point, reroute_key
from nodestudio.graph.problems import Problem

NodeMode = Literal["normal", "muted", "bypassed"]
NODE_MODES: tuple[str, ...] = ("normal", "muted", "bypassed")


@dataclass
class Node:
    id: str
    type: str
    type_version: int = 1
    values: dict[str, Any] = field(default_factory=dict)
    mode: NodeMode = "normal"
    title: str | None = None
    #: Control-after-generate mode per seed input ("fixed", "increment", "randomize" …): how
    #: the run queue changes the value between runs. Not part of what the node computes.
    controls: dict[str, str] = field(default_factory=dict)
    #: Fields of the node's file entry that this version does not understand, kept verbatim.
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Link:
    """``source``'s output ``output`` feeds ``target``'s input ``input``."""

    source: str
    output: str
    target: str
    input: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.target, self.input)


# -- events ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeAdded:
    node: Node


@dataclass(frozen=True)
class NodeRemoved:
    node: Node


@dataclass(frozen=True)
class LinkAdded:
    link: Link


@dataclass(frozen=True)
class LinkRemoved:
    link: Link


@dataclass(frozen=True)
class ValueChanged:
    node_id: str
    name: str
    old: Any
    new: Any


@dataclass(frozen=True)
class NodeChanged:
    """Mode, title, type version or controls of a node changed (``field`` says which)."""

    node_id: str
    field: str


@dataclass(frozen=True)
class LayoutChanged:
    """Positions, sizes, colours, groups or reroutes changed; ``node_id`` None for groups/view."""

    node_id: str | None
    field: str


GraphEvent = (
    NodeAdded | NodeRemoved | LinkAdded | LinkRemoved | ValueChanged | NodeChanged | LayoutChanged
)
Listener = Callable[[GraphEvent], None]


class Graph:
    def __init__(self) -> None:
        self._nodes: dict[str, Node] = {}
        self._links: dict[tuple[str, str], Link] = {}
        # Indexes by node, so that walking a large graph stays linear.
        self._into: dict[str, dict[str, Link]] = {}
        self._out: dict[str, dict[tuple[str, str], Link]] = {}
        self.layout = Layout()
        #: Title, description and whatever else travels with the file but is not a node.
        self.metadata: dict[str, Any] = {}
        #: Subgraph definitions by id (graph.subgraphs.SubgraphDefinition), shared by every
        #: instance in this graph and in the definitions themselves (nesting).
        self.definitions: dict[str, Any] = {}
        #: Problems worth a warning found when this graph was loaded (not saved with it).
        self.load_warnings: list[Problem] = []
        self._listeners: list[Listener] = []
        self._next_id = 1

    # -- observation ----------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every change; returns a function that unsubscribes."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _emit(self, event: GraphEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    # -- reading ------------------------------------------------------------------------------

    @property
    def nodes(self) -> dict[str, Node]:
        """Nodes by id, in insertion order. Read-only by convention: change through methods."""
        return self._nodes

    @property
    def links(self) -> list[Link]:
        return list(self._links.values())

    def node(self, node_id: str) -> Node:
        try:
            return self._nodes[node_id]
        except KeyError:
            raise KeyError(f"no node with id {node_id!r}") from None

    def find(self, *, type_id: str | None = None, title: str | None = None) -> list[Node]:
        """The nodes of type ``type_id`` and/or titled ``title`` (any case), in graph order: a
        script's way to the sampler of a workflow whose ids it does not know
        (``[sampler] = graph.find(type_id="diffusion.sampler")``)."""
        wanted = title.strip().lower() if title is not None else None
        return [node for node in self._nodes.values()
                if (type_id is None or node.type == type_id)
                and (wanted is None or (node.title or "").strip().lower() == wanted)]

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def __iter__(self) -> Iterator[Node]:
        return iter(self._nodes.values())

    def __len__(self) -> int:
        return len(self._nodes)

    def link_into(self, node_id: str, input_name: str) -> Link | None:
        return self._links.get((node_id, input_name))

    def links_into(self, node_id: str) -> list[Link]:
        return list(self._into.get(node_id, {}).values())

    def links_from(self, node_id: str) -> list[Link]:
        return list(self._out.get(node_id, {}).values())

    def _index(self, link: Link) -> None:
        self._links[link.key] = link
        self._into.setdefault(link.target, {})[link.input] = link
        self._out.setdefault(link.source, {})[link.key] = link

    def _unindex(self, link: Link) -> None:
        del self._links[link.key]
        del self._into[link.target][link.input]
        del self._out[link.source][link.key]

    def value(self, node_id: str, name: str, default: Any = None) -> Any:
        return self.node(node_id).values.get(name, default)

    def new_id(self) -> str:
        while str(self._next_id) in self._nodes:
            self._next_id += 1
        return str(self._next_id)

    # -- editing ------------------------------------------------------------------------------

    def add_node(
        self,
        type_id: str,
        values: dict[str, Any] | None = None,
        *,
        id: str | None = None,
        type_version: int = 1,
        pos: Point | None = None,
        mode: NodeMode = "normal",
        title: str | None = None,
        controls: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        layout: NodeLayout | None = None,
    ) -> Node:
        node_id = id if id is not None else self.new_id()
        if node_id in self._nodes:
            raise ValueError(f"a node with id {node_id!r} already exists")
        if mode not in NODE_MODES:
            raise ValueError(f"unknown node mode {mode!r}")
        node = Node(node_id, type_id, type_version, dict(values or {}), mode, title,
                    dict(controls or {}), dict(extra or {}))
        self._nodes[node_id] = node
        # Layout first, so that views reading it on NodeAdded put the node in its place.
        if layout is not None:
            self.layout.nodes[node_id] = copy.deepcopy(layout)
        if pos is not None:
            self.layout.node(node_id).pos = (float(pos[0]), float(pos[1]))
        self._emit(NodeAdded(node))
        return node

    def restore_node(self, node: Node, layout: NodeLayout | None = None) -> Node:
        """Put back a node removed earlier (undo), with its id, values and layout."""
        return self.add_node(
            node.type, copy.deepcopy(node.values), id=node.id, type_version=node.type_version,
            mode=node.mode, title=node.title, controls=node.controls,
            extra=copy.deepcopy(node.extra), layout=layout,
        )

    def remove_node(self, node_id: str) -> list[Link]:
        """Remove the node and its links; returns the removed links (for undo)."""
        node = self.node(node_id)
        removed = self.links_into(node_id) + self.links_from(node_id)
        for link in removed:
            self.disconnect(link.target, link.input)
        del self._nodes[node_id]
        self._into.pop(node_id, None)
        self._out.pop(node_id, None)
        self.layout.nodes.pop(node_id, None)
        self._emit(NodeRemoved(node))
        return removed

    def connect(self, source: str, output: str, target: str, input_name: str) -> Link:
        """Link ``source.output`` into ``target.input``, replacing a link already there.

        The graph checks only that both nodes exist; type rules live in the registry and are
        checked by :func:`nodestudio.graph.links.check_link` and the validator.
        """
        self.node(source)
        self.node(target)
        if source == target:
            raise ValueError("a node cannot feed itself")
        existing = self._links.get((target, input_name))
        if existing is not None:
            if existing == Link(source, output, target, input_name):
                return existing
            self.disconnect(target, input_name)
        link = Link(source, output, target, input_name)
        self._index(link)
        self._emit(LinkAdded(link))
        return link

    def disconnect(self, target: str, input_name: str) -> Link | None:
        link = self._links.get((target, input_name))
        if link is not None:
            self._unindex(link)
            self.layout.reroutes.pop(reroute_key(target, input_name), None)
            self._emit(LinkRemoved(link))
        return link

    def set_value(self, node_id: str, name: str, value: Any) -> None:
        node = self.node(node_id)
        old = node.values.get(name)
        if name in node.values and old == value and type(old) is type(value):
            return
        node.values[name] = value
        self._emit(ValueChanged(node_id, name, old, value))

    def unset_value(self, node_id: str, name: str) -> None:
        node = self.node(node_id)
        if name in node.values:
            old = node.values.pop(name)
            self._emit(ValueChanged(node_id, name, old, None))

    def set_mode(self, node_id: str, mode: NodeMode) -> None:
        if mode not in NODE_MODES:
            raise ValueError(f"unknown node mode {mode!r}; expected one of {NODE_MODES}")
        node = self.node(node_id)
        if node.mode != mode:
            node.mode = mode
            self._emit(NodeChanged(node_id, "mode"))

    def set_title(self, node_id: str, title: str | None) -> None:
        node = self.node(node_id)
        if node.title != title:
            node.title = title
            self._emit(NodeChanged(node_id, "title"))

    def set_control(self, node_id: str, input_name: str, control: str | None) -> None:
        """Set how ``input_name`` changes between runs; None removes the setting (undo)."""
        node = self.node(node_id)
        if node.controls.get(input_name) != control:
            if control is None:
                del node.controls[input_name]
            else:
                node.controls[input_name] = control
            self._emit(NodeChanged(node_id, "controls"))

    def retype_node(self, node_id: str, type_id: str, type_version: int) -> None:
        """Point a node at another type id/version (migrations, replacing a placeholder)."""
        node = self.node(node_id)
        node.type, node.type_version = type_id, type_version
        self._emit(NodeChanged(node_id, "type"))

    # -- layout -------------------------------------------------------------------------------

    def move_node(self, node_id: str, pos: Point) -> None:
        self.node(node_id)
        self.layout.node(node_id).pos = (float(pos[0]), float(pos[1]))
        self._emit(LayoutChanged(node_id, "pos"))

    def update_node_layout(self, node_id: str, **changes: Any) -> None:
        """Change ``size``, ``color``, ``collapsed``, ``socket_inputs`` or ``show_advanced`` of a
        node's layout."""
        self.node(node_id)
        item = self.layout.node(node_id)
        for name, value in changes.items():
            if not hasattr(item, name):
                raise AttributeError(f"node layout has no field {name!r}")
            setattr(item, name, value)
            self._emit(LayoutChanged(node_id, name))

    def add_group(self, title: str, rect: tuple[float, float, float, float],
                  color: str | None = None, *, id: str | None = None) -> Group:
        taken = {group.id for group in self.layout.groups}
        group_id = id or next(f"g{i}" for i in range(1, len(taken) + 2) if f"g{i}" not in taken)
        group = Group(group_id, title, tuple(rect), color)  # type: ignore[arg-type]
        self.layout.groups.append(group)
        self._emit(LayoutChanged(None, "groups"))
        return group

    def update_group(self, group_id: str, **changes: Any) -> None:
        group = self.group(group_id)
        for name, value in changes.items():
            setattr(group, name, tuple(value) if name == "rect" else value)
        self._emit(LayoutChanged(None, "groups"))

    def remove_group(self, group_id: str) -> Group:
        group = self.group(group_id)
        self.layout.groups.remove(group)
        self._emit(LayoutChanged(None, "groups"))
        return group

    def group(self, group_id: str) -> Group:
        for group in self.layout.groups:
            if group.id == group_id:
                return group
        raise KeyError(f"no group with id {group_id!r}")

    def set_reroutes(self, target: str, input_name: str, points: list[Point]) -> None:
        key = reroute_key(target, input_name)
        if points:
            self.layout.reroutes[key] = [(float(x), float(y)) for x, y in points]
        else:
            self.layout.reroutes.pop(key, None)
        self._emit(LayoutChanged(target, "reroutes"))

    # -- whole-graph operations ---------------------------------------------------------------

    def copy(self) -> Graph:
        """A deep copy without listeners: a snapshot to run while the user keeps editing."""
        clone = Graph()
        clone._nodes = copy.deepcopy(self._nodes)
        for link in self._links.values():
            clone._index(link)
        clone.layout = copy.deepcopy(self.layout)
        clone.metadata = copy.deepcopy(self.metadata)
        clone.definitions = copy.deepcopy(self.definitions)
        clone._next_id = self._next_id
        return clone

    def subgraph(self, node_ids: Iterable[str]) -> Graph:
        """The given nodes with the links between them and their layout (copy/paste)."""
        wanted = [node_id for node_id in self._nodes if node_id in set(node_ids)]
        part = Graph()
        for node_id in wanted:
            node = self._nodes[node_id]
            part.restore_node(node, self.layout.nodes.get(node_id))
        for link in self._links.values():
            if link.source in part and link.target in part:
                part._index(link)
                points = self.layout.reroutes.get(reroute_key(link.target, link.input))
                if points:
                    part.layout.reroutes[reroute_key(link.target, link.input)] = list(points)
        part.definitions = copy.deepcopy(self.definitions)  # pasted instances keep theirs
        return part

    def merge(self, other: Graph, offset: Point = (0.0, 0.0)) -> dict[str, str]:
        """Add ``other``'s nodes and links under fresh ids (paste); returns old id -> new id."""
        mapping: dict[str, str] = {}
        for node in other:
            placed = copy.deepcopy(other.layout.nodes.get(node.id, NodeLayout()))
            placed.pos = (placed.pos[0] + offset[0], placed.pos[1] + offset[1])
            new_node = self.add_node(
                node.type, copy.deepcopy(node.values), type_version=node.type_version,
                mode=node.mode, title=node.title, controls=node.controls,
                extra=copy.deepcopy(node.extra), layout=placed,
            )
            mapping[node.id] = new_node.id
        for definition_id, definition in other.definitions.items():
            self.definitions.setdefault(definition_id, copy.deepcopy(definition))
        for link in other.links:
            self.connect(mapping[link.source], link.output, mapping[link.target], link.input)
        return mapping

    def clear(self) -> None:
        for node_id in list(self._nodes):
            self.remove_node(node_id)
        self.layout = Layout()
        self.metadata = {}
        self.definitions = {}
        self._emit(LayoutChanged(None, "all"))

    def __eq__(self, other: object) -> bool:
        """Equal nodes, links and layout (what a save/load round trip must preserve)."""
        if not isinstance(other, Graph):
            return NotImplemented
        return (
            self._nodes == other._nodes
            and set(self._links.values()) == set(other._links.values())
            and self.layout == other.layout
            and self.metadata == other.metadata
            and self.definitions == other.definitions
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Graph {len(self._nodes)} nodes, {len(self._links)} links>"
