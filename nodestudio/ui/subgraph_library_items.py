"""Subgraphs the Nodes panel offers: the templates shipped in ``resources/templates/`` and the
definitions in the user's library folder. Their panel ids are ``subgraph:<file path>``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QPointF
from PySide6.QtGui import QDropEvent

from nodestudio.app.subgraph_library import templates_dir
from nodestudio.graph.subgraph_files import definition_from_json
from nodestudio.graph.subgraphs import SubgraphDefinition

if TYPE_CHECKING:
    from nodestudio.ui.main_window import MainWindow

PREFIX = "subgraph:"


@dataclass(frozen=True)
class PanelEntry:
    name: str
    path: Path
    shipped: bool

    @property
    def panel_id(self) -> str:
        return PREFIX + str(self.path)


def panel_entries(library_folder: Path | None = None) -> list[PanelEntry]:
    """Shipped templates first, then the user's library, each by name."""
    from nodestudio.app.subgraph_library import SubgraphLibrary

    shipped = []
    for path in sorted(templates_dir().glob("*.json")):
        definition = read_definition(path)
        if definition is not None:
            shipped.append(PanelEntry(definition.name, path, True))
    library = SubgraphLibrary(library_folder) if library_folder else SubgraphLibrary()
    own = [PanelEntry(entry.name, entry.path, False) for entry in library.entries()]
    return sorted(shipped, key=lambda e: e.name.lower()) + own


def read_definition(path: Path) -> SubgraphDefinition | None:
    """The definition in a template or library file; None when it cannot be used."""
    try:
        definition = definition_from_json(json.loads(path.read_text(encoding="utf-8")), 0)
    except Exception:  # a damaged file is left out of the panel, not fatal
        return None
    return definition if definition.resolved else None


def add_library_entry(window: MainWindow, panel_id: str, scene_pos: QPointF) -> str | None:
    from nodestudio.ui.subgraph_window import add_definition_instance

    path = Path(panel_id[len(PREFIX):])
    definition = read_definition(path)
    if definition is None:
        window.report(f"The subgraph file {path.name} cannot be read; save the template "
                      "again or remove the file", "warning")
        return None
    return add_definition_instance(window, definition, (scene_pos.x(), scene_pos.y()))


#: Subgraph files are small; a bigger .json dropped on the canvas is a graph to open.
_LARGEST_SUBGRAPH_FILE = 64 << 20


def dropped_definition(path: Path) -> SubgraphDefinition | None:
    """The subgraph a dropped file holds (a template, a file from someone's library), or None
    for anything else: those are opened as graphs."""
    from nodestudio.app.subgraph_library import subgraph_file_definition

    try:
        if path.suffix.lower() != ".json" or path.stat().st_size > _LARGEST_SUBGRAPH_FILE \
                or not path.is_file():
            return None
        return subgraph_file_definition(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, RecursionError):
        return None


class SubgraphFileDrops(QObject):
    """A subgraph file dropped on the canvas is added there as an instance (undoable), as the
    Nodes panel adds one; before, it was opened as a graph and every node became a
    placeholder."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        window.view.viewport().installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.Drop or not isinstance(event, QDropEvent):
            return False
        from nodestudio.ui.subgraph_window import add_definition_instance

        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        definitions = [found for found in map(dropped_definition, paths) if found is not None]
        if not definitions:
            return False
        at = self.window.view.mapToScene(event.position().toPoint())
        for step, definition in enumerate(definitions):
            if add_definition_instance(self.window, definition,
                                       (at.x() + 40 * step, at.y() + 40 * step)) is not None:
                self.window.report(f"Added the subgraph {definition.name!r}", "info")
        event.acceptProposedAction()
        return True
