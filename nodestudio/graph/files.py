"""Graph files: JSON with a format name and version, nodes, links and a separate layout.

Reading checks the whole document and reports every problem at once (each naming the node and
input concerned) as one :class:`GraphFileError`; nothing else escapes. Older file versions are
migrated step by step; node types that changed id or version are migrated through the
registry; unknown node types stay as placeholder nodes whose data survives a save unchanged.

Version history: 1 was the pre-release draft (links as 4-item lists, node positions inside
the node entries); 2 moved positions into the ``layout`` section and links into objects; 3
added ``definitions`` (subgraph definitions, see subgraph_files.py), referred to by instances.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nodestudio.api.registry import NodeRegistry
from nodestudio.graph.file_reading import read_graph_file
from nodestudio.graph.layout import Group, Layout, NodeLayout
from nodestudio.graph.model import NODE_MODES, Graph
from nodestudio.graph.problems import GraphFileError, Problem, json_error_text
from nodestudio.graph.subgraph_files import definition_from_json, definition_to_json
from nodestudio.graph.subgraphs import definition_problems, is_instance

FORMAT_NAME = "nodestudio.graph"
FORMAT_VERSION = 3
_NODE_FIELDS = {"id", "type", "type_version", "values", "mode", "title", "controls"}
#: How deep a value, a metadata entry or an unknown field may nest. Importers use the same
#: limit, so whatever loads also saves and reopens (and copying a graph never recurses far).
MAX_VALUE_DEPTH = 32


# -- writing -----------------------------------------------------------------------------------


def to_document(graph: Graph) -> dict[str, Any]:
    nodes = []
    for node in graph:
        entry: dict[str, Any] = dict(node.extra)
        entry.update({"id": node.id, "type": node.type, "type_version": node.type_version,
                      "values": node.values})
        if node.mode != "normal":
            entry["mode"] = node.mode
        if node.title is not None:
            entry["title"] = node.title
        if node.controls:
            entry["controls"] = node.controls
        nodes.append(entry)
    document: dict[str, Any] = {"format": FORMAT_NAME, "version": FORMAT_VERSION}
    if graph.metadata:
        document["metadata"] = graph.metadata
    document["nodes"] = nodes
    document["links"] = [
        {"from": [link.source, link.output], "to": [link.target, link.input]}
        for link in graph.links
    ]
    document["layout"] = graph.layout.to_json()
    if graph.definitions:
        document["definitions"] = [definition_to_json(definition)
                                   for definition in graph.definitions.values()]
    return document


def dumps(graph: Graph) -> str:
    return json.dumps(to_document(graph), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def sanitized(value: Any, limit: int = MAX_VALUE_DEPTH + 8, depth: int = 0) -> Any:
    """``value`` with whatever JSON cannot hold replaced by None: NaN and Infinity, lists and
    objects at ``limit`` levels or deeper, non-JSON objects. For writers that must not fail
    (autosave: losing the user's work is worse than losing one odd value; the default limit
    leaves room for the document's own levels above a value) and for importers."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth >= limit:
        return None
    if isinstance(value, list | tuple):
        return [sanitized(item, limit, depth + 1) for item in value]
    if isinstance(value, dict):
        return {str(key): sanitized(item, limit, depth + 1) for key, item in value.items()}
    return None


def save(graph: Graph, path: str | os.PathLike[str]) -> Path:
    """Write ``graph`` to ``path`` atomically: a crash leaves the old file or the new one."""
    return write_atomic(Path(path), dumps(graph).encode("utf-8"))


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file beside it, so that readers and
    crashes see the old file or the new one. A new file gets the mode the umask gives (0644
    under 022); a file that exists keeps its own."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = _create_temporary(path)
    try:
        with os.fdopen(handle, "wb") as stream:
            _keep_mode(stream.fileno(), path)
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    _remove_stale_temporaries(path)
    return path


#: A temporary file younger than this may belong to a save still running (another window).
STALE_TEMPORARY_S = 60.0


def _remove_stale_temporaries(path: Path) -> None:
    """Delete temporary files of earlier saves of ``path`` that were killed (kill -9, power
    loss) before they could remove their own: only names of this target's atomic-save pattern
    (``.<name>.<8 hex>.tmp``), and only those older than STALE_TEMPORARY_S."""
    prefix, cutoff = f".{path.name}.", time.time() - STALE_TEMPORARY_S
    try:
        candidates = [entry for entry in os.scandir(path.parent)
                      if entry.name.startswith(prefix) and entry.name.endswith(".tmp")]
    except OSError:
        return  # cleaning up is a courtesy: the save itself succeeded
    for entry in candidates:
        token = entry.name[len(prefix):-len(".tmp")]
        if len(token) != 8 or any(c not in "0123456789abcdef" for c in token):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat(
                    follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)
        except OSError:
            continue


def _create_temporary(path: Path) -> tuple[int, str]:
    """A new file beside ``path``, opened for writing. Created with 0666, which the kernel
    cuts by the umask (tempfile.mkstemp's private 0600 would become the saved file's mode)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _attempt in range(100):
        name = str(path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(name, flags, 0o666), name
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def _keep_mode(handle: int, path: Path) -> None:
    """Give the temporary file the mode of the file it replaces: a user who made a graph
    private (or shared) keeps it so across saves."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return  # a new file: the umask's mode it was created with is right
    if hasattr(os, "fchmod"):
        os.fchmod(handle, mode)


# -- reading -----------------------------------------------------------------------------------


def loads(text: str | bytes, registry: NodeRegistry | None = None) -> Graph:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise GraphFileError("the graph file is not valid JSON",
                             [Problem(json_error_text(error), kind="json")]) from None
    return from_document(data, registry)


def load(path: str | os.PathLike[str], registry: NodeRegistry | None = None) -> Graph:
    path = Path(path)
    raw = read_graph_file(path)
    try:
        return loads(raw, registry)
    except GraphFileError as error:
        raise GraphFileError(f"{path}: {error.summary}", error.problems) from None


def from_document(data: Any, registry: NodeRegistry | None = None) -> Graph:
    """Build a Graph from a parsed document, migrating it; raises GraphFileError."""
    if not isinstance(data, dict):
        raise GraphFileError("a graph file must hold a JSON object",
                             [Problem(f"found {type(data).__name__}", kind="structure")])
    if data.get("format") != FORMAT_NAME:
        raise GraphFileError(
            "not a NodeStudio graph file",
            [Problem(f"'format' is {data.get('format')!r}, expected {FORMAT_NAME!r}",
                     kind="format")],
        )
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise GraphFileError("unreadable graph file",
                             [Problem(f"'version' is {version!r}", kind="format")])
    if version > FORMAT_VERSION:
        raise GraphFileError(
            "the graph file was written by a newer NodeStudio",
            [Problem(f"file version {version}, this NodeStudio reads up to {FORMAT_VERSION}",
                     kind="format")],
        )
    while version < FORMAT_VERSION:
        data = _FILE_MIGRATIONS[version](data)
        version += 1
    graph = _parse(data)
    _parse_definitions(graph, data.get("definitions", []))
    if registry is not None:
        graph.load_warnings.extend(migrate_node_types(graph, registry))
        for definition in graph.definitions.values():
            if definition.resolved:
                graph.load_warnings.extend(migrate_node_types(definition.graph, registry))
    return graph


def _parse_definitions(graph: Graph, entries: Any) -> None:
    """Subgraph definitions; one that cannot be read is kept as it is, with a warning."""
    if not isinstance(entries, list):
        raise GraphFileError("the graph file has 1 problem(s)", [
            Problem("'definitions' must be a list", kind="structure")])
    for index, entry in enumerate(entries):
        definition = definition_from_json(entry, index)
        graph.definitions[definition.id] = definition
    graph.load_warnings.extend(definition_problems(graph))


def _parse(data: dict[str, Any]) -> Graph:
    problems: list[Problem] = []
    graph = Graph()
    metadata = data.get("metadata", {})
    if isinstance(metadata, dict):
        graph.metadata = _checked_fields(metadata, graph, problems, None, "metadata")
    else:
        problems.append(Problem("'metadata' must be an object", kind="structure"))

    nodes = data.get("nodes", [])
    if not isinstance(nodes, list):
        problems.append(Problem("'nodes' must be a list", kind="structure"))
        nodes = []
    for index, entry in enumerate(nodes):
        _parse_node(graph, index, entry, problems)

    links = data.get("links", [])
    if not isinstance(links, list):
        problems.append(Problem("'links' must be a list", kind="structure"))
        links = []
    for index, entry in enumerate(links):
        _parse_link(graph, index, entry, problems)

    layout = data.get("layout", {})
    if isinstance(layout, dict):
        graph.layout = _parse_layout(graph, layout, problems)
    else:
        problems.append(Problem("'layout' must be an object", kind="structure"))

    if problems:
        raise GraphFileError(f"the graph file has {len(problems)} problem(s)", problems)
    return graph


def _parse_node(graph: Graph, index: int, entry: Any, problems: list[Problem]) -> None:
    where = f"nodes[{index}]"
    if not isinstance(entry, dict):
        problems.append(Problem(f"{where} must be an object", kind="structure"))
        return
    node_id = entry.get("id")
    if isinstance(node_id, int) and not isinstance(node_id, bool):
        node_id = str(node_id)
    if not isinstance(node_id, str) or not node_id:
        problems.append(Problem(f"{where} has no valid 'id'", kind="structure"))
        return
    found: list[Problem] = []
    type_id = entry.get("type")
    if not isinstance(type_id, str) or not type_id:
        found.append(Problem("missing or invalid 'type'", node_id, kind="structure"))
    type_version = entry.get("type_version", 1)
    if isinstance(type_version, bool) or not isinstance(type_version, int) or type_version < 1:
        found.append(Problem(f"invalid 'type_version' {type_version!r}", node_id, kind="structure"))
    values = entry.get("values", {})
    if not isinstance(values, dict):
        found.append(Problem("'values' must be an object", node_id, kind="structure"))
    else:
        for name, value in values.items():
            fault = json_fault(value)
            if fault is not None:
                found.append(Problem(f"the value {fault}", node_id, name, kind="structure"))
    mode = entry.get("mode", "normal")
    if mode not in NODE_MODES:
        found.append(Problem(f"unknown mode {mode!r}", node_id, kind="structure"))
    title = entry.get("title")
    if title is not None and not isinstance(title, str):
        found.append(Problem("'title' must be text", node_id, kind="structure"))
    controls = entry.get("controls", {})
    if not isinstance(controls, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in controls.items()
    ):
        found.append(Problem("'controls' must map input names to text", node_id,
                             kind="structure"))
    if node_id in graph:
        found.append(Problem("duplicate node id", node_id, kind="structure"))
    if found:
        problems.extend(found)
        return
    extra = _checked_fields({key: value for key, value in entry.items()
                             if key not in _NODE_FIELDS}, graph, problems, node_id)
    # type_id is a str here: a missing or invalid one returned with its problem above.
    graph.add_node(type_id, values, id=node_id,  # type: ignore[arg-type]
                   type_version=type_version, mode=mode,
                   title=title, controls=controls, extra=extra)


def _parse_link(graph: Graph, index: int, entry: Any, problems: list[Problem]) -> None:
    where = f"links[{index}]"
    ends = []
    for key in ("from", "to"):
        end = entry.get(key) if isinstance(entry, dict) else None
        if (
            not isinstance(end, list) or len(end) != 2
            or not all(isinstance(part, str) and part for part in end)
        ):
            problems.append(Problem(f"{where}.{key} must be [node id, socket name]",
                                    kind="structure"))
            return
        ends.append(end)
    (source, output), (target, input_name) = ends
    for node_id in (source, target):
        if node_id not in graph:
            # A node that failed to parse was reported already; name the dangling link anyway.
            problems.append(Problem(f"{where} refers to missing node {node_id!r}",
                                    target if node_id == source else None,
                                    input_name if node_id == source else None,
                                    kind="structure"))
            return
    if source == target:
        problems.append(Problem(f"{where} links the node to itself", target, input_name,
                                kind="structure"))
        return
    if graph.link_into(target, input_name) is not None:
        problems.append(Problem("input is linked twice", target, input_name, kind="structure"))
        return
    graph.connect(source, output, target, input_name)


def _parse_layout(graph: Graph, data: dict[str, Any], problems: list[Problem]) -> Layout:
    layout = Layout()
    nodes = data.get("nodes", {})
    if not isinstance(nodes, dict):
        problems.append(Problem("'layout.nodes' must be an object", kind="structure"))
        nodes = {}
    for node_id, entry in nodes.items():
        if node_id not in graph:
            continue  # layout of a node that is gone: nothing to keep it for
        item = _parse_node_layout(entry)
        if item is None:
            problems.append(Problem("invalid layout entry", node_id, kind="structure"))
        else:
            layout.nodes[node_id] = item
    groups = data.get("groups", [])
    for index, entry in enumerate(groups if isinstance(groups, list) else [None]):
        group = _parse_group(entry, index)
        if group is None:
            problems.append(Problem(f"layout.groups[{index}] is invalid", kind="structure"))
        else:
            layout.groups.append(group)
    reroutes = data.get("reroutes", {})
    if isinstance(reroutes, dict):
        for key, points in reroutes.items():
            parsed = [_point(p) for p in points] if isinstance(points, list) else [None]
            if any(p is None for p in parsed):
                problems.append(Problem(f"layout.reroutes[{key!r}] is invalid", kind="structure"))
            else:
                layout.reroutes[key] = parsed  # type: ignore[assignment]
    else:
        problems.append(Problem("'layout.reroutes' must be an object", kind="structure"))
    extra = data.get("extra", {})
    layout.extra = _checked_fields(extra, graph, problems, None, "layout.extra") \
        if isinstance(extra, dict) else {}
    return layout


def _checked_fields(fields: dict[str, Any], graph: Graph, problems: list[Problem],
                    node_id: str | None, where: str = "field") -> dict[str, Any]:
    """``fields`` (metadata, a node's unknown fields, layout extras) without what could not be
    saved again. NaN and Infinity (Python's reader accepts them, JSON does not) are dropped
    with a warning, so that the graph still opens and always saves; nesting beyond
    MAX_VALUE_DEPTH refuses the file, as it does in node values."""
    kept: dict[str, Any] = {}
    for key, value in fields.items():
        fault = json_fault(value)
        if fault is None:
            kept[key] = value
        elif "nested deeper" in fault:
            problems.append(Problem(f"{where} {key!r} {fault}", node_id, kind="structure"))
        else:
            graph.load_warnings.append(Problem(
                f"{where} {key!r} {fault}, which JSON cannot store: left out", node_id,
                kind="dropped_value"))
    return kept


def _parse_node_layout(entry: Any) -> NodeLayout | None:
    if not isinstance(entry, dict):
        return None
    pos = _point(entry.get("pos", [0, 0]))
    size = _point(entry["size"]) if entry.get("size") is not None else None
    color = entry.get("color")
    collapsed = entry.get("collapsed", False)
    sockets = entry.get("socket_inputs", [])
    show_advanced = entry.get("show_advanced", False)
    if (
        pos is None
        or (entry.get("size") is not None and size is None)
        or (color is not None and not isinstance(color, str))
        or not isinstance(collapsed, bool)
        or not isinstance(show_advanced, bool)
        or not isinstance(sockets, list)
        or not all(isinstance(name, str) for name in sockets)
    ):
        return None
    return NodeLayout(pos, size, color, collapsed, list(sockets), show_advanced)


def _parse_group(entry: Any, index: int) -> Group | None:
    if not isinstance(entry, dict):
        return None
    rect = entry.get("rect")
    title = entry.get("title", "")
    color = entry.get("color")
    group_id = entry.get("id", f"g{index + 1}")
    if (
        not isinstance(rect, list) or len(rect) != 4 or not all(is_finite_number(v) for v in rect)
        or not isinstance(title, str) or not isinstance(group_id, str)
        or (color is not None and not isinstance(color, str))
    ):
        return None
    return Group(group_id, title, tuple(float(v) for v in rect), color)  # type: ignore[arg-type]


def _point(value: Any) -> tuple[float, float] | None:
    if (isinstance(value, list | tuple) and len(value) == 2
            and all(is_finite_number(v) for v in value)):
        return (float(value[0]), float(value[1]))
    return None


def is_finite_number(value: Any) -> bool:
    """A number that is a finite float. ``math.isfinite`` raises OverflowError for integers
    beyond float range (a hostile file's ``1000…0``); those are not finite numbers here."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def json_fault(value: Any, depth: int = 0) -> str | None:
    """Why ``value`` cannot be written to a graph file and read back equal, or None.

    The recursion stops at MAX_VALUE_DEPTH, so hostile nesting never reaches Python's
    recursion limit (here, in Graph.copy or in the JSON writer)."""
    if depth > MAX_VALUE_DEPTH:
        return f"is nested deeper than {MAX_VALUE_DEPTH} levels"
    if value is None or isinstance(value, str | bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "holds NaN or Infinity"
    if isinstance(value, list):
        items: Any = value
    elif isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            return "has keys that are not text"
        items = value.values()
    else:
        return f"holds a {type(value).__name__}, which is not JSON"
    for item in items:
        fault = json_fault(item, depth + 1)
        if fault is not None:
            return fault
    return None


def is_plain_json(value: Any) -> bool:
    """Plain JSON of at most MAX_VALUE_DEPTH levels, with only finite numbers."""
    return json_fault(value) is None



# -- migrations --------------------------------------------------------------------------------


def _migrate_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    """Draft format 1: links were [source, output, target, input]; positions sat in nodes."""
    migrated = dict(data)
    layout_nodes: dict[str, Any] = {}
    nodes = []
    for entry in data.get("nodes", []) if isinstance(data.get("nodes"), list) else []:
        if isinstance(entry, dict) and "pos" in entry:
            entry = dict(entry)
            layout_nodes[str(entry.get("id"))] = {"pos": entry.pop("pos")}
        nodes.append(entry)
    if isinstance(data.get("nodes"), list):
        migrated["nodes"] = nodes
    links = data.get("links", [])
    if isinstance(links, list):
        migrated["links"] = [
            {"from": [link[0], link[1]], "to": [link[2], link[3]]}
            if isinstance(link, list) and len(link) == 4 else link
            for link in links
        ]
    migrated.setdefault("layout", {"nodes": layout_nodes})
    migrated["version"] = 2
    return migrated


def _migrate_2_to_3(data: dict[str, Any]) -> dict[str, Any]:
    """Version 3 only added ``definitions``: a version 2 file has none."""
    return {**data, "version": 3}


_FILE_MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    1: _migrate_1_to_2, 2: _migrate_2_to_3}


def migrate_node_types(graph: Graph, registry: NodeRegistry) -> list[Problem]:
    """Rename legacy type ids and bring saved values up to the current type versions.

    Returns warnings: unknown node types (kept as placeholders), files from newer node
    versions, and migrations that failed (the node is then left exactly as saved).
    """
    warnings: list[Problem] = []
    for node in list(graph):
        if is_instance(node):
            continue  # its definition's nodes are migrated with the definition
        node_type = registry.get(node.type)
        if node_type is None:
            meant = registry.likely_meant(node.type)
            hint = f"did you mean {meant!r}?" if meant else "is a node pack missing?"
            warnings.append(Problem(
                f"unknown node type {node.type!r}: kept as a placeholder ({hint})", node.id,
                kind="unknown_type"))
            continue
        if node.type_version > node_type.version:
            warnings.append(Problem(
                f"saved by version {node.type_version} of {node_type.id!r}, this NodeStudio "
                f"has version {node_type.version}", node.id, kind="newer_type"))
            continue
        values = node.values
        if node.type_version < node_type.version and node_type.migrate is not None:
            try:
                values = node_type.migrate(node.type_version, dict(node.values))
            except Exception as error:  # a plugin's migration must not stop the load
                warnings.append(Problem(
                    f"could not migrate from version {node.type_version}: {error}", node.id,
                    kind="migration_failed"))
                continue
            if not isinstance(values, dict):
                warnings.append(Problem("the node type's migration did not return values",
                                        node.id, kind="migration_failed"))
                continue
        if node.type != node_type.id or node.type_version != node_type.version:
            graph.retype_node(node.id, node_type.id, node_type.version)
        for name in set(node.values) - set(values):
            graph.unset_value(node.id, name)
        for name, value in values.items():
            graph.set_value(node.id, name, value)
    return warnings
