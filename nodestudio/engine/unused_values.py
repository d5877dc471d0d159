"""Values a node holds for inputs its type does not have. Nothing reads them, so a run goes
ahead; but they are almost always a mistake that would otherwise pass in silence: a script's
``graph.set_value(sampler, "sead", 7)`` or a hand-edited graph file, after which the artist
wonders why the seed never changes. (The window only writes inputs a type declares, and
``--set`` is checked against the graph already.)"""

from __future__ import annotations

from nodestudio.api.registry import NodeRegistry
from nodestudio.graph.model import Graph
from nodestudio.graph.problems import Problem, did_you_mean
from nodestudio.graph.subgraph_flatten import with_paths

_SHOWN_VALUE_CHARACTERS = 40


def unused_value_warnings(effective: Graph, registry: NodeRegistry) -> list[Problem]:
    """One warning per value no input of its node's type takes, with the input the name
    most likely meant. ``effective`` is the graph that runs (engine.plan.effective_graph), so
    nodes inside subgraphs are checked too and named by their path."""
    warnings = []
    for node in effective:
        node_type = registry.get(node.type)
        if node_type is None:
            continue  # an unknown type is a problem of its own
        input_names = [spec.name for spec in node_type.inputs]
        for name, value in node.values.items():
            if name in input_names:
                continue
            message = (f"{node_type.display_name} has no such input, so its value "
                       f"{_shown(value)} is not used")
            message += did_you_mean(name, input_names)
            warnings.append(Problem(message, node.id, name, kind="unused_value"))
    return with_paths(warnings, effective)


def _shown(value: object) -> str:
    text = repr(value)
    if len(text) > _SHOWN_VALUE_CHARACTERS:
        text = text[:_SHOWN_VALUE_CHARACTERS - 1] + "…"
    return text
