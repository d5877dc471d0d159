"""Which links a graph accepts: pure graph + registry logic, the same for every caller.

The window's canvas, the ComfyUI importer and scripts ask these functions, so a link the
editor refuses is refused with the same sentence everywhere (no Qt, no torch here).
"""

from __future__ import annotations

from dataclasses import dataclass

from nodestudio.api.registry import NodeRegistry
from nodestudio.api.schema import NodeType
from nodestudio.graph.model import Graph


@dataclass(frozen=True)
class Endpoint:
    """One end of a (possible) link: a node's output or input, with its socket type."""

    node_id: str
    name: str
    type: str
    is_output: bool


def would_cycle(graph: Graph, source: str, target: str) -> bool:
    """True when a link ``source`` → ``target`` would close a loop in ``graph``.

    That is when ``target`` already feeds ``source``, directly or through other nodes.
    """
    seen: set[str] = set()
    stack = [source]
    while stack:
        current = stack.pop()
        if current == target:
            return True
        if current in seen:
            continue
        seen.add(current)
        stack.extend(link.source for link in graph.links_into(current))
    return False


def link_problem(graph: Graph, registry: NodeRegistry, start: Endpoint,
                 end: Endpoint) -> str | None:
    """Why ``start`` cannot be linked to ``end`` in ``graph`` (either direction), or None."""
    if start.is_output == end.is_output:
        return "link an output to an input"
    source, target = (start, end) if start.is_output else (end, start)
    if source.node_id == target.node_id:
        return "a node cannot feed itself"
    if not registry.sockets.compatible(source.type, target.type):
        return f"{source.type} cannot feed an input of type {target.type}"
    if would_cycle(graph, source.node_id, target.node_id):
        return "that link would make a loop"
    return None


def compatible_socket(registry: NodeRegistry, node_type: NodeType,
                      start: Endpoint) -> str | None:
    """The socket of ``node_type`` a link from ``start`` would go to, or None.

    Sockets come before widget inputs, so a dropped link fills a socket-only input first.
    """
    compatible = registry.sockets.compatible
    if start.is_output:
        candidates = sorted(node_type.inputs, key=lambda spec: spec.has_widget)
        for spec in candidates:
            if compatible(start.type, spec.type):
                return spec.name
        return None
    for output in node_type.outputs:
        if compatible(output.type, start.type):
            return output.name
    return None
