"""The Qt front end: main window, node canvas, docks, undo stack, theme.

Everything that imports Qt lives in this package. The canvas observes a
:class:`nodestudio.graph.model.Graph` and sends edits back as undoable commands that call the
model's methods (see :mod:`nodestudio.ui.editor`).
"""

from nodestudio.ui import _pyside_workarounds  # noqa: F401  (before any painting)
