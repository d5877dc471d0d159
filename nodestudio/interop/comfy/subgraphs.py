"""ComfyUI's view of subgraph instances: its backend runs a flattened prompt whose inner node
ids are ``outer:inner`` (nested ``a:b:c``), so the API export flattens the same way."""

from __future__ import annotations

from nodestudio.api.registry import NodeRegistry
from nodestudio.graph.model import Graph
from nodestudio.graph.subgraph_flatten import PATH_SEPARATOR, flatten, has_instances

#: How ComfyUI's backend joins the ids of an expanded subgraph node.
COMFY_SEPARATOR = ":"


def comfy_flat(graph: Graph, registry: NodeRegistry) -> Graph:
    """``graph`` with its instances expanded under ComfyUI's ``outer:inner`` ids; ``graph``
    itself when it holds none."""
    if not has_instances(graph):
        return graph
    flat = flatten(graph, registry).graph
    renamed = Graph()
    renamed.metadata = flat.metadata

    def comfy_id(node_id: str) -> str:
        return node_id.replace(PATH_SEPARATOR, COMFY_SEPARATOR)

    for node in flat:
        renamed.add_node(node.type, node.values, id=comfy_id(node.id),
                         type_version=node.type_version, mode=node.mode, title=node.title,
                         controls=node.controls, extra=node.extra,
                         layout=flat.layout.nodes.get(node.id))
    for link in flat.links:
        renamed.connect(comfy_id(link.source), link.output, comfy_id(link.target), link.input)
    return renamed
