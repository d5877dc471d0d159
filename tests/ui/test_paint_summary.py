"""Issue 18: the Paint node's stored drawing (PNG data in base64) shows as a summary with an
Edit… button on the node and in the properties panel, never as a long row of text."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QDialog, QLabel, QLineEdit, QPlainTextEdit, QPushButton

from nodestudio.app.packs import create_registry
from nodestudio.ui.paint.summary import summary


def _png(picture: Image.Image) -> str:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _mask_quarter() -> str:
    pixels = np.zeros((64, 64), np.uint8)
    pixels[:32, :32] = 255  # a quarter of the picture
    return _png(Image.fromarray(pixels, "L"))


def _sketch_line() -> str:
    pixels = np.zeros((40, 50, 4), np.uint8)
    pixels[10, :] = (255, 0, 0, 255)  # one row of 40: 2.5 %
    return _png(Image.fromarray(pixels, "RGBA"))


@pytest.fixture(scope="module")
def pack_registry():
    return create_registry(entry_points=False)


@pytest.fixture
def drawn(make_window, pack_registry):
    window = make_window(pack_registry)
    node_id = window.add_node_at("image.paint", window.view.scene_center())
    window.editor.set_value(node_id, "mask_png", _mask_quarter())
    window.editor.set_value(node_id, "sketch_png", _sketch_line())
    return window, node_id


def _drawn_texts(item, monkeypatch) -> list[str]:
    """Every string the node item paints (the canvas draws through QPainter.drawText)."""
    texts: list[str] = []
    original = QPainter.drawText

    def record(painter, *args):
        texts.extend(arg for arg in args if isinstance(arg, str))
        return original(painter, *args)

    monkeypatch.setattr(QPainter, "drawText", record)
    image = QImage(800, 800, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(0)
    painter = QPainter(image)
    scene = item.scene()
    scene.render(painter, QRectF(image.rect()), item.sceneBoundingRect())
    painter.end()
    monkeypatch.setattr(QPainter, "drawText", original)
    return texts


def test_summary_counts_painted_pixels():
    assert summary("mask_png", _mask_quarter()) == "mask: 64×64, 25% painted"
    assert summary("sketch_png", _sketch_line()) == "sketch: 50×40, 2% painted"
    assert summary("mask_png", "") == "mask: empty"
    assert "damaged" in summary("mask_png", "not base64 at all!")


def test_the_node_shows_the_summary_not_the_data_and_edit_opens(drawn, qtbot, monkeypatch):
    window, node_id = drawn
    item = window.node_item(node_id)
    texts = _drawn_texts(item, monkeypatch)
    joined = " | ".join(texts)
    # A node of the default width drops the size before it would elide the share.
    assert {"mask: 64×64, 25% painted", "mask: 25% painted"} & set(texts)
    assert {"sketch: 50×40, 2% painted", "sketch: 2% painted"} & set(texts)
    assert "Edit…" in texts
    assert "iVBOR" not in joined  # no PNG data in base64 is painted
    assert max(len(text) for text in texts) < 60

    # Pressing the row opens the editor (no typing box over the data).
    slot = item.geometry.widget("mask_png")
    view = window.view
    point = view.mapFromScene(item.mapToScene(slot.rect.center()))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    editors = [d for d in window.findChildren(QDialog, "paintEditor") if d.isVisible()]
    assert len(editors) == 1
    assert not [e for e in window.findChildren(QLineEdit) if e.text().startswith("iVBOR")]
    editors[0].reject()


def test_the_properties_panel_shows_the_summary_and_edit_opens(drawn, qtbot):
    window, node_id = drawn
    window.scene.select_nodes([node_id])
    dock = window.properties_dock
    dock.show_node(node_id)
    labels = [label.text() for label in dock.findChildren(QLabel, "drawingSummary")]
    assert sorted(labels) == ["mask: 64×64, 25% painted", "sketch: 50×40, 2% painted"]
    for field in [*dock.findChildren(QLineEdit), *dock.findChildren(QPlainTextEdit)]:
        text = field.text() if isinstance(field, QLineEdit) else field.toPlainText()
        assert "iVBOR" not in text

    # The summary follows the drawing (an undo brings the previous one back).
    window.editor.undo_stack.undo()  # the sketch
    labels = [label.text() for label in dock.findChildren(QLabel, "drawingSummary")]
    assert sorted(labels) == ["mask: 64×64, 25% painted", "sketch: empty"]

    [button, *_] = dock.findChildren(QPushButton, "drawingEdit")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    editors = [d for d in window.findChildren(QDialog, "paintEditor") if d.isVisible()]
    assert len(editors) == 1
    editors[0].reject()
