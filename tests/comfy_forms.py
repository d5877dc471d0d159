"""ComfyUI's two workflow forms for tests: the UI workflow its frontend saves for an API prompt.

Tests write a workflow once, as an API prompt (``{id: {"class_type", "inputs"}}``), and get
the UI form from it as the public format has it (schema 0.4): widget values in the order the
node class declares them (a seed followed by its control value, LoadImage's upload button
after its widgets), linked inputs listed with their link, links as
``[id, from node, from slot, to node, to slot, type]``. Custom nodes (unknown to the catalog)
keep their links, then their values in order.
"""

from __future__ import annotations

from typing import Any

from nodestudio.interop.comfy.catalog import node_def


def _node_entry(node_id: str, node: dict[str, Any], order: int,
                used_slots: set[tuple[str, int]]) -> dict[str, Any]:
    definition = node_def(node["class_type"])
    inputs: list[dict[str, Any]] = []
    widgets: list[Any] = []
    if definition is None:  # a custom node: its links, then its values in order
        outputs = [("*", "*")] * (1 + max((slot for key, slot in used_slots if key == node_id),
                                          default=0))
        inputs = [{"name": name, "type": "*", "link": None}
                  for name, value in node["inputs"].items() if isinstance(value, list)]
        widgets = [value for value in node["inputs"].values() if not isinstance(value, list)]
    else:
        outputs = list(definition.outputs)
        for spec in definition.inputs:
            value = node["inputs"].get(spec.name)
            linked = isinstance(value, list)
            if linked or not spec.is_widget:
                widget = {"widget": {"name": spec.name}} if spec.is_widget else {}
                inputs.append({"name": spec.name, "type": spec.kind, "link": None, **widget})
            if spec.is_widget and spec.name in node["inputs"]:
                widgets.append(spec.default if linked else value)
                if spec.seed_control:
                    widgets.append("fixed")
        widgets += ["image"] * definition.trailing_widgets
    return {
        "id": int(node_id), "type": node["class_type"], "pos": [300 * order, 100],
        "size": [300, 120], "flags": {}, "order": order, "mode": node.get("mode", 0),
        "inputs": inputs,
        "outputs": [{"name": name, "type": kind, "links": []} for name, kind in outputs],
        "properties": {"Node name for S&R": node["class_type"]}, "widgets_values": widgets,
    }


def ui_from_api(prompt: dict[str, Any]) -> dict[str, Any]:
    """The UI workflow ComfyUI's frontend saves for ``prompt`` (see the module docstring)."""
    used = {(str(value[0]), value[1]) for node in prompt.values()
            for value in node["inputs"].values() if isinstance(value, list)}
    entries = {node_id: _node_entry(node_id, node, order, used)
               for order, (node_id, node) in enumerate(prompt.items())}
    links: list[list[Any]] = []
    for node_id, node in prompt.items():
        for slot, item in enumerate(entries[node_id]["inputs"]):
            value = node["inputs"].get(item["name"])
            if not isinstance(value, list):
                continue
            source = entries[str(value[0])]
            link_id = len(links) + 1
            item["link"] = link_id
            source["outputs"][value[1]]["links"].append(link_id)
            links.append([link_id, int(value[0]), value[1], int(node_id), slot,
                          source["outputs"][value[1]]["type"]])
    return {"last_node_id": max(int(key) for key in prompt), "last_link_id": len(links),
            "nodes": list(entries.values()), "links": links, "groups": [], "config": {},
            "extra": {}, "version": 0.4}
