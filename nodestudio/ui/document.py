"""The open document: which file it is, whether it has unsaved changes, the recent files."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, QStandardPaths, Signal

from nodestudio.app.formats import PNG_SIGNATURE, graph_file_contents, graph_from_contents
from nodestudio.graph import files
from nodestudio.graph.model import Graph
from nodestudio.graph.problems import GraphFileError
from nodestudio.paths import resources_dir
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
        contents = graph_file_contents(path)
        try:
            graph = graph_from_contents(path, contents, self.editor.registry)
        except GraphFileError as error:
            raise GraphFileError(f"{path.name}: {error.summary}", error.problems) from None
        native = contents.raw is not None and _is_native(contents.raw)
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

    def save_dialog_start(self, recent: RecentFiles) -> Path:
        """Where Save As starts: beside the document's file; for a new graph or an example,
        in the last folder the user opened or saved in, else their documents folder."""
        if self.path is not None:
            return self.path.parent / self.suggested_name
        return (recent.last_folder() or documents_folder()) / self.suggested_name

    def _replace(self, graph: Graph, path: Path | None, suggested: str, dirty: bool) -> None:
        self.editor.set_graph(graph)
        # A shipped example (the first-run graph too) opens as an untitled copy: Save must ask
        # where rather than change what every later start, or every user of the install, opens.
        self.path = None if path is not None and is_shipped(path) else path
        self.suggested_name = suggested
        self._forced_dirty = dirty
        self.changed.emit()


def is_shipped(path: Path) -> bool:
    """Whether ``path`` is one of NodeStudio's own files (resources/: the example workflows
    and their pictures), in a checkout or inside the installed package."""
    try:
        return Path(path).resolve().is_relative_to(resources_dir().resolve())
    except (OSError, RuntimeError):  # an unreadable or looping link is not ours
        return False


def documents_folder() -> Path:
    """The user's documents folder (home when the system names none that exists)."""
    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return Path(location) if location and Path(location).is_dir() else Path.home()


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
    #: The folder of the last file opened or saved that is the user's (not a shipped one).
    FOLDER_KEY = "last_folder"

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
        if not is_shipped(Path(resolved)):
            self.settings.setValue(self.FOLDER_KEY, str(Path(resolved).parent))

    def last_folder(self) -> Path | None:
        value = self.settings.value(self.FOLDER_KEY, "")
        folder = Path(value) if isinstance(value, str) and value else None
        return folder if folder is not None and folder.is_dir() else None

    def remove(self, path: Path) -> None:
        self.settings.setValue(self.KEY, [str(p) for p in self.paths() if p != Path(path)])

    def clear(self) -> None:
        self.settings.setValue(self.KEY, [])
