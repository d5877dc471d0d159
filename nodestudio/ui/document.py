"""The open document: which file it is, whether it has unsaved changes, the recent files."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal

from nodestudio.app.formats import PNG_SIGNATURE, read_graph_bytes
from nodestudio.graph import files
from nodestudio.graph.model import Graph
from nodestudio.graph.problems import GraphFileError, Problem
from nodestudio.ui.editor import GraphEditor

MAX_RECENT = 10


class Document(QObject):
    #: The name, the path or the dirty state changed.
    changed = Signal()

    def __init__(self, editor: GraphEditor, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        self.path: Path | None = None
        #: The name Save As proposes (a PNG or an imported workflow is saved as new JSON).
        self.suggested_name = "untitled.json"
        self._forced_dirty = False
        editor.undo_stack.cleanChanged.connect(lambda _clean: self.changed.emit())

    @property
    def dirty(self) -> bool:
        return self._forced_dirty or not self.editor.undo_stack.isClean()

    @property
    def display_name(self) -> str:
        return self.path.name if self.path is not None else Path(self.suggested_name).stem

    def new(self) -> None:
        self._replace(Graph(), None, "untitled.json", dirty=False)

    def load(self, path: Path) -> Graph:
        """Open ``path`` (NodeStudio JSON, a PNG with a graph, an importable workflow).

        Raises GraphFileError; the current graph stays untouched when it does.
        """
        path = Path(path)
        try:
            raw = path.read_bytes()
        except OSError as error:
            raise GraphFileError(f"cannot read {path}", [Problem(str(error), kind="io")]) \
                from None
        try:
            graph = read_graph_bytes(raw, self.editor.registry)
        except GraphFileError as error:
            raise GraphFileError(f"{path.name}: {error.summary}", error.problems) from None
        native = _is_native(raw)
        # Saving must never overwrite a PNG or another tool's file with our JSON.
        self._replace(graph, path if native else None, path.with_suffix(".json").name,
                      dirty=False)
        return graph

    def save(self, path: Path | None = None) -> Path:
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("the document has no file yet: give a path")
        files.save(self.editor.graph, target)
        self.path = target
        self.suggested_name = target.name
        self._forced_dirty = False
        self.editor.undo_stack.setClean()
        self.changed.emit()
        return target

    def restore(self, graph: Graph, path: Path | None) -> None:
        """Show a recovered graph: it has changes no file holds, so it starts dirty."""
        name = path.name if path is not None else "recovered.json"
        self._replace(graph, path, name, dirty=True)

    def _replace(self, graph: Graph, path: Path | None, suggested: str, dirty: bool) -> None:
        self.editor.set_graph(graph)
        self.path = path
        self.suggested_name = suggested
        self._forced_dirty = dirty
        self.changed.emit()


def _is_native(raw: bytes) -> bool:
    if raw.startswith(PNG_SIGNATURE):
        return False
    try:
        data = json.loads(raw)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("format") == files.FORMAT_NAME


class RecentFiles:
    """The most recently opened or saved files, newest first, kept in QSettings."""

    KEY = "recent_files"

    def __init__(self, settings: QSettings) -> None:
        self.settings = settings

    def paths(self) -> list[Path]:
        value = self.settings.value(self.KEY, [])
        if isinstance(value, str):
            value = [value]
        return [Path(p) for p in (value or []) if isinstance(p, str) and p]

    def add(self, path: Path) -> None:
        resolved = str(Path(path).resolve())
        items = [resolved] + [str(p) for p in self.paths() if str(p) != resolved]
        self.settings.setValue(self.KEY, items[:MAX_RECENT])

    def remove(self, path: Path) -> None:
        self.settings.setValue(self.KEY, [str(p) for p in self.paths() if p != Path(path)])

    def clear(self) -> None:
        self.settings.setValue(self.KEY, [])
