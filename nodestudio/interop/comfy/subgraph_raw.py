"""Reading ComfyUI's subgraph JSON: the definitions of a workflow (nested ones and group
nodes too), their slot names and types, an instance's ``proxyWidgets``, which inner widgets a
definition input feeds, where the virtual input and output nodes were drawn, and a definition
as a workflow the reader takes (its virtual nodes as ordinary ones). Everything here is about
the file's shape; subgraph_import.py builds NodeStudio definitions from it.
"""

from __future__ import annotations

import json
from typing import Any

from nodestudio.graph.problems import GraphFileError, Problem
from nodestudio.graph.subgraphs import (
    ANY_TYPE,
    BOUNDARY_SIDES,
    SubgraphDefinition,
    boundary_position,
    set_boundary,
)
from nodestudio.interop.comfy.group_nodes import group_definitions
from nodestudio.interop.comfy.ir import ComfyNode, node_id_text

#: ComfyUI's ids of a definition's virtual input and output nodes.
INPUT_NODE, OUTPUT_NODE = -10, -20
#: proxyWidgets' node id for "the definition input of this name".
PROXY_INPUT = "-1"
#: Type given to the virtual nodes while the inner graph is built (never kept).
_BOUNDARY_TYPE = "NodeStudio subgraph boundary"


def raw_subgraphs(data: Any) -> dict[str, Any]:
    """The definitions of a workflow by id, nested ones too (a definition may carry its own
    ``definitions``); entries without a text id cannot be referred to and are skipped."""
    found: dict[str, Any] = dict(group_definitions(data))
    stack = [data]
    while stack:
        holder = stack.pop()
        definitions = holder.get("definitions") if isinstance(holder, dict) else None
        entries = definitions.get("subgraphs") if isinstance(definitions, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            ident = entry.get("id") if isinstance(entry, dict) else None
            if isinstance(ident, str) and ident and ident not in found:
                found[ident] = entry
                stack.append(entry)
    return found


def proxy_widgets(entry: Any) -> list[tuple[str, str]]:
    """An instance's ``properties.proxyWidgets`` as (inner node id, widget name) pairs; older
    front ends wrote the list as a JSON string. Malformed items are skipped."""
    properties = entry.get("properties") if isinstance(entry, dict) else None
    value = properties.get("proxyWidgets") if isinstance(properties, dict) else None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    pairs = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, list) and len(item) >= 2 and isinstance(item[1], str):
            node_id = node_id_text(item[0])
            if node_id is not None:
                pairs.append((node_id, item[1]))
    return pairs


def slot_names(items: Any) -> list[str]:
    """Slot names of a definition's ``inputs``/``outputs`` (unnamed ones by their index)."""
    names: list[str] = []
    for index, item in enumerate(items if isinstance(items, list) else []):
        name = item.get("name") if isinstance(item, dict) else None
        name = name if isinstance(name, str) and name else str(index)
        while name in names:  # a NodeStudio socket name is unique on its node
            name += "_"
        names.append(name)
    return names


def slot_name(item: Any) -> str | None:
    """An instance input's name as the workflow reader names it (a widget's, where given)."""
    if not isinstance(item, dict):
        return None
    widget = item.get("widget")
    name = widget.get("name") if isinstance(widget, dict) else item.get("name")
    return name if isinstance(name, str) and name else None


def instance_input_names(node: ComfyNode, raw: Any, indices: frozenset[int]) -> frozenset[str]:
    """The names the workflow reader gave instance ``node``'s inputs at definition input
    ``indices`` (an instance's slots follow its definition's inputs by position)."""
    own = node.entry.get("inputs")
    own = own if isinstance(own, list) else []
    defined = slot_names(raw.get("inputs")) if isinstance(raw, dict) else []
    names: set[str] = set()
    for index in indices:
        name = slot_name(own[index]) if index < len(own) else None
        if name is None and index < len(defined):
            name = defined[index]
        if name is not None:
            names.add(name)
    return frozenset(names)


def slot_type(items: Any, index: int) -> str:
    item = items[index] if isinstance(items, list) and index < len(items) else None
    kind = item.get("type") if isinstance(item, dict) else None
    return kind if isinstance(kind, str) and kind and kind != "*" else ANY_TYPE


def as_workflow(raw: Any) -> dict[str, Any]:
    """The definition as a workflow the reader takes, with its virtual input and output
    nodes as ordinary nodes (so links to and from them are named like any other)."""
    if not isinstance(raw, dict):
        raise GraphFileError("not an object", [Problem("a subgraph definition must be an "
                                                       "object", kind="structure")])
    for key in ("nodes", "links", "inputs", "outputs"):
        if key in raw and not isinstance(raw[key], list):
            raise GraphFileError(f"its {key!r} is not a list", [Problem(
                f"{key!r} must be a list", kind="structure")])
    if not isinstance(raw.get("nodes"), list):
        raise GraphFileError("it has no 'nodes'", [Problem("'nodes' must be a list",
                                                            kind="structure")])
    start = {"id": INPUT_NODE, "type": _BOUNDARY_TYPE,
             "outputs": [{"name": name} for name in slot_names(raw.get("inputs"))]}
    end = {"id": OUTPUT_NODE, "type": _BOUNDARY_TYPE,
           "inputs": [{"name": name} for name in slot_names(raw.get("outputs"))]}
    workflow = {key: raw[key] for key in ("groups", "reroutes", "extra") if key in raw}
    workflow.update(nodes=[*raw["nodes"], start, end], links=raw.get("links") or [],
                    version=1)
    return workflow


def place_boundary(definition: SubgraphDefinition, raw: dict[str, Any]) -> None:
    """Where ComfyUI drew the definition's virtual input and output nodes, as the places of
    its Subgraph Inputs / Outputs items: ``inputNode`` / ``outputNode`` are ``{"id": -10 /
    -20, "bounding": [x, y, w, h]}``, the top-left corner first, in the units inner node
    positions are read in (as they are, so the boundary keeps its place beside them). A
    side whose value is not a point on the canvas is left out: it gets the default place."""
    corners: dict[str, Any] = {}
    for side, key in zip(BOUNDARY_SIDES, ("inputNode", "outputNode"), strict=True):
        entry = raw.get(key)
        bounding = entry.get("bounding") if isinstance(entry, dict) else None
        if isinstance(bounding, list):
            corners[side] = bounding[:2]
    if not corners:
        return
    # boundary_position is the one check of a stored place: store, read back what it keeps.
    set_boundary(definition, corners)
    kept = {side: list(point) for side in BOUNDARY_SIDES
            if (point := boundary_position(definition, side)) is not None}
    set_boundary(definition, kept, present=bool(kept))


def boundary_widgets(raw: dict[str, Any], index: int) -> list[tuple[str, str]]:
    """The inner (ComfyUI node id, widget name)s definition input ``index`` is linked to:
    the instance then shows the input as a widget and keeps its value."""
    items = raw.get("inputs")
    item = items[index] if isinstance(items, list) and index < len(items) else None
    link_ids = item.get("linkIds") if isinstance(item, dict) else None
    wanted = {link for link in link_ids if isinstance(link, int)} \
        if isinstance(link_ids, list) else set()
    for link in raw.get("links") or []:
        if isinstance(link, list) and len(link) >= 5:  # a schema 0.4 array
            link = {"id": link[0], "origin_id": link[1], "origin_slot": link[2]}
        if isinstance(link, dict) and link.get("origin_id") == INPUT_NODE \
                and link.get("origin_slot") == index and isinstance(link.get("id"), int):
            wanted.add(link["id"])
    found: list[tuple[str, str]] = []
    for node in raw.get("nodes") or []:
        slots = node.get("inputs") if isinstance(node, dict) else None
        node_id = node_id_text(node.get("id")) if isinstance(node, dict) else None
        for slot in slots if isinstance(slots, list) and node_id is not None else []:
            link = slot.get("link") if isinstance(slot, dict) else None
            name = slot_name(slot)
            if isinstance(link, int) and link in wanted and isinstance(slot.get("widget"), dict) \
                    and name is not None and node_id is not None:
                found.append((node_id, name))
    return found
