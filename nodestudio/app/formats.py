"""Opening graph files of every kind NodeStudio understands, by looking at their content.

NodeStudio's own JSON, PNG images that carry a graph, and other tools' formats through
importers (objects with ``name``, ``detect(data) -> bool`` and ``convert(data, registry) ->
Graph``; ComfyUI's live in nodestudio.interop). Also reads ComfyUI ``extra_model_paths.yaml``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from nodestudio.api.registry import NodeRegistry
from nodestudio.app.image_texts import (
    PNG_GRAPH_CHUNK,
    PNG_SIGNATURE,
    png_text_chunks,
    webp_exif_texts,
)
from nodestudio.app.media_metadata import (
    CONTAINER_KINDS,
    container_texts,
    media_kind,
    media_texts,
)
from nodestudio.engine.plan import effective_graph
from nodestudio.engine.unused_values import unused_value_warnings
from nodestudio.graph import files
from nodestudio.graph.file_reading import (
    read_failure_text,
    read_graph_file,
    read_graph_file_head,
)
from nodestudio.graph.model import Graph
from nodestudio.graph.problems import GraphFileError, Problem, json_error_text


class GraphImporter(Protocol):
    name: str

    def detect(self, data: Any) -> bool: ...

    def convert(self, data: Any, registry: NodeRegistry) -> Graph: ...


def default_importers() -> list[GraphImporter]:
    """The importers of other tools' formats that ship with NodeStudio."""
    try:
        from nodestudio.interop.comfy import COMFY_IMPORTERS
    except ImportError:  # the interop package is optional in stripped-down builds
        return []
    return list(COMFY_IMPORTERS)


def read_graph(
    path: Path, registry: NodeRegistry, importers: Sequence[GraphImporter] | None = None
) -> Graph:
    """Open ``path`` whatever it holds; raises GraphFileError naming every problem."""
    contents = graph_file_contents(path)
    try:
        return graph_from_contents(path, contents, registry, importers)
    except GraphFileError as error:
        raise GraphFileError(f"{path}: {error.summary}", error.problems) from None


class GraphFileContents(NamedTuple):
    """What :func:`graph_file_contents` read: the file's bytes, or, for a video or sound of
    any length, only its kind (PyAV reads its tags in place)."""

    raw: bytes | None
    container: str | None = None


def graph_file_contents(path: Path) -> GraphFileContents:
    """What a graph needs of the file ``path``. Raises GraphFileError naming the file when
    it cannot be read."""
    media = media_kind(read_graph_file_head(path))
    if media in CONTAINER_KINDS:
        return GraphFileContents(None, media)
    return GraphFileContents(read_graph_file(path))


def graph_from_contents(path: Path, contents: GraphFileContents, registry: NodeRegistry,
                        importers: Sequence[GraphImporter] | None = None) -> Graph:
    """The graph in what :func:`graph_file_contents` gave for ``path``; GraphFileError's
    summary does not name the file (the caller does, as it shows files)."""
    if contents.container is None:
        return read_graph_bytes(contents.raw or b"", registry, importers)
    importers = default_importers() if importers is None else importers
    return _graph_from_image(container_texts(Path(path), contents.container),
                             contents.container, registry, importers)


def read_graph_bytes(
    raw: bytes, registry: NodeRegistry, importers: Sequence[GraphImporter] | None = None
) -> Graph:
    importers = default_importers() if importers is None else importers
    if raw.startswith(PNG_SIGNATURE):
        return _graph_from_image(png_text_chunks(raw), "PNG", registry, importers)
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return _graph_from_image(webp_exif_texts(raw), "WEBP", registry, importers)
    # Videos, sounds and meshes that Save Video / Audio / Mesh wrote carry the graph too.
    media = media_kind(raw)
    if media is not None:
        return _graph_from_image(media_texts(raw, media), media, registry, importers)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise GraphFileError("not a graph file: neither JSON nor an image (PNG, WEBP) with a graph",
                             [Problem(json_error_text(error), kind="json")]) from None
    return graph_from_data(data, registry, importers)


def graph_from_data(
    data: Any, registry: NodeRegistry, importers: Sequence[GraphImporter] | None = None
) -> Graph:
    importers = default_importers() if importers is None else importers
    if isinstance(data, dict) and data.get("format") == files.FORMAT_NAME:
        graph = _resolve_library(files.from_document(data, registry))
        # Said once, as the file opens (a hand edit's typo): the window offers no way to
        # remove such a value, so warning again at every run would only nag.
        effective, _, _ = effective_graph(graph, registry)
        graph.load_warnings.extend(unused_value_warnings(effective, registry))
        return graph
    _refuse_subgraph_file(data)
    for importer in importers:
        if importer.detect(data):
            return importer.convert(data, registry)
    raise GraphFileError("unrecognised graph format", [Problem(
        "expected a NodeStudio graph (\"format\": \"nodestudio.graph\")"
        + (" or one of: " + ", ".join(i.name for i in importers) if importers else ""),
        kind="format")])


def _refuse_subgraph_file(data: Any) -> None:
    """A subgraph saved on its own (a template, a file from someone's subgraph library) is
    not a graph: said so, with how to use it. Before, the ComfyUI reader took it (it too has
    "nodes" and "links") and made a placeholder of every node."""
    from nodestudio.app.subgraph_library import (
        SubgraphLibrary,
        is_shipped_template,
        subgraph_file_definition,
    )

    definition = subgraph_file_definition(data)
    if definition is None:
        return
    place = SubgraphLibrary().file_for(definition.id, definition.version)
    if place.is_file() or is_shipped_template(definition.id):
        use = "the Nodes panel offers it under Subgraphs: add it to a graph from there"
    else:
        use = (f"drop it on the window's canvas to add it to a graph, or copy it to {place} "
               "for the Nodes panel to offer it under Subgraphs")
    raise GraphFileError(f"this is a NodeStudio subgraph ({definition.name!r}), not a graph",
                         [Problem(use, kind="subgraph_file")])


def _resolve_library(graph: Graph) -> Graph:
    """Fill in subgraphs the file keeps in the user's library (by id and version); a missing
    one stays a reference and becomes a load warning naming the folder to put it in."""
    if any(not d.resolved and (d.raw or {}).get("library") for d in graph.definitions.values()):
        from nodestudio.app.subgraph_library import SubgraphLibrary

        graph.load_warnings.extend(SubgraphLibrary().resolve(graph))
    return graph


def image_metadata(graph: Graph, registry: NodeRegistry) -> dict[str, str]:
    """The PNG text chunks that images made by ``graph`` carry: NodeStudio's graph, and
    ComfyUI's API prompt and workflow when ComfyUI can express the graph (so ComfyUI opens
    them too, with the layout)."""
    document = files.to_document(graph)
    chunks = {PNG_GRAPH_CHUNK: json.dumps(document, ensure_ascii=False)}
    try:
        from nodestudio.interop.comfy import comfy_metadata
    except ImportError:
        return chunks
    chunks.update(comfy_metadata(document, registry))
    return chunks


def _graph_from_image(texts: dict[str, str], kind: str, registry: NodeRegistry,
                      importers: Sequence[GraphImporter]) -> Graph:
    if PNG_GRAPH_CHUNK in texts:
        return files.loads(texts[PNG_GRAPH_CHUNK], registry)
    for importer in importers:
        if importer.detect(texts):
            return importer.convert(texts, registry)
    raise GraphFileError(f"this {kind} carries no graph", [Problem(
        f"no {PNG_GRAPH_CHUNK!r} text (nor one another tool writes) in the file",
        kind=kind.lower())])


def _yaml_failure_text(error: Exception) -> str:
    """Why a YAML file could not be read, on one line (PyYAML's own text spans four)."""
    if isinstance(error, OSError):
        return read_failure_text(error)
    if isinstance(error, UnicodeDecodeError):
        return "it is not UTF-8 text"
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or "it is not valid YAML"
    if mark is None:
        return f"it is not valid YAML ({problem})"
    return f"it is not valid YAML (line {mark.line + 1}, column {mark.column + 1}: {problem})"


def read_extra_model_paths(path: Path, *, strict: bool = False) -> dict[str, list[Path]]:
    """Model folders by kind from a ComfyUI ``extra_model_paths.yaml``.

    As ComfyUI reads it: each top-level section has an optional ``base_path`` (``~`` and
    ``$VARIABLES`` expanded; relative to the YAML file's folder), an optional ``is_default``
    (its folders are searched first) and folder kinds mapped to one path or several, one per
    line; relative paths are taken from ``base_path``, or from the YAML file's folder.
    An unreadable file yields no folders (the GUI warns; a run must not die of it), unless
    ``strict``: then it raises ValueError saying what is wrong.
    """
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        if strict:
            raise ValueError(f"cannot read {path}: {_yaml_failure_text(error)}") from None
        return {}
    if data is None:
        data = {}
    if not isinstance(data, dict):
        if strict:
            raise ValueError(f"{path}: expected sections (e.g. 'comfyui:') with folder paths")
        return {}
    yaml_dir = Path(path).expanduser().absolute().parent
    first: dict[str, list[Path]] = {}
    last: dict[str, list[Path]] = {}
    for section in data.values():
        if not isinstance(section, dict):
            continue
        base: Path | None = None
        if section.get("base_path"):
            base = Path(os.path.expandvars(str(section["base_path"]))).expanduser()
            if not base.is_absolute():
                base = yaml_dir / base
        folders = first if section.get("is_default") is True else last
        for kind, value in section.items():
            if kind in ("base_path", "is_default"):
                continue
            lines = value if isinstance(value, list) else str(value).splitlines() \
                if isinstance(value, str) else []
            for line in lines:
                text = str(line).strip()
                if not text:
                    continue
                folder = Path(text).expanduser()
                if not folder.is_absolute():
                    folder = (base or yaml_dir) / folder
                folders.setdefault(str(kind), []).append(folder)
    for kind, paths in last.items():
        first.setdefault(kind, []).extend(paths)
    return first
