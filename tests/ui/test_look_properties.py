"""Issue 13, item 8: the Properties panel shows a node's description and mode whole at its
default width, with no horizontal scrollbar."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QLabel, QWidget

from nodestudio.app.packs import create_registry
from nodestudio.ui.properties_dock import MIN_PANEL_WIDTH

#: Built-in nodes whose panels were wider than the dock: long labels, spin boxes with big
#: ranges, a long type id.
NODE_TYPES = ("math.float", "math.compare", "preprocess.lineart_standard",
              "diffusion.conditioning_set_area_percentage", "image.resize", "diffusion.sampler")


@pytest.fixture
def builtin_window(make_window):
    return make_window(create_registry(entry_points=False))


def _clipped(dock) -> list[str]:
    """The visible widgets of the panel that reach past its right edge, or labels whose
    wrapped text is taller than the room they got."""
    body = dock.scroll.widget()
    right = dock.scroll.viewport().width()
    problems = []
    for widget in body.findChildren(QWidget):
        if not widget.isVisibleTo(body):
            continue
        edge = widget.mapTo(body, QPoint(widget.width(), 0)).x()
        if edge > right:
            problems.append(f"{type(widget).__name__} ends at {edge} > {right}")
        if isinstance(widget, QLabel) and widget.wordWrap() \
                and widget.heightForWidth(widget.width()) > widget.height() + 1:
            problems.append(f"label {widget.text()[:30]!r} cut at the bottom")
    return problems


@pytest.mark.parametrize("width", [None, MIN_PANEL_WIDTH])
def test_the_panel_fits_description_and_mode_without_scrolling_sideways(builtin_window, width):
    window = builtin_window
    dock = window.properties_dock
    if width is not None:
        window.resizeDocks([dock], [width], Qt.Orientation.Horizontal)
        QApplication.processEvents()
        assert dock.width() <= width + 2
    assert dock.minimumWidth() >= MIN_PANEL_WIDTH  # it cannot be squeezed to nothing
    for type_id in NODE_TYPES:
        node_type = window.editor.registry.get(type_id)
        assert node_type is not None, type_id
        node_id = window.editor.add_node(type_id, (0, 0))
        window.scene.select_nodes([node_id])
        QApplication.processEvents()
        assert not dock.scroll.horizontalScrollBar().isVisible(), type_id
        assert _clipped(dock) == [], type_id
        body = dock.scroll.widget()
        descriptions = [label for label in body.findChildren(QLabel)
                        if label.text() == node_type.description]
        assert descriptions and descriptions[0].isVisible(), type_id
        mode = dock.editors["__mode__"]
        assert mode.isVisible() and mode.width() >= mode.minimumSizeHint().width(), type_id
