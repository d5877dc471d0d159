"""Building a NodeStudio Graph from a ComfyGraph through the mapping rules.

Each ComfyUI node is built by its rule, or kept as a placeholder of type ``comfyui.<Class>``
that carries the whole original entry in ``Node.extra["comfyui"]`` (so a save keeps it and an
export can write it back). Then the links are wired through the placements the rules
reported, reroute bend points and groups are copied, and nodes from an API prompt (which has
no layout) are laid out in columns. Everything that could not be carried over is reported in
``graph.load_warnings``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from nodestudio.api.registry import NodeRegistry
from nodestudio.api.schema import NodeType
from nodestudio.api.sockets import FLOAT
from nodestudio.engine.modes import SOCKETS_KEY
from nodestudio.engine.unrun import unrunnable_outputs
from nodestudio.graph.files import MAX_VALUE_DEPTH, is_finite_number, json_fault, sanitized
from nodestudio.graph.layout import NodeLayout
from nodestudio.graph.model import Graph, Node
from nodestudio.graph.problems import Problem
from nodestudio.interop.comfy.catalog import node_def
from nodestudio.interop.comfy.ir import EXTRA_KEY, ComfyGraph, ComfyNode
from nodestudio.interop.comfy.rules import Placement, Rule
from nodestudio.interop.comfy.subgraph_import import SubgraphImport

#: Type id prefix of placeholders (and of plugin nodes that implement a ComfyUI class as is).
PLACEHOLDER_PREFIX = "comfyui."
_COLUMN_WIDTH, _ROW_HEIGHT = 340.0, 220.0


def placeholder_type(class_type: str) -> str:
    """``comfyui.<Class>``, with blanks as ``_`` (type ids have none; the class name itself
    is kept in the node's ComfyUI data)."""
    return PLACEHOLDER_PREFIX + "_".join(class_type.split())


class GraphBuilder:
    """Implements rules.Builder over a Graph being filled."""

    def __init__(self, registry: NodeRegistry, comfy: ComfyGraph) -> None:
        self.registry = registry
        self.comfy = comfy
        self.graph = Graph()
        self.warnings: list[Problem] = []

    def add(self, comfy: ComfyNode, type_id: str, values: dict[str, Any], *, suffix: str = "",
            controls: dict[str, str] | None = None,
            offset: tuple[float, float] = (0.0, 0.0)) -> Node:
        node_id = comfy.id if not suffix else self._free_id(f"{comfy.id}-{suffix}")
        layout = None
        if comfy.layout is not None:
            layout = copy.deepcopy(comfy.layout)
            layout.pos = (layout.pos[0] + offset[0], layout.pos[1] + offset[1])
            if suffix:
                layout.size = None
        node_type = self.registry.get(type_id)
        if node_type is not None:
            values = _coerced(node_type, values)
        faults = {name: json_fault(value) for name, value in values.items()}
        for name, fault in faults.items():
            if fault is not None:
                # A graph file would refuse it (too deep): leave it out so the import reopens.
                values = {key: value for key, value in values.items() if key != name}
                self.note(f"the value {fault}; left out", comfy.id, name,
                          kind="dropped_value")
        return self.graph.add_node(
            type_id, values, id=node_id, type_version=node_type.version if node_type else 1,
            mode=comfy.mode,  # type: ignore[arg-type]
            title=None if suffix else comfy.title, controls=controls, layout=layout,
        )

    def note(self, message: str, node_id: str | None = None, input_name: str | None = None,
             kind: str = "approximated") -> None:
        self.warnings.append(Problem(message, node_id, input_name, kind=kind))

    def _free_id(self, wanted: str) -> str:
        candidate, number = wanted, 2
        while candidate in self.graph or candidate in self.comfy.nodes:
            candidate, number = f"{wanted}{number}", number + 1
        return candidate

    # -- placeholders ---------------------------------------------------------------------------

    def placeholder(self, comfy: ComfyNode, reason: str) -> Placement:
        type_id = placeholder_type(comfy.class_type)
        values = {name: value for name, value in comfy.values.items() if _plain(value)}
        entry = {"class_type": comfy.class_type, "format": comfy.origin, "node": comfy.entry}
        if comfy.prompt_inputs is not None:
            entry["prompt_inputs"] = comfy.prompt_inputs
        if json_fault(entry) is not None:
            # Graph files refuse nesting beyond MAX_VALUE_DEPTH in any field: keep what fits,
            # so that the import saves and reopens.
            entry = sanitized(entry, limit=MAX_VALUE_DEPTH)
            self.note(f"its ComfyUI data nests deeper than {MAX_VALUE_DEPTH} levels: the "
                      "deepest parts are left out", comfy.id, kind="dropped_value")
        extra: dict[str, Any] = {EXTRA_KEY: entry}
        sockets = _declared_sockets(comfy)
        if sockets is not None:
            extra[SOCKETS_KEY] = sockets
        node = self.graph.add_node(
            type_id, values, id=comfy.id, mode=comfy.mode,  # type: ignore[arg-type]
            title=comfy.title, controls=comfy.controls, extra=extra, layout=comfy.layout,
        )
        if type_id not in self.registry:
            self.note(reason, node.id, kind="unknown_type")
        outputs = {slot: (node.id, name) for slot, name in enumerate(comfy.output_names)}
        return PlaceholderPlacement(node.id, outputs=outputs)


class PlaceholderPlacement(Placement):
    """A placeholder takes every input under its ComfyUI name and names unknown outputs by
    their slot number."""

    def input_targets(self, name: str) -> list[tuple[str, str]]:
        assert self.main is not None
        return [(self.main, name)]

    def output_source(self, slot: int) -> tuple[str, str]:
        assert self.main is not None
        return self.outputs.get(slot, (self.main, str(slot)))


def _declared_sockets(comfy: ComfyNode) -> dict[str, list[list[str]]] | None:
    """The socket types a UI workflow gives an unknown node (API prompts have none), so that
    bypassing it passes its inputs through (nodestudio.engine.modes)."""
    entry = comfy.entry if isinstance(comfy.entry, dict) else {}
    inputs, outputs = entry.get("inputs"), entry.get("outputs")
    if not isinstance(inputs, list) or not isinstance(outputs, list):
        return None

    def kind(item: Any) -> str | None:
        value = item.get("type") if isinstance(item, dict) else None
        return value if isinstance(value, str) else None

    declared_inputs = [[item["name"], kind(item)] for item in inputs
                       if kind(item) and isinstance(item.get("name"), str)]
    declared_outputs = [[name, kind(item) or "*"]
                        for name, item in zip(comfy.output_names, outputs, strict=False)]
    return {"inputs": declared_inputs, "outputs": declared_outputs}


def placeholder_reason(comfy: ComfyNode, rule: Rule | None, registry: NodeRegistry,
                       graph: ComfyGraph) -> str:
    name = comfy.class_type
    if rule is not None:
        refused = rule.refuse(comfy, graph)
        if refused is not None:
            return f"{refused}: kept as a placeholder with all its data"
        return (f"ComfyUI {name} needs NodeStudio node(s) {', '.join(rule.missing(registry))}, "
                "which are not installed: kept as a placeholder with all its data")
    if _looks_like_subgraph(name):
        # Instances of definitions in the file are built by subgraph_import.py.
        return ("a ComfyUI subgraph whose definition is not in this file: kept as a "
                "placeholder with all its data; open the workflow that defines it in ComfyUI "
                "and save it again")
    if name.startswith(("workflow>", "workflow/")):
        return ("a ComfyUI group node whose contents are not in this file "
                "(extra.groupNodes): kept as a placeholder with all its data")
    return (f"ComfyUI node type {name!r} has no NodeStudio equivalent: kept as a placeholder "
            "with all its data (the graph still runs when no output needs it)")


def _coerced(node_type: NodeType, values: dict[str, Any]) -> dict[str, Any]:
    """Whole numbers given to decimal inputs as decimals (JavaScript writes 8.0 as 8)."""
    result = dict(values)
    for spec in node_type.inputs:
        value = result.get(spec.name)
        # An integer beyond float range stays as it is; validation says it is not finite.
        if spec.type == FLOAT and isinstance(value, int) and is_finite_number(value):
            result[spec.name] = float(value)
    return result


def _looks_like_subgraph(name: str) -> bool:
    parts = name.split("-")
    return len(parts) == 5 and all(part and all(c in "0123456789abcdefABCDEF" for c in part)
                                   for part in parts)


def _plain(value: Any) -> bool:
    """Whether a value can go into NodeStudio's ``values``: the graph file's own check, so
    that whatever imports also saves and reopens."""
    return json_fault(value) is None


# -- the whole graph ---------------------------------------------------------------------------


def build_graph(comfy: ComfyGraph, registry: NodeRegistry, rules: Mapping[str, Rule]) -> Graph:
    subgraphs = SubgraphImport(comfy, registry, rules) if comfy.subgraphs else None
    builder, _ = build_parts(comfy, registry, rules, subgraphs)
    graph = builder.graph
    if subgraphs is not None:
        builder.warnings = subgraphs.finish(graph, builder.warnings)
    if not comfy.has_layout:
        _lay_out_in_columns(graph)
    # A placeholder nothing takes input from is an output that will not run: say so too (the
    # rest of the graph runs, without that output's files).
    graph.load_warnings = [*comfy.warnings, *builder.warnings,
                           *(unrunnable_outputs(graph, registry) if subgraphs is None
                             else subgraphs.unrunnable(graph))]
    return graph


def build_parts(comfy: ComfyGraph, registry: NodeRegistry, rules: Mapping[str, Rule],
                subgraphs: SubgraphImport | None = None) -> tuple[GraphBuilder,
                                                                  dict[str, Placement]]:
    """The nodes built and wired, and where each ComfyUI node went (subgraph definitions
    are built through here too, with ``subgraphs`` shared by every level)."""
    builder = GraphBuilder(registry, comfy)
    placements: dict[str, Placement] = {}
    for node in comfy.nodes.values():
        if subgraphs is not None and subgraphs.is_instance(node):
            placements[node.id] = subgraphs.instance(node, builder)
            continue
        rule = rules.get(node.class_type)
        if rule is not None and not rule.missing(registry) and rule.refuse(node, comfy) is None:
            placements[node.id] = rule.build(node, builder)
        else:
            placements[node.id] = builder.placeholder(
                node, placeholder_reason(node, rule, registry, comfy))
    wiring = GraphWiring(builder, comfy, placements)
    wiring.wire()
    wiring.finish(rules)
    builder.graph.layout.groups = list(comfy.groups)
    return builder, placements


class GraphWiring:
    """Links the placed nodes as the ComfyUI links say; implements rules.Wiring."""

    def __init__(self, builder: GraphBuilder, comfy: ComfyGraph,
                 placements: dict[str, Placement]) -> None:
        self.builder = builder
        self.graph = builder.graph
        self.registry = builder.registry
        self.comfy = comfy
        self.placements = placements
        self._consumers: dict[tuple[str, int], list[tuple[ComfyNode, str]]] = {}
        for node in comfy.nodes.values():
            for name, source in node.links.items():
                self._consumers.setdefault((source.node_id, source.slot), []).append((node, name))

    def note(self, message: str, node_id: str | None = None, input_name: str | None = None,
             kind: str = "approximated") -> None:
        self.builder.note(message, node_id, input_name, kind)

    def consumers(self, comfy_id: str, slot: int) -> list[tuple[ComfyNode, str]]:
        return list(self._consumers.get((comfy_id, slot), []))

    def targets(self, comfy_id: str, input_name: str) -> list[tuple[str, str]]:
        placement = self.placements[comfy_id]
        if isinstance(placement, PlaceholderPlacement):
            return placement.input_targets(input_name)
        return list(placement.inputs.get(input_name, []))

    def source(self, comfy_id: str, input_name: str) -> tuple[str, str] | None:
        link = self.comfy.nodes[comfy_id].links.get(input_name)
        return None if link is None else self._output(link.node_id, link.slot, set())

    def _output(self, comfy_id: str, slot: int, seen: set[str]) -> tuple[str, str] | None:
        placement = self.placements[comfy_id]
        if isinstance(placement, PlaceholderPlacement):
            return placement.output_source(slot)
        if slot in placement.forward and comfy_id not in seen:
            link = self.comfy.nodes[comfy_id].links.get(placement.forward[slot])
            seen.add(comfy_id)
            return None if link is None else self._output(link.node_id, link.slot, seen)
        return placement.outputs.get(slot)

    def wire(self) -> None:
        for target in self.comfy.nodes.values():
            for input_name, source in target.links.items():
                self._wire_one(target, input_name, source.node_id, source.slot)

    def _wire_one(self, target: ComfyNode, input_name: str, source_id: str, slot: int) -> None:
        where = f"link {source_id}.{slot} → {target.id}.{input_name}"
        if not input_name:
            # A graph file names both ends of a link; an unnamed one could not be reopened.
            self.note(f"{where}: the input has no name; link dropped", target.id,
                      kind="dropped_link")
            return
        targets = self.targets(target.id, input_name)
        placement = self.placements[target.id]
        if not targets:
            if input_name not in placement.forward.values() and input_name not in placement.folded:
                self.note(f"{where}: {target.class_type} input {input_name!r} is not "
                          "supported; link dropped", target.id, input_name, kind="dropped_link")
            return
        origin = self._output(source_id, slot, set())
        if origin is None:
            source = self.comfy.nodes[source_id]
            self.note(f"{where}: output {slot}{_output_label(source, slot)} of "
                      f"{source.class_type} has no NodeStudio counterpart here; link dropped",
                      target.id, input_name, kind="dropped_link")
            return
        if any(node_id == origin[0] for node_id, _ in targets):
            # A file may link a node to itself, also through nodes folded into it (a guider
            # fed by its own sampler): a NodeStudio node cannot feed itself.
            self.note(f"{where}: the link leads back into the node it comes from; dropped",
                      target.id, input_name, kind="dropped_link")
            targets = [item for item in targets if item[0] != origin[0]]
            if not targets:
                return
        for node_id, ours in targets:
            self.graph.connect(origin[0], origin[1], node_id, ours)
        bends = self.comfy.bends.get((target.id, input_name))
        if bends:
            self.graph.set_reroutes(targets[0][0], targets[0][1], bends)

    def finish(self, rules: Mapping[str, Rule]) -> None:
        """Rules' finishing steps, downstream nodes first (a negative prompt routed through a
        ControlNet must reach the sampler before the ControlNet before it is routed)."""
        depth = _depths(self.graph)
        pending = []
        for node in self.comfy.nodes.values():
            rule = rules.get(node.class_type)
            placement = self.placements[node.id]
            if rule is None or not rule.finishes or isinstance(placement, PlaceholderPlacement):
                continue
            pending.append((-depth.get(placement.main or "", 0), node, rule, placement))
        for _, node, rule, placement in sorted(pending, key=lambda item: item[0]):
            rule.finish(node, placement, self)


def _output_label(node: ComfyNode, slot: int) -> str:
    """`` ("name")`` of a ComfyUI output, where the file or the catalog names it."""
    names = node.output_names
    if not names:
        definition = node_def(node.class_type)
        names = [name for name, _ in definition.outputs] if definition is not None else []
    return f" ({names[slot]!r})" if 0 <= slot < len(names) and not names[slot].isdigit() else ""


def _depths(graph: Graph) -> dict[str, int]:
    """Longest distance from a node without inputs (cycles end in one more column)."""
    depth: dict[str, int] = {}
    remaining = list(graph.nodes)
    while remaining:
        waiting = []
        for node_id in remaining:
            sources = [link.source for link in graph.links_into(node_id)]
            if all(source in depth for source in sources):
                depth[node_id] = 1 + max((depth[s] for s in sources), default=-1)
            else:
                waiting.append(node_id)
        if len(waiting) == len(remaining):
            for node_id in waiting:
                depth[node_id] = max(depth.values(), default=-1) + 1
            break
        remaining = waiting
    return depth


def _lay_out_in_columns(graph: Graph) -> None:
    """Columns by depth (a node sits right of everything it takes input from)."""
    depth = _depths(graph)
    rows: dict[int, int] = {}
    for node_id in graph.nodes:
        column = depth.get(node_id, 0)
        row = rows.get(column, 0)
        rows[column] = row + 1
        graph.layout.nodes[node_id] = NodeLayout(
            (40.0 + column * _COLUMN_WIDTH, 40.0 + row * _ROW_HEIGHT))
