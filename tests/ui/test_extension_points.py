"""What the run work builds on: node badges, progress, previews, and the action registry."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QAction, QColor, QImage, QPainter


def _render(item) -> QImage:
    area = item.sceneBoundingRect()
    image = QImage(int(area.width()), int(area.height()), QImage.Format.Format_RGB32)
    image.fill(QColor("black"))
    painter = QPainter(image)
    item.scene().render(painter, QRectF(image.rect()), area)
    painter.end()
    return image


def test_status_badge_and_progress_are_drawn(window):
    node_id = window.editor.add_node("test.sampler", (0, 0))
    item = window.node_item(node_id)
    plain = _render(item)
    item.set_status("running")
    item.set_progress(0.4)
    running = _render(item)
    assert running != plain
    assert item.progress == 0.4
    item.set_status(None)
    assert item.progress is None
    assert _render(item) == plain


def test_a_preview_image_grows_the_node_and_its_links_follow(window):
    editor = window.editor
    source = editor.add_node("test.source", (0, 0))
    sink = editor.add_node("test.sink", (400, 0))
    editor.connect(source, "image", sink, "images")
    item = window.node_item(source)
    height = item.geometry.height
    image = QImage(64, 32, QImage.Format.Format_RGB32)
    image.fill(QColor("red"))
    item.set_preview(image)
    assert item.geometry.preview_rect is not None
    assert item.geometry.height > height + 50
    centre = item.mapToScene(item.geometry.preview_rect.center())
    rendered = _render(item)
    local = centre - item.sceneBoundingRect().topLeft()
    assert rendered.pixelColor(int(local.x()), int(local.y())) == QColor("red")
    item.set_preview(None)
    assert item.geometry.height == height
    link = window.scene.link_items[(sink, "images")]
    assert link.start == item.output_pos("image")


def test_actions_join_menus_and_the_toolbar(window):
    action = QAction("Run", window)
    fired = []
    action.triggered.connect(lambda: fired.append(1))
    window.add_action(action, menu="run", toolbar=True)
    titles = [a.text() for a in window.menuBar().actions()]
    assert titles.index("Run") == titles.index("&Help") - 1
    assert action in window.toolbar.actions()
    action.trigger()
    assert fired == [1]
    assert window.outputs_dock.content_layout() is not None
    assert window.node_item("missing") is None
    assert isinstance(QPointF(), QPointF)
