"""Validation: every reason a graph cannot run, found at once, each bound to node and input."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from nodestudio.api.registry import NodeRegistry
from nodestudio.api.schema import check_value
from nodestudio.engine.modes import CycleNote
from nodestudio.graph.model import Graph
from nodestudio.graph.problems import Problem, did_you_mean

#: Returns the choices currently available for a ``choices_source`` (e.g. the checkpoints in
#: the models folder), or None when it cannot tell; then the value is not checked here.
ChoicesProvider = Callable[[str], list[str] | None]


def output_nodes(graph: Graph, registry: NodeRegistry) -> list[str]:
    """The sinks a run computes: output nodes that are not muted or bypassed."""
    found = []
    for node in graph:
        node_type = registry.get(node.type)
        if node_type is not None and node_type.output_node and node.mode == "normal":
            found.append(node.id)
    return found


def needed_nodes(graph: Graph, targets: Iterable[str]) -> list[str]:
    """``targets`` and everything upstream of them, in graph order."""
    needed: set[str] = set()
    stack = [t for t in targets if t in graph]
    while stack:
        node_id = stack.pop()
        if node_id in needed:
            continue
        needed.add(node_id)
        stack.extend(link.source for link in graph.links_into(node_id))
    return [node_id for node_id in graph.nodes if node_id in needed]


def validate(
    graph: Graph,
    registry: NodeRegistry,
    *,
    outputs: Iterable[str] | None = None,
    choices: ChoicesProvider | None = None,
    notes: dict[tuple[str, str], str] | None = None,
    folders: Mapping[str, Path] | None = None,
) -> list[Problem]:
    """All problems that stop ``graph`` from running; an empty list means it can run.

    Only the nodes the outputs need are checked, so an unknown node type off to the side does
    not stop a run. ``notes`` explain links removed by muting/bypassing (see modes.py).
    ``folders``: the folder a ``choices_source`` lists ("files:input" -> the input folder), so
    a missing file's problem says where to put it.
    """
    problems: list[Problem] = []
    if outputs is None:
        targets = output_nodes(graph, registry)
        if not targets:
            problems.append(Problem(
                "the graph has no output node (such as Save Image or Preview Image) to compute",
                kind="no_output"))
    else:
        targets = []
        for node_id in outputs:
            if node_id in graph:
                targets.append(node_id)
            else:
                problems.append(Problem(
                    "requested output node does not exist"
                    + did_you_mean(node_id, list(graph.nodes)), node_id, kind="unknown_node"))
    needed = needed_nodes(graph, targets)
    for node_id in needed:
        problems.extend(_check_node(graph, registry, node_id, choices, notes or {},
                                    folders or {}))
    problems.extend(_check_cycles(graph, needed))
    # Cycles through muted or bypassed nodes are gone from the graph that runs; resolve_modes
    # left a note on the link that closed each one.
    inside = set(needed)
    problems.extend(
        Problem(f"is part of a cycle: {reason}; a node cannot depend on its own output",
                node_id, input_name, kind="cycle")
        for (node_id, input_name), reason in (notes or {}).items()
        if isinstance(reason, CycleNote) and node_id in inside)
    return problems


def _check_node(
    graph: Graph, registry: NodeRegistry, node_id: str, choices: ChoicesProvider | None,
    notes: dict[tuple[str, str], str], folders: Mapping[str, Path],
) -> list[Problem]:
    node = graph.node(node_id)
    node_type = registry.get(node.type)
    if node_type is None:
        meant = registry.likely_meant(node.type)
        hint = f"did you mean {meant!r}?" if meant else "is a node pack missing?"
        return [Problem(f"unknown node type {node.type!r} ({hint})", node_id,
                        kind="unknown_type")]
    problems: list[Problem] = []
    input_names = {spec.name for spec in node_type.inputs}
    for link in graph.links_into(node_id):
        if link.input not in input_names:
            hint = did_you_mean(link.input, [spec.name for spec in node_type.inputs])
            problems.append(Problem(f"{node_type.display_name} has no input {link.input!r}{hint}",
                                    node_id, link.input, kind="unknown_input"))
    for spec in node_type.inputs:
        link = graph.link_into(node_id, spec.name)  # type: ignore[assignment]  # None checked next
        if link is not None:
            problems.extend(_check_link(graph, registry, link.source, link.output, node_id,
                                        spec.name, spec.type))
            continue
        if spec.has_widget:
            value = node.values.get(spec.name, spec.default)
            if value is None:
                if not spec.optional:
                    problems.append(Problem("no value set", node_id, spec.name,
                                            kind="missing_value"))
                continue
            problem = check_value(spec, value)
            if problem is not None:
                kind = "invalid_choice" if spec.choices is not None else "invalid_value"
                if "minimum" in problem or "maximum" in problem:
                    kind = "out_of_range"
                problems.append(Problem(problem, node_id, spec.name, kind=kind))
            elif spec.choices_source and choices is not None:
                available = choices(spec.choices_source)
                # An absolute path is the artist's own choice; the node checks it exists.
                if (available is not None and value not in available
                        and not (isinstance(value, str) and os.path.isabs(value))):
                    problems.append(Problem(
                        missing_choice_message(value, spec.choices_source,
                                               folders.get(spec.choices_source)), node_id,
                        spec.name, kind="missing_choice"))
        elif not spec.optional:
            reason = notes.get((node_id, spec.name))
            if isinstance(reason, CycleNote):
                continue  # reported once, as the cycle it is (see validate)
            message = f"required input ({spec.type}) is not linked"
            if reason:
                message += f": {reason}"
            problems.append(Problem(message, node_id, spec.name, kind="missing_input"))
    return problems


def missing_choice_message(value: object, source: str, folder: Path | None = None) -> str:
    """Why ``value`` cannot be used; with the folder ``source`` lists, where to put the file."""
    if folder is None:
        return f"{value!r} is not available ({source})"
    return f"{value!r} is not in {folder}; put the file there or choose one that is"


def _check_link(
    graph: Graph, registry: NodeRegistry, source_id: str, output: str, target_id: str,
    input_name: str, input_type: str,
) -> list[Problem]:
    source_type = registry.get(graph.node(source_id).type)
    if source_type is None:
        return []  # reported on the source node itself
    index = source_type.output_index(output)
    if index is None:
        hint = did_you_mean(output, [spec.name for spec in source_type.outputs])
        return [Problem(f"linked from output {output!r}, which node {source_id} "
                        f"({source_type.display_name}) does not have{hint}", target_id,
                        input_name, kind="unknown_output")]
    output_type = source_type.outputs[index].type
    if not registry.sockets.compatible(output_type, input_type):
        return [Problem(f"cannot take {output_type} from node {source_id} into a "
                        f"{input_type} input", target_id, input_name, kind="type_mismatch")]
    return []


def _check_cycles(graph: Graph, node_ids: list[str]) -> list[Problem]:
    """One problem per node caught in a cycle (depth-first search, iterative)."""
    inside = set(node_ids)
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    in_cycle: set[str] = set()
    for start in node_ids:
        if start in state:
            continue
        path: list[str] = []
        stack: list[tuple[str, list[str]]] = [(start, _sources(graph, start, inside))]
        state[start] = 1
        path.append(start)
        while stack:
            node_id, pending = stack[-1]
            if not pending:
                stack.pop()
                path.pop()
                state[node_id] = 2
                continue
            upstream = pending.pop()
            if state.get(upstream) == 1:
                in_cycle.update(path[path.index(upstream):])
            elif upstream not in state:
                state[upstream] = 1
                path.append(upstream)
                stack.append((upstream, _sources(graph, upstream, inside)))
    return [Problem("is part of a cycle: a node cannot depend on its own output", node_id,
                    kind="cycle") for node_id in node_ids if node_id in in_cycle]


def _sources(graph: Graph, node_id: str, inside: set[str]) -> list[str]:
    return [link.source for link in graph.links_into(node_id) if link.source in inside]
