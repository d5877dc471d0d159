"""Autosave and crash recovery.

Every few seconds, when the document has unsaved changes, the graph is written (atomically)
to ``data_dir()/autosave/<session>.json`` together with the process id and the file it came
from. A clean exit deletes that file. At start, files left by processes that no longer run
are crashed sessions: the window offers to restore them.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from nodestudio.api.registry import NodeRegistry
from nodestudio.app.settings import data_dir
from nodestudio.graph import files
from nodestudio.graph.model import Graph
from nodestudio.ui.document import Document
from nodestudio.ui.editor import GraphEditor

AUTOSAVE_FORMAT = "nodestudio.autosave"
DEFAULT_INTERVAL_MS = 5000

#: Autosave files written by live windows of this process (never offered for recovery).
_LIVE: weakref.WeakSet[Autosaver] = weakref.WeakSet()


def autosave_dir() -> Path:
    return data_dir() / "autosave"


@dataclass(frozen=True)
class Recovery:
    """An autosave left behind by a session that did not exit cleanly."""

    file: Path
    pid: int
    saved_at: float
    source: Path | None
    document: dict[str, Any]

    def graph(self, registry: NodeRegistry) -> Graph:
        """The saved graph (raises GraphFileError when the autosave is damaged)."""
        return files.from_document(self.document, registry)

    def discard(self) -> None:
        self.file.unlink(missing_ok=True)

    @property
    def label(self) -> str:
        name = self.source.name if self.source is not None else "an untitled graph"
        when = time.strftime("%H:%M on %d %b", time.localtime(self.saved_at))
        return f"{name}, autosaved at {when}"


class Autosaver(QObject):
    def __init__(self, editor: GraphEditor, document: Document,
                 interval_ms: int = DEFAULT_INTERVAL_MS, folder: Path | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.editor, self.document = editor, document
        self.folder = folder or autosave_dir()
        self.file = self.folder / f"session-{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
        self.revision = 0
        self._saved_revision = 0
        self._unsubscribe: Callable[[], None] | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.save_if_needed)
        editor.graph_replaced.connect(self._follow)
        document.changed.connect(self._document_changed)
        self._follow()
        _LIVE.add(self)

    def start(self) -> None:
        self.timer.start()

    def _follow(self, *_args: Any) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._unsubscribe = self.editor.graph.subscribe(self._changed)
        self.revision += 1

    def _changed(self, _event: object) -> None:
        self.revision += 1

    def _document_changed(self) -> None:
        if not self.document.dirty:
            # Saved (or back to the saved state): there is nothing to recover any more.
            self.discard()
            self._saved_revision = self.revision

    def save_if_needed(self) -> bool:
        if not self.document.dirty or self.revision == self._saved_revision:
            return False
        self.save_now()
        return True

    def save_now(self) -> Path:
        data = {
            "format": AUTOSAVE_FORMAT,
            "version": 1,
            "pid": os.getpid(),
            "saved_at": time.time(),
            "source": str(self.document.path) if self.document.path is not None else None,
            "graph": files.to_document(self.editor.graph),
        }
        try:
            text = json.dumps(data, ensure_ascii=False, allow_nan=False)
        except (ValueError, TypeError, RecursionError):
            # A value JSON cannot hold (NaN set by a node or a script): autosave the rest
            # rather than nothing, so that a crash never loses all the work.
            text = json.dumps(files.sanitized(data), ensure_ascii=False, allow_nan=False)
        files.write_atomic(self.file, text.encode("utf-8"))
        self._saved_revision = self.revision
        return self.file

    def discard(self) -> None:
        """Delete this session's autosave (a clean exit, or the document was saved)."""
        self.file.unlink(missing_ok=True)

    def stop(self) -> None:
        self.timer.stop()
        # Stop listening too: while the closed window is torn down, its undo stack goes first
        # and a last "changed" would reach a document whose stack is already deleted.
        if self._unsubscribe is not None:  # (None once stopped: stop may be called twice)
            self.document.changed.disconnect(self._document_changed)
            self.editor.graph_replaced.disconnect(self._follow)
            self._unsubscribe()
            self._unsubscribe = None
        self.discard()
        _LIVE.discard(self)


def find_recoveries(folder: Path | None = None) -> list[Recovery]:
    """Autosaves of sessions that are gone, newest first. Unreadable files are skipped."""
    folder = folder or autosave_dir()
    if not folder.is_dir():
        return []
    live = {saver.file for saver in list(_LIVE)}
    found: list[Recovery] = []
    for path in folder.glob("session-*.json"):
        if path in live:
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or data.get("format") != AUTOSAVE_FORMAT:
            continue
        pid = data.get("pid")
        if not isinstance(pid, int) or (pid != os.getpid() and process_alive(pid)):
            continue  # another NodeStudio that still runs owns it
        source = data.get("source")
        graph = data.get("graph")
        if not isinstance(graph, dict):
            continue
        saved_at = data.get("saved_at")
        found.append(Recovery(path, pid,
                              float(saved_at) if isinstance(saved_at, int | float) else 0.0,
                              Path(source) if isinstance(source, str) else None, graph))
    found.sort(key=lambda recovery: recovery.saved_at, reverse=True)
    return found


def process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if sys.platform == "win32":
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # query information
        if not handle:
            return False
        code = ctypes.c_ulong()
        ctypes.windll.kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        ctypes.windll.kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RecoveryBanner(QFrame):
    """A non-modal offer, above the canvas, to restore a graph a crash left behind."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 8, 8)
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.restore_button = QPushButton("Restore", self)
        self.restore_button.setDefault(True)
        self.discard_button = QPushButton("Discard", self)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.restore_button)
        layout.addWidget(self.discard_button)
        self.hide()
