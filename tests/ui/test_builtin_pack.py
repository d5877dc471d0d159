"""The editor over the real built-in node pack: start-up without torch, every node drawn."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QImage, QPainter

from nodestudio.app.formats import read_graph
from nodestudio.app.models import ModelLibrary
from nodestudio.app.packs import create_registry
from nodestudio.graph import files
from nodestudio.graph.model import Graph
from nodestudio.ui.choices import ChoiceProvider
from nodestudio.ui.theme import CATEGORY_COLORS

OPEN_WINDOW = """
import sys
from nodestudio.ui.application import create_main_window, ensure_application
app = ensure_application(headless_ok=True)
window = create_main_window(autosave=False)
window.show()
app.processEvents()
print(len(window.editor.registry), 'torch' in sys.modules)
"""


def _env(tmp_path):
    return dict(os.environ, NODESTUDIO_HOME=str(tmp_path), QT_QPA_PLATFORM="offscreen")


def test_the_window_opens_without_importing_torch(tmp_path):
    result = subprocess.run([sys.executable, "-c", OPEN_WINDOW], env=_env(tmp_path),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    count, torch_loaded = result.stdout.split()
    assert int(count) > 20
    assert torch_loaded == "False"


def test_screenshot_command_draws_the_graph_into_a_png(tmp_path):
    graph = Graph()
    graph.add_node("image.invert", {}, pos=(0.0, 0.0))
    # Stacked, so that both fit the narrow canvas of the default window at a readable zoom.
    graph.add_node("mask.invert", {}, pos=(0.0, 160.0))
    files.save(graph, tmp_path / "graph.json")
    shot = tmp_path / "shot.png"
    result = subprocess.run([sys.executable, "-m", "nodestudio.cli", str(tmp_path / "graph.json"),
                             "--screenshot", str(shot)],
                            env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    # The terminal stays quiet: Qt's plugin and audio-server notes ("Couldn't load
    # pipewire-0.3 library", "pa_context_connect() failed") go to the log, not to stderr.
    assert result.stderr == ""
    image = QImage(str(shot))
    assert image.width() > 600 and image.height() > 400
    colours = {image.pixelColor(x, y).name() for x in range(image.width())
               for y in range(0, image.height(), 3)}
    # The headers of both nodes, in their categories' colours, are in the picture.
    assert {CATEGORY_COLORS["image"], CATEGORY_COLORS["mask"]} <= colours
    # Like a rendered image, the screenshot carries its graph.
    assert read_graph(shot, create_registry(entry_points=False)) == graph


@pytest.fixture
def builtin_window(make_window):
    registry = create_registry(entry_points=False)
    return make_window(registry, choices=ChoiceProvider(ModelLibrary([]), None))


def test_every_built_in_node_can_be_added_drawn_and_undone(builtin_window):
    window = builtin_window
    editor = window.editor
    types = list(editor.registry)
    for index, node_type in enumerate(types):
        editor.add_node(node_type.id, (index % 8 * 420, index // 8 * 520))
    scene = window.scene
    assert len(scene.node_items) == len(types)
    area = scene.itemsBoundingRect()
    image = QImage(int(area.width() / 4), int(area.height() / 4), QImage.Format.Format_RGB32)
    image.fill(QColor("black"))
    painter = QPainter(image)
    painter.scale(0.25, 0.25)
    scene.render(painter, QRectF(0, 0, area.width(), area.height()), area)
    painter.end()
    for item in scene.node_items.values():
        node_type = item.node_type
        shown = set(item.geometry.inputs) | {w.name for w in item.geometry.widgets}
        # Every input is drawn, or folded away as an advanced input left at its default.
        folded = set(item.geometry.foldable)
        assert folded == {spec.name for spec in node_type.inputs if spec.advanced}, node_type.id
        assert shown | folded == {spec.name for spec in node_type.inputs}, node_type.id
        assert not shown & folded, node_type.id
        assert set(item.geometry.outputs) == {spec.name for spec in node_type.outputs}
    for _ in types:
        editor.undo_stack.undo()
    assert len(editor.graph) == 0 and not scene.node_items
