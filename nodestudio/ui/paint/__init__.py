"""The mask and sketch editor of the Paint node (nodes/paint.py)."""

from nodestudio.ui.paint.dialog import PaintEditor
from nodestudio.ui.paint.editing import open_paint_editor, paint_from_load_image

__all__ = ["PaintEditor", "open_paint_editor", "paint_from_load_image"]
