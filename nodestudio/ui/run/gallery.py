"""The outputs gallery: the newest image large, thumbnails of the others; open full size,
reveal in the folder, copy, drag out, and open the graph that made an image."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData, QPoint, QSize, Qt, QUrl, Signal
from PySide6.QtGui import (
    QDesktopServices,
    QDrag,
    QGuiApplication,
    QIcon,
    QImage,
    QMouseEvent,
    QPixmap,
)
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QVBoxLayout,
    QWidget,
)

from nodestudio.ui.image_aspect import PictureAspect
from nodestudio.ui.media.decode import media_kind
from nodestudio.ui.media.panel import MediaPreview, media_thumbnail
from nodestudio.ui.run.images import read_thumbnail, thumbnail, to_qimage
from nodestudio.ui.run.viewer import ImageViewer

MAX_OUTPUTS = 300
ICON_SIZE = 92
EDIT_DRAWING_TEXT = "Edit Mask / Sketch…"


@dataclass
class OutputImage:
    """One image of the gallery: a file a node wrote, or an image a node showed."""

    title: str
    node_id: str
    job_id: int | None
    path: Path | None = None
    #: Kept for images that have no file (preview nodes); files are read when needed.
    image: QImage | None = None
    thumb: QImage | None = None

    def full_image(self) -> QImage | None:
        if self.image is not None:
            return self.image
        if self.path is not None:
            image = QImage(str(self.path))
            return None if image.isNull() else image
        return None


class ThumbnailList(QListWidget):
    """Thumbnails that can be dragged out of the window as files (and image data)."""

    def __init__(self, gallery: OutputGallery) -> None:
        super().__init__(gallery)
        self.gallery = gallery
        # The theme outlines the selected thumbnail (QListView#outputThumbnails) instead of
        # filling it with the accent.
        self.setObjectName("outputThumbnails")
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setIconSize(QSize(ICON_SIZE, ICON_SIZE))
        self.setGridSize(QSize(ICON_SIZE + 12, ICON_SIZE + 12))
        self.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.setMovement(QListWidget.Movement.Static)
        self.setUniformItemSizes(True)
        self.setSpacing(2)
        self.setDragEnabled(True)
        self.setDragDropMode(QListWidget.DragDropMode.DragOnly)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)

    def startDrag(self, supported: Qt.DropAction) -> None:
        entry = self.gallery.current()
        if entry is None:
            return
        drag = QDrag(self)
        drag.setMimeData(self.gallery.mime_data(entry))
        if entry.thumb is not None:
            drag.setPixmap(QPixmap.fromImage(entry.thumb.scaled(
                64, 64, Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation)))
        drag.exec(Qt.DropAction.CopyAction)


class LargePreview(PictureAspect, QLabel):
    """The selected (or newest) image, as wide as the dock, as tall as its shape says;
    a double-click opens it full size."""

    double_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setToolTip("Double-click to open full size")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.use_picture_aspect()
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.image: QImage | None = None

    def set_image(self, image: QImage | None) -> None:
        self.image = image
        self.updateGeometry()
        self._rescale()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.image is not None:
            self.double_clicked.emit()
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self.image is None or self.image.isNull():
            self.clear()
            return
        ratio = self.devicePixelRatioF()
        size = self.contentsRect().size() * ratio
        # Smooth when shrinking; a small image made larger shows its pixels as blocks.
        magnified = size.width() > self.image.width() and size.height() > self.image.height()
        mode = (Qt.TransformationMode.FastTransformation if magnified
                else Qt.TransformationMode.SmoothTransformation)
        pixmap = QPixmap.fromImage(self.image.scaled(
            size, Qt.AspectRatioMode.KeepAspectRatio, mode))
        pixmap.setDevicePixelRatio(ratio)
        self.setPixmap(pixmap)


class OutputGallery(QWidget):
    #: An image was added (OutputImage).
    added = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entries: list[OutputImage] = []
        #: Replaceable (tests, embedders): how folders are shown and graphs opened.
        self.open_url: Callable[[QUrl], object] = QDesktopServices.openUrl
        self.open_graph_file: Callable[[Path], object] = lambda path: None
        #: "Edit Mask / Sketch…": draw over an output (default: Load Image → Paint in the
        #: window that holds the panel, nodestudio/ui/paint/outputs.py).
        self.edit_drawing: Callable[[OutputImage], object] = self._edit_drawing
        #: The last context menu shown (tests trigger its actions).
        self.last_menu: QMenu | None = None
        self.viewers: list[ImageViewer] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.preview = LargePreview(self)
        # Videos, sounds and meshes play here instead of the still preview.
        self.media = MediaPreview(self)
        self.caption = QLabel(self)
        self.caption.setObjectName("dim")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption.setWordWrap(True)
        self.list = ThumbnailList(self)
        self.list.setMinimumHeight(ICON_SIZE + 20)
        layout.addWidget(self.preview)
        layout.addWidget(self.media)
        layout.addWidget(self.caption)
        layout.addWidget(self.list, 1)
        self.list.currentRowChanged.connect(self._show_current)
        self.list.itemDoubleClicked.connect(lambda _item: self.open_viewer())
        self.preview.double_clicked.connect(lambda: self.open_viewer())
        self.list.customContextMenuRequested.connect(self._context_menu)
        self.preview.customContextMenuRequested.connect(self._preview_menu)
        self.setVisible(False)

    # -- adding ---------------------------------------------------------------------------------

    def add_file(self, path: Path, title: str, node_id: str, job_id: int | None,
                 pixels: Any = None) -> OutputImage | None:
        """A file a node wrote; ``pixels`` (the image it saved) spares reading the file."""
        path = Path(path)
        if any(entry.path == path for entry in self.entries):
            return None  # a cached output node reports its files again
        image = to_qimage(pixels) if pixels is not None else None
        thumb = (thumbnail(image) if image is not None
                 else read_thumbnail(path) or media_thumbnail(path))
        return self._add(OutputImage(title, node_id, job_id, path=path, thumb=thumb))

    def add_image(self, pixels: Any, title: str, node_id: str, job_id: int | None
                  ) -> OutputImage | None:
        image = to_qimage(pixels)
        if image is None:
            return None
        return self._add(OutputImage(title, node_id, job_id, image=image,
                                     thumb=thumbnail(image)))

    def _add(self, entry: OutputImage) -> OutputImage:
        self.entries.insert(0, entry)
        item = QListWidgetItem()
        if entry.thumb is not None:
            pixmap = QPixmap.fromImage(entry.thumb)
            icon = QIcon(pixmap)
            # The same picture when selected: the style would tint it with the accent.
            icon.addPixmap(pixmap, QIcon.Mode.Selected)
            item.setIcon(icon)
        item.setToolTip(str(entry.path) if entry.path else f"{entry.title} (not saved)")
        self.list.insertItem(0, item)
        while len(self.entries) > MAX_OUTPUTS:
            self.entries.pop()
            self.list.takeItem(self.list.count() - 1)
        self.setVisible(True)
        self.list.setCurrentRow(0)
        self.added.emit(entry)
        return entry

    # -- showing --------------------------------------------------------------------------------

    def current(self) -> OutputImage | None:
        row = self.list.currentRow()
        return self.entries[row] if 0 <= row < len(self.entries) else None

    def _show_current(self, row: int) -> None:
        entry = self.entries[row] if 0 <= row < len(self.entries) else None
        media = entry is not None and self.media.show_file(entry.path)
        self.media.setVisible(media)
        self.preview.setVisible(not media)
        self.preview.set_image(entry.full_image() if entry is not None and not media else None)
        if entry is None:
            self.caption.clear()
        else:
            where = entry.path.name if entry.path is not None else "preview, not saved"
            self.caption.setText(f"{entry.title} · {where}")

    def open_viewer(self, entry: OutputImage | None = None) -> ImageViewer | None:
        entry = entry or self.current()
        image = entry.full_image() if entry is not None else None
        if entry is None or image is None:
            return None
        title = entry.path.name if entry.path is not None else entry.title
        viewer = ImageViewer(image, title, self.window())
        viewer.destroyed.connect(lambda _obj=None, v=viewer: self._forget_viewer(v))
        self.viewers.append(viewer)
        viewer.show()
        return viewer

    def _forget_viewer(self, viewer: ImageViewer) -> None:
        if viewer in self.viewers:
            self.viewers.remove(viewer)

    # -- actions --------------------------------------------------------------------------------

    def mime_data(self, entry: OutputImage) -> QMimeData:
        mime = QMimeData()
        if entry.path is not None:
            mime.setUrls([QUrl.fromLocalFile(str(entry.path))])
        image = entry.full_image()
        if image is not None:
            mime.setImageData(image)
        return mime

    def reveal(self, entry: OutputImage | None = None) -> bool:
        """Show the folder that holds the image in the file manager."""
        entry = entry or self.current()
        if entry is None or entry.path is None:
            return False
        return bool(self.open_url(QUrl.fromLocalFile(str(entry.path.parent))))

    def copy(self, entry: OutputImage | None = None) -> bool:
        entry = entry or self.current()
        if entry is None:
            return False
        QGuiApplication.clipboard().setMimeData(self.mime_data(entry))
        return True

    def open_graph(self, entry: OutputImage | None = None) -> bool:
        """Open the graph stored in the image's PNG (the window reports a PNG without one)."""
        entry = entry or self.current()
        if entry is None or entry.path is None:
            return False
        return bool(self.open_graph_file(entry.path))

    def _window(self) -> QWidget | None:
        """The main window holding the panel (a floating dock is a window of its own)."""
        widget = self.parentWidget()
        while widget is not None and not hasattr(widget, "run_controller"):
            widget = widget.parentWidget()
        return widget

    def _edit_drawing(self, entry: OutputImage) -> object:
        from nodestudio.ui.paint.outputs import paint_from_output

        window = self._window()
        return None if window is None else paint_from_output(window, entry.path)  # type: ignore[arg-type]

    def can_edit_drawing(self, entry: OutputImage) -> bool:
        """A still picture saved to a file (videos, sounds and meshes have no canvas)."""
        return entry.path is not None and media_kind(entry.path) is None

    def build_menu(self, entry: OutputImage) -> QMenu:
        """The right-click menu of one output, shared by the thumbnails and the large view."""
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.addAction("Open Full Size", lambda: self.open_viewer(entry))
        reveal = menu.addAction("Show in Folder", lambda: self.reveal(entry))
        menu.addAction("Copy Image", lambda: self.copy(entry))
        graph = menu.addAction("Open Its Graph", lambda: self.open_graph(entry))
        reveal.setEnabled(entry.path is not None)
        graph.setEnabled(entry.path is not None)
        menu.addSeparator()
        edit = menu.addAction(EDIT_DRAWING_TEXT, lambda: self.edit_drawing(entry))
        edit.setEnabled(self.can_edit_drawing(entry))
        if entry.path is None:
            edit.setToolTip("Only saved pictures can be drawn over")
        self.last_menu = menu
        return menu

    def _context_menu(self, pos: QPoint) -> None:
        item = self.list.itemAt(pos)
        if item is None:
            return
        self.list.setCurrentItem(item)
        entry = self.current()
        if entry is None:
            return
        self.build_menu(entry).popup(self.list.viewport().mapToGlobal(pos))

    def _preview_menu(self, pos: QPoint) -> None:
        entry = self.current()
        if entry is None or self.preview.image is None:
            return
        self.build_menu(entry).popup(self.preview.mapToGlobal(pos))
