"""Subgraphs: a selection packed into one reusable node, with its own inputs, outputs and
promoted widgets.

A :class:`SubgraphDefinition` lives once in ``Graph.definitions`` (by id); an *instance* is a
node of type :data:`SUBGRAPH_TYPE` whose ``extra["subgraph"]`` names the definition's id and
version, and whose ``values`` hold its own values for the promoted widgets. Definitions nest
(an inner node may be an instance of another definition of the same graph); every definition
lives at the top level of the graph, as in ComfyUI, so a definition is stored once however
deep it is used. The engine runs instances through :func:`flatten` (subgraph_flatten.py).

:func:`make_subgraph` and :func:`unpack` are pure (they return a new graph) and exact
inverses, so an undo stack can keep the graph before either.
"""

from __future__ import annotations

import copy
import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from nodestudio.graph.layout import reroute_key
from nodestudio.graph.model import Graph, LayoutChanged, Link, Node
from nodestudio.graph.problems import Problem

#: The node type of every instance; which definition it runs is in ``extra[REF_KEY]``.
SUBGRAPH_TYPE = "subgraph"
REF_KEY = "subgraph"
ANY_TYPE = "*"


@dataclass
class SubgraphInput:
    """One input of the definition: feeds each inner (node id, input name) in ``targets``."""

    name: str
    type: str = ANY_TYPE
    targets: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class SubgraphOutput:
    """One output of the definition: what the inner (node id, output name) ``source`` gives."""

    name: str
    type: str = ANY_TYPE
    source: tuple[str, str] = ("", "")


@dataclass
class PromotedWidget:
    """An inner widget shown on every instance under ``name``; ``default`` is what an instance
    without its own value uses (None: the inner node's own value)."""

    name: str
    node: str
    input: str
    default: Any = None


@dataclass
class SubgraphDefinition:
    id: str
    name: str
    graph: Graph = field(default_factory=Graph)
    version: int = 1
    inputs: list[SubgraphInput] = field(default_factory=list)
    outputs: list[SubgraphOutput] = field(default_factory=list)
    widgets: list[PromotedWidget] = field(default_factory=list)
    #: For a definition this NodeStudio could not read, or one kept in the user's library
    #: and not found there: the entry exactly as the file held it, written back unchanged.
    raw: dict[str, Any] | None = None
    #: Why ``raw`` could not be used (a sentence for the artist). Said by the reader that
    #: met it, so not part of what the definition is (a ComfyUI definition kept raw reads
    #: back from a NodeStudio file with another reader's sentence).
    problem: str | None = field(default=None, compare=False)
    #: Taken from the user's library: files refer to it by id and version (app layer).
    from_library: bool = False

    @property
    def resolved(self) -> bool:
        return self.raw is None

    def __deepcopy__(self, memo: dict[int, Any]) -> SubgraphDefinition:
        # Graph.copy, not deepcopy: an inner graph open in a view has listeners to leave out.
        return SubgraphDefinition(
            self.id, self.name, self.graph.copy(), self.version, copy.deepcopy(self.inputs),
            copy.deepcopy(self.outputs), copy.deepcopy(self.widgets), copy.deepcopy(self.raw),
            self.problem, self.from_library)

    def input(self, name: str) -> SubgraphInput | None:
        return next((item for item in self.inputs if item.name == name), None)

    def output(self, name: str) -> SubgraphOutput | None:
        return next((item for item in self.outputs if item.name == name), None)


# -- where the boundary is drawn ------------------------------------------------------------

#: Where the Subgraph Inputs / Outputs items sit when the definition is open: a key of the
#: inner graph's ``layout.extra`` holding ``{"inputs": [x, y], "outputs": [x, y]}`` (scene
#: units, top-left corner; a side without an entry is placed next to the inner nodes). Layout
#: extras are kept verbatim by every format-3 reader, so no version change, and NodeStudio
#: versions that do not know the key write it back unchanged.
BOUNDARY_KEY = "subgraph_boundary"
BOUNDARY_SIDES = ("inputs", "outputs")
#: Half the canvas world (ui/canvas/view.py): a coordinate beyond it is a hostile file's.
MAX_BOUNDARY_COORD = 100_000.0


def boundary_position(definition: SubgraphDefinition, side: str) -> tuple[float, float] | None:
    """Where the ``side`` boundary item was placed, or None (never moved, or a value that
    is not two finite coordinates on the canvas: the default place is used then)."""
    stored = definition.graph.layout.extra.get(BOUNDARY_KEY)
    return _canvas_point(stored.get(side)) if isinstance(stored, dict) else None


def _canvas_point(point: Any) -> tuple[float, float] | None:
    if not isinstance(point, list | tuple) or len(point) != 2:
        return None
    coords = []
    for value in point:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        try:
            number = float(value)
        except OverflowError:  # an integer beyond float range
            return None
        if not math.isfinite(number) or abs(number) > MAX_BOUNDARY_COORD:
            return None
        coords.append(number)
    return coords[0], coords[1]


def moved_boundary(stored: Any, side: str, pos: tuple[float, float]) -> dict[str, Any]:
    """The ``BOUNDARY_KEY`` value with ``side`` at ``pos``; the other side keeps a readable
    position, anything unreadable is dropped (the user's move replaces a broken value)."""
    result: dict[str, Any] = {}
    for other in BOUNDARY_SIDES:
        point = _canvas_point(stored.get(other)) if isinstance(stored, dict) else None
        if other != side and point is not None:
            result[other] = list(point)
    result[side] = [float(pos[0]), float(pos[1])]
    return result


def set_boundary(definition: SubgraphDefinition, value: Any, present: bool = True) -> None:
    """Store ``value`` under ``BOUNDARY_KEY`` (``present`` False: remove the key) and tell
    the inner graph's listeners (the canvas, autosave through the open level)."""
    extra = definition.graph.layout.extra
    if present:
        extra[BOUNDARY_KEY] = copy.deepcopy(value)
    else:
        extra.pop(BOUNDARY_KEY, None)
    definition.graph._emit(LayoutChanged(None, BOUNDARY_KEY))


# -- instances ---------------------------------------------------------------------------------


def is_instance(node: Node) -> bool:
    return node.type == SUBGRAPH_TYPE


def instance_ref(node: Node) -> tuple[str, int] | None:
    """(definition id, version) an instance refers to, or None for other nodes."""
    ref = node.extra.get(REF_KEY) if is_instance(node) else None
    if not isinstance(ref, dict) or not isinstance(ref.get("id"), str):
        return None
    version = ref.get("version", 1)
    return ref["id"], version if isinstance(version, int) and not isinstance(version, bool) else 1


def add_instance(graph: Graph, definition: SubgraphDefinition, *, id: str | None = None,
                 values: dict[str, Any] | None = None, title: str | None = None) -> Node:
    """Add an instance of ``definition`` (added to ``graph.definitions`` when missing)."""
    add_definition(graph, definition)
    return graph.add_node(SUBGRAPH_TYPE, values, id=id, title=title,
                          extra={REF_KEY: {"id": definition.id, "version": definition.version}})


def add_definition(graph: Graph, definition: SubgraphDefinition) -> None:
    """Register ``definition`` in ``graph``; refuses one that would contain itself."""
    trial = dict(graph.definitions)
    trial[definition.id] = definition
    cycle = containment_cycle(trial, definition.id)
    if cycle:
        raise ValueError(f"the subgraph {definition.name!r} would contain itself "
                         f"({' › '.join(cycle)}); a subgraph cannot hold an instance of itself")
    graph.definitions[definition.id] = definition


def used_definitions(definition: SubgraphDefinition) -> list[str]:
    """Ids of the definitions whose instances sit directly inside ``definition``."""
    return [ref[0] for node in definition.graph
            if (ref := instance_ref(node)) is not None]


def containment_cycle(definitions: dict[str, SubgraphDefinition], start: str) -> list[str]:
    """Names along a chain of definitions from ``start`` back to itself, or [] when none."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        current, chain = stack.pop()
        definition = definitions.get(current)
        if definition is None or current in seen:
            continue
        seen.add(current)
        for inner in used_definitions(definition):
            if inner == start:
                return [definitions[d].name for d in [*chain, start]]
            stack.append((inner, [*chain, inner]))
    return []


def definition_problems(graph: Graph) -> list[Problem]:
    """Definitions that contain themselves or could not be read (for load warnings)."""
    problems = []
    for definition in graph.definitions.values():
        if not definition.resolved:
            problems.append(Problem(f"subgraph {definition.name!r}: {definition.problem}",
                                    kind="broken_subgraph"))
        elif cycle := containment_cycle(graph.definitions, definition.id):
            problems.append(Problem(
                f"the subgraph {definition.name!r} contains itself ({' › '.join(cycle)}); "
                "remove the inner instance", kind="subgraph_cycle"))
    return problems


def instances_of(graph: Graph, definition_id: str) -> list[tuple[str | None, str]]:
    """(definition id holding it or None for the top level, node id) of every instance."""
    found: list[tuple[str | None, str]] = []
    places: list[tuple[str | None, Graph]] = [(None, graph)]
    places += [(d.id, d.graph) for d in graph.definitions.values()]
    for where, part in places:
        found += [(where, node.id) for node in part
                  if (ref := instance_ref(node)) is not None and ref[0] == definition_id]
    return found


# -- make and unpack -------------------------------------------------------------------------


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3`` … whichever ``taken`` lacks (then taken too): the
    names of a definition's inputs, outputs and widgets are unique on its instances."""
    candidate, count = name, 2
    while candidate in taken:
        candidate, count = f"{name}_{count}", count + 1
    taken.add(candidate)
    return candidate


def make_subgraph(
    graph: Graph, node_ids: Iterable[str], *, name: str = "Subgraph", registry: Any = None,
    promote: Iterable[tuple[str, str]] = (),
) -> tuple[Graph, SubgraphDefinition, str]:
    """Pack ``node_ids`` into a new definition and one instance in their place.

    Returns (the new graph, the definition, the instance's id); ``graph`` is left as it was.
    Links crossing the selection become the definition's inputs (one per outer source) and
    outputs (one per inner source read outside). ``registry`` (optional) types them;
    ``promote`` lists inner (node id, input name) widgets to show on the instance.
    """
    chosen = set(node_ids)
    selected = [node_id for node_id in graph.nodes if node_id in chosen]
    if not selected:
        raise ValueError("select at least one node to make a subgraph")
    result = graph.copy()
    instance_id = result.new_id()
    definition = SubgraphDefinition(str(uuid.uuid4()), name, graph.subgraph(selected))
    definition.graph.definitions = {}  # definitions live at the top level only
    incoming = [ln for ln in graph.links if ln.target in chosen and ln.source not in chosen]
    outgoing = [ln for ln in graph.links if ln.source in chosen and ln.target not in chosen]
    by_source = _boundary_inputs(graph, definition, incoming, registry)
    by_inner = _boundary_outputs(graph, definition, outgoing, registry)
    values = _promote_widgets(graph, definition, promote)
    outer_reroutes = {reroute_key(ln.target, ln.input): graph.layout.reroutes.get(
        reroute_key(ln.target, ln.input)) for ln in outgoing}
    xs = [graph.layout.nodes[n].pos for n in selected if n in graph.layout.nodes]
    for node_id in selected:
        result.remove_node(node_id)
    pos = (min(p[0] for p in xs), min(p[1] for p in xs)) if xs else None
    add_instance(result, definition, id=instance_id, values=values)
    if pos is not None:
        result.move_node(instance_id, pos)
    for (source, source_output), item in by_source.items():
        result.connect(source, source_output, instance_id, item.name)
    for link in outgoing:
        result.connect(instance_id, by_inner[(link.source, link.output)].name, link.target,
                       link.input)
        points = outer_reroutes[reroute_key(link.target, link.input)]
        if points:
            result.layout.reroutes[reroute_key(link.target, link.input)] = list(points)
    return result, definition, instance_id


def _boundary_inputs(graph: Graph, definition: SubgraphDefinition, incoming: list[Link],
                     registry: Any) -> dict[tuple[str, str], SubgraphInput]:
    """One definition input per outer source the selection reads (outer (node, output) → the
    input); the bend points of the links into the selection stay inside, where unpack finds
    them again."""
    taken: set[str] = set()
    by_source: dict[tuple[str, str], SubgraphInput] = {}
    for link in incoming:
        item = by_source.get((link.source, link.output))
        if item is None:
            item = SubgraphInput(unique_name(link.input, taken),
                                 _input_type(graph, registry, link.target, link.input))
            by_source[(link.source, link.output)] = item
            definition.inputs.append(item)
        item.targets.append((link.target, link.input))
        points = graph.layout.reroutes.get(reroute_key(link.target, link.input))
        if points:
            definition.graph.layout.reroutes[reroute_key(link.target, link.input)] = list(points)
    return by_source


def _boundary_outputs(graph: Graph, definition: SubgraphDefinition, outgoing: list[Link],
                      registry: Any) -> dict[tuple[str, str], SubgraphOutput]:
    """One definition output per inner (node, output) read outside the selection."""
    taken: set[str] = set()
    by_inner: dict[tuple[str, str], SubgraphOutput] = {}
    for link in outgoing:
        if (link.source, link.output) not in by_inner:
            output = SubgraphOutput(unique_name(link.output, taken),
                                    _output_type(graph, registry, link.source, link.output),
                                    (link.source, link.output))
            by_inner[(link.source, link.output)] = output
            definition.outputs.append(output)
    return by_inner


def _promote_widgets(graph: Graph, definition: SubgraphDefinition,
                     promote: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Add the promoted widgets to ``definition``; the instance's values for them (the inner
    nodes' current values)."""
    values: dict[str, Any] = {}
    taken: set[str] = set()
    for node_id, input_name in promote:
        inner = graph.node(node_id)
        widget = PromotedWidget(unique_name(input_name, taken), node_id, input_name,
                                copy.deepcopy(inner.values.get(input_name)))
        definition.widgets.append(widget)
        if input_name in inner.values:
            values[widget.name] = copy.deepcopy(inner.values[input_name])
    return values


def _input_type(graph: Graph, registry: Any, node_id: str, input_name: str) -> str:
    node_type = registry.get(graph.node(node_id).type) if registry is not None else None
    spec = node_type.input(input_name) if node_type is not None else None
    return spec.type if spec is not None else ANY_TYPE


def _output_type(graph: Graph, registry: Any, node_id: str, output: str) -> str:
    node_type = registry.get(graph.node(node_id).type) if registry is not None else None
    index = node_type.output_index(output) if node_type is not None else None
    if node_type is None or index is None:
        return ANY_TYPE
    return node_type.outputs[index].type


def unpack(graph: Graph, instance_id: str) -> Graph:
    """The graph with instance ``instance_id`` replaced by its inner nodes (ids kept where
    free), its links and its promoted values; the definition goes when nothing else uses it.
    ``unpack(*make_subgraph(g, ids)[::2])`` equals ``g``."""
    instance = graph.node(instance_id)
    ref = instance_ref(instance)
    definition = graph.definitions.get(ref[0]) if ref else None
    if definition is None or not definition.resolved:
        raise ValueError(f"node {instance_id} is not an instance of a subgraph this graph "
                         "holds; nothing to unpack")
    result = graph.copy()
    incoming = result.links_into(instance_id)
    outgoing = result.links_from(instance_id)
    outer_reroutes = {ln.key: result.layout.reroutes.get(reroute_key(*ln.key))
                      for ln in outgoing}
    result.remove_node(instance_id)
    inner = definition.graph
    mapping = {node.id: node.id if node.id not in result else result.new_id()
               for node in inner}
    for node in inner:
        restored = copy.deepcopy(node)
        restored.id = mapping[node.id]
        result.restore_node(restored, inner.layout.nodes.get(node.id))
    for widget in definition.widgets:
        if widget.name in instance.values and widget.node in mapping:
            result.set_value(mapping[widget.node], widget.input, instance.values[widget.name])
    for link in inner.links:
        result.connect(mapping[link.source], link.output, mapping[link.target], link.input)
    for key, points in inner.layout.reroutes.items():
        node_id, _, input_name = key.partition(".")
        if node_id in mapping:
            result.layout.reroutes[reroute_key(mapping[node_id], input_name)] = list(points)
    for link in incoming:
        item = definition.input(link.input)
        for target, input_name in item.targets if item else []:
            result.connect(link.source, link.output, mapping[target], input_name)
    for link in outgoing:
        output = definition.output(link.output)
        if output is not None and output.source[0] in mapping:
            result.connect(mapping[output.source[0]], output.source[1], link.target, link.input)
            bends = outer_reroutes.get(link.key)
            if bends:
                result.layout.reroutes[reroute_key(*link.key)] = list(bends)
    if not instances_of(result, definition.id):
        del result.definitions[definition.id]
    return result
