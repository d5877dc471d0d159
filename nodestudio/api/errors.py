"""Errors a node raises on purpose: their message is shown to the artist as it is."""

from __future__ import annotations

from pathlib import Path


class NodeError(Exception):
    """A failure with a message meant for the person running the graph (no traceback needed)."""


class Cancelled(Exception):
    """Raised by :meth:`NodeContext.check_cancelled` when the run was cancelled."""


class ModelNotFoundError(NodeError):
    """A model file is not where it should be; the message names the folder to put it in."""

    def __init__(self, kind: str, name: str, folders: list[Path] | tuple[Path, ...]) -> None:
        self.kind = kind
        self.name = name
        self.folders = list(folders)
        where = " or ".join(str(folder) for folder in self.folders) or f"the {kind} folder"
        super().__init__(f"{kind} model {name!r} not found: put it in {where}")
