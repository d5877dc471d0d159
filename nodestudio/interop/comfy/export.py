"""Writing a NodeStudio graph as a ComfyUI API prompt.

Muted nodes are left out and bypassed ones resolved, as ComfyUI's frontend does when it queues
a prompt. Each node is written by the rule that maps its type; placeholders of ComfyUI nodes
are written back from the data they kept. A node that ComfyUI cannot express makes the export
fail with a GraphError that names every such node.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nodestudio.api.registry import NodeRegistry
from nodestudio.engine.modes import resolve_modes
from nodestudio.engine.signature import widget_values
from nodestudio.graph.model import Graph, Node
from nodestudio.graph.problems import GraphError, Problem
from nodestudio.interop.comfy.build import PLACEHOLDER_PREFIX
from nodestudio.interop.comfy.catalog import NOTE_TYPES, node_def
from nodestudio.interop.comfy.ir import EXTRA_KEY
from nodestudio.interop.comfy.prompt import is_link
from nodestudio.interop.comfy.rules import Rule, Unexportable
from nodestudio.interop.comfy.subgraphs import comfy_flat


class ComfyExportError(GraphError):
    """The graph has nodes or values that ComfyUI's API prompt cannot express."""


class _UpstreamUnexportable(Unexportable):
    """A node linked from a node that cannot be written."""


class PromptExporter:
    """Implements rules.Exporter for one graph."""

    def __init__(self, graph: Graph, registry: NodeRegistry,
                 rules: Mapping[str, list[Rule]]) -> None:
        self.graph = graph
        self.registry = registry
        self.rules = rules
        self.prompt: dict[str, Any] = {}

    def values(self, node: Node) -> dict[str, Any]:
        node_type = self.registry.get(node.type)
        return widget_values(node, node_type) if node_type else dict(node.values)

    def link(self, node: Node, input_name: str) -> list[Any] | None:
        link = self.graph.link_into(node.id, input_name)
        if link is None:
            return None
        return [link.source, self.output_slot(self.graph.node(link.source), link.output)]

    def add_entry(self, node_id: str, entry: dict[str, Any]) -> None:
        if node_id in self.prompt or node_id in self.graph:
            raise Unexportable(f"the extra ComfyUI node id {node_id!r} is taken")
        entry.setdefault("_meta", {"title": _default_title(entry["class_type"])})
        self.prompt[node_id] = entry

    def output_slot(self, source: Node, output: str) -> int:
        """The ComfyUI output index of NodeStudio output ``output`` of ``source``."""
        if _comfy_data(source) is not None and source.type.startswith(PLACEHOLDER_PREFIX):
            return placeholder_output_slot(source, output)
        rule = self.rule_for(source)
        if rule is None:
            raise _UpstreamUnexportable(f"node {source.id} cannot be written")
        slot = rule.output_slot(output)
        if slot is None:
            raise Unexportable(f"output {output!r} of node {source.id} has no ComfyUI "
                               "counterpart")
        return slot

    def rule_for(self, node: Node) -> Rule | None:
        type_id = self.registry.resolve_id(node.type)
        for rule in self.rules.get(type_id, []):
            if rule.accepts(node, self):
                return rule
        return None


def export_prompt(graph: Graph, registry: NodeRegistry,
                  rules: Mapping[str, list[Rule]]) -> dict[str, Any]:
    # Subgraph instances become their inner nodes, under ComfyUI's "outer:inner" ids.
    effective, _ = resolve_modes(comfy_flat(graph, registry), registry)
    exporter = PromptExporter(effective, registry, rules)
    problems: list[Problem] = []
    for node in effective:
        if _is_note(node) or _never_runs(node, registry):
            continue  # frontend-only: ComfyUI leaves notes out of its prompts too
        try:
            entry = _export_node(node, exporter)
        except _UpstreamUnexportable:
            continue  # the node it is linked from is reported on its own
        except Unexportable as error:
            problems.append(Problem(f"cannot be written for ComfyUI: {error}", node.id,
                                    kind="not_exportable"))
            continue
        entry["_meta"] = {"title": node.title or _default_title(entry["class_type"])}
        exporter.prompt[node.id] = entry
    if problems:
        raise ComfyExportError(
            f"{len(problems)} node(s) cannot be written as a ComfyUI API prompt", problems)
    return exporter.prompt


def _is_note(node: Node) -> bool:
    data = _comfy_data(node)
    return data is not None and data.get("class_type") in NOTE_TYPES


def _never_runs(node: Node, registry: NodeRegistry) -> bool:
    """A node without outputs that is no output node (a Note) has no part in a prompt."""
    node_type = registry.get(node.type)
    return node_type is not None and not node_type.outputs and not node_type.output_node


def _export_node(node: Node, exporter: PromptExporter) -> dict[str, Any]:
    data = _comfy_data(node)
    if data is not None and node.type.startswith(PLACEHOLDER_PREFIX):
        return _export_placeholder(node, data, exporter)
    rule = exporter.rule_for(node)
    if rule is None:
        node_type = exporter.registry.get(node.type)
        name = node_type.display_name if node_type else node.type
        raise Unexportable(f"{name} ({node.type}) has no ComfyUI equivalent")
    return rule.export(node, exporter)


def _comfy_data(node: Node) -> dict[str, Any] | None:
    data = node.extra.get(EXTRA_KEY)
    return data if isinstance(data, dict) else None


def _export_placeholder(node: Node, data: dict[str, Any],
                        exporter: PromptExporter) -> dict[str, Any]:
    """A ComfyUI node NodeStudio does not know, written back from what it kept."""
    class_type = data.get("class_type")
    if not isinstance(class_type, str):
        raise Unexportable("its ComfyUI data has no class_type")
    found = data.get("node")
    original: dict[str, Any] = found if isinstance(found, dict) else {}
    inputs: dict[str, Any] = {}
    named = original.get("inputs") if data.get("format") == "prompt" \
        else data.get("prompt_inputs")
    if isinstance(named, dict):
        inputs.update({name: value for name, value in named.items() if not is_link(value)})
    else:
        widgets = original.get("widgets_values")
        if isinstance(widgets, list) and widgets and not node.values:
            raise Unexportable(
                f"ComfyUI {class_type} came from a UI workflow that does not name its widget "
                "values, so they cannot be written as a prompt")
    inputs.update(node.values)
    for link in exporter.graph.links_into(node.id):
        source = exporter.graph.node(link.source)
        inputs[link.input] = [link.source, exporter.output_slot(source, link.output)]
    return {"class_type": class_type, "inputs": inputs}


def placeholder_output_slot(node: Node, output: str) -> int:
    if output.isascii() and output.isdigit():  # "²".isdigit() is True, int("²") fails
        return int(output)
    data = _comfy_data(node) or {}
    found = data.get("node")
    original: dict[str, Any] = found if isinstance(found, dict) else {}
    outputs = original.get("outputs")
    for slot, item in enumerate(outputs if isinstance(outputs, list) else []):
        if isinstance(item, dict) and item.get("name") == output:
            return slot
    raise Unexportable(f"output {output!r} of node {node.id} has no known ComfyUI slot")


def _default_title(class_type: str) -> str:
    definition = node_def(class_type)
    return definition.display_name if definition is not None else class_type

