"""Writing a NodeStudio graph as a ComfyUI UI workflow: what ComfyUI saves and opens by drag
and drop (nodes with their places, links, groups, notes), schema 0.4.

Built on the API prompt export (export.py): the same rules decide what each node becomes, so
a graph that exports as a prompt exports as a workflow, and one that cannot is refused with
the same errors. The workflow adds what a prompt lacks: each node's place, size, colour,
collapsed state and title, the seed widgets' ``control_after_generate``, muted and bypassed
nodes (modes 2 and 4, as ComfyUI keeps them), groups, notes, and the links' bend points (as
ComfyUI's native reroutes). Node ids become ComfyUI's integers in graph order; widget values
are listed in the order the node class declares them (catalog.py), and a linked widget
becomes an input with a ``widget`` entry, as the frontend writes it. Subgraph instances are
written as their nodes (ComfyUI's ``outer:inner`` ids), placed around the instance, then
gathered into ComfyUI subgraphs (workflow_subgraphs.py); nodes a rule adds (a Grow Mask
before VAE Encode …) sit left of the node they feed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nodestudio.api.registry import NodeRegistry
from nodestudio.graph.files import is_finite_number
from nodestudio.graph.layout import NodeLayout, reroute_key
from nodestudio.graph.model import Graph, Node, NodeMode
from nodestudio.graph.problems import Problem
from nodestudio.graph.subgraphs import instance_ref, is_instance
from nodestudio.interop.comfy.build import PLACEHOLDER_PREFIX
from nodestudio.interop.comfy.catalog import SEED_CONTROLS, ComfyNodeDef, node_def
from nodestudio.interop.comfy.export import (
    ComfyExportError,
    PromptExporter,
    export_prompt,
    placeholder_output_slot,
)
from nodestudio.interop.comfy.ir import EXTRA_KEY
from nodestudio.interop.comfy.prompt import is_link
from nodestudio.interop.comfy.rules import Rule, Unexportable
from nodestudio.interop.comfy.subgraphs import COMFY_SEPARATOR, comfy_flat
from nodestudio.interop.comfy.workflow_subgraphs import nest_subgraphs, socket_name

NOTE_TYPE = "utils.note"
_MODES = {"muted": 2, "bypassed": 4}
#: ComfyUI's default node width, and the height of a slot row and of a widget row.
_WIDTH, _SLOT, _WIDGET = 315.0, 22.0, 26.0
#: How far left of the node it feeds a node added by a rule is placed.
_ADDED_OFFSET = 360.0
#: Output slots a node may have beyond those its catalog entry (or kept entry) lists: links
#: from a newer ComfyUI's extra outputs still write; a hostile file's slot 10**400 does not.
_MORE_OUTPUTS = 64


def export_workflow(graph: Graph, registry: NodeRegistry, rules: Mapping[str, list[Rule]],
                    subgraphs: bool = True) -> dict[str, Any]:
    """``graph`` as a ComfyUI UI workflow; raises ComfyExportError naming every node that
    ComfyUI cannot express (muted and bypassed ones are left out instead, when only they
    cannot be written). Subgraph instances become ComfyUI subgraphs (workflow_subgraphs.py),
    or with ``subgraphs`` False their nodes (for a ComfyUI from before subgraphs)."""
    # ComfyUI nodes NodeStudio does not know, read from a UI workflow, are written back as
    # they came (a prompt cannot carry their unnamed widget values; a workflow can).
    kept = [node for node in graph if _from_workflow(node)]
    working = graph.copy()
    for node in kept:
        working.remove_node(node.id)
    prompt, modes, enabled = _prompt_with_modes(working, registry, rules)
    writer = _Writer(graph, comfy_flat(graph, registry), modes)
    problems: list[Problem] = []
    for node_id in [*prompt, *(node.id for node in kept),
                    *(node.id for node in graph if node.type == NOTE_TYPE)]:
        writer.number(node_id)
    for prompt_id, entry in prompt.items():
        try:
            writer.add_node(prompt_id, entry)
        except _Unwritable as error:
            problems.append(Problem(f"cannot be written as a ComfyUI workflow: {error}",
                                    prompt_id, kind="not_exportable"))
    if problems:
        raise ComfyExportError(
            f"{len(problems)} node(s) cannot be written as a ComfyUI workflow", problems)
    for node in kept:
        writer.add_kept(node)
    for node in graph:
        if node.type == NOTE_TYPE:
            writer.add_note(node)
    exporter = PromptExporter(enabled, registry, rules)
    problems = writer.link_all(prompt)
    if problems:
        raise ComfyExportError(
            f"{len(problems)} link(s) cannot be written as a ComfyUI workflow", problems)
    writer.link_kept(graph, kept, exporter)
    writer.bend_links(graph, exporter)
    document = writer.document(graph)
    if subgraphs:
        nest_subgraphs(document, graph, writer.nodes)
    return document


def _from_workflow(node: Node) -> bool:
    data = node.extra.get(EXTRA_KEY)
    return (node.type.startswith(PLACEHOLDER_PREFIX) and isinstance(data, dict)
            and data.get("format") == "workflow" and isinstance(data.get("node"), dict)
            and isinstance(data["node"].get("widgets_values"), list | dict))


class _Unwritable(Exception):
    """A prompt entry whose widget order is unknown (a ComfyUI node NodeStudio lacks)."""


def _prompt_with_modes(graph: Graph, registry: NodeRegistry, rules: Mapping[str, list[Rule]]
                       ) -> tuple[dict[str, Any], dict[str, NodeMode], Graph]:
    """The prompt of ``graph`` with every node enabled (so muted and bypassed nodes are in
    it), their modes, and the graph exported; without the muted and bypassed nodes ComfyUI
    cannot express when only they fail."""
    disabled: dict[str, NodeMode] = {node.id: node.mode for node in graph
                                     if node.mode != "normal"}
    enabled = graph.copy()
    for node_id in disabled:
        enabled.set_mode(node_id, "normal")
    try:
        return export_prompt(enabled, registry, rules), disabled, enabled
    except ComfyExportError as error:
        failing = {problem.node_id for problem in error.problems}
        if not disabled or not failing <= set(disabled):
            # Name only the enabled nodes: the disabled ones are left out once those are fixed.
            problems = [p for p in error.problems if p.node_id not in disabled]
            raise ComfyExportError(f"{len(problems)} node(s) cannot be written for ComfyUI",
                                   problems) from None
    for node_id in disabled.keys() & failing:
        enabled.set_mode(node_id, disabled[node_id])
    return export_prompt(enabled, registry, rules), {
        node_id: mode for node_id, mode in disabled.items() if node_id not in failing}, enabled


@dataclass
class _Writer:
    graph: Graph
    flat: Graph
    modes: Mapping[str, str]
    numbers: dict[str, int] = field(default_factory=dict)
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Per node: input name → its index in the node's ``inputs`` list.
    input_slots: dict[str, dict[str, int]] = field(default_factory=dict)
    links: list[list[Any]] = field(default_factory=list)
    #: ComfyUI's native reroutes (``extra.reroutes``) and which reroute each link ends at.
    reroutes: list[dict[str, Any]] = field(default_factory=list)
    link_parents: list[dict[str, int]] = field(default_factory=list)

    def number(self, node_id: str) -> int:
        return self.numbers.setdefault(node_id, len(self.numbers) + 1)

    # -- nodes ----------------------------------------------------------------------------------

    def add_node(self, prompt_id: str, entry: dict[str, Any]) -> None:
        class_type = entry["class_type"]
        inputs: dict[str, Any] = entry.get("inputs", {})
        definition = node_def(class_type)
        if definition is not None:
            sockets, widgets, outputs = _from_definition(definition, inputs,
                                                         self._controls(prompt_id))
        else:
            sockets, widgets, outputs = self._from_original(prompt_id, class_type, inputs)
        layout = self._layout(prompt_id)
        node: dict[str, Any] = {
            "id": self.numbers[prompt_id], "type": class_type, "pos": list(layout.pos),
            "size": list(layout.size or _default_size(sockets, widgets, outputs)),
            "flags": {"collapsed": True} if layout.collapsed else {},
            "order": len(self.nodes), "mode": _MODES.get(self._mode(prompt_id), 0),
            "inputs": sockets, "outputs": outputs,
            "properties": {"Node name for S&R": class_type}, "widgets_values": widgets,
        }
        title = entry.get("_meta", {}).get("title")
        default_title = definition.display_name if definition is not None else class_type
        if isinstance(title, str) and title and title != default_title:
            node["title"] = title
        if layout.color:
            node["bgcolor"] = layout.color
        self.nodes[prompt_id] = node
        self.input_slots[prompt_id] = {socket_name(item): slot
                                       for slot, item in enumerate(sockets)}

    def add_note(self, note: Node) -> None:
        layout = self.graph.layout.nodes.get(note.id) or NodeLayout()
        self.nodes[note.id] = {
            "id": self.numbers[note.id], "type": "Note", "pos": list(layout.pos),
            "size": list(layout.size or (400.0, 160.0)), "flags": {},
            "order": len(self.nodes), "mode": 0, "inputs": [], "outputs": [],
            "properties": {"text": ""}, "widgets_values": [str(note.values.get("text", ""))],
            **({"title": note.title} if note.title else {}),
            **({"bgcolor": layout.color} if layout.color else {}),
        }

    def _controls(self, prompt_id: str) -> dict[str, str]:
        node = self.flat.nodes.get(prompt_id)
        return dict(node.controls) if node is not None else {}

    def _mode(self, prompt_id: str) -> str:
        outer = prompt_id.split(COMFY_SEPARATOR, 1)[0]
        return self.modes.get(prompt_id) or self.modes.get(outer, "normal")

    def _from_original(self, prompt_id: str, class_type: str, inputs: dict[str, Any]
                       ) -> tuple[list[dict[str, Any]], list[Any], list[dict[str, Any]]]:
        """A ComfyUI node NodeStudio does not know, from an API prompt: writable when all its
        inputs are links (no widget whose place in the list is unknown)."""
        if any(not is_link(value) for value in inputs.values()):
            raise _Unwritable(f"ComfyUI {class_type} is not among the node types NodeStudio "
                              "knows, so the order of its widgets is unknown: export an API "
                              "prompt instead")
        return [], [], []

    def add_kept(self, node: Node) -> None:
        """A ComfyUI node NodeStudio does not know, read from a UI workflow: written back
        as it came, with its place, title and mode as they are now."""
        original: dict[str, Any] = node.extra[EXTRA_KEY]["node"]
        layout = self.graph.layout.nodes.get(node.id) or NodeLayout()
        sockets = [{**{key: item[key] for key in ("name", "type", "widget") if key in item},
                    "link": None}
                   for item in _listed(original.get("inputs"))
                   if isinstance(item, dict) and isinstance(item.get("name"), str)]
        outputs = [{**{key: item[key] for key in ("name", "type") if key in item},
                    "links": [], "slot_index": slot}
                   for slot, item in enumerate(_listed(original.get("outputs")))
                   if isinstance(item, dict)]
        entry = {**original, "id": self.numbers[node.id], "pos": list(layout.pos),
                 "size": list(layout.size or _finite_pair(original.get("size"))
                              or (_WIDTH, 100.0)),
                 "order": len(self.nodes), "mode": _MODES.get(node.mode, 0),
                 "inputs": sockets, "outputs": outputs,
                 "flags": {"collapsed": True} if layout.collapsed else {}}
        entry.pop("title", None)
        if node.title:
            entry["title"] = node.title
        self.nodes[node.id] = entry
        self.input_slots[node.id] = {socket_name(item): slot
                                     for slot, item in enumerate(sockets)}

    def link_kept(self, graph: Graph, kept: list[Node], exporter: PromptExporter) -> None:
        """The links into and out of the nodes written back as they came."""
        ids = {node.id for node in kept}
        for link in graph.links:
            if (link.source not in ids and link.target not in ids) \
                    or link.source not in self.nodes or link.target not in self.nodes:
                continue
            source = graph.node(link.source)
            try:
                slot = placeholder_output_slot(source, link.output) if link.source in ids \
                    else exporter.output_slot(source, link.output)
            except Unexportable:
                continue  # the same link is left out of the prompt for the same reason
            if self._slot_fits(link.source, slot):
                self._link(link.source, slot, link.target, link.input)

    def _slot_fits(self, source: str, slot: int) -> bool:
        return 0 <= slot < len(self.nodes[source]["outputs"]) + _MORE_OUTPUTS

    def _layout(self, prompt_id: str) -> NodeLayout:
        """Where the node goes: its own place; a subgraph's node around its instance; a node a
        rule added left of the node it feeds."""
        own = self.graph.layout.nodes.get(prompt_id)
        if own is not None:
            return own
        if COMFY_SEPARATOR in prompt_id:
            return self._inner_layout(prompt_id)
        return NodeLayout()  # placed by _place_added once its links are known

    def _inner_layout(self, prompt_id: str) -> NodeLayout:
        """A node inside an instance: where its definition places it (through each nested
        definition), from the instance's place, the inner nodes' top-left corner there."""
        outer, *path = prompt_id.split(COMFY_SEPARATOR)
        x, y = (self.graph.layout.nodes.get(outer) or NodeLayout()).pos
        holder = self.graph.nodes.get(outer)  # the instance whose definition holds ``part``
        inner = NodeLayout()
        for part in path:
            ref = instance_ref(holder) if holder is not None and is_instance(holder) else None
            definition = self.graph.definitions.get(ref[0]) if ref is not None else None
            if definition is None or not definition.resolved:
                break
            inside = definition.graph
            inner = inside.layout.nodes.get(part) or NodeLayout()
            places = [layout.pos for layout in inside.layout.nodes.values()]
            x += inner.pos[0] - min((px for px, _ in places), default=0.0)
            y += inner.pos[1] - min((py for _, py in places), default=0.0)
            holder = inside.nodes.get(part)
        return NodeLayout((x, y), inner.size, inner.color, inner.collapsed)

    # -- links ----------------------------------------------------------------------------------

    def link_all(self, prompt: dict[str, Any]) -> list[Problem]:
        """Every link of the prompt; the problems of those no ComfyUI node could have."""
        problems = []
        for target, entry in prompt.items():
            for name, value in entry.get("inputs", {}).items():
                if not is_link(value) or str(value[0]) not in self.nodes:
                    continue
                source, slot = str(value[0]), int(value[1])
                if not self._slot_fits(source, slot):
                    problems.append(Problem(
                        f"its input {name!r} comes from output {_shown(slot)} of node "
                        f"{source}, which no ComfyUI node has: reconnect it", target, name,
                        kind="not_exportable"))
                    continue
                self._link(source, slot, target, name)
        self._place_added(prompt)
        return problems

    def _link(self, source: str, slot: int, target: str, name: str) -> None:
        link_id = len(self.links) + 1
        outputs = self.nodes[source]["outputs"]
        while len(outputs) <= slot:  # a slot the catalog lacks: still linked, untyped
            outputs.append({"name": str(len(outputs)), "type": "*", "links": [],
                            "slot_index": len(outputs)})
        output = outputs[slot]
        output["links"].append(link_id)
        sockets = self.nodes[target]["inputs"]
        input_slot = self.input_slots[target].get(name)
        if input_slot is None:
            input_slot = len(sockets)
            sockets.append({"name": name, "type": output["type"], "link": None})
            self.input_slots[target][name] = input_slot
        sockets[input_slot]["link"] = link_id
        self.links.append([link_id, self.nodes[source]["id"], slot, self.nodes[target]["id"],
                           input_slot, output["type"]])

    def bend_links(self, graph: Graph, exporter: PromptExporter) -> None:
        """The bend points of ``graph``'s links, on the ComfyUI links they became (the same
        two nodes, from the same output slot)."""
        for link in graph.links:
            bends = graph.layout.reroutes.get(reroute_key(link.target, link.input))
            if not bends or link.source not in self.nodes or link.target not in self.nodes:
                continue
            source = graph.node(link.source)
            try:
                slot = placeholder_output_slot(source, link.output) if _from_workflow(source) \
                    else exporter.output_slot(source, link.output)
            except Unexportable:
                continue
            ends = (self.nodes[link.source]["id"], slot, self.nodes[link.target]["id"])
            written = next((entry[0] for entry in self.links
                            if (entry[1], entry[2], entry[3]) == ends), None)
            if written is not None:
                self._reroute(written, bends)

    def _reroute(self, link_id: int, bends: list[tuple[float, float]]) -> None:
        """A link's bend points as a chain of native reroutes, from the origin's end (each
        reroute's parent is the one before it; the link ends at the last)."""
        parent: int | None = None
        for x, y in bends:
            reroute: dict[str, Any] = {"id": len(self.reroutes) + 1, "pos": [x, y],
                                       "linkIds": [link_id]}
            if parent is not None:
                reroute["parentId"] = parent
            self.reroutes.append(reroute)
            parent = reroute["id"]
        if parent is not None:
            self.link_parents.append({"id": link_id, "parentId": parent})

    def _place_added(self, prompt: dict[str, Any]) -> None:
        """Nodes no place was kept for (a rule added them): left of the first node they feed."""
        for prompt_id in prompt:
            if prompt_id in self.graph.layout.nodes or COMFY_SEPARATOR in prompt_id:
                continue
            number = self.nodes[prompt_id]["id"]
            fed = [node for node in self.nodes.values()
                   if any(link[1] == number and link[3] == node["id"] for link in self.links)]
            if fed:
                x, y = fed[0]["pos"]
                self.nodes[prompt_id]["pos"] = [x - _ADDED_OFFSET, y]

    # -- the document ---------------------------------------------------------------------------

    def document(self, graph: Graph) -> dict[str, Any]:
        groups = [{"title": group.title, "bounding": list(group.rect),
                   **({"color": group.color} if group.color else {}), "font_size": 24}
                  for group in graph.layout.groups]
        return {
            "last_node_id": max(self.numbers.values(), default=0),
            "last_link_id": len(self.links),
            "nodes": list(self.nodes.values()), "links": self.links, "groups": groups,
            "config": {}, "extra": {"ds": {"scale": 1.0, "offset": [0.0, 0.0]},
                                    **({"reroutes": self.reroutes,
                                        "linkExtensions": self.link_parents}
                                       if self.reroutes else {})},
            "version": 0.4,
        }


def _from_definition(definition: ComfyNodeDef, inputs: dict[str, Any],
                     controls: dict[str, str]
                     ) -> tuple[list[dict[str, Any]], list[Any], list[dict[str, Any]]]:
    """The node's ``inputs`` (sockets, and widgets fed by a link), ``widgets_values`` in the
    class's order (a seed followed by its control) and ``outputs``."""
    sockets: list[dict[str, Any]] = []
    widgets: list[Any] = []
    for spec in definition.inputs:
        value = inputs.get(spec.name)
        if not spec.is_widget:
            sockets.append({"name": spec.name, "type": spec.kind, "link": None})
            continue
        if is_link(value):
            sockets.append({"name": spec.name, "type": spec.kind,
                            "widget": {"name": spec.name}, "link": None})
            value = None
        widgets.append(spec.default if value is None else value)
        if spec.seed_control:
            control = controls.get(spec.name)
            widgets.append(control if control in SEED_CONTROLS else "fixed")
    if definition.trailing_widgets:  # LoadImage's upload button
        widgets += ["image"] * definition.trailing_widgets
    outputs = [{"name": name, "type": kind, "links": [], "slot_index": slot}
               for slot, (name, kind) in enumerate(definition.outputs)]
    return sockets, widgets, outputs


def _listed(value: Any) -> list[Any]:
    """A list kept from a file, or none (a hostile file may hold anything there)."""
    return value if isinstance(value, list) else []


def _shown(number: int) -> str:
    """A slot number for a message (a hostile file's may run to hundreds of digits)."""
    return str(number) if abs(number) < 10**6 else "(a huge number)"


def _finite_pair(value: Any) -> tuple[float, float] | None:
    """A size kept from a file, when it is two finite numbers."""
    if isinstance(value, list) and len(value) == 2 and all(is_finite_number(v) for v in value):
        return (float(value[0]), float(value[1]))
    return None


def _default_size(sockets: list[Any], widgets: list[Any], outputs: list[Any]
                  ) -> tuple[float, float]:
    rows = max(len(sockets), len(outputs))
    return (_WIDTH, 30.0 + _SLOT * rows + _WIDGET * len(widgets))
