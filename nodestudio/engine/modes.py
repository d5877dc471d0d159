"""Muted and bypassed nodes, resolved into the graph that actually runs.

A muted node is left out: links out of it disappear. A bypassed node passes through: each of
its outputs is fed, instead, by the source of its first linked input of the same type (as in
ComfyUI), and by nothing when it has none.
"""

from __future__ import annotations

from nodestudio.api.registry import NodeRegistry
from nodestudio.graph.model import Graph, Link


def resolve_modes(graph: Graph, registry: NodeRegistry) -> tuple[Graph, dict[tuple[str, str], str]]:
    """The graph without muted/bypassed nodes, and why each dropped input lost its link."""
    if all(node.mode == "normal" for node in graph):
        return graph, {}
    effective = graph.copy()
    notes: dict[tuple[str, str], str] = {}
    for link in graph.links:
        source = graph.node(link.source)
        if source.mode == "normal":
            continue
        effective.disconnect(link.target, link.input)
        replacement = _pass_through(graph, registry, link, seen=set())
        if replacement is not None:
            effective.connect(replacement.source, replacement.output, link.target, link.input)
        else:
            notes[link.key] = f"its source, node {link.source}, is {source.mode}"
    for node in graph:
        if node.mode != "normal":
            effective.remove_node(node.id)
    return effective, notes


def _pass_through(graph: Graph, registry: NodeRegistry, link: Link, seen: set[str]) -> Link | None:
    """Follow ``link`` back through bypassed nodes to a normal source, if there is one."""
    source = graph.node(link.source)
    if source.mode == "normal":
        return link
    if source.mode == "muted" or source.id in seen:
        return None
    seen.add(source.id)
    node_type = registry.get(source.type)
    if node_type is None:
        return None
    output_index = node_type.output_index(link.output)
    if output_index is None:
        return None
    wanted = node_type.outputs[output_index].type
    for spec in node_type.inputs:
        upstream = graph.link_into(source.id, spec.name)
        if upstream is not None and spec.type == wanted:
            return _pass_through(graph, registry, upstream, seen)
    return None
