"""The user's library of subgraph definitions: one JSON file per definition and version in
``<data dir>/subgraphs/`` (``<id>@<version>.json``), referred to from graph files by id and
version, so a definition shared by many graphs is kept once."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodestudio.app.settings import data_dir
from nodestudio.graph.files import write_atomic
from nodestudio.graph.model import Graph
from nodestudio.graph.problems import GraphFileError, Problem
from nodestudio.graph.subgraph_files import definition_from_json, definition_to_json
from nodestudio.graph.subgraphs import SubgraphDefinition
from nodestudio.paths import resources_dir


def templates_dir() -> Path:
    """The subgraph templates shipped with NodeStudio (the Nodes panel lists them first)."""
    return resources_dir() / "templates"


def is_shipped_template(definition_id: str) -> bool:
    """Whether a template shipped with NodeStudio has this id."""
    for path in templates_dir().glob("*.json"):
        try:
            if json.loads(path.read_text(encoding="utf-8")).get("id") == definition_id:
                return True
        except (OSError, ValueError, AttributeError):
            continue
    return False


def library_dir() -> Path:
    return data_dir() / "subgraphs"


@dataclass(frozen=True)
class LibraryEntry:
    id: str
    version: int
    name: str
    path: Path


class SubgraphLibrary:
    def __init__(self, folder: str | os.PathLike[str] | None = None) -> None:
        self.folder = Path(folder) if folder is not None else library_dir()

    def file_for(self, definition_id: str, version: int) -> Path:
        """Where the library keeps (and looks for) that version of that definition."""
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in definition_id)
        return self.folder / f"{safe}@{version}.json"

    def save(self, definition: SubgraphDefinition) -> Path:
        """Write ``definition`` (a full copy, never a library reference) to the folder."""
        if not definition.resolved:
            raise ValueError(f"the subgraph {definition.name!r} {definition.problem}")
        entry = definition_to_json(_as_local(definition))
        text = json.dumps(entry, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        return write_atomic(self.file_for(definition.id, definition.version), text.encode())

    def entries(self) -> list[LibraryEntry]:
        """Every readable definition in the folder, by name; unreadable files are skipped."""
        found = []
        for path in sorted(self.folder.glob("*@*.json")) if self.folder.is_dir() else []:
            definition = self._read(path)
            if definition is not None and definition.resolved:
                found.append(LibraryEntry(definition.id, definition.version, definition.name,
                                          path))
        return sorted(found, key=lambda e: (e.name.lower(), e.id, e.version))

    def load(self, definition_id: str, version: int) -> SubgraphDefinition | None:
        """The definition, marked as coming from the library; None when it is not there."""
        definition = self._read(self.file_for(definition_id, version))
        if definition is None or not definition.resolved or definition.id != definition_id:
            return None
        definition.from_library = True
        return definition

    def _read(self, path: Path) -> SubgraphDefinition | None:
        try:
            return definition_from_json(json.loads(path.read_text(encoding="utf-8")), 0)
        except (OSError, ValueError, RecursionError, Exception):
            return None

    def resolve(self, graph: Graph) -> list[Problem]:
        """Fill in ``graph``'s library references from the folder; returns a warning for each
        one still missing (the reference itself is kept, so saving does not lose it)."""
        missing = []
        for definition_id, definition in list(graph.definitions.items()):
            if definition.resolved or not (definition.raw or {}).get("library"):
                continue
            found = self.load(definition_id, definition.version)
            if found is None:
                missing.append(Problem(
                    f"subgraph {definition.name!r} (version {definition.version}) is not in "
                    f"the subgraph library; put its file in {self.folder}",
                    kind="missing_subgraph"))
            else:
                graph.definitions[definition_id] = found
        return missing


def _as_local(definition: SubgraphDefinition) -> SubgraphDefinition:
    import copy

    local = copy.deepcopy(definition)
    local.from_library = False
    return local


def subgraph_file_definition(data: Any) -> SubgraphDefinition | None:
    """The definition a subgraph file holds (a template, a library file: what "Save as
    template" writes), or None when ``data`` is something else (a graph, a ComfyUI workflow,
    a damaged definition)."""
    if not isinstance(data, dict) or not {"id", "name", "inputs", "outputs", "nodes"} <= set(
            data) or "last_node_id" in data or "format" in data:
        return None
    try:
        definition = definition_from_json(data, 0)
    except GraphFileError:
        return None
    return definition if definition.resolved else None
