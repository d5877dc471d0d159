"""`nodestudio show GRAPH`: a graph's nodes as a script or ``--set`` addresses them.

A workflow from elsewhere (a ComfyUI export, a PNG someone shared) names its nodes by ids
nobody remembers; to change its seed from the command line, one needs the id of the node and
the name of the input. This lists every node in the order a run takes them, with its values
written as ``--set NODE.INPUT=VALUE`` takes them, and where each linked input comes from.
"""

from __future__ import annotations

import json
from typing import Any

from nodestudio.api.registry import NodeRegistry
from nodestudio.engine.plan import topological_order
from nodestudio.engine.validate import output_nodes
from nodestudio.graph.model import Graph, Node
from nodestudio.graph.subgraphs import (
    PromotedWidget,
    SubgraphDefinition,
    instance_ref,
    is_instance,
)

#: A value longer than this (a long prompt) is cut in the text listing; --json has it whole.
_SHOWN_VALUE_CHARACTERS = 72


def graph_order(graph: Graph) -> list[str]:
    """Every node in the order a run takes them (the order nodes were added, where a cycle
    leaves no order to take)."""
    try:
        return topological_order(graph, list(graph.nodes))
    except ValueError:
        return list(graph.nodes)


def graph_lines(graph: Graph, registry: NodeRegistry) -> list[str]:
    """The listing: a heading, then per node its id, name and type, and under it its inputs
    ("seed = 42", "model ← checkpoint.model")."""
    outputs = output_nodes(graph, registry)
    lines = [f"{len(graph)} nodes; output nodes: {', '.join(outputs) or 'none'}"]
    for node_id in graph_order(graph):
        node = graph.node(node_id)
        lines.append(f"{node_id}  {_heading(graph, registry, node, node_id in outputs)}")
        lines += [f"    {line}" for line in _input_lines(graph, registry, node)]
    return lines


def graph_json(graph: Graph, registry: NodeRegistry) -> dict[str, Any]:
    """The same for tools: per node its type, title, mode, values (defaults included, as a
    run uses them) and links."""
    outputs = output_nodes(graph, registry)
    nodes = []
    for node_id in graph_order(graph):
        node = graph.node(node_id)
        links = {link.input: [link.source, link.output] for link in graph.links_into(node_id)}
        nodes.append({"id": node_id, "type": node.type, "title": node.title, "mode": node.mode,
                      "output": node_id in outputs, "values": _values(registry, node, links),
                      "links": links})
    return {"nodes": nodes, "outputs": outputs}


def _values(registry: NodeRegistry, node: Node, links: dict[str, Any]) -> dict[str, Any]:
    node_type = registry.get(node.type)
    values = {} if node_type is None else {
        spec.name: node.values.get(spec.name, spec.default)
        for spec in node_type.inputs if spec.has_widget and spec.name not in links}
    values.update({name: value for name, value in node.values.items()
                   if name not in values and name not in links})
    return values


def _heading(graph: Graph, registry: NodeRegistry, node: Node, is_output: bool) -> str:
    node_type = registry.get(node.type)
    if node_type is not None:
        name = f"{node_type.display_name} ({node_type.id})"
    elif is_instance(node):
        definition = _definition(graph, node)
        name = f"subgraph {definition.name!r}" if definition else "subgraph (definition missing)"
    else:
        name = f"{node.type} (not installed: kept as it is)"
    if node.title:
        name = f"{json.dumps(node.title, ensure_ascii=False)}: {name}"
    marks = [mark for mark, present in (("output", is_output), (node.mode, node.mode != "normal"))
             if present]
    return name + "".join(f"  [{mark}]" for mark in marks)


def _definition(graph: Graph, node: Node) -> SubgraphDefinition | None:
    ref = instance_ref(node)
    definition = graph.definitions.get(ref[0]) if ref else None
    return definition if isinstance(definition, SubgraphDefinition) else None


def _input_lines(graph: Graph, registry: NodeRegistry, node: Node) -> list[str]:
    links = {link.input: link for link in graph.links_into(node.id)}
    node_type = registry.get(node.type)
    lines: list[str] = []
    known: set[str] = set()
    folded = 0
    for spec in node_type.inputs if node_type is not None else ():
        known.add(spec.name)
        link = links.get(spec.name)
        if link is not None:
            lines.append(f"{spec.name} ← {link.source}.{link.output}")
        elif spec.has_widget:
            if spec.advanced and spec.name not in node.values:
                folded += 1  # as the node folds them: few graphs change these
                continue
            lines.append(f"{spec.name} = {_shown(node.values.get(spec.name, spec.default))}")
        elif not spec.optional:
            lines.append(f"{spec.name} ← (not linked)")
    if is_instance(node) and (definition := _definition(graph, node)) is not None:
        for item in definition.inputs:
            known.add(item.name)
            link = links.get(item.name)
            lines.append(f"{item.name} ← {link.source}.{link.output}" if link
                         else f"{item.name} ← (not linked)")
        for widget in definition.widgets:  # promoted: each instance holds its own value
            known.add(widget.name)
            if widget.name not in links:
                lines.append(f"{widget.name} = {_shown(_promoted_value(definition, node, widget))}")
    for name, link in links.items():
        if name not in known:
            lines.append(f"{name} ← {link.source}.{link.output}")
    extra = "  (not an input of this type: not used)" if node_type is not None else ""
    lines += [f"{name} = {_shown(value)}{extra}" for name, value in node.values.items()
              if name not in known and name not in links]
    if folded:
        lines.append(f"(+{folded} advanced inputs at their defaults)" if folded > 1
                     else "(+1 advanced input at its default)")
    return lines


def _promoted_value(definition: SubgraphDefinition, node: Node, widget: PromotedWidget) -> Any:
    """What a promoted widget is on this instance: its own value, else the definition's
    default, else the inner node's value."""
    if widget.name in node.values:
        return node.values[widget.name]
    if widget.default is not None:
        return widget.default
    inner = definition.graph.nodes.get(widget.node)
    return inner.values.get(widget.input) if inner is not None else None


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    if len(text) > _SHOWN_VALUE_CHARACTERS:
        text = text[:_SHOWN_VALUE_CHARACTERS - 1] + "…"
    return text
