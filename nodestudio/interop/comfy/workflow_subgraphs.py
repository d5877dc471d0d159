"""Subgraph instances in a written ComfyUI workflow: each becomes an instance node of a
ComfyUI subgraph definition (``definitions.subgraphs``, what ComfyUI's front end saves since
subgraphs came to it), so the structure an artist built survives the trip to ComfyUI.

The workflow writer (workflow_export.py) first writes every instance's inner nodes under
ComfyUI's ``outer:inner`` ids, converted by the same rules as the rest of the graph and in the
context of the whole graph (a Sampler inside an instance maps by the family of the loader
outside it). This module then gathers each top-level instance's nodes into a definition:

* links between them move into the definition (link objects, as the front end writes them);
* a link from outside becomes a definition input (one per outer output read, linked from the
  virtual input node, id -10) and the instance's input; a link to outside a definition
  output (one per inner output read, to the virtual output node, id -20) and the instance's
  output;
* nested instances' nodes join the outer definition (one level of ComfyUI subgraph);
* promoted widgets' values stay on the inner nodes, where the conversion put them, so two
  instances with different values get a definition each; instances whose nodes come out
  the same share one (the NodeStudio definition's id for the first).

Bend points of links that moved inside are dropped: they were drawn on the outer canvas.
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from nodestudio.graph.model import Graph, Node
from nodestudio.graph.subgraphs import instance_ref, is_instance, unique_name
from nodestudio.interop.comfy.subgraphs import COMFY_SEPARATOR

INPUT_NODE, OUTPUT_NODE = -10, -20
#: Room left of the inner nodes for the virtual input node, and its width.
_BOUNDARY_GAP, _BOUNDARY_WIDTH = 260.0, 140.0
_MODES = {"muted": 2, "bypassed": 4}


def nest_subgraphs(document: dict[str, Any], graph: Graph,
                   written: dict[str, dict[str, Any]]) -> None:
    """Gather each instance's written nodes into a ComfyUI subgraph definition, in place.

    ``written`` maps each prompt id (``outer:inner`` inside instances) to its node entry in
    ``document["nodes"]``."""
    definitions: dict[str, dict[str, Any]] = {}
    shapes: dict[str, str] = {}  # a definition's canonical form → its id
    for node in graph:
        ref = instance_ref(node) if is_instance(node) else None
        definition = graph.definitions.get(ref[0]) if ref is not None else None
        if definition is None or not definition.resolved:
            continue
        prefix = node.id + COMFY_SEPARATOR
        members = {prompt_id: entry for prompt_id, entry in written.items()
                   if prompt_id.startswith(prefix)}
        if not members:
            continue
        nest = _Nest(document, members)
        nest.gather()
        document["last_link_id"] = max(document["last_link_id"], nest.next_link - 1)
        body = nest.definition(definition.name)
        shape = _canonical(body)
        ident = shapes.get(shape)
        if ident is None:
            ident = definition.id if definition.id not in definitions else str(uuid.uuid4())
            definitions[ident] = {"id": ident, **body}
            shapes[shape] = ident
        document["last_node_id"] += 1
        nest.replace_with_instance(node, ident, graph, document["last_node_id"])
        for prompt_id in members:
            del written[prompt_id]
    if definitions:
        document["definitions"] = {"subgraphs": list(definitions.values())}


@dataclass
class _Slot:
    name: str
    type: str
    #: Inner link ids of an input (from the virtual input node); the outer ones of an output.
    links: list[int] = field(default_factory=list)


@dataclass
class _Nest:
    """One instance's nodes being gathered out of the top level of ``document``."""

    document: dict[str, Any]
    members: dict[str, dict[str, Any]]
    inner_links: list[dict[str, Any]] = field(default_factory=list)
    inputs: list[_Slot] = field(default_factory=list)
    outputs: list[_Slot] = field(default_factory=list)
    #: The outer link kept for each definition input (the others reading the same output go).
    input_links: list[int] = field(default_factory=list)
    moved: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.numbers = {entry["id"] for entry in self.members.values()}
        self.by_number = {entry["id"]: entry for entry in self.document["nodes"]}
        self.next_link = int(self.document["last_link_id"]) + 1

    def _new_link(self) -> int:
        self.next_link += 1
        return self.next_link - 1

    def gather(self) -> None:
        kept: list[list[Any]] = []
        by_source: dict[tuple[int, int], int] = {}
        by_inner: dict[tuple[int, int], int] = {}
        for link in self.document["links"]:
            link_id, origin, origin_slot, target, target_slot, kind = link[:6]
            inside, outside = origin in self.numbers, target in self.numbers
            if inside and outside:
                self.inner_links.append(_link_object(link_id, origin, origin_slot, target,
                                                     target_slot, kind))
                self.moved.add(link_id)
            elif outside:
                kept += self._into(link, by_source)
            elif inside:
                kept.append(self._out_of(link, by_inner))
            else:
                kept.append(link)
        self.document["links"] = kept

    def _into(self, link: list[Any], by_source: dict[tuple[int, int], int]) -> list[list[Any]]:
        """A link from outside into the instance: the definition input for its source."""
        link_id, origin, origin_slot, target, target_slot, kind = link[:6]
        self.moved.add(link_id)
        index = by_source.get((origin, origin_slot))
        fresh = index is None
        if index is None:
            index = by_source[(origin, origin_slot)] = len(self.inputs)
            socket = self.by_number[target]["inputs"][target_slot]
            self.inputs.append(_Slot(unique_name(socket_name(socket),
                                                 {s.name for s in self.inputs}), kind))
            self.input_links.append(link_id)
        inner = self._new_link()
        self.inputs[index].links.append(inner)
        self.by_number[target]["inputs"][target_slot]["link"] = inner
        self.inner_links.append(_link_object(inner, INPUT_NODE, index, target, target_slot,
                                             kind))
        if fresh:
            return [[link_id, origin, origin_slot, None, index, kind]]  # target: the instance
        outputs = self.by_number[origin]["outputs"][origin_slot]["links"]
        outputs[:] = [other for other in outputs if other != link_id]
        return []

    def _out_of(self, link: list[Any], by_inner: dict[tuple[int, int], int]) -> list[Any]:
        """A link from the instance to outside: the definition output for its source."""
        link_id, origin, origin_slot, target, target_slot, kind = link[:6]
        self.moved.add(link_id)
        index = by_inner.get((origin, origin_slot))
        origin_links = self.by_number[origin]["outputs"][origin_slot]["links"]
        origin_links[:] = [other for other in origin_links if other != link_id]
        if index is None:
            index = by_inner[(origin, origin_slot)] = len(self.outputs)
            name = self.by_number[origin]["outputs"][origin_slot].get("name") or kind
            self.outputs.append(_Slot(unique_name(str(name), {s.name for s in self.outputs}),
                                      kind))
            inner = self._new_link()
            origin_links.append(inner)
            self.inner_links.append(_link_object(inner, origin, origin_slot, OUTPUT_NODE,
                                                 index, kind))
        self.outputs[index].links.append(link_id)
        return [link_id, None, index, target, target_slot, kind]  # origin: the instance

    def definition(self, name: str) -> dict[str, Any]:
        """The ComfyUI definition of the gathered nodes (without its id)."""
        corner = (min(entry["pos"][0] for entry in self.members.values()),
                  min(entry["pos"][1] for entry in self.members.values()))
        nodes = [self._inner_node(entry, corner) for entry in self.members.values()]
        left, top = -_BOUNDARY_GAP, 0.0
        right = max(entry["pos"][0] + entry["size"][0] for entry in nodes) + _BOUNDARY_GAP \
            - _BOUNDARY_WIDTH
        return {
            "version": 1, "revision": 0, "name": name, "config": {}, "extra": {},
            "state": {"lastGroupId": 0, "lastNodeId": max(self.numbers, default=0),
                      "lastLinkId": max((link["id"] for link in self.inner_links), default=0),
                      "lastRerouteId": 0},
            "inputNode": {"id": INPUT_NODE,
                          "bounding": [left, top, _BOUNDARY_WIDTH, _side_height(self.inputs)]},
            "outputNode": {"id": OUTPUT_NODE,
                           "bounding": [right, top, _BOUNDARY_WIDTH,
                                        _side_height(self.outputs)]},
            "inputs": [_boundary_slot(slot, slot.links, (left, top), index)
                       for index, slot in enumerate(self.inputs)],
            "outputs": [_boundary_slot(slot, [link["id"] for link in self.inner_links
                                              if link["target_id"] == OUTPUT_NODE
                                              and link["target_slot"] == index],
                                       (right, top), index)
                        for index, slot in enumerate(self.outputs)],
            "widgets": [], "groups": [], "nodes": nodes, "links": self.inner_links,
        }

    def _inner_node(self, entry: dict[str, Any], corner: tuple[float, float]
                    ) -> dict[str, Any]:
        """A member as the definition holds it: placed from the definition's top-left corner,
        in the normal mode (the instance carries the outer one)."""
        inner = copy.deepcopy(entry)
        inner["pos"] = [entry["pos"][0] - corner[0], entry["pos"][1] - corner[1]]
        inner["mode"] = 0
        return inner

    def replace_with_instance(self, node: Node, ident: str, graph: Graph,
                              number: int) -> None:
        """The instance node (ComfyUI id ``number``) in place of its members, on the links
        gathered to it."""
        for link in self.document["links"]:
            if link[0] in self.input_links and link[3] is None:
                link[3] = number
            elif link[1] is None and link[0] in self.moved:
                link[1] = number
        layout = graph.layout.nodes.get(node.id)
        inputs = [{"name": slot.name, "type": slot.type, "link": link_id}
                  for slot, link_id in zip(self.inputs, self.input_links, strict=True)]
        outputs = [{"name": slot.name, "type": slot.type, "links": list(slot.links),
                    "slot_index": index} for index, slot in enumerate(self.outputs)]
        rows = max(len(inputs), len(outputs))
        entry: dict[str, Any] = {
            "id": number, "type": ident,
            "pos": list(layout.pos) if layout is not None else [0.0, 0.0],
            "size": list(layout.size) if layout is not None and layout.size
            else [240.0, 46.0 + 22.0 * rows],
            "flags": {"collapsed": True} if layout is not None and layout.collapsed else {},
            "order": 0, "mode": _MODES.get(node.mode, 0), "inputs": inputs,
            "outputs": outputs, "properties": {}, "widgets_values": [],
        }
        if node.title:
            entry["title"] = node.title
        if layout is not None and layout.color:
            entry["bgcolor"] = layout.color
        members = {id(member) for member in self.members.values()}
        nodes = [item for item in self.document["nodes"] if id(item) not in members]
        self.document["nodes"] = [*nodes, entry]
        for order, item in enumerate(self.document["nodes"]):
            item["order"] = order
        self._drop_bends()

    def _drop_bends(self) -> None:
        extra = self.document.get("extra", {})
        reroutes = extra.get("reroutes")
        if not reroutes:
            return
        parents = extra.get("linkExtensions", [])
        extra["linkExtensions"] = [item for item in parents if item["id"] not in self.moved]
        extra["reroutes"] = [item for item in reroutes
                             if not set(item.get("linkIds", [])) & self.moved]
        if not extra["reroutes"]:
            del extra["reroutes"]
            del extra["linkExtensions"]


def _link_object(link_id: int, origin: int, origin_slot: int, target: int, target_slot: int,
                 kind: Any) -> dict[str, Any]:
    return {"id": link_id, "origin_id": origin, "origin_slot": origin_slot,
            "target_id": target, "target_slot": target_slot, "type": kind}


def socket_name(item: dict[str, Any]) -> str:
    """An input's name; a widget fed by a link is named by its widget (as ComfyUI reads it)."""
    widget = item.get("widget")
    if isinstance(widget, dict) and isinstance(widget.get("name"), str):
        return widget["name"]
    return str(item["name"])


def _side_height(slots: list[_Slot]) -> float:
    return 40.0 + 20.0 * max(len(slots), 1)


def _boundary_slot(slot: _Slot, link_ids: list[int], corner: tuple[float, float],
                   index: int) -> dict[str, Any]:
    x, y = corner
    return {"id": str(uuid.uuid4()), "name": slot.name, "type": slot.type,
            "linkIds": link_ids, "localized_name": slot.name,
            "pos": [x + _BOUNDARY_WIDTH / 2, y + 30.0 + 20.0 * index]}


def _canonical(body: dict[str, Any]) -> str:
    """The definition with its nodes numbered in order, its links by their ends and the slot
    ids left out, so two instances whose nodes came out the same give the same text."""
    numbers = {entry["id"]: position for position, entry in enumerate(body["nodes"], 1)}
    numbers.update({INPUT_NODE: INPUT_NODE, OUTPUT_NODE: OUTPUT_NODE})
    ends = sorted(body["links"], key=lambda link: (
        numbers[link["origin_id"]], link["origin_slot"], numbers[link["target_id"]],
        link["target_slot"]))
    links = {link["id"]: position for position, link in enumerate(ends, 1)}

    def relink(value: Any) -> Any:
        return links.get(value, value) if isinstance(value, int) else value

    nodes = []
    for entry in body["nodes"]:
        nodes.append({
            **{key: value for key, value in entry.items() if key not in ("id", "order")},
            "id": numbers[entry["id"]],
            "inputs": [{**item, "link": relink(item.get("link"))}
                       for item in entry.get("inputs", [])],
            "outputs": [{**item, "links": [relink(v) for v in item.get("links", [])]}
                        for item in entry.get("outputs", [])],
        })
    shape = {
        "name": body["name"], "nodes": nodes,
        "links": [{**link, "id": links[link["id"]], "origin_id": numbers[link["origin_id"]],
                   "target_id": numbers[link["target_id"]]} for link in ends],
        "inputs": [(item["name"], item["type"], [relink(v) for v in item["linkIds"]])
                   for item in body["inputs"]],
        "outputs": [(item["name"], item["type"], [relink(v) for v in item["linkIds"]])
                    for item in body["outputs"]],
    }
    return json.dumps(shape, sort_keys=True, default=str)
