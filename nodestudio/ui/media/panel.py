"""The Outputs panel's player for files that are not still images: a video plays, a sound
shows its waveform, a mesh can be orbited. The gallery asks :meth:`MediaPreview.show_file`
first and shows its still-image preview when the file is none of these."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from nodestudio.ui.media.decode import (
    MediaError,
    VideoClip,
    media_kind,
    read_audio,
    read_mesh,
    read_video,
)
from nodestudio.ui.media.mesh_view import MeshRenderer, MeshView
from nodestudio.ui.media.video_player import VideoPlayer
from nodestudio.ui.media.waveform import AudioPlayer, waveform_image

#: Decoded files kept, so going back and forth between outputs does not decode again.
CACHE_SIZE = 3
THUMB = QSize(160, 100)


def read_media(path: Path, kind: str) -> Any:
    if kind == "video":
        return read_video(path)
    if kind == "audio":
        return read_audio(path)
    return read_mesh(path)


def media_thumbnail(path: Path) -> QImage | None:
    """A small picture of a sound (its waveform) or a mesh (rendered); None for other files
    (a video's thumbnail is its first frame, which the save node hands over)."""
    kind = media_kind(Path(path))
    try:
        if kind == "audio":
            waveform, _rate = read_audio(Path(path))
            return waveform_image(waveform, THUMB)
        if kind == "mesh":
            return MeshRenderer(*read_mesh(Path(path))).image(QSize(THUMB.height(),
                                                                    THUMB.height()))
        if kind == "video":
            clip = read_video(Path(path), limit=1)
            return clip.frames[0].scaled(THUMB.width(), THUMB.width(),
                                         Qt.AspectRatioMode.KeepAspectRatio)
    except MediaError:
        return None
    return None


class MediaPreview(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.video = VideoPlayer(self)
        self.audio = AudioPlayer(self)
        self.mesh = MeshView(self)
        self.message = QLabel(self)
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setObjectName("dim")
        self.pages: tuple[QWidget, ...] = (self.video, self.audio, self.mesh, self.message)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for page in self.pages:
            layout.addWidget(page)
            page.hide()
        self._current: QWidget | None = None
        #: Says when a long video shows only its first frames.
        self.note = QLabel(self)
        self.note.setObjectName("dim")
        self.note.setWordWrap(True)
        self.note.hide()
        layout.addWidget(self.note)
        self.kind: str | None = None
        #: What :meth:`show_file` could not show, in one sentence (None when it could).
        self.error: str | None = None
        self._cache: OrderedDict[Path, Any] = OrderedDict()
        self.setVisible(False)

    def show_file(self, path: Path | None) -> bool:
        """Show ``path`` if it is a video, sound or mesh (True); False for anything else."""
        self.video.pause()
        self.audio.stop()
        kind = media_kind(Path(path)) if path is not None else None
        self.kind, self.error = kind, None
        self.note.hide()
        if path is None or kind is None:
            return False
        try:
            value = self._decoded(Path(path), kind)
        except MediaError as error:
            self.error = str(error)
            self.message.setText(self.error)
            self._show(self.message)
            return True
        if kind == "video":
            assert isinstance(value, VideoClip)
            self.video.set_frames(value.frames, value.fps)
            self.note.setText(f"Showing the first {len(value.frames)} frames of {path.name}; "
                              "open the file in a video player for the rest.")
            self.note.setVisible(value.truncated)
            self._show(self.video)
        elif kind == "audio":
            waveform, rate = value
            self.audio.set_audio(waveform, rate, path=Path(path))
            self._show(self.audio)
        else:
            self.mesh.set_mesh(*value)
            self._show(self.mesh)
        return True

    def _show(self, page: QWidget) -> None:
        """Show ``page`` alone. A plain layout of which only one page is visible, not a
        QStackedWidget: a stack is as tall as its tallest page (the mesh view), which leaves
        gaps around a short video."""
        for other in self.pages:
            other.setVisible(other is page)
        self._current = page
        self.updateGeometry()

    def currentWidget(self) -> QWidget | None:
        return self._current

    def _decoded(self, path: Path, kind: str) -> Any:
        if path in self._cache:
            self._cache.move_to_end(path)
            return self._cache[path]
        if not path.is_file():
            raise MediaError(f"{path.name} is no longer in {path.parent}; it was moved or "
                             "deleted")
        value = read_media(path, kind)
        self._cache[path] = value
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return value
