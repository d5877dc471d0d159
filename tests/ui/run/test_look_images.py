"""Issue 13, item 13: a small image's pixels show when magnified (viewer and node previews),
the large image in Outputs opens the viewer on a double-click, and the selected thumbnail
keeps its colours (an outline marks it, no tint)."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from nodestudio.app.queue import FINISHED
from nodestudio.ui.run.viewer import ImageViewer


def _checkerboard(cells: int = 8) -> QImage:
    image = QImage(cells, cells, QImage.Format.Format_RGB888)
    for x in range(cells):
        for y in range(cells):
            image.setPixelColor(x, y, QColor(255, 255, 255) if (x + y) % 2 else QColor(0, 0, 0))
    return image


def _blended(picture: QImage, area: QRect) -> int:
    """Pixels in ``area`` that are neither black nor white: smoothing's in-between greys."""
    count = 0
    for x in range(area.left(), area.right() + 1):
        for y in range(area.top(), area.bottom() + 1):
            value = picture.pixelColor(x, y).red()
            count += 8 < value < 247
    return count


def test_the_viewer_shows_pixels_as_blocks_when_magnified(qtbot):
    viewer = ImageViewer(_checkerboard(), "pixels")
    qtbot.addWidget(viewer)
    viewer.show()
    qtbot.waitExposed(viewer)
    view = viewer.view
    view.set_zoom(16.0)  # the whole 8 × 8 image is 128 px wide
    view.centerOn(view.item)
    QApplication.processEvents()
    picture = view.viewport().grab().toImage()
    shown = view.mapFromScene(view.item.sceneBoundingRect()).boundingRect()
    inner = shown.adjusted(2, 2, -2, -2).intersected(view.viewport().rect())
    assert inner.width() > 100
    assert _blended(picture, inner) == 0
    # Shrunk below 100 % it is smoothed again (no aliasing).
    view.set_zoom(0.5)
    assert view.item.transformationMode() == Qt.TransformationMode.SmoothTransformation


def _green_levels(kit, node_id: str) -> set[int]:
    """The distinct green levels along the middle row of a node's painted preview."""
    window = kit.window
    item = window.node_item(node_id)
    window.view.resetTransform()  # 100 %: the 8 px image is drawn about 25 × larger
    window.view.centerOn(item.mapToScene(item.geometry.preview_rect.center()))
    QApplication.processEvents()
    picture = window.view.viewport().grab().toImage()
    rect = window.view.mapFromScene(
        item.mapToScene(item.geometry.preview_rect)).boundingRect().adjusted(3, 3, -3, -3)
    row = rect.center().y()
    return {picture.pixelColor(x, row).green() for x in range(rect.left(), rect.right())}


def test_a_node_preview_shows_a_small_images_pixels(kit, qtbot):
    editor = kit.window.editor
    gradient = editor.add_node("test.gradient", (0, 0))
    editor.set_value(gradient, "width", 8)
    editor.set_value(gradient, "height", 8)
    preview = editor.add_node("image.preview", (300, 0))
    editor.connect(gradient, "image", preview, "images")
    job = kit.run()
    assert job.status == FINISHED
    item = kit.window.node_item(preview)
    assert item.preview is not None and item.preview.width() == 8  # not blown up smoothly
    levels = _green_levels(kit, preview)
    # Eight columns of eight greens (the preview's frame aside), not a smooth ramp.
    assert len(levels) <= 10, sorted(levels)


def test_double_clicking_the_large_output_opens_the_viewer(kit, qtbot):
    editor = kit.window.editor
    gradient = editor.add_node("test.gradient", (0, 0))
    preview = editor.add_node("image.preview", (300, 0))
    editor.connect(gradient, "image", preview, "images")
    kit.run()
    gallery = kit.controller.gallery
    kit.window.outputs_dock.raise_()
    qtbot.waitUntil(lambda: gallery.preview.isVisible(), timeout=2000)
    assert not gallery.viewers
    QTest.mouseDClick(gallery.preview, Qt.MouseButton.LeftButton, pos=gallery.preview.rect()
                      .center())
    qtbot.waitUntil(lambda: len(gallery.viewers) == 1, timeout=2000)
    viewer = gallery.viewers[0]
    assert viewer.isVisible() and viewer.view.item.pixmap().width() == 48
    viewer.close()


def test_the_selected_thumbnail_is_outlined_not_tinted(kit, qtbot):
    editor = kit.window.editor
    gradient = editor.add_node("test.gradient", (0, 0))
    editor.set_value(gradient, "red", 1.0)
    preview = editor.add_node("image.preview", (300, 0))
    editor.connect(gradient, "image", preview, "images")
    kit.run()
    gallery = kit.controller.gallery
    kit.window.outputs_dock.raise_()
    qtbot.waitUntil(lambda: gallery.list.isVisible(), timeout=2000)
    gallery.list.setCurrentRow(0)
    item = gallery.list.item(0)
    assert item.isSelected()
    QApplication.processEvents()
    picture = gallery.list.viewport().grab().toImage()
    cell = gallery.list.visualItemRect(item)
    # The thumbnail's left column is pure red (the gradient starts with no green): the
    # selected item shows it as it is.
    icon_rect = QRect(QPoint(0, 0), gallery.list.iconSize())
    icon_rect.moveCenter(cell.center())
    drawn = icon_rect.intersected(cell)
    middle = QPoint(cell.center().x(), cell.center().y())
    for x in range(drawn.left() + 4, middle.x() - 20):
        color = picture.pixelColor(x, middle.y())
        if color.red() > 200:  # inside the picture
            assert color.red() >= 250 and color.green() < 40 and color.blue() < 10, color.name()
            break
    else:
        raise AssertionError("no red thumbnail pixels found")
    # An outline in the accent colour marks the selection around the picture.
    accent = QColor(kit.window.theme.accent)
    border = [picture.pixelColor(x, cell.top() + 1) for x in range(cell.left() + 4,
                                                                    cell.right() - 4)]
    assert any(_near(color, accent) for color in border)


def _near(a: QColor, b: QColor, tolerance: int = 40) -> bool:
    return (abs(a.red() - b.red()) + abs(a.green() - b.green())
            + abs(a.blue() - b.blue())) <= tolerance
