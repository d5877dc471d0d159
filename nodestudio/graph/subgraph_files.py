"""Subgraph definitions in graph files (format version 3) and in the library folder.

A definition is written once, in the document's ``definitions`` list, as the body of a graph
document (``nodes``, ``links``, ``layout``) plus ``id``, ``version``, ``name``, ``inputs``,
``outputs`` and ``widgets``. A definition kept in the user's library is written as a
reference (``{"id", "version", "name", "library": true}``) and resolved by the app layer.
An entry that cannot be read stays as it was, and is written back unchanged.
"""

from __future__ import annotations

from typing import Any

from nodestudio.graph.problems import GraphFileError, Problem
from nodestudio.graph.subgraphs import (
    PromotedWidget,
    SubgraphDefinition,
    SubgraphInput,
    SubgraphOutput,
)

_BODY_KEYS = ("metadata", "nodes", "links", "layout")


def definition_to_json(definition: SubgraphDefinition) -> dict[str, Any]:
    if definition.raw is not None:
        return definition.raw
    if definition.from_library:
        return {"id": definition.id, "version": definition.version, "name": definition.name,
                "library": True}
    from nodestudio.graph.files import to_document

    body = to_document(definition.graph)
    entry: dict[str, Any] = {"id": definition.id, "version": definition.version,
                             "name": definition.name}
    entry["inputs"] = [{"name": item.name, "type": item.type,
                        "targets": [list(target) for target in item.targets]}
                       for item in definition.inputs]
    entry["outputs"] = [{"name": item.name, "type": item.type, "source": list(item.source)}
                        for item in definition.outputs]
    entry["widgets"] = [{"name": w.name, "node": w.node, "input": w.input, "default": w.default}
                        for w in definition.widgets]
    entry.update({key: body[key] for key in _BODY_KEYS if key in body})
    return entry


def definition_from_json(entry: Any, index: int) -> SubgraphDefinition:
    """The definition in ``entry``; an unreadable one comes back as a placeholder keeping the
    entry (``raw``) and why (``problem``). Raises GraphFileError only when it has no id."""
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry["id"]:
        raise GraphFileError("unreadable subgraph definition", [Problem(
            f"definitions[{index}] must be an object with a text 'id'", kind="structure")])
    name = entry["name"] if isinstance(entry.get("name"), str) else entry["id"]
    version = entry.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int):
        version = 1
    definition = SubgraphDefinition(entry["id"], name, version=version)
    if entry.get("library") is True and "nodes" not in entry:
        _check_writable(entry, index)
        definition.raw = entry
        definition.problem = (f"is kept in the subgraph library (version {version}) and was "
                              "not found there; put its file in the library folder")
        return definition
    try:
        _read_body(definition, entry)
    except (GraphFileError, ValueError, TypeError, KeyError) as error:
        _check_writable(entry, index)
        definition.raw = entry
        reason = error.problems[0] if isinstance(error, GraphFileError) and error.problems \
            else error
        definition.problem = f"could not be read ({reason}); it is kept unchanged"
    return definition


def _read_body(definition: SubgraphDefinition, entry: dict[str, Any]) -> None:
    from nodestudio.graph.files import _parse

    body = {key: entry[key] for key in _BODY_KEYS if key in entry}
    definition.graph = _parse(body)
    nodes = definition.graph.nodes
    for item in _list(entry, "inputs"):
        listed = item.get("targets", [])
        if not isinstance(listed, list):
            raise ValueError(f"input {item['name']!r}: 'targets' must be a list")
        targets = [_pair(target, f"a target of input {item['name']!r}") for target in listed]
        _check_nodes(nodes, [t[0] for t in targets], "input", item["name"])
        definition.inputs.append(SubgraphInput(str(item["name"]), str(item.get("type", "*")),
                                               targets))
    for item in _list(entry, "outputs"):
        source = _pair(item.get("source"), f"the source of output {item['name']!r}")
        _check_nodes(nodes, [source[0]], "output", item["name"])
        definition.outputs.append(SubgraphOutput(str(item["name"]), str(item.get("type", "*")),
                                                 source))
    for item in _list(entry, "widgets"):
        _check_nodes(nodes, [str(item["node"])], "widget", item["name"])
        definition.widgets.append(PromotedWidget(str(item["name"]), str(item["node"]),
                                                 str(item["input"]), item.get("default")))


#: Levels from a definition entry down to a node's value (entry, "nodes", a node, "values"):
#: a value may nest as deep inside a definition as at the top level.
_VALUE_LEVELS = 4


def _check_writable(entry: dict[str, Any], index: int) -> None:
    """An entry kept unread is written back as it is: NaN or hostile nesting in it refuses
    the file, as the same in a top-level node does (kept, it could be neither copied nor
    saved)."""
    from nodestudio.graph.files import json_fault

    if (fault := json_fault(entry, -_VALUE_LEVELS)) is not None:
        raise GraphFileError("unreadable subgraph definition", [Problem(
            f"definitions[{index}] {fault}", kind="structure")]) from None


def _pair(value: Any, what: str) -> tuple[str, str]:
    """A [node id, socket name] pair from a file (a hostile one may hold anything there)."""
    if not isinstance(value, list) or len(value) != 2 \
            or not all(isinstance(part, str | int) and not isinstance(part, bool)
                       for part in value):
        raise ValueError(f"{what} must be a [node id, socket name] pair")
    return str(value[0]), str(value[1])


def _list(entry: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = entry.get(key, [])
    if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(
            i.get("name"), str) for i in items):
        raise ValueError(f"'{key}' must be a list of objects with a 'name'")
    return items


def _check_nodes(nodes: dict[str, Any], node_ids: list[str], what: str, name: str) -> None:
    for node_id in node_ids:
        if node_id not in nodes:
            raise ValueError(f"{what} {name!r} refers to missing inner node {node_id!r}")
