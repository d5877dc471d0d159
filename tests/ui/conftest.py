"""Fixtures for the GUI tests: a tiny registry, a window, and real mouse/keyboard helpers."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings

from nodestudio.api import (
    BOOLEAN,
    FLOAT,
    IMAGE,
    INT,
    LATENT,
    MASK,
    Boolean,
    Choice,
    Float,
    Input,
    Int,
    Output,
    Seed,
    String,
    node,
    registry_of,
)
from nodestudio.api.registry import NodeRegistry
from nodestudio.ui.choices import ChoiceProvider
from nodestudio.ui.main_window import MainWindow

sys.path.insert(0, str(Path(__file__).parent))
from ui_helpers import Canvas


@node("test.source", display_name="Image Source", category="image",
      description="Makes a picture", inputs=[Int("width", 512, min=64, max=4096, step=8),
                                             String("name", "pic")],
      outputs=[Output("image", IMAGE)])
def source(width: int, name: str) -> Any:
    return None


@node("test.filter", display_name="Soft Filter", category="image",
      description="Softens an image",
      inputs=[Input("image", IMAGE), Input("mask", MASK, optional=True),
              Float("strength", 0.5, min=0.0, max=1.0, step=0.01, display="slider"),
              Choice("mode", ["a", "b", "c"]), Boolean("enabled", True),
              String("prompt", "", multiline=True)],
      outputs=[Output("image", IMAGE)])
def soft_filter(**kwargs: Any) -> Any:
    return None


@node("test.sink", display_name="Keep Image", category="image", output_node=True,
      description="Keeps the image", inputs=[Input("images", IMAGE)])
def sink(images: Any) -> None:
    return None


@node("test.mask", display_name="Mask Maker", category="mask", description="Makes a mask",
      outputs=[Output("mask", MASK)])
def mask_maker() -> Any:
    return None


@node("test.sampler", display_name="Tiny Sampler", category="sampling",
      description="Samples latents with a seed",
      inputs=[Seed(), Choice("model", source="models:checkpoints"),
              Int("steps", 20, min=1, max=150)],
      outputs=[Output("latent", LATENT)])
def sampler(**kwargs: Any) -> Any:
    return None


@node("test.number", display_name="Number", category="math", description="A float",
      inputs=[Float("value", 1.0)], outputs=[Output("value", FLOAT)])
def number(value: float) -> float:
    return value


@node("test.flag", display_name="Flag", category="math", description="A boolean",
      outputs=[Output("flag", BOOLEAN), Output("count", INT)])
def flag() -> Any:
    return None


TEST_TYPES = (source, soft_filter, sink, mask_maker, sampler, number, flag)


class FakeModels:
    def list(self, kind: str) -> list[str]:
        return ["alpha.safetensors", "beta.safetensors"] if kind == "checkpoints" else []


@pytest.fixture
def registry() -> NodeRegistry:
    return registry_of(*TEST_TYPES)


@pytest.fixture
def make_window(qtbot: Any, tmp_path: Path, registry: NodeRegistry) -> Callable[..., MainWindow]:
    def make(reg: NodeRegistry | None = None, **kwargs: Any) -> MainWindow:
        settings = QSettings(str(tmp_path / "gui.ini"), QSettings.Format.IniFormat)
        kwargs.setdefault("autosave", False)
        kwargs.setdefault("choices", ChoiceProvider(FakeModels(), tmp_path / "input"))
        window = MainWindow(reg or registry, settings=settings, **kwargs)
        window.ask_save_changes = lambda _name: "discard"
        qtbot.addWidget(window)
        window.resize(1280, 820)
        window.show()
        qtbot.waitExposed(window)
        window.activateWindow()
        window.view.setFocus()
        window.view.resetTransform()
        window.view.centerOn(300.0, 150.0)
        return window

    return make


@pytest.fixture
def window(make_window: Callable[..., MainWindow]) -> MainWindow:
    return make_window()


@pytest.fixture
def canvas(window: MainWindow) -> Canvas:
    return Canvas(window)


@pytest.fixture
def canvas_of() -> Callable[[MainWindow], Canvas]:
    return Canvas
