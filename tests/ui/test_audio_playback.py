"""A sound result plays in the Outputs panel when Qt Multimedia is there (PySide6-Addons and
the system's libpulse): play moves the position line, pause stops it."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

try:
    from PySide6 import QtMultimedia  # noqa: F401
except ImportError as error:  # PySide6-Essentials alone, or no libpulse on the machine
    pytest.skip(f"Qt Multimedia is not available here: {error}", allow_module_level=True)

from nodestudio.ui.media.waveform import AudioPlayer

RATE = 22050


def _flac(path: Path, seconds: float) -> np.ndarray:
    import av

    tone = (0.5 * np.sin(np.linspace(0, 440 * 2 * np.pi * seconds, int(RATE * seconds))))
    tone = tone.astype(np.float32)[None]
    with av.open(str(path), "w", format="flac") as output:
        stream = output.add_stream("flac", rate=RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
        frame.sample_rate = RATE
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            output.mux(packet)
    return tone


def _wait(qtbot, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        qtbot.wait(20)


def test_play_moves_the_position_and_pause_holds_it(qtbot, tmp_path):
    path = tmp_path / "tone.flac"
    tone = _flac(path, 3.0)
    player = AudioPlayer()
    qtbot.addWidget(player)
    assert player.can_play and player.note.isHidden()
    player.set_audio(tone, RATE, path)
    assert player.play_button.isEnabled()
    player.toggle_play()
    qtbot.waitUntil(lambda: player.playing, timeout=5000)
    assert player.play_button.text() == "⏸"
    _wait(qtbot, 0.6)
    player.toggle_play()
    assert not player.playing and player.play_button.text() == "▶"
    held = player.waveform_view.position
    assert held > 0.1
    _wait(qtbot, 0.3)
    assert player.waveform_view.position == pytest.approx(held, abs=0.05)
