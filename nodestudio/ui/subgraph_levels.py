"""Levels of the document the canvas can show: the top level, or the inner graph of a
definition opened through an instance (nested: a path of opened instances). No Qt."""

from __future__ import annotations

from nodestudio.graph.model import Graph
from nodestudio.graph.subgraphs import instance_ref

Path = list[tuple[str, str]]


def level_graph(root: Graph, path: Path) -> Graph:
    """The inner graph at the end of ``path`` (the deepest part still valid: an undo may
    have removed a definition that was open)."""
    graph = root
    for _instance, definition_id in path:
        definition = root.definitions.get(definition_id)
        if definition is None or not definition.resolved:
            break
        graph = definition.graph
    return graph


def valid_path(root: Graph, path: Path) -> Path:
    """The longest start of ``path`` whose instances and definitions still exist."""
    graph, kept = root, []
    for instance_id, definition_id in path:
        node = graph.nodes.get(instance_id)
        ref = instance_ref(node) if node is not None else None
        definition = root.definitions.get(definition_id)
        if ref is None or ref[0] != definition_id or definition is None \
                or not definition.resolved:
            break
        kept.append((instance_id, definition_id))
        graph = definition.graph
    return kept


def crumbs(root: Graph, path: Path) -> list[str]:
    """The names along ``path``: "Graph", then each opened subgraph's name."""
    names = ["Graph"]
    for _instance, definition_id in path:
        definition = root.definitions.get(definition_id)
        names.append(definition.name if definition is not None else definition_id)
    return names


def map_event_id(path: Path, node_id: str) -> str | None:
    """The id, at the open level, of the node a run event names by its flattened path
    (``instance/inner``): the inner id when the event is inside the open level, the
    outermost enclosing instance's id when it is below it, None when it is elsewhere."""
    prefix = "".join(f"{instance}/" for instance, _definition in path)
    if not node_id.startswith(prefix):
        return None
    rest = node_id[len(prefix):]
    return rest.split("/", 1)[0] if rest else None
