"""Output nodes that cannot run: an unknown node type (a placeholder for a missing pack or an
imported ComfyUI node NodeStudio lacks) that nothing takes input from is where a result would
be saved or shown. A run skipping it silently would report success without that file, so
validation names it (issue 16: an imported SaveAnimatedWEBP that never saved)."""

from __future__ import annotations

from nodestudio.api.registry import NodeRegistry
from nodestudio.graph.model import Graph
from nodestudio.graph.problems import Problem

#: Where an imported node keeps its original ComfyUI data (interop.comfy.ir.EXTRA_KEY); read
#: here by name so the engine needs nothing from the interop layer.
_COMFY_EXTRA = "comfyui"


def unrunnable_outputs(graph: Graph, registry: NodeRegistry) -> list[Problem]:
    """One problem per node of an unknown type that is active and feeds nothing."""
    problems = []
    for node in graph:
        if node.mode != "normal" or node.type in registry or graph.links_from(node.id):
            continue
        if not graph.links_into(node.id):
            # Nothing flows in: a panel or switch node of some UI pack (rgthree's group
            # mutors, notes), not a place where a result would be saved.
            continue
        entry = node.extra.get(_COMFY_EXTRA) if isinstance(node.extra, dict) else None
        name = entry.get("class_type") if isinstance(entry, dict) else None
        what = f"ComfyUI's {name}" if isinstance(name, str) else f"node type {node.type!r}"
        problems.append(Problem(
            f"{what} is not installed, so this output cannot run and what it would save or "
            "show would silently be missing; install its node pack, or mute or delete it to "
            "run the rest", node.id, kind="unrunnable_output"))
    return problems
