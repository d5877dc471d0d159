"""Group nodes of ComfyUI's older front end, read as subgraph definitions.

A workflow keeps each group node's contents in ``extra.groupNodes[name]``: ``nodes`` (a
clipboard copy; links refer to nodes by their index in that list), ``links`` as ``[origin
index, origin slot, target index, target slot, origin id, type]`` (a ``null`` origin: a link
from outside, not kept), and ``external`` (``[index, slot, type]`` of outputs read outside).
An instance is a node of type ``workflow>name`` (``workflow/name`` before frontend 1.2.63).

ComfyUI exposes, node by node in list order, every input not linked inside (sockets first,
then widgets turned into inputs after all nodes), every widget left a widget (its values
follow one another in the instance's ``widgets_values``, a seed's control value after it)
and every output not only read inside. :func:`group_definitions` writes that as a version-1
subgraph definition, so that subgraph_import.py builds it as it builds any other. Inner nodes
get their index as id, as ComfyUI's backend names them (``group:index``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nodestudio.interop.comfy.catalog import SEED_CONTROLS, node_def
from nodestudio.interop.comfy.ir import slot_index

#: Instance types: ``workflow>`` since ComfyUI frontend 1.2.63, ``workflow/`` before.
GROUP_PREFIXES = ("workflow>", "workflow/")
_INPUT_NODE, _OUTPUT_NODE = -10, -20


def is_group_type(class_type: str) -> bool:
    return class_type.startswith(GROUP_PREFIXES)


def group_definitions(data: Any) -> dict[str, dict[str, Any]]:
    """A subgraph definition for each group node of the workflow, under both type names."""
    extra = data.get("extra") if isinstance(data, dict) else None
    groups = extra.get("groupNodes") if isinstance(extra, dict) else None
    found: dict[str, dict[str, Any]] = {}
    for name, group in groups.items() if isinstance(groups, dict) else []:
        if not isinstance(name, str) or not name:
            continue
        entry = _definition(name, group)
        for prefix in GROUP_PREFIXES:
            found[prefix + name] = {**entry, "id": prefix + name}
    return found


@dataclass
class _Writer:
    links: list[dict[str, Any]] = field(default_factory=list)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    widgets: list[dict[str, Any]] = field(default_factory=list)

    def link(self, origin: int, origin_slot: int, target: int, target_slot: int,
             kind: Any) -> int:
        link_id = len(self.links) + 1
        self.links.append({"id": link_id, "origin_id": origin, "origin_slot": origin_slot,
                           "target_id": target, "target_slot": target_slot,
                           "type": kind if isinstance(kind, str) else "*"})
        return link_id

    def expose(self, slots: list[dict[str, Any]], name: str, kind: Any, index: int,
               slot: int) -> None:
        """A definition input (``slots`` is inputs or outputs) with its boundary link."""
        taken = {item["name"] for item in slots}
        unique, number = name, 2
        while unique in taken:  # ComfyUI prefixes the node's title; a number is enough here
            unique, number = f"{name} {number}", number + 1
        if slots is self.inputs:
            link_id = self.link(_INPUT_NODE, len(slots), index, slot, kind)
        else:
            link_id = self.link(index, slot, _OUTPUT_NODE, len(slots), kind)
        slots.append({"name": unique, "type": kind if isinstance(kind, str) else "*",
                      "linkIds": [link_id]})


def _definition(name: str, group: Any) -> dict[str, Any]:
    """The group as a version-1 definition; an unreadable one without ``nodes`` (so that
    it is kept as it was, with the reason)."""
    nodes = group.get("nodes") if isinstance(group, dict) else None
    if not isinstance(nodes, list):
        return {"name": name, "groupNode": group}
    inside: dict[tuple[int, int], tuple[int, int]] = {}
    for link in _list(group.get("links")):
        ends = [slot_index(v) for v in link[:4]] if isinstance(link, list) else []
        origin, origin_slot, target, target_slot = ends if len(ends) == 4 else [None] * 4
        if origin is not None and origin_slot is not None and target is not None \
                and target_slot is not None:
            inside[(target, target_slot)] = (origin, origin_slot)
    read_outside = {(slot_index(item[0]), slot_index(item[1]))
                    for item in _list(group.get("external"))
                    if isinstance(item, list) and len(item) >= 2}
    writer = _Writer()
    converted: list[tuple[int, int, dict[str, Any]]] = []
    copies = []
    for index, node in enumerate(nodes):
        node = node if isinstance(node, dict) else {}
        items = [dict(item) if isinstance(item, dict) else {}
                 for item in _list(node.get("inputs"))]
        kind = node.get("type")
        known = node_def(kind) if isinstance(kind, str) else None
        for slot, item in enumerate(items):
            item.pop("link", None)
            if (index, slot) in inside:
                origin, origin_slot = inside[(index, slot)]
                item["link"] = writer.link(origin, origin_slot, index, slot, item.get("type"))
            elif known is not None and isinstance(item.get("widget"), dict):
                converted.append((index, slot, item))
            elif known is not None:
                writer.expose(writer.inputs, str(item.get("name") or slot), item.get("type"),
                              index, slot)
                item["link"] = writer.links[-1]["id"]
        turned = {item["widget"].get("name") for item in items
                  if isinstance(item.get("widget"), dict)}
        for spec in known.widgets if known is not None else ():
            if spec.name not in turned:
                writer.widgets.append({"id": index, "name": spec.name})
        for slot, (output, kind) in enumerate(known.outputs if known is not None else ()):
            used_inside = any(origin == (index, slot) for origin in inside.values())
            if not used_inside or (index, slot) in read_outside:
                writer.expose(writer.outputs, output, kind, index, slot)
        copies.append({**node, "id": index, "inputs": items})
    for index, slot, item in converted:
        writer.expose(writer.inputs, str(item["widget"].get("name")), item.get("type"),
                      index, slot)
        item["link"] = writer.links[-1]["id"]
    return {"name": name, "version": 1, "nodes": copies, "links": writer.links,
            "inputs": writer.inputs, "outputs": writer.outputs, "widgets": writer.widgets}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def group_values(definition: dict[str, Any],
                 widgets_values: Any) -> list[tuple[tuple[str, str], Any, str | None]]:
    """An instance's ``widgets_values`` by (inner node id, widget name), with the control
    after generate of seeds."""
    nodes = definition.get("nodes") or []
    values = widgets_values if isinstance(widgets_values, list) else []
    found: list[tuple[tuple[str, str], Any, str | None]] = []
    position = 0
    for widget in definition.get("widgets") or []:
        if position >= len(values):
            break
        index, name = widget["id"], widget["name"]
        known = node_def(nodes[index].get("type", ""))
        spec = known.input(name) if known is not None else None
        value, control = values[position], None
        position += 1
        if spec is not None and spec.seed_control and position < len(values) \
                and isinstance(values[position], str) and values[position] in SEED_CONTROLS:
            control = values[position]
            position += 1
        found.append(((str(index), name), value, control))
    return found
