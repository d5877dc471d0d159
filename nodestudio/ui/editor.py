"""The editing intents of the window, as undoable commands on the current graph.

The canvas, the docks and the menus all edit through a :class:`GraphEditor`; it owns the undo
stack and knows the registry (for socket types and defaults). It never keeps its own copy of
the graph: views observe :attr:`GraphEditor.graph` through ``Graph.subscribe``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from nodestudio.api.registry import NodeRegistry
from nodestudio.api.schema import NodeType
from nodestudio.api.sockets import ANY
from nodestudio.graph import link_rules
from nodestudio.graph.layout import NodeLayout, Point
from nodestudio.graph.link_rules import Endpoint
from nodestudio.graph.model import Graph, Link, Node
from nodestudio.graph.subgraphs import instance_ref
from nodestudio.ui import commands, subgraph_levels
from nodestudio.ui.choices import ChoiceProvider
from nodestudio.ui.subgraph_types import node_type_of


class GraphEditor(QObject):
    graph_replaced = Signal(object)
    #: The canvas shows another level (a subgraph opened or left); carries the level's graph.
    level_changed = Signal(object)
    #: A short message for the log/status bar (e.g. why a link was refused).
    message = Signal(str, str)

    def __init__(self, registry: NodeRegistry, choices: ChoiceProvider | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.registry = registry
        self.choices = choices or ChoiceProvider()
        self.undo_stack = QUndoStack(self)
        #: The document's graph (what is saved and run).
        self.graph = Graph()
        #: The subgraphs opened, outermost first: (instance id in its parent, definition id).
        self.path: list[tuple[str, str]] = []
        self._forwarding: object = None
        # An undo may remove the subgraph that is open (undoing Make Subgraph): go up then.
        self.undo_stack.indexChanged.connect(lambda _index: self.set_path(
            subgraph_levels.valid_path(self.graph, self.path)))

    @property
    def level(self) -> Graph:
        """The graph the canvas shows and edits: the document, or an opened definition's."""
        return subgraph_levels.level_graph(self.graph, self.path)

    def set_graph(self, graph: Graph) -> None:
        """Show and edit another graph; the undo history of the previous one is dropped."""
        self.undo_stack.clear()
        if callable(self._forwarding):
            self._forwarding()
        self.path, self._forwarding = [], None
        self.graph = graph
        self.graph_replaced.emit(graph)

    def set_path(self, path: list[tuple[str, str]]) -> None:
        """Open the subgraph level ``path`` ([] is the document's top level)."""
        if path != self.path:
            from nodestudio.ui.subgraph_editing import forward_inner_edits

            if callable(self._forwarding):
                self._forwarding()
            self.path = list(path)
            self._forwarding = forward_inner_edits(self)
            self.level_changed.emit(self.level)

    def type_of(self, node: Node) -> NodeType | None:
        """The registry's type of ``node``, or the type an instance's definition makes."""
        return node_type_of(self.graph, self.registry, node)

    def push(self, command: commands.QUndoCommand) -> None:
        self.undo_stack.push(command)

    # -- types ----------------------------------------------------------------------------------

    def node_type(self, node_id: str) -> NodeType | None:
        return self.type_of(self.level.node(node_id))

    def output_type(self, node_id: str, output: str) -> str:
        node_type = self.node_type(node_id)
        index = node_type.output_index(output) if node_type else None
        return node_type.outputs[index].type if index is not None else ANY

    def input_type(self, node_id: str, input_name: str) -> str:
        node_type = self.node_type(node_id)
        spec = node_type.input(input_name) if node_type else None
        return spec.type if spec is not None else ANY

    def link_problem(self, start: Endpoint, end: Endpoint) -> str | None:
        """Why ``start`` cannot be linked to ``end`` on the shown level, or None."""
        return link_rules.link_problem(self.level, self.registry, start, end)

    # -- nodes ----------------------------------------------------------------------------------

    def new_node_part(self, type_id: str, pos: Point) -> Graph:
        node_type = self.registry.get(type_id)
        if node_type is None:
            raise KeyError(f"unknown node type {type_id!r}")
        part = Graph()
        controls = {spec.name: "fixed" for spec in node_type.inputs
                    if spec.control_after_generate}
        part.add_node(node_type.id, node_type.default_values(), id="new",
                      type_version=node_type.version, controls=controls,
                      layout=NodeLayout(pos=(float(pos[0]), float(pos[1]))))
        return part

    def add_node(self, type_id: str, pos: Point) -> str:
        """Add a node of ``type_id`` with its default values; returns its id."""
        node_type = self.registry.get(type_id)
        name = node_type.display_name if node_type else type_id
        command = commands.InsertNodesCommand(self.level, self.new_node_part(type_id, pos),
                                              text=f"Add {name}")
        self.push(command)
        return command.ids["new"]

    def insert(self, part: Graph, offset: Point, text: str) -> list[str]:
        """Add the nodes of ``part`` (a paste) moved by ``offset``; returns the new ids."""
        for node in part:  # pasted instances bring their definitions (kept at the top level)
            ref = instance_ref(node)
            if ref and ref[0] not in self.graph.definitions and ref[0] in part.definitions:
                self.graph.definitions[ref[0]] = copy.deepcopy(part.definitions[ref[0]])
        command = commands.InsertNodesCommand(self.level, part, offset, text)
        self.push(command)
        return command.new_ids

    def add_node_linked(self, type_id: str, pos: Point, start: Endpoint) -> str | None:
        """Add a node and link its first compatible socket to ``start`` (a dropped link)."""
        node_type = self.registry.get(type_id)
        if node_type is None:
            return None
        name = self.compatible_socket(node_type, start)
        self.undo_stack.beginMacro(f"Add {node_type.display_name}")
        try:
            node_id = self.add_node(type_id, pos)
            if name is not None:
                if start.is_output:
                    self.connect(start.node_id, start.name, node_id, name)
                else:
                    self.connect(node_id, name, start.node_id, start.name)
        finally:
            self.undo_stack.endMacro()
        return node_id

    def compatible_socket(self, node_type: NodeType, start: Endpoint) -> str | None:
        """The socket of ``node_type`` a link from ``start`` would go to (sockets first)."""
        return link_rules.compatible_socket(self.registry, node_type, start)

    def delete(self, node_ids: Iterable[str] = (), links: Iterable[tuple[str, str]] = (),
               group_ids: Iterable[str] = (), text: str = "Delete") -> None:
        node_ids, links, group_ids = list(node_ids), list(links), list(group_ids)
        if node_ids or links or group_ids:
            self.push(commands.RemoveItemsCommand(self.level, node_ids, links, group_ids, text))

    # -- links ----------------------------------------------------------------------------------

    def connect(self, source: str, output: str, target: str, input_name: str) -> bool:
        link = Link(source, output, target, input_name)
        if self.level.link_into(target, input_name) == link:
            return True
        start = Endpoint(source, output, self.output_type(source, output), True)
        end = Endpoint(target, input_name, self.input_type(target, input_name), False)
        problem = self.link_problem(start, end)
        if problem is not None:
            self.message.emit(f"Cannot link: {problem}", "warning")
            return False
        self.push(commands.ConnectCommand(self.level, link))
        return True

    def disconnect(self, target: str, input_name: str) -> None:
        if self.level.link_into(target, input_name) is not None:
            self.push(commands.RemoveItemsCommand(self.level, [], [(target, input_name)],
                                                  text="Disconnect"))

    def set_reroutes(self, target: str, input_name: str, points: list[Point],
                     text: str = "Reroute link") -> None:
        self.push(commands.SetReroutesCommand(self.level, target, input_name, points, text))

    # -- values and node state ------------------------------------------------------------------

    def set_value(self, node_id: str, name: str, value: object,
                  gesture: object | None = None) -> None:
        node = self.level.node(node_id)
        current = node.values.get(name)
        if name in node.values and current == value and type(current) is type(value):
            return
        self.push(commands.SetValueCommand(self.level, node_id, name, value, gesture))

    def set_control(self, node_id: str, name: str, control: str) -> None:
        if self.level.node(node_id).controls.get(name) != control:
            self.push(commands.SetControlCommand(self.level, node_id, name, control))

    def toggle_mode(self, node_ids: Iterable[str], mode: str) -> None:
        """Set ``mode`` on the nodes, or back to normal when all of them have it already."""
        node_ids = [node_id for node_id in node_ids if node_id in self.level]
        if not node_ids:
            return
        all_set = all(self.level.node(node_id).mode == mode for node_id in node_ids)
        target = "normal" if all_set else mode
        label = {"muted": "Mute", "bypassed": "Bypass"}.get(mode, "Change mode")
        self.push(commands.SetModesCommand(self.level, dict.fromkeys(node_ids, target),
                                           text=label if target != "normal" else "Un" +
                                           label.lower()))

    def set_mode(self, node_ids: Iterable[str], mode: str) -> None:
        node_ids = [node_id for node_id in node_ids if self.level.node(node_id).mode != mode]
        if node_ids:
            self.push(commands.SetModesCommand(self.level, dict.fromkeys(node_ids, mode)))

    def set_title(self, node_id: str, title: str | None) -> None:
        title = title or None
        if self.level.node(node_id).title != title:
            self.push(commands.SetTitleCommand(self.level, node_id, title))

    def set_node_layout(self, node_ids: Iterable[str], field: str, value: object,
                        text: str = "", gesture: object | None = None) -> None:
        changes = {node_id: value for node_id in node_ids
                   if getattr(self.level.layout.node(node_id), field) != value}
        if changes:
            self.push(commands.NodeLayoutCommand(self.level, field, changes, text, gesture))

    def toggle_collapsed(self, node_ids: Iterable[str]) -> None:
        node_ids = list(node_ids)
        if not node_ids:
            return
        collapse = not all(self.level.layout.node(n).collapsed for n in node_ids)
        self.set_node_layout(node_ids, "collapsed", collapse,
                             "Collapse" if collapse else "Expand")

    def toggle_show_advanced(self, node_ids: Iterable[str]) -> None:
        """Show the advanced inputs of the nodes, or fold them when all show them already."""
        node_ids = [node_id for node_id in node_ids if node_id in self.level]
        if not node_ids:
            return
        show = not all(self.level.layout.node(n).show_advanced for n in node_ids)
        self.set_node_layout(node_ids, "show_advanced", show,
                             "Show advanced inputs" if show else "Hide advanced inputs")

    def set_socket_input(self, node_id: str, name: str, as_socket: bool) -> None:
        """Show a widget input as a socket, or back as a widget (dropping its link)."""
        current = list(self.level.layout.node(node_id).socket_inputs)
        wanted = [n for n in current if n != name] + ([name] if as_socket else [])
        linked = self.level.link_into(node_id, name) is not None
        if wanted == current and (as_socket or not linked):
            return
        self.undo_stack.beginMacro("Convert to input" if as_socket else "Convert to widget")
        try:
            if not as_socket and linked:
                self.disconnect(node_id, name)
            if wanted != current:
                self.set_node_layout([node_id], "socket_inputs", wanted)
        finally:
            self.undo_stack.endMacro()

    def move(self, nodes: dict[str, tuple[Point, Point]],
             groups: dict[str, tuple[tuple, tuple]] | None = None) -> None:
        nodes = {k: v for k, v in nodes.items() if v[0] != v[1]}
        groups = {k: v for k, v in (groups or {}).items() if v[0] != v[1]}
        if nodes or groups:
            self.push(commands.MoveCommand(self.level, nodes, groups))

    # -- groups ---------------------------------------------------------------------------------

    def add_group(self, title: str, rect: tuple, color: str | None = None) -> str:
        command = commands.AddGroupCommand(self.level, title, rect, color)
        self.push(command)
        assert command.group_id is not None
        return command.group_id

    def update_group(self, group_id: str, gesture: object | None = None, **changes: object
                     ) -> None:
        group = self.level.group(group_id)
        changes = {k: v for k, v in changes.items()
                   if getattr(group, k) != (tuple(v) if k == "rect" else v)}  # type: ignore
        if changes:
            self.push(commands.UpdateGroupCommand(self.level, group_id, changes, gesture))
