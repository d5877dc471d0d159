"""Flattening: the graph the engine runs, with every subgraph instance replaced by its inner
nodes under path ids (``instance/inner``, nested ``a/b/c``).

This is the one place instances are expanded; the executor, validation, the Session, cache
states and the ComfyUI export all go through it, so signatures and the cache stay per inner
node: changing one promoted widget re-runs only what depends on it inside.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from nodestudio.graph.model import Graph, Node
from nodestudio.graph.problems import Problem
from nodestudio.graph.subgraphs import SubgraphDefinition, instance_ref, is_instance

#: Separates the instance ids of a flat id: "7/3" is node 3 inside instance 7.
PATH_SEPARATOR = "/"
#: Node.extra key of a flat inner node's readable path ("Hires fix › Sampler").
PATH_KEY = "subgraph_path"
#: Node.extra key of the flat id's outermost instance (the node the artist sees on the canvas).
OUTER_KEY = "subgraph_outer"


@dataclass
class Flattened:
    graph: Graph
    #: Instances that could not be expanded (unknown, unreadable or self-containing
    #: definitions), each bound to the instance's flat id.
    problems: list[Problem] = field(default_factory=list)


def has_instances(graph: Graph) -> bool:
    return any(is_instance(node) for node in graph)


def flatten(graph: Graph, registry: Any = None) -> Flattened:
    """``graph`` with its instances expanded; ``graph`` itself when it holds none.

    An instance whose definition cannot be used stays as it is (the validator then refuses
    it) and gets a problem saying why. ``registry`` names inner nodes in paths."""
    if not has_instances(graph):
        return Flattened(graph)
    flat = Graph()
    flat.metadata = copy.deepcopy(graph.metadata)
    flat.definitions = graph.definitions  # read-only here; kept for what reads the flat graph
    expander = _Expander(graph.definitions, flat, registry)
    expander.expand(graph, "", (), (), None, {})
    for node_id, item in graph.layout.nodes.items():
        if node_id in flat:
            flat.layout.nodes[node_id] = copy.deepcopy(item)
    return Flattened(flat, expander.problems)


@dataclass
class _Ports:
    """Where the links of one level land in the flat graph."""

    prefix: str
    #: (instance id, input name) -> flat (node, input) pairs it feeds.
    inputs: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)
    #: (instance id, output name) -> flat (node, output) it reads, None when unresolvable.
    outputs: dict[tuple[str, str], tuple[str, str] | None] = field(default_factory=dict)
    expanded: set[str] = field(default_factory=set)

    def targets(self, node_id: str, input_name: str) -> list[tuple[str, str]]:
        if node_id in self.expanded:
            return self.inputs.get((node_id, input_name), [])
        return [(self.prefix + node_id, input_name)]

    def source(self, node_id: str, output: str) -> tuple[str, str] | None:
        if node_id in self.expanded:
            return self.outputs.get((node_id, output))
        return (self.prefix + node_id, output)


class _Expander:
    def __init__(self, definitions: dict[str, SubgraphDefinition], flat: Graph,
                 registry: Any) -> None:
        self.definitions = definitions
        self.flat = flat
        self.registry = registry
        self.problems: list[Problem] = []

    def expand(self, graph: Graph, prefix: str, trail: tuple[str, ...], chain: tuple[str, ...],
               mode: str | None, overrides: dict[tuple[str, str], Any]) -> _Ports:
        """Add ``graph``'s nodes under ``prefix``; returns where its instances' ports went."""
        ports = _Ports(prefix)
        for node in graph:
            values = dict(node.values)
            for (node_id, name), value in overrides.items():
                if node_id == node.id:
                    values[name] = copy.deepcopy(value)
            definition = self._definition(node, prefix, chain) if is_instance(node) else None
            if definition is None:
                self._add(node, prefix, values, trail, mode)
                continue
            ports.expanded.add(node.id)
            inner = self._instance(node, definition, prefix, trail, chain, mode, values)
            for item in definition.inputs:
                ports.inputs[(node.id, item.name)] = [
                    end for target in item.targets for end in inner.targets(*target)]
            for output in definition.outputs:
                ports.outputs[(node.id, output.name)] = inner.source(*output.source)
        for link in graph.links:
            source = ports.source(link.source, link.output)
            if source is None:
                continue
            for target, input_name in ports.targets(link.target, link.input):
                if source[0] != target and source[0] in self.flat and target in self.flat:
                    self.flat.connect(source[0], source[1], target, input_name)
        return ports

    def _instance(self, node: Node, definition: SubgraphDefinition, prefix: str,
                  trail: tuple[str, ...], chain: tuple[str, ...], mode: str | None,
                  values: dict[str, Any]) -> _Ports:
        inner_overrides = {
            (widget.node, widget.input): values.get(widget.name, widget.default)
            for widget in definition.widgets
            if widget.name in values or widget.default is not None}
        label = node.title or definition.name
        inner_mode = mode or (node.mode if node.mode != "normal" else None)
        return self.expand(definition.graph, prefix + node.id + PATH_SEPARATOR,
                           (*trail, label), (*chain, definition.id), inner_mode,
                           inner_overrides)

    def _definition(self, node: Node, prefix: str,
                    chain: tuple[str, ...]) -> SubgraphDefinition | None:
        ref = instance_ref(node)
        definition = self.definitions.get(ref[0]) if ref else None
        flat_id = prefix + node.id
        if definition is None:
            what = f"{ref[0]!r}" if ref else "(none named)"
            self.problems.append(Problem(
                f"its subgraph definition {what} is neither in this file nor in the subgraph "
                "library; add it to the library folder or unpack a copy that has it",
                flat_id, kind="unknown_subgraph"))
            return None
        if not definition.resolved:
            self.problems.append(Problem(f"subgraph {definition.name!r}: {definition.problem}",
                                         flat_id, kind="broken_subgraph"))
            return None
        if definition.id in chain:
            names = [self.definitions[d].name for d in (*chain, definition.id)]
            self.problems.append(Problem(
                f"the subgraph {definition.name!r} contains itself ({' › '.join(names)}); "
                "a subgraph cannot hold an instance of itself", flat_id, kind="subgraph_cycle"))
            return None
        return definition

    def _add(self, node: Node, prefix: str, values: dict[str, Any], trail: tuple[str, ...],
             mode: str | None) -> None:
        extra = copy.deepcopy(node.extra)
        if trail:
            extra[PATH_KEY] = " › ".join((*trail, self._name(node)))
            extra[OUTER_KEY] = prefix.split(PATH_SEPARATOR, 1)[0]
        self.flat.add_node(node.type, copy.deepcopy(values), id=prefix + node.id,
                           type_version=node.type_version, mode=mode or node.mode,  # type: ignore[arg-type]
                           title=node.title, controls=node.controls, extra=extra)

    def _name(self, node: Node) -> str:
        node_type = self.registry.get(node.type) if self.registry is not None else None
        return node.title or (node_type.display_name if node_type is not None else node.type)


def with_paths(problems: list[Problem], graph: Graph) -> list[Problem]:
    """Problems of inner nodes said with their path: "Hires fix › Sampler › steps: …"."""
    named = []
    for problem in problems:
        node = graph.nodes.get(problem.node_id or "")
        path = node.extra.get(PATH_KEY) if node is not None else None
        if path:
            where = f"{path} › {problem.input}" if problem.input else path
            problem = Problem(f"{where}: {problem.message}", problem.node_id, problem.input,
                              problem.kind)
        named.append(problem)
    return named
