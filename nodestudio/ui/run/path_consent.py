"""The window's consent for pictures a graph reads outside the input folder (issue 14, item 11).

A graph from a stranger may name any file; the path rules (nodestudio/app/path_rules.py) let
it read only the input folder and the example pictures. Before a run the window asks once per
graph — "allow for this graph" or "refuse" — and remembers the answer until another document
is opened or a new one is started. What was allowed reaches the run as the session's
``allowed_paths`` (exactly those files, not their folders).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QMessageBox, QWidget

from nodestudio.app.path_rules import OutsidePath
from nodestudio.graph.model import Graph

#: (parent, the files outside, how to name their nodes) -> True to allow them for this graph.
AskConsent = Callable[[QWidget, Sequence[OutsidePath], Callable[[str], str]], bool]


def ask_with_dialog(parent: QWidget, outside: Sequence[OutsidePath],
                    title: Callable[[str], str]) -> bool:
    lines = "\n".join(f"• {title(item.node_id)}: {item.path}" for item in outside)
    box = QMessageBox(QMessageBox.Icon.Warning, "Files outside the input folder",
                      "This graph reads files outside the input folder and the example "
                      f"pictures:\n\n{lines}\n\nA graph from someone else could use this to "
                      "copy your private pictures into its outputs.", parent=parent)
    allow = box.addButton("Allow for This Graph", QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Refuse", QMessageBox.ButtonRole.RejectRole)
    box.exec()
    return box.clickedButton() is allow


class PathConsent:
    """Asks before a run, once per file and document; answers are forgotten with the graph."""

    def __init__(self, parent: QWidget, session: Any, title: Callable[[str], str]) -> None:
        self.parent = parent
        self.session = session
        self.title = title
        #: Replaceable in tests and by embedders.
        self.ask: AskConsent = ask_with_dialog
        # What the session was given by its creator (the API's allowed_paths) stays allowed.
        self._given = list(getattr(session, "allowed_paths", []))
        self.allowed: set[Path] = set()
        self.refused: set[Path] = set()

    def forget(self, _graph: Graph | None = None) -> None:
        """Another document: its files need their own answer."""
        self.allowed.clear()
        self.refused.clear()
        self._apply()

    def check(self, graph: Graph) -> None:
        """Ask about files not answered yet; refused ones stay problems that validation shows
        on their nodes, so the run does not start."""
        finder = getattr(self.session, "outside_paths", None)
        if finder is None:  # a session without path rules (an embedder's stand-in)
            return
        self._apply()
        outside = [item for item in finder(graph) if item.path not in self.refused]
        if not outside:
            return
        if self.ask(self.parent, outside, self.title):
            self.allowed.update(item.path for item in outside)
        else:
            self.refused.update(item.path for item in outside)
        self._apply()

    def allow(self, paths: Sequence[Path]) -> None:
        """Allow ``paths`` (files or folders) for this graph without asking: the user's own
        action was the consent (e.g. "Edit Mask / Sketch…" on an output picture)."""
        self.allowed.update(Path(path) for path in paths)
        self.refused.difference_update(Path(path) for path in paths)
        self._apply()

    def _apply(self) -> None:
        self.session.allowed_paths = [*self._given, *sorted(self.allowed)]
