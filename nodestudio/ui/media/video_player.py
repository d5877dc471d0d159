"""A video in the Outputs panel: play/pause, a scrub slider, loop, frame step (buttons and the
←/→ keys, Space to play) and a frame counter. The frames are decoded up front (generated clips
are short; see :mod:`nodestudio.ui.media.decode`), so stepping and scrubbing are instant."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QKeyEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from nodestudio.ui.image_aspect import PictureAspect


class FrameView(PictureAspect, QWidget):
    """The current frame, as wide as the panel and as tall as its shape says."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image: QImage | None = None
        self.use_picture_aspect()

    def set_image(self, image: QImage | None) -> None:
        resized = (image is None or self.image is None or image.size() != self.image.size())
        self.image = image
        if resized:
            self.updateGeometry()
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(0, 0, 0))
        if self.image is not None and not self.image.isNull():
            size = self.image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
            x = (self.width() - size.width()) / 2
            y = (self.height() - size.height()) / 2
            # Smooth when shrinking; a small clip made larger shows its pixels as blocks.
            smooth = size.width() < self.image.width()
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
            painter.drawImage(QRectF(x, y, size.width(), size.height()), self.image)
        painter.end()


class VideoPlayer(QWidget):
    """Plays a list of frames at ``fps``; ``frame_changed(index)`` as each is shown."""

    frame_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.frames: list[QImage] = []
        self.fps = 24.0
        self.index = 0
        self.view = FrameView(self)
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)
        self.back_button = self._button("◀|", "Previous frame (←)", lambda: self.step(-1))
        self.play_button = self._button("▶", "Play / pause (Space)", self.toggle_play)
        self.play_button.setObjectName("mediaPlay")
        self.next_button = self._button("|▶", "Next frame (→)", lambda: self.step(1))
        self.loop_button = self._button("⟲", "Loop: start again at the end", None)
        self.loop_button.setCheckable(True)
        self.loop_button.setChecked(True)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.slider.valueChanged.connect(self.seek)
        self.counter = QLabel(self)
        self.counter.setObjectName("dim")
        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.setSpacing(4)
        for widget in (self.back_button, self.play_button, self.next_button):
            controls.addWidget(widget)
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.loop_button)
        controls.addWidget(self.counter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.view)
        layout.addLayout(controls)

    def _button(self, text: str, tip: str, handler: object) -> QToolButton:
        button = QToolButton(self)
        button.setText(text)
        button.setToolTip(tip)
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the keys stay with the player
        if handler is not None:
            button.clicked.connect(lambda _checked=False: handler())  # type: ignore[operator]
        return button

    # -- state ------------------------------------------------------------------------------------

    def set_frames(self, frames: list[QImage], fps: float) -> None:
        self.pause()
        self.frames = list(frames)
        self.fps = fps if fps > 0 else 24.0
        self.timer.setInterval(max(1, round(1000.0 / self.fps)))
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, len(self.frames) - 1))
        self.slider.blockSignals(False)
        self.index = -1
        self.seek(0)

    @property
    def loop(self) -> bool:
        return self.loop_button.isChecked()

    def set_loop(self, loop: bool) -> None:
        self.loop_button.setChecked(loop)

    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    def current_image(self) -> QImage | None:
        return self.frames[self.index] if 0 <= self.index < len(self.frames) else None

    # -- moving -----------------------------------------------------------------------------------

    def seek(self, index: int) -> None:
        """Show frame ``index`` (clamped to the clip)."""
        if not self.frames:
            self.view.set_image(None)
            self.counter.setText("no frames")
            return
        index = min(max(0, int(index)), len(self.frames) - 1)
        if index == self.index:
            return
        self.index = index
        self.view.set_image(self.frames[index])
        if self.slider.value() != index:
            self.slider.blockSignals(True)
            self.slider.setValue(index)
            self.slider.blockSignals(False)
        width = len(str(len(self.frames)))
        self.counter.setText(f"{index + 1:>{width}} / {len(self.frames)}")
        self.frame_changed.emit(index)

    def step(self, delta: int) -> None:
        """One frame on or back (pauses: stepping is for looking at single frames)."""
        self.pause()
        if self.frames:
            self.seek((self.index + delta) % len(self.frames) if self.loop
                      else self.index + delta)

    def play(self) -> None:
        if len(self.frames) < 2:
            return
        if self.index >= len(self.frames) - 1 and not self.loop:
            self.seek(0)  # Play at the end of a clip that does not loop starts it again
        self.timer.start()
        self.play_button.setText("⏸")

    def pause(self) -> None:
        self.timer.stop()
        self.play_button.setText("▶")

    def toggle_play(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def _tick(self) -> None:
        if self.index < len(self.frames) - 1:
            self.seek(self.index + 1)
        elif self.loop:
            self.seek(0)
        else:
            self.pause()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            self.step(-1 if key == Qt.Key.Key_Left else 1)
        elif key == Qt.Key.Key_Space:
            self.toggle_play()
        elif key == Qt.Key.Key_Home:
            self.pause()
            self.seek(0)
        elif key == Qt.Key.Key_End:
            self.pause()
            self.seek(len(self.frames) - 1)
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def hideEvent(self, event: object) -> None:
        self.pause()  # a hidden player must not keep a timer running
        super().hideEvent(event)  # type: ignore[arg-type]
