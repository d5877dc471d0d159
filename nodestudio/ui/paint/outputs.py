""""Edit Mask / Sketch…" on a picture of the Outputs panel: draw over what a run made.

The action adds a Load Image of the output file feeding a new Paint node (right of the
graph, selected) in one undo step and opens the editor over the picture. The file lies in the
output folder, which Load Image may not read without consent; choosing the action on it is
that consent, so its folder is allowed for this graph as the window's "Allow for This Graph"
would (nodestudio/ui/run/path_consent.py) and the next run does not ask again.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtGui import QImageReader

from nodestudio.ui.paint.editing import LOAD_IMAGE_TYPE, PAINT_TYPE, open_paint_editor

if TYPE_CHECKING:
    from nodestudio.ui.main_window import MainWindow
    from nodestudio.ui.paint.dialog import PaintEditor

#: Room between the graph and the new nodes, and between the two new nodes.
GAP = 80.0


def _right_of_graph(window: MainWindow) -> tuple[float, float]:
    """Where new nodes go: right of every node shown, level with the topmost one."""
    rects = [item.sceneBoundingRect() for node in window.editor.level
             if (item := window.node_item(node.id)) is not None]
    if not rects:
        center = window.view.scene_center()
        return center.x(), center.y()
    return max(r.right() for r in rects) + GAP, min(r.top() for r in rects)


def edit_problem(path: Path | None) -> str | None:
    """Why the picture at ``path`` cannot be drawn over, in one sentence (None when it can)."""
    if path is None:
        return ("This preview was not saved to a file: add a Save Image node, run again and "
                "edit the saved picture")
    if not path.is_file():
        return f"{path.name} is no longer in {path.parent}; it was moved or deleted"
    if not QImageReader(str(path)).canRead():
        return f"{path.name} is not a still picture the paint editor can open"
    return None


def paint_from_output(window: MainWindow, path: Path | None, show: bool = True
                      ) -> PaintEditor | None:
    """Add Load Image (of ``path``) → Paint as one undo step, allow the file's folder for this
    graph, select the Paint node and open its editor (None, reported, when it cannot)."""
    problem = edit_problem(Path(path) if path is not None else None)
    if problem is not None or path is None:
        window.report(f"Edit Mask / Sketch: {problem}", "warning")
        return None
    path = Path(path)
    registry = window.editor.registry
    if registry.get(PAINT_TYPE) is None or registry.get(LOAD_IMAGE_TYPE) is None:
        window.report("Edit Mask / Sketch needs the built-in Load Image and Paint nodes, which "
                      "are not loaded: reinstall NodeStudio's built-in node pack", "warning")
        return None
    controller = getattr(window, "run_controller", None)
    consent = getattr(controller, "consent", None)
    if consent is not None:
        consent.allow([path.parent])
    editor = window.editor
    x, y = _right_of_graph(window)
    stack = editor.undo_stack
    stack.beginMacro("Edit Mask / Sketch")
    try:
        load_id = editor.add_node(LOAD_IMAGE_TYPE, (round(x), round(y)))
        editor.set_value(load_id, "image", str(path))
        load_item = window.node_item(load_id)
        width = load_item.boundingRect().width() if load_item is not None else 220.0
        paint_id = editor.add_node(PAINT_TYPE, (round(x + width + GAP / 2), round(y)))
        linked = editor.connect(load_id, "image", paint_id, "image")
    finally:
        stack.endMacro()
    if not linked:
        return None
    window.scene.select_nodes([paint_id])
    return open_paint_editor(window, paint_id, show)
