"""Muted and bypassed nodes, resolved into the graph that actually runs.

A muted node is left out: links out of it disappear. A bypassed node passes through: each of
its outputs is fed, instead, by the source of its first linked input of the same type (as in
ComfyUI), and by nothing when it has none. A placeholder (a type not installed) passes through
by the socket types its importer recorded, so a shared workflow with a bypassed custom node
still runs and exports.
"""

from __future__ import annotations

from nodestudio.api.registry import NodeRegistry
from nodestudio.graph.model import Graph, Link, Node

#: Node.extra key of the sockets a node of an uninstalled type declares (see _sockets).
SOCKETS_KEY = "sockets"


class CycleNote(str):
    """A note for a link left out because it closes a cycle through a muted or bypassed node:
    the effective graph has no cycle left there, so validation reports it from this note."""

    __slots__ = ()


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
        if _feeds_back(graph, link):
            # Passing it through would make a node feed itself (A -> bypassed B -> A).
            notes[link.key] = CycleNote(
                f"it closes a cycle through {source.mode} node {link.source}")
            continue
        replacement = _pass_through(graph, registry, link, seen=set())
        if replacement is not None:
            effective.connect(replacement.source, replacement.output, link.target, link.input)
        else:
            notes[link.key] = f"its source, node {link.source}, is {source.mode}"
    for node in graph:
        if node.mode != "normal":
            effective.remove_node(node.id)
    return effective, notes


def _feeds_back(graph: Graph, link: Link) -> bool:
    """Whether ``link.target`` reaches ``link.source`` downstream, so the link is on a cycle."""
    seen = {link.target}
    stack = [link.target]
    while stack:
        for out in graph.links_from(stack.pop()):
            if out.target == link.source:
                return True
            if out.target not in seen:
                seen.add(out.target)
                stack.append(out.target)
    return False


def _pass_through(graph: Graph, registry: NodeRegistry, link: Link, seen: set[str]) -> Link | None:
    """Follow ``link`` back through bypassed nodes to a normal source, if there is one."""
    source = graph.node(link.source)
    if source.mode == "normal":
        return link
    if source.mode == "muted" or source.id in seen:
        return None
    seen.add(source.id)
    sockets = _sockets(source, registry)
    if sockets is None:
        return None
    inputs, outputs = sockets
    wanted = outputs.get(link.output)
    if wanted is None:
        return None
    for name, kind in inputs:
        upstream = graph.link_into(source.id, name)
        if upstream is not None and kind == wanted:
            return _pass_through(graph, registry, upstream, seen)
    return None


def _sockets(node: Node, registry: NodeRegistry
             ) -> tuple[list[tuple[str, str]], dict[str, str]] | None:
    """(inputs in order as (name, type), outputs name → type) of a node: its type's, or for a
    node of a type not installed (a placeholder) the sockets it declares in
    ``extra["sockets"]`` (written by importers: ``{"inputs": [[name, type], …], "outputs":
    [[name, type], …]}``), so that bypassing it still passes its inputs through."""
    node_type = registry.get(node.type)
    if node_type is not None:
        return ([(spec.name, spec.type) for spec in node_type.inputs],
                {spec.name: spec.type for spec in node_type.outputs})
    declared = node.extra.get(SOCKETS_KEY) if isinstance(node.extra, dict) else None
    if not isinstance(declared, dict):
        return None
    inputs, outputs = _pairs(declared.get("inputs")), _pairs(declared.get("outputs"))
    named = dict(outputs)
    # Links from a placeholder name its outputs, or their slot number when they have no name.
    named.update({str(slot): kind for slot, (_, kind) in enumerate(outputs)})
    return inputs, named


def _pairs(value: object) -> list[tuple[str, str]]:
    """``[[name, type], …]`` from a file, whatever else it holds left out."""
    if not isinstance(value, list):
        return []
    return [(item[0], item[1]) for item in value
            if isinstance(item, list | tuple) and len(item) == 2
            and isinstance(item[0], str) and isinstance(item[1], str)]
