"""The window opens ComfyUI files, from the menu and dropped on the canvas."""

from __future__ import annotations

import json

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from nodestudio.paths import resources_dir
from nodestudio.ui.main_window import MainWindow

EXAMPLES = resources_dir() / "examples" / "comfy"


@pytest.fixture
def window(qtbot, tmp_path, registry):
    settings = QSettings(str(tmp_path / "gui.ini"), QSettings.Format.IniFormat)
    made = MainWindow(registry, settings=settings, autosave=False)
    made.ask_save_changes = lambda _name: "discard"
    qtbot.addWidget(made)
    made.resize(1280, 820)
    made.show()
    qtbot.waitExposed(made)
    return made


def _drop(window, path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    viewport = window.view.viewport()
    for event_type in (QDragEnterEvent, QDropEvent):
        event = event_type(QPointF(200, 200), Qt.DropAction.CopyAction, mime,
                           Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(viewport, event)
        assert event.isAccepted()


def test_dropping_a_comfyui_workflow_opens_it_with_its_layout(window):
    _drop(window, EXAMPLES / "controlnet_canny.json")
    graph = window.editor.graph
    assert graph.node("10").type == "diffusion.sampler"
    assert graph.node("2").mode == "bypassed"
    assert graph.layout.nodes["10"].pos == (1510.0, 180.0)
    assert [group.title for group in graph.layout.groups] == ["ControlNet", "Prompts"]
    # never written over: saving asks for a new NodeStudio file
    assert window.document.path is None
    assert window.document.suggested_name == "controlnet_canny.json"


def test_opening_a_comfyui_png_and_an_api_prompt(window, tmp_path, example):
    info = PngInfo()
    info.add_text("workflow", json.dumps(example("text_to_image.json")))
    png = tmp_path / "ComfyUI_00042_.png"
    Image.new("RGB", (8, 8)).save(png, pnginfo=info)
    assert window.open_file(png)
    assert window.editor.graph.node("3").values["sampler"] == "euler"
    assert window.open_file(EXAMPLES / "text_to_image_api.json")
    assert len(window.editor.graph) == 7
