"""What a run would do, without running: which nodes are cached and which are stale.

The canvas draws these marks as the artist edits, before anything runs.
"""

from __future__ import annotations

from typing import Any, Literal

from nodestudio.api.registry import NodeRegistry
from nodestudio.engine.cache import OutputCache
from nodestudio.engine.modes import resolve_modes
from nodestudio.engine.signature import node_signature
from nodestudio.graph.model import Graph

CacheState = Literal["cached", "stale", "unknown"]


def cache_states(
    graph: Graph, registry: NodeRegistry, cache: OutputCache, environment: Any = None
) -> dict[str, CacheState]:
    """For every node: "cached" (its outputs would be reused), "stale" (it would run), or
    "unknown" (its type is unknown, it sits in a cycle, it is muted/bypassed, or it never
    runs: a note has no outputs and is no output node)."""
    effective, _ = resolve_modes(graph, registry)
    states: dict[str, CacheState] = {node_id: "unknown" for node_id in graph.nodes}
    signatures: dict[str, str] = {}
    for node_id in _acyclic_order(effective):
        node = effective.node(node_id)
        node_type = registry.get(node.type)
        sources = [link.source for link in effective.links_into(node_id)]
        if node_type is None or any(source not in signatures for source in sources):
            continue
        if not node_type.outputs and not node_type.output_node:
            continue
        try:
            signature = node_signature(effective, registry, node_id, signatures, environment)
        except (KeyError, TypeError, ValueError):
            continue
        signatures[node_id] = signature
        states[node_id] = "cached" if signature in cache else "stale"
    return states


def _acyclic_order(graph: Graph) -> list[str]:
    """Nodes in dependency order; nodes on or after a cycle are left out."""
    waiting = {node_id: len(graph.links_into(node_id)) for node_id in graph.nodes}
    ready = [node_id for node_id, count in waiting.items() if count == 0]
    order: list[str] = []
    while ready:
        node_id = ready.pop(0)
        order.append(node_id)
        for link in graph.links_from(node_id):
            waiting[link.target] -= 1
            if waiting[link.target] == 0:
                ready.append(link.target)
    return order
