"""Pictures into Load Image from the window (issue 13, item 4): the Browse… button on a node's
image widget, an image file dropped on such a node, or on the canvas (a new Load Image there).

The picked file is copied into the input folder (``nodestudio.app.input_files``) and the
node's value set by an undoable command; a drop that makes nodes is one undo step.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QPointF
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QFileDialog, QWidget

from nodestudio.api.schema import NodeType
from nodestudio.app.choices import IMAGE_SUFFIXES, input_images
from nodestudio.app.input_files import (
    InputFileError,
    carries_graph,
    import_input_image,
    is_image_file,
)
from nodestudio.ui.canvas.scene import NodeScene
from nodestudio.ui.canvas.view import NodeView
from nodestudio.ui.editor import GraphEditor

LOAD_IMAGE = "image.load"
FILE_SOURCE = "files:input"
#: Where each further dropped picture's node goes, from the one before.
DROP_STEP = (40.0, 40.0)
IMAGE_FILTER = ("Images (" + " ".join(f"*{suffix}" for suffix in IMAGE_SUFFIXES) + ");;"
                "All files (*)")


def image_input(node_type: NodeType | None) -> str | None:
    """The input of ``node_type`` that names a picture in the input folder, if it has one."""
    if node_type is None:
        return None
    return next((spec.name for spec in node_type.inputs
                 if spec.choices_source == FILE_SOURCE), None)


def choose_image_file(parent: QWidget, start: Path | None) -> Path | None:
    name, _ = QFileDialog.getOpenFileName(parent, "Choose a picture",
                                          str(start) if start else "", IMAGE_FILTER)
    return Path(name) if name else None


def empty_folder_hint(input_dir: Path | None) -> str | None:
    """What the image dropdown says while the input folder holds no picture, else None."""
    if input_dir is None or input_images(input_dir):
        return None
    return f"No pictures in {input_dir} yet: put some there, or Browse…"


class ImageInputs(QObject):
    """Browse… and image drops for one window's canvas."""

    def __init__(self, editor: GraphEditor, scene: NodeScene, view: NodeView,
                 report: Callable[[str, str], None]) -> None:
        super().__init__(view)
        self.editor, self.scene, self.view, self.report = editor, scene, view, report
        #: Replaceable in tests: (folder to start in) -> the picked file or None.
        self.choose_path: Callable[[Path | None], Path | None] = \
            lambda start: choose_image_file(view, start)
        scene.browse_image = self.browse
        scene.image_menu_hint = lambda: empty_folder_hint(self.input_dir)
        # Before the view's own handling, which opens every dropped file as a graph.
        view.viewport().installEventFilter(self)

    @property
    def input_dir(self) -> Path | None:
        return self.editor.choices.input_dir

    def browse(self, node_id: str, name: str) -> bool:
        """Ask for a picture and give it to the node's input ``name``."""
        path = self.choose_path(self.input_dir)
        return path is not None and self.set_image(node_id, name, path)

    def set_image(self, node_id: str, name: str, path: Path) -> bool:
        value = self._bring_in(path)
        if value is None:
            return False
        self.editor.set_value(node_id, name, value)
        return True

    def add_load_images(self, paths: list[Path], scene_pos: QPointF) -> list[str]:
        """A Load Image node per picture, from ``scene_pos`` on: one undo step."""
        if self.editor.registry.get(LOAD_IMAGE) is None:
            self.report("Cannot load the picture: no Load Image node is installed", "warning")
            return []
        names = [name for name in map(self._bring_in, paths) if name is not None]
        node_ids: list[str] = []
        if not names:
            return node_ids
        self.editor.undo_stack.beginMacro("Add Load Image" if len(names) == 1
                                          else f"Add {len(names)} Load Image nodes")
        try:
            for index, name in enumerate(names):
                pos = (round(scene_pos.x() + DROP_STEP[0] * index),
                       round(scene_pos.y() + DROP_STEP[1] * index))
                node_id = self.editor.add_node(LOAD_IMAGE, pos)
                self.editor.set_value(node_id, "image", name)
                node_ids.append(node_id)
        finally:
            self.editor.undo_stack.endMacro()
        self.scene.select_nodes(node_ids)
        return node_ids

    def _bring_in(self, path: Path) -> str | None:
        """The value naming ``path`` once it is in the input folder; None (and a message)
        when it cannot be. Without an input folder the absolute path is the value."""
        folder = self.input_dir
        try:
            if folder is None:
                if not is_image_file(path):
                    raise InputFileError(f"{path.name} is not a picture Load Image reads")
                return str(path.resolve())
            name = import_input_image(path, folder)
        except InputFileError as error:
            self.report(f"Cannot use the picture: {error}", "warning")
            return None
        self.editor.choices.refresh()  # the new file is a valid choice at once
        if name != path.name and not path.resolve().is_relative_to(folder.resolve()):
            self.report(f"Copied {path.name} into {folder} as {name}: a different file "
                        "there already had its name", "info")
        else:
            self.report(f"Using {folder / name}", "info")
        return name

    # -- drops ----------------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.Drop or not isinstance(event, QDropEvent):
            return False
        mime = event.mimeData()
        paths = [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]
        images = [path for path in paths if is_image_file(path) and path.is_file()]
        if not images:
            return False
        scene_pos = self.view.mapToScene(event.position().toPoint())
        if self._drop_on_node(images[0], scene_pos) or self._drop_on_canvas(images, scene_pos):
            event.acceptProposedAction()
            return True
        return False  # pictures that carry graphs: the view opens them

    def _drop_on_node(self, path: Path, scene_pos: QPointF) -> bool:
        item = self.scene.node_at(scene_pos)
        name = image_input(item.node_type) if item is not None else None
        if item is None or name is None:
            return False
        self.set_image(item.node_id, name, path)
        return True

    def _drop_on_canvas(self, images: list[Path], scene_pos: QPointF) -> bool:
        plain = [path for path in images if not carries_graph(path)]
        if not plain:
            return False
        self.add_load_images(plain, scene_pos)
        return True
