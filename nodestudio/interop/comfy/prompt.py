"""Reading ComfyUI's API prompt JSON into a ComfyGraph.

An API prompt maps node ids to ``{"class_type": ..., "inputs": {...}, "_meta": {"title":
...}}``; an input is either a value or a link ``[source node id, output index]``. It is what
ComfyUI's server runs, what its "Export (API)" writes and what SaveImage stores in a PNG's
``prompt`` chunk. It has no layout, no muted nodes (the frontend leaves them out) and no
frontend-only nodes.
"""

from __future__ import annotations

from typing import Any

from nodestudio.graph.problems import GraphFileError, Problem
from nodestudio.interop.comfy.catalog import node_def
from nodestudio.interop.comfy.ir import ComfyGraph, ComfyNode, Source, node_id_text, slot_index


def unwrap_prompt(data: Any) -> Any:
    """The prompt itself, also when it is wrapped as the body posted to ``/prompt``."""
    if isinstance(data, dict) and isinstance(data.get("prompt"), dict) and "nodes" not in data \
            and "class_type" not in data:
        return data["prompt"]
    return data


def looks_like_prompt(data: Any) -> bool:
    data = unwrap_prompt(data)
    return (
        isinstance(data, dict) and bool(data) and "format" not in data
        and all(isinstance(entry, dict) and "class_type" in entry for entry in data.values())
    )


def is_link(value: Any) -> bool:
    """ComfyUI's server takes any 2-item list ``[node id, output index]`` as a link."""
    return (isinstance(value, list) and len(value) == 2 and node_id_text(value[0]) is not None
            and slot_index(value[1]) is not None)


def read_prompt(data: Any) -> ComfyGraph:
    data = unwrap_prompt(data)
    if not looks_like_prompt(data):
        raise GraphFileError("not a ComfyUI API prompt", [Problem(
            "expected an object mapping node ids to {'class_type': ..., 'inputs': {...}}",
            kind="structure")])
    graph = ComfyGraph(has_layout=False)
    errors: list[Problem] = []
    for raw_id, entry in data.items():
        node_id = node_id_text(raw_id)
        class_type = entry.get("class_type")
        inputs = entry.get("inputs", {})
        if node_id is None:
            errors.append(Problem(f"node id {raw_id!r} is empty", kind="structure"))
            continue
        if not isinstance(class_type, str) or not class_type:
            errors.append(Problem("'class_type' must be a node class name", node_id,
                                  kind="structure"))
            continue
        if not isinstance(inputs, dict):
            errors.append(Problem("'inputs' must be an object", node_id, kind="structure"))
            continue
        if node_id in graph.nodes:
            errors.append(Problem("duplicate node id", node_id, kind="structure"))
            continue
        node = ComfyNode(node_id, class_type, entry=entry, origin="prompt")
        for name, value in inputs.items():
            if is_link(value):
                node.links[str(name)] = Source(node_id_text(value[0]),  # type: ignore[arg-type]
                                               slot_index(value[1]))  # type: ignore[arg-type]
            else:
                node.values[str(name)] = value
        node.title = _custom_title(entry, class_type)
        graph.nodes[node_id] = node
    if errors:
        raise GraphFileError(f"the ComfyUI prompt has {len(errors)} problem(s)", errors)
    for node in graph.nodes.values():
        for name, source in list(node.links.items()):
            if source.node_id not in graph.nodes:
                graph.warnings.append(Problem(
                    f"linked from node {source.node_id}, which the prompt does not have; "
                    "the link is dropped", node.id, name, kind="dangling_link"))
                del node.links[name]
    return graph


def _custom_title(entry: dict[str, Any], class_type: str) -> str | None:
    """The node's title when it is not just the class's own display name."""
    meta = entry.get("_meta")
    title = meta.get("title") if isinstance(meta, dict) else None
    if not isinstance(title, str) or not title:
        return None
    definition = node_def(class_type)
    if title == class_type or (definition is not None and title == definition.display_name):
        return None
    return title
