"""The context a node runs in: the engine's implementation of nodestudio.api.NodeContext."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nodestudio.api.context import ModelLocator
from nodestudio.api.errors import ModelNotFoundError
from nodestudio.engine.cancel import CancelToken
from nodestudio.engine.events import NodeProgress, RunEvent


class NoModels:
    """A locator with no models, for runs that were given none."""

    def list(self, kind: str) -> list[str]:
        return []

    def find(self, kind: str, name: str) -> Path:
        path = Path(name)
        if path.is_absolute() and path.exists():
            return path
        raise ModelNotFoundError(kind, name, [])


@dataclass
class RunEnvironment:
    """What a run may use beyond its graph: device, model folders, input and output folders."""

    #: A device name, or a function that picks one when a node first asks (so that a run that
    #: needs no device never imports torch to find out which one is there).
    device: str | Callable[[], str] = "cpu"
    models: ModelLocator = field(default_factory=NoModels)
    output_dir: Path = field(default_factory=lambda: Path.cwd() / "output")
    input_dir: Path = field(default_factory=lambda: Path.cwd() / "input")
    #: The folders Load Image may read (the app's path rules: input folder, example pictures,
    #: folders the user allowed); empty: the node's own default (input folder and examples).
    readable_roots: tuple[Path, ...] = ()
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("nodestudio.run"))
    #: Entered around each node's code, on the thread that runs it (the Session's: the memory
    #: mode sends back what a node brought to the device by itself); None: nothing.
    node_scope: Callable[[], AbstractContextManager[Any]] | None = None

    def resolved_device(self) -> str:
        if callable(self.device):
            self.device = self.device()
        return self.device


class RunContext:
    def __init__(
        self,
        node_id: str,
        environment: RunEnvironment,
        cancel: CancelToken,
        emit: Callable[[RunEvent], None],
        run_id: str,
        graph_document: dict[str, Any] | None,
        image_metadata: dict[str, str] | None = None,
    ) -> None:
        self.node_id = node_id
        self._environment = environment
        self.models = environment.models
        self.output_dir = environment.output_dir
        self.input_dir = environment.input_dir
        self.readable_roots = environment.readable_roots
        self.logger = environment.logger.getChild(f"node.{node_id}")
        self.graph_document = graph_document
        self.image_metadata = dict(image_metadata or {})
        self.files: list[Path] = []
        self.images: list[Any] = []
        self._cancel = cancel
        self._emit = emit
        self._run_id = run_id

    @property
    def device(self) -> str:
        return self._environment.resolved_device()

    def progress(self, done: int, total: int, preview: Any = None) -> None:
        self._emit(NodeProgress(self._run_id, self.node_id, int(done), int(total), preview))
        self._cancel.check()

    @property
    def cancelled(self) -> bool:
        return self._cancel.cancelled

    def check_cancelled(self) -> None:
        self._cancel.check()

    def add_file(self, path: Path) -> None:
        self.files.append(Path(path))

    def show_image(self, image: Any) -> None:
        self.images.append(image)
