"""The plan: which nodes the outputs need, which of them must run, in what order."""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from nodestudio.api.registry import NodeRegistry
from nodestudio.engine.cache import OutputCache
from nodestudio.engine.modes import resolve_modes
from nodestudio.engine.signature import signatures
from nodestudio.engine.validate import ChoicesProvider, needed_nodes, output_nodes, validate
from nodestudio.graph.model import Graph
from nodestudio.graph.problems import Problem
from nodestudio.graph.subgraph_flatten import flatten, with_paths


@dataclass
class Plan:
    graph: Graph  # the effective graph (muted/bypassed nodes resolved)
    outputs: list[str]
    #: Every node the outputs depend on, in topological order.
    order: list[str]
    signatures: dict[str, str]
    #: Nodes that will run, in order.
    to_run: list[str]
    #: Nodes whose outputs come from the cache (only those the run actually reads).
    cached: list[str]


def effective_graph(
    graph: Graph, registry: NodeRegistry,
) -> tuple[Graph, dict[tuple[str, str], str], list[Problem]]:
    """The graph that runs: subgraph instances flattened (ids ``instance/inner``), then muted
    and bypassed nodes resolved. Returns it, the notes of resolve_modes, and the instances
    that could not be expanded. Everything that plans, validates or signs goes through here."""
    flat = flatten(graph, registry)
    effective, notes = resolve_modes(flat.graph, registry)
    return effective, notes, flat.problems


def check_graph(
    graph: Graph, registry: NodeRegistry, *, outputs: Iterable[str] | None = None,
    choices: ChoicesProvider | None = None,
) -> tuple[Graph, list[Problem]]:
    """The effective graph and every problem that stops it from running, inner nodes named by
    their path ("Hires fix › Sampler › steps: …")."""
    effective, notes, problems = effective_graph(graph, registry)
    unusable = {problem.node_id for problem in problems}
    found = validate(effective, registry, outputs=outputs, choices=choices, notes=notes)
    # An instance that could not be expanded is explained by its own problem already.
    problems += [p for p in found if not (p.kind == "unknown_type" and p.node_id in unusable)]
    return effective, with_paths(problems, effective)


def topological_order(graph: Graph, node_ids: list[str]) -> list[str]:
    """Kahn's algorithm, stable: among ready nodes, the one added to the graph first goes first."""
    inside = set(node_ids)
    rank = {node_id: index for index, node_id in enumerate(node_ids)}
    waiting = {node_id: 0 for node_id in node_ids}
    for node_id in node_ids:
        for link in graph.links_into(node_id):
            if link.source in inside:
                waiting[node_id] += 1
    ready = [(rank[n], n) for n, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, node_id = heapq.heappop(ready)
        order.append(node_id)
        for link in graph.links_from(node_id):
            if link.target in inside:
                waiting[link.target] -= 1
                if waiting[link.target] == 0:
                    heapq.heappush(ready, (rank[link.target], link.target))
    if len(order) != len(node_ids):
        raise ValueError("the graph has a cycle")  # validation reports it properly first
    return order


def make_plan(
    graph: Graph, registry: NodeRegistry, cache: OutputCache, outputs: Iterable[str] | None = None,
    environment: Any = None,
) -> Plan:
    targets = list(outputs) if outputs is not None else output_nodes(graph, registry)
    order = topological_order(graph, needed_nodes(graph, targets))
    sigs = signatures(graph, registry, order, environment)
    must_run: set[str] = set()
    reused: set[str] = set()
    # Walk back from the outputs: a cached node's own inputs are not needed at all.
    stack = list(targets)
    visited: set[str] = set()
    while stack:
        node_id = stack.pop()
        if node_id in visited:
            continue
        visited.add(node_id)
        if sigs[node_id] in cache:
            reused.add(node_id)
            continue
        must_run.add(node_id)
        stack.extend(link.source for link in graph.links_into(node_id))
    return Plan(
        graph=graph,
        outputs=targets,
        order=order,
        signatures=sigs,
        to_run=[n for n in order if n in must_run],
        cached=[n for n in order if n in reused],
    )
