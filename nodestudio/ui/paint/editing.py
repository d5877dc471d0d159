"""Opening the paint editor from the window, and landing its drawing on the graph.

The editor opens from a Paint node (double-click, or "Edit Mask / Sketch…" in its menu) and
from a Load Image node, whose "Edit Mask / Sketch…" adds a Paint node fed by that image. When
the editor applies, both stored layers change in one undoable graph edit.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QPointF, Qt
from PySide6.QtGui import QColor, QImage, QImageReader
from PySide6.QtWidgets import QMenu

from nodestudio.ui.paint.dialog import PaintEditor

if TYPE_CHECKING:
    from nodestudio.ui.main_window import MainWindow

PAINT_TYPE = "image.paint"
LOAD_IMAGE_TYPE = "image.load"
EDIT_TEXT = "Edit Mask / Sketch…"
#: Pictures larger than this are opened scaled down (their drawing is stretched back).
MAX_EDIT_SIDE = 8192


def _input_dir(window: MainWindow) -> Path | None:
    folder = getattr(window.editor.choices, "input_dir", None)
    return Path(folder) if folder else None


def _read_picture(window: MainWindow, name: str) -> QImage | None:
    """The picture a Load Image names, read as the node would find it, or None."""
    from nodestudio.app.path_rules import resolve_image_name

    folder = _input_dir(window)
    if not name.strip() or folder is None:  # no name chosen yet: the blank canvas
        return None
    path = resolve_image_name(name, folder)
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    image = reader.read()
    if image.isNull():
        return None
    if max(image.width(), image.height()) > MAX_EDIT_SIDE:
        image = image.scaled(MAX_EDIT_SIDE, MAX_EDIT_SIDE, Qt.AspectRatioMode.KeepAspectRatio)
    return image


def background_for(window: MainWindow, node_id: str) -> QImage:
    """What the Paint node draws over: the picture of the Load Image feeding it, else its
    blank canvas (width, height, colour)."""
    graph = window.editor.level
    node = graph.node(node_id)
    link = graph.link_into(node_id, "image")
    if link is not None:
        source = graph.node(link.source)
        if source.type == LOAD_IMAGE_TYPE:
            picture = _read_picture(window, str(source.values.get("image", "")))
            if picture is not None:
                return picture
    width = int(node.values.get("width", 512) or 512)
    height = int(node.values.get("height", 512) or 512)
    color = QColor(str(node.values.get("color", "#ffffff")))
    image = QImage(max(8, width), max(8, height), QImage.Format.Format_RGB32)
    image.fill(color if color.isValid() else QColor("white"))
    return image


def open_paint_editor(window: MainWindow, node_id: str, show: bool = True) -> PaintEditor:
    """Open the editor on a Paint node; its drawing lands on the node when it applies."""
    node = window.editor.level.node(node_id)
    editor = PaintEditor(background_for(window, node_id),
                         str(node.values.get("mask_png", "") or ""),
                         str(node.values.get("sketch_png", "") or ""),
                         title=node.title or "Paint", parent=window)
    editor.accepted.connect(lambda: apply_drawing(window, node_id, editor.values()))
    # With live mode on, each finished stroke lands on the node at once, so the picture
    # follows the drawing while the editor stays open.
    editor.canvas.stroke_finished.connect(lambda: _apply_live(window, node_id, editor))
    if show:
        editor.open()
    return editor


def _apply_live(window: MainWindow, node_id: str, editor: PaintEditor) -> None:
    if live_enabled(window):
        apply_drawing(window, node_id, editor.values())


def live_enabled(window: MainWindow) -> bool:
    live = window.findChild(QObject, "liveMode")
    return bool(live is not None and getattr(live, "enabled", False))


def apply_drawing(window: MainWindow, node_id: str, values: dict[str, str]) -> None:
    """Set the stored layers as one undoable edit (nothing when the drawing is unchanged)."""
    graph_editor = window.editor
    if node_id not in graph_editor.level:
        window.report("The Paint node was deleted while its editor was open: "
                      "the drawing was not applied", "warning")
        return
    node = graph_editor.level.node(node_id)
    changed = {name: value for name, value in values.items() if node.values.get(name) != value}
    if not changed:
        return
    stack = graph_editor.undo_stack
    stack.beginMacro("Paint")
    for name, value in changed.items():
        graph_editor.set_value(node_id, name, value)
    stack.endMacro()


def paint_from_load_image(window: MainWindow, load_id: str, show: bool = True
                          ) -> PaintEditor | None:
    """Add a Paint node fed by a Load Image (right of it) and open its editor."""
    graph_editor = window.editor
    item = window.node_item(load_id)
    pos = item.pos() + QPointF(item.boundingRect().width() + 60.0, 0.0) if item else QPointF()
    paint_id = graph_editor.add_node(PAINT_TYPE, (pos.x(), pos.y()))
    if not graph_editor.connect(load_id, "image", paint_id, "image"):
        return None
    return open_paint_editor(window, paint_id, show)


def add_context_entries(window: MainWindow, node_type: str, node_id: str, menu: QMenu) -> None:
    """"Edit Mask / Sketch…" in the right-click menu of Paint and Load Image nodes."""
    if window.editor.registry.get(PAINT_TYPE) is None:
        return
    if node_type == PAINT_TYPE:
        action = menu.addAction(EDIT_TEXT)
        action.triggered.connect(lambda: open_paint_editor(window, node_id))
    elif node_type == LOAD_IMAGE_TYPE:
        action = menu.addAction(EDIT_TEXT)
        action.triggered.connect(lambda: paint_from_load_image(window, node_id))
