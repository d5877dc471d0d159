"""How the window sees a subgraph instance: a node type made from its definition.

The registry knows no type ``subgraph``; an instance's sockets are its definition's inputs and
outputs and its widgets are the promoted inner widgets, so the canvas, the properties dock and
link checks ask :func:`instance_type` instead (no Qt here, and no torch).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from nodestudio.api.registry import NodeRegistry
from nodestudio.api.schema import InputSpec, NodeType, OutputSpec
from nodestudio.graph.model import Graph, Node
from nodestudio.graph.subgraphs import SubgraphDefinition, instance_ref


def _never_called(**_kwargs: Any) -> None:
    # The engine runs an instance as its flattened inner nodes; this type only draws it.
    raise RuntimeError("a subgraph instance runs as its inner nodes")


def definition_of(root: Graph, node: Node) -> SubgraphDefinition | None:
    """The resolved definition ``node`` is an instance of, or None."""
    ref = instance_ref(node)
    definition = root.definitions.get(ref[0]) if ref else None
    return definition if definition is not None and definition.resolved else None


def promoted_spec(definition: SubgraphDefinition, registry: NodeRegistry, index: int
                  ) -> InputSpec:
    """The promoted widget ``index`` as an input spec: the inner input's spec, renamed, with
    the definition's default (or the inner node's own value) as its default."""
    widget = definition.widgets[index]
    inner = definition.graph.nodes.get(widget.node)
    inner_type = registry.get(inner.type) if inner is not None else None
    spec = inner_type.input(widget.input) if inner_type is not None else None
    default = widget.default
    if default is None and inner is not None:
        default = inner.values.get(widget.input, spec.default if spec else None)
    if spec is None:
        return InputSpec(widget.name, "STRING", default=default, widget=True)
    return replace(spec, name=widget.name, default=default, advanced=False,
                   control_after_generate=False)


def instance_type(definition: SubgraphDefinition, registry: NodeRegistry) -> NodeType:
    inputs = [InputSpec(item.name, item.type, widget=False, optional=True)
              for item in definition.inputs]
    widgets = [promoted_spec(definition, registry, i) for i in range(len(definition.widgets))]
    outputs = [OutputSpec(item.name, item.type) for item in definition.outputs]
    return NodeType(
        id="subgraph", version=1, display_name=definition.name, category="subgraphs",
        description=f"Subgraph of {len(definition.graph)} nodes (double-click to open)",
        inputs=(*inputs, *widgets), outputs=tuple(outputs), function=_never_called,
        output_node=False)


def node_type_of(root: Graph, registry: NodeRegistry, node: Node) -> NodeType | None:
    """The type the window draws ``node`` with: the registry's, or an instance's."""
    definition = definition_of(root, node)
    if definition is not None:
        return instance_type(definition, registry)
    return registry.get(node.type)
