"""Sound in the Outputs panel: the waveform (min/max per pixel column), a position line, and
play/pause where Qt Multimedia is installed (PySide6-Essentials lacks it: then the waveform
is shown with a note saying what playback needs, never an error)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

WAVE_COLOR = QColor(96, 165, 250)
LINE_COLOR = QColor(250, 204, 21)
BACKGROUND = QColor(24, 24, 28)
PLAYBACK_NOTE = ("Audio playback needs Qt Multimedia (pip install PySide6-Addons); "
                 "the waveform is shown.")


def column_peaks(waveform: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """The lowest and highest sample (over all channels) under each of ``columns`` pixel
    columns: what a waveform draws, however long the sound."""
    wave = np.asarray(waveform, dtype=np.float32)
    if wave.ndim == 1:
        wave = wave[None]
    columns = max(1, int(columns))
    count = wave.shape[-1] if wave.size else 0
    if count == 0:
        return np.zeros(columns, np.float32), np.zeros(columns, np.float32)
    low = np.nan_to_num(wave.min(axis=0))
    high = np.nan_to_num(wave.max(axis=0))
    # Column i covers samples [i·n/c, (i+1)·n/c); with fewer samples than columns a column
    # shows the sample under it (reduceat gives the single start value then).
    starts = np.minimum((np.arange(columns) * count) // columns, count - 1)
    return np.minimum.reduceat(low, starts), np.maximum.reduceat(high, starts)


def paint_waveform(painter: QPainter, width: int, height: int, waveform: np.ndarray,
                   color: QColor = WAVE_COLOR) -> None:
    """One vertical line per pixel column, from the column's lowest to its highest sample."""
    low, high = column_peaks(waveform, width)
    middle, half = height / 2.0, max(1.0, height / 2.0 - 2.0)
    painter.setPen(QPen(color, 1.0))
    tops = middle - np.clip(high, -1.0, 1.0) * half
    bottoms = middle - np.clip(low, -1.0, 1.0) * half
    for x in range(width):
        painter.drawLine(QPointF(x + 0.5, tops[x]), QPointF(x + 0.5, bottoms[x] + 0.01))


def waveform_image(waveform: np.ndarray, size: QSize) -> QImage:
    """The waveform as a picture (gallery thumbnails)."""
    image = QImage(size, QImage.Format.Format_RGB32)
    image.fill(BACKGROUND)
    painter = QPainter(image)
    paint_waveform(painter, size.width(), size.height(), waveform)
    painter.end()
    return image


class WaveformView(QWidget):
    """Draws the sound; a click or drag moves the position (``seek`` says to where, in s)."""

    seek = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(80)
        policy = QSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.waveform = np.zeros((1, 0), np.float32)
        self.sample_rate = 1
        #: Where playback is, in seconds (the yellow line).
        self.position = 0.0

    def set_audio(self, waveform: np.ndarray, sample_rate: int) -> None:
        self.waveform = np.asarray(waveform, dtype=np.float32)
        self.sample_rate = max(1, int(sample_rate))
        self.position = 0.0
        self.update()

    @property
    def duration(self) -> float:
        return self.waveform.shape[-1] / self.sample_rate

    def set_position(self, seconds: float) -> None:
        self.position = min(max(0.0, seconds), self.duration)
        self.update()

    def position_x(self) -> float:
        """Where the position line is drawn, in widget pixels."""
        return self.position / self.duration * self.width() if self.duration else 0.0

    def sizeHint(self) -> QSize:
        return QSize(320, self.heightForWidth(320))

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        # Wide enough to read the shape, short enough to leave the thumbnails room.
        return max(80, min(240, round(width * 0.5)))

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        paint_waveform(painter, self.width(), self.height(), self.waveform)
        painter.setPen(QPen(LINE_COLOR, 2.0))
        x = self.position_x()
        painter.drawLine(QPointF(x, 0), QPointF(x, self.height()))
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._seek_to(event.position().x())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._seek_to(event.position().x())

    def _seek_to(self, x: float) -> None:
        if self.width() > 0 and self.duration:
            self.set_position(x / self.width() * self.duration)
            self.seek.emit(self.position)


def _multimedia() -> Any:
    """Qt Multimedia's module, or None where it is not installed."""
    try:
        return importlib.import_module("PySide6.QtMultimedia")
    except ImportError:
        return None


class AudioPlayer(QWidget):
    """The waveform with play/pause and the time; playback through Qt Multimedia if there."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.waveform_view = WaveformView(self)
        self.play_button = QToolButton(self)
        self.play_button.setObjectName("mediaPlay")
        self.play_button.setText("▶")
        self.time_label = QLabel(self)
        self.time_label.setObjectName("dim")
        self.note = QLabel(self)
        self.note.setObjectName("dim")
        self.note.setWordWrap(True)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.play_button)
        row.addWidget(self.time_label, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.waveform_view)
        layout.addLayout(row)
        layout.addWidget(self.note)
        self.path: Path | None = None
        self._player: Any = None
        self._build_playback()
        self.play_button.clicked.connect(self.toggle_play)
        self.waveform_view.seek.connect(self._seeked)

    def _build_playback(self) -> None:
        module = _multimedia()
        self.can_play = module is not None
        if module is None:
            self.play_button.setEnabled(False)
            self.play_button.setToolTip(PLAYBACK_NOTE)
            self.note.setText(PLAYBACK_NOTE)
            return
        self.note.hide()
        self._player = module.QMediaPlayer(self)
        self._output = module.QAudioOutput(self)
        self._player.setAudioOutput(self._output)
        self._player.positionChanged.connect(lambda ms: self._show_position(ms / 1000.0))
        self._player.playbackStateChanged.connect(lambda _state: self._sync_button())
        # The line moves smoothly between the player's (coarse) position reports.
        self._tick = QTimer(self)
        self._tick.setInterval(40)
        self._tick.timeout.connect(lambda: self._show_position(self._player.position() / 1000))

    def set_audio(self, waveform: np.ndarray, sample_rate: int, path: Path | None = None) -> None:
        self.path = path
        self.waveform_view.set_audio(waveform, sample_rate)
        if self._player is not None:
            self._player.stop()
            self._player.setSource(QUrl.fromLocalFile(str(path)) if path else QUrl())
            self.play_button.setEnabled(path is not None)
        self._show_position(0.0)

    @property
    def playing(self) -> bool:
        if self._player is None:
            return False
        return bool(self._player.isPlaying())

    def toggle_play(self) -> None:
        if self._player is None:
            return
        if self.playing:
            self._player.pause()
            self._tick.stop()
        else:
            self._player.play()
            self._tick.start()
        self._sync_button()

    def stop(self) -> None:
        if self._player is not None:
            self._player.stop()
            self._tick.stop()
            self._sync_button()

    def _sync_button(self) -> None:
        self.play_button.setText("⏸" if self.playing else "▶")

    def _seeked(self, seconds: float) -> None:
        if self._player is not None:
            self._player.setPosition(round(seconds * 1000))
        self._show_position(seconds)

    def _show_position(self, seconds: float) -> None:
        view = self.waveform_view
        view.set_position(seconds)
        self.time_label.setText(f"{_clock(view.position)} / {_clock(view.duration)}"
                                f"   ·   {view.sample_rate} Hz")


def _clock(seconds: float) -> str:
    minutes, rest = divmod(max(0.0, seconds), 60.0)
    return f"{int(minutes)}:{rest:05.2f}"
