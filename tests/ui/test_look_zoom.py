"""Issue 13, item 7: graphs open at a zoom where node text is readable, Frame All keeps a small
graph readable, and titles stay drawn far out."""

from __future__ import annotations

from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication

from nodestudio.graph import files
from nodestudio.graph.model import Graph
from nodestudio.ui.canvas import geometry as geo

#: A title is readable from about this many screen pixels.
READABLE_PIXELS = 10.0


def _eleven_node_graph() -> Graph:
    """Laid out as the shipped ControlNet example is: four columns, 340 × 260 apart."""
    graph = Graph()
    kinds = ["test.source", "test.filter", "test.sampler", "test.sink"]
    for index in range(11):
        graph.add_node(kinds[index % 4], {}, pos=(340.0 * (index % 4), 260.0 * (index // 4)))
    return graph


def _visible(window) -> QRectF:
    return window.view.mapToScene(window.view.viewport().rect()).boundingRect()


def test_an_opened_small_graph_and_frame_all_keep_titles_readable(window, canvas, tmp_path):
    path = tmp_path / "eleven.json"
    files.save(_eleven_node_graph(), path)
    assert window.open_file(path, ask=False)
    QApplication.processEvents()
    assert len(window.scene.node_items) == 11
    assert geo.TITLE_PIXELS * window.view.zoom() >= READABLE_PIXELS
    # What does not fit is the graph's end: its first node (top left) is in view.
    first = min(window.scene.node_items.values(),
                key=lambda item: (item.pos().y(), item.pos().x()))
    assert _visible(window).contains(first.sceneBoundingRect())

    window.view.set_zoom(0.2)
    canvas.shortcut("Home")  # Frame All
    assert geo.TITLE_PIXELS * window.view.zoom() >= READABLE_PIXELS


def test_titles_stay_drawn_when_zoomed_far_out(window):
    node_id = window.editor.add_node("test.filter", (0, 0))
    item = window.scene.node_items[node_id]
    window.view.set_zoom(0.3)
    window.view.centerOn(item.sceneBoundingRect().center())
    QApplication.processEvents()
    picture = window.view.viewport().grab().toImage()
    header = window.view.mapFromScene(item.mapToScene(item.geometry.header_rect)).boundingRect()
    header = header.adjusted(3, 2, -3, -2)  # inside the rounded corners
    fill = QColor(item.header_color())
    title = QColor(window.theme.color("node_title"))
    texty = 0
    for x in range(header.left(), header.right()):
        for y in range(header.top(), header.bottom()):
            pixel = picture.pixelColor(x, y)
            # Pixels nearer the title's colour than the header's: the title's strokes.
            if _distance(pixel, title) < _distance(pixel, fill):
                texty += 1
    assert texty >= 15, "no title drawn in the header at 30 % zoom"
    assert geo.title_font().pixelSize() == geo.TITLE_PIXELS  # the shared font is untouched


def _distance(a: QColor, b: QColor) -> int:
    return abs(a.red() - b.red()) + abs(a.green() - b.green()) + abs(a.blue() - b.blue())
