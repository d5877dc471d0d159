"""What a running node can see of the world: progress, cancellation, device, models, files."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class ModelLocator(Protocol):
    """Finds model files by folder kind (``checkpoints``, ``vae``, ``controlnet`` …) and name."""

    def list(self, kind: str) -> list[str]:
        """Names that a model picker for ``kind`` offers."""
        ...

    def find(self, kind: str, name: str) -> Path:
        """The path of model ``name``; raises ModelNotFoundError naming the folder to fill."""
        ...


class NodeContext(Protocol):
    """Passed as ``ctx`` to node functions that declare it."""

    node_id: str
    #: "cpu", "cuda", "cuda:1", "mps" … resolved by the session from its ``device`` setting.
    device: str
    logger: logging.Logger
    models: ModelLocator
    output_dir: Path
    input_dir: Path
    #: The graph being run, in file form.
    graph_document: dict[str, Any] | None
    #: PNG text chunks that images written by this run carry: the graph that made them
    #: ("nodestudio") and, where ComfyUI can express it, ComfyUI's "prompt".
    image_metadata: dict[str, str]

    def progress(self, done: int, total: int, preview: Any = None) -> None:
        """Report progress; ``preview`` is an optional image batch (float RGB, [B, H, W, 3])."""
        ...

    @property
    def cancelled(self) -> bool: ...

    def check_cancelled(self) -> None:
        """Raise :class:`~nodestudio.api.errors.Cancelled` when the run has been cancelled."""
        ...

    def add_file(self, path: Path) -> None:
        """Record a file this node wrote (the CLI prints it, the GUI shows it in the gallery)."""
        ...

    def show_image(self, image: Any) -> None:
        """Show an image batch on the node (preview nodes)."""
        ...
