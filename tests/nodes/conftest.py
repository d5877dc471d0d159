"""Fixtures for the built-in node tests: the real pack loader, the engine's real run context."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from nodestudio.api import NodeRegistry, NodeType
from nodestudio.app.models import ModelLibrary
from nodestudio.app.packs import BUILTIN_PACK_MODULE, create_registry
from nodestudio.engine.cancel import CancelToken
from nodestudio.engine.context import RunContext, RunEnvironment

PACK_MODULE = f"nodestudio.packs.{BUILTIN_PACK_MODULE}"


@pytest.fixture(scope="session")
def registry() -> NodeRegistry:
    """The built-in pack, loaded through the same loader the app uses."""
    loaded = create_registry(entry_points=False)
    assert not loaded.failures, loaded.failures[0].traceback
    return loaded


@pytest.fixture(scope="session")
def node(registry: NodeRegistry) -> Callable[[str], NodeType]:
    def get(type_id: str) -> NodeType:
        found = registry.get(type_id)
        assert found is not None, f"no node type {type_id!r}"
        return found

    return get


@pytest.fixture(scope="session")
def pack_module(registry: NodeRegistry) -> Callable[[str], ModuleType]:
    """A module of the built-in pack (e.g. "_imaging"), as the loader imported it."""
    return lambda name: sys.modules[f"{PACK_MODULE}.{name}"]


@dataclass
class Folders:
    input: Path
    output: Path
    models: Path

    @property
    def annotators(self) -> Path:
        return self.models / "annotators"


@dataclass
class ContextRecorder:
    """A real engine RunContext plus the events it emitted."""

    context: RunContext
    events: list[Any] = field(default_factory=list)
    cancel: CancelToken = field(default_factory=CancelToken)


@pytest.fixture
def folders(tmp_path: Path) -> Folders:
    made = Folders(tmp_path / "input", tmp_path / "output", tmp_path / "models")
    for folder in (made.input, made.output, made.annotators):
        folder.mkdir(parents=True)
    return made


@pytest.fixture
def make_context(folders: Folders) -> Callable[..., ContextRecorder]:
    def make(graph_document: dict[str, Any] | None = None) -> ContextRecorder:
        events: list[Any] = []
        cancel = CancelToken()
        environment = RunEnvironment(
            device="cpu",
            models=ModelLibrary([folders.models], include_demo=False),
            output_dir=folders.output,
            input_dir=folders.input,
        )
        context = RunContext("node-under-test", environment, cancel, events.append, "run-1",
                             graph_document)
        return ContextRecorder(context, events, cancel)

    return make


@pytest.fixture
def ctx(make_context: Callable[..., ContextRecorder]) -> RunContext:
    return make_context().context


@pytest.fixture(scope="session")
def rectangle() -> Callable[..., np.ndarray]:
    return rectangle_image


def rectangle_image(width: int = 64, height: int = 48, box: tuple[int, int, int, int] =
                    (16, 12, 48, 36), colour: tuple[float, float, float] = (1.0, 1.0, 1.0),
                    background: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    """A [1, H, W, 3] image: a filled rectangle (x0, y0, x1, y1 exclusive) on a background."""
    image = np.empty((1, height, width, 3), np.float32)
    image[:] = background
    x0, y0, x1, y1 = box
    image[0, y0:y1, x0:x1] = colour
    return image
