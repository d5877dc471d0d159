"""The Outputs panel's players: a video steps, scrubs, loops and plays its frames; a sound
draws its waveform; a mesh is painted and orbits. Files are real (written with PyAV and
trimesh) and read back through the panel's decoders."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QSize, Qt
from PySide6.QtGui import QColor, QImage

from nodestudio.api import Video
from nodestudio.ui.media import MediaPreview, MeshView, VideoPlayer, WaveformView, column_peaks
from nodestudio.ui.media.decode import (
    MediaError,
    frames_to_qimages,
    media_kind,
    read_audio,
    read_video,
)
from nodestudio.ui.media.mesh_view import BACKGROUND, MeshRenderer
from nodestudio.ui.media.waveform import LINE_COLOR, PLAYBACK_NOTE, WAVE_COLOR, AudioPlayer

FRAMES = 8
FPS = 25


def frame_red(index: int) -> int:
    """Frame ``index`` of the test clip is a flat colour whose red says which frame it is."""
    return 20 + index * 30


def write_clip(path: Path, frames: int = FRAMES, fps: int = FPS) -> Path:
    import av

    with av.open(str(path), "w", format="mp4") as output:
        stream = output.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"crf": "0"}
        for index in range(frames):
            pixels = np.zeros((48, 64, 3), np.uint8)
            pixels[..., 0], pixels[..., 2] = frame_red(index), 128
            output.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        output.mux(stream.encode(None))
    return path


def shown_red(player: VideoPlayer) -> int:
    """The red of the middle of what the player draws on screen."""
    picture = player.view.grab().toImage()
    return picture.pixelColor(picture.width() // 2, picture.height() // 2).red()


@pytest.fixture
def clip_player(qtbot, tmp_path: Path) -> tuple[MediaPreview, VideoPlayer]:
    panel = MediaPreview()
    qtbot.addWidget(panel)
    panel.resize(320, 300)
    assert panel.show_file(write_clip(tmp_path / "clip.mp4"))
    panel.show()
    qtbot.waitExposed(panel)
    return panel, panel.video


def test_a_video_file_shows_its_first_frame_and_steps_with_keys_and_buttons(clip_player, qtbot):
    panel, player = clip_player
    assert panel.kind == "video" and panel.currentWidget() is player and panel.error is None
    assert len(player.frames) == FRAMES and player.fps == pytest.approx(FPS)
    assert player.counter.text() == "1 / 8"
    assert abs(shown_red(player) - frame_red(0)) <= 4

    player.setFocus()
    qtbot.keyClick(player, Qt.Key.Key_Right)
    qtbot.keyClick(player, Qt.Key.Key_Right)
    assert player.index == 2 and player.counter.text() == "3 / 8"
    assert abs(shown_red(player) - frame_red(2)) <= 4
    qtbot.keyClick(player, Qt.Key.Key_Left)
    assert player.index == 1 and abs(shown_red(player) - frame_red(1)) <= 4
    qtbot.mouseClick(player.next_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(player.next_button, Qt.MouseButton.LeftButton)
    assert player.counter.text() == "4 / 8" and player.slider.value() == 3
    qtbot.mouseClick(player.back_button, Qt.MouseButton.LeftButton)
    assert player.index == 2


def test_scrubbing_shows_the_frame_under_the_slider(clip_player):
    _panel, player = clip_player
    player.slider.setValue(6)
    assert player.index == 6 and player.counter.text() == "7 / 8"
    assert abs(shown_red(player) - frame_red(6)) <= 4
    player.slider.setValue(99)  # past the end: the slider's range holds it at the last frame
    assert player.index == FRAMES - 1


def test_loop_wraps_and_without_it_playback_stops_on_the_last_frame(clip_player, qtbot):
    _panel, player = clip_player
    assert player.loop  # generated clips are short: looping is what the artist wants
    player.seek(FRAMES - 1)
    player.setFocus()
    qtbot.keyClick(player, Qt.Key.Key_Right)
    assert player.index == 0
    qtbot.keyClick(player, Qt.Key.Key_Left)
    assert player.index == FRAMES - 1

    player.set_loop(False)
    shown: list[int] = []
    player.frame_changed.connect(shown.append)
    qtbot.keyClick(player, Qt.Key.Key_Space)  # at the end without loop: plays from the start
    assert player.playing and player.play_button.text() == "⏸"
    qtbot.waitUntil(lambda: not player.playing, timeout=5000)
    assert shown == list(range(FRAMES))
    assert player.index == FRAMES - 1 and player.play_button.text() == "▶"

    player.set_loop(True)
    shown.clear()
    player.play()
    qtbot.waitUntil(lambda: len(shown) >= FRAMES + 2, timeout=5000)
    player.pause()
    assert shown[:FRAMES + 2] == [0, 1, 2, 3, 4, 5, 6, 7, 0, 1]


def test_a_long_video_shows_its_first_frames_and_says_so(qtbot, tmp_path, monkeypatch):
    from nodestudio.ui.media import decode

    monkeypatch.setattr(decode, "MAX_FRAMES", 5)
    panel = MediaPreview()
    qtbot.addWidget(panel)
    assert panel.show_file(write_clip(tmp_path / "long.mp4"))
    assert len(panel.video.frames) == 5 and panel.video.counter.text() == "1 / 5"
    assert not panel.note.isHidden() and "first 5 frames of long.mp4" in panel.note.text()
    assert panel.show_file(write_clip(tmp_path / "short.mp4", frames=4))
    assert panel.note.isHidden() and len(panel.video.frames) == 4


def test_in_memory_frames_play_too(qtbot):
    frames = np.zeros((3, 10, 16, 3), np.float32)
    frames[1, ..., 1] = 1.0  # the middle frame is green
    clip = Video(frames, fps=12)
    player = VideoPlayer()
    qtbot.addWidget(player)
    player.set_frames(frames_to_qimages(clip.frames), clip.fps)
    player.step(1)
    assert player.current_image().pixelColor(8, 5) == QColor(0, 255, 0)
    assert player.timer.interval() == round(1000 / 12)


def test_a_broken_video_file_is_one_sentence_not_a_crash(qtbot, tmp_path: Path):
    panel = MediaPreview()
    qtbot.addWidget(panel)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 10)
    assert panel.show_file(broken)
    assert panel.currentWidget() is panel.message
    assert "broken.mp4" in panel.error and "damaged or not a video" in panel.error
    assert panel.show_file(tmp_path / "picture.png") is False  # a still image: the gallery's


def test_pictures_over_pillows_size_limit_are_stills_and_clips_say_why_they_cannot_play(
        tmp_path: Path, monkeypatch):
    from PIL import Image

    still, clip = tmp_path / "upscaled.png", tmp_path / "clip.webp"
    Image.new("RGB", (40, 40), "red").save(still)
    frames = [Image.new("RGB", (40, 40), colour) for colour in ("red", "blue")]
    frames[0].save(clip, save_all=True, append_images=frames[1:], duration=100)
    assert media_kind(clip) == "video"
    # 1,600 pixels play the part of a 32K upscale: over twice the limit, Pillow refuses them.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 700)
    assert media_kind(still) is None  # a still picture, for the gallery: no exception
    assert media_kind(clip) is None  # Pillow will not say how many frames: the gallery's
    with pytest.raises(MediaError) as refused:
        read_video(clip)
    assert str(refused.value) == ("cannot play clip.webp: its frames are larger than the "
                                  "pictures the panel shows (Pillow's decompression-bomb limit)")


# -- sound -------------------------------------------------------------------------------------

def test_column_peaks_of_a_known_signal():
    # 1000 samples: silence, then a ±0.5 square wave; one channel louder on a single sample.
    wave = np.zeros((2, 1000), np.float32)
    wave[:, 500:] = np.where(np.arange(500) % 2 == 0, 0.5, -0.5)
    wave[1, 250] = 0.9
    low, high = column_peaks(wave, 100)
    assert low.shape == high.shape == (100,)
    assert high[25] == pytest.approx(0.9) and low[25] == 0.0
    quiet = np.delete(np.arange(50), 25)
    assert np.all(low[quiet] == 0.0) and np.all(high[quiet] == 0.0)
    assert np.all(high[50:] == 0.5) and np.all(low[50:] == -0.5)
    # Fewer samples than columns: each column shows the sample under it.
    low, high = column_peaks(np.array([0.1, -0.2, 0.3], np.float32), 6)
    assert high.tolist() == pytest.approx([0.1, 0.1, -0.2, -0.2, 0.3, 0.3])


def test_the_waveform_widget_draws_every_column_and_the_position_line(qtbot):
    view = WaveformView()
    qtbot.addWidget(view)
    view.resize(200, 100)
    wave = np.zeros((1, 48000), np.float32)
    wave[0, 24000:] = np.where(np.arange(24000) % 2 == 0, 0.8, -0.8)  # loud second half
    view.set_audio(wave, 48000)
    picture = view.grab().toImage()
    assert picture.width() == 200

    def wave_columns(image: QImage, y: int) -> list[int]:
        return [x for x in range(image.width()) if image.pixelColor(x, y) == WAVE_COLOR]

    # 25 px above the middle is 0.5 of the height: only the loud half reaches it, in every
    # one of its columns (the line at x = 0 hides nothing there).
    assert wave_columns(picture, 25) == list(range(100, 200))
    assert wave_columns(picture, 75) == list(range(100, 200))
    view.set_position(0.5)  # half of the one-second sound
    assert view.position_x() == pytest.approx(100.0)
    moved = view.grab().toImage()
    assert moved.pixelColor(100, 10) == LINE_COLOR
    assert 100 not in wave_columns(moved, 25)
    # A click seeks there.
    seeks: list[float] = []
    view.seek.connect(seeks.append)
    from pytestqt.qtbot import QtBot

    QtBot.mouseClick(view, Qt.MouseButton.LeftButton, pos=QPoint(50, 50))
    assert seeks == [pytest.approx(0.25)]


def test_a_sound_file_shows_its_waveform_and_says_what_playback_needs(qtbot, tmp_path: Path):
    import av

    path = tmp_path / "tone.flac"
    rate = 22050
    tone = (0.6 * np.sin(np.linspace(0, 440 * 2 * np.pi, rate))).astype(np.float32)[None]
    with av.open(str(path), "w", format="flac") as output:
        stream = output.add_stream("flac", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    assert media_kind(path) == "audio"
    waveform, read_rate = read_audio(path)
    assert read_rate == rate and waveform.shape == (1, rate)
    assert np.abs(waveform - tone).max() < 1e-3  # FLAC is lossless (16-bit)

    panel = MediaPreview()
    qtbot.addWidget(panel)
    assert panel.show_file(path) and panel.currentWidget() is panel.audio
    player: AudioPlayer = panel.audio
    assert player.waveform_view.duration == pytest.approx(1.0)
    assert "0:01.00" in player.time_label.text() and "22050 Hz" in player.time_label.text()
    if not player.can_play:  # PySide6-Essentials: no Qt Multimedia
        assert not player.play_button.isEnabled()
        assert player.note.text() == PLAYBACK_NOTE and not player.note.isHidden()
        player.toggle_play()  # does nothing, raises nothing
        assert not player.playing


# -- meshes ------------------------------------------------------------------------------------

def two_squares() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A green square in front (z = +0.5) of a red one (z = −0.5), both facing the viewer."""
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float32)
    vertices = np.concatenate([np.c_[corners, np.full(4, 0.5)],
                               np.c_[corners * 0.8, np.full(4, -0.5)]]).astype(np.float32)
    faces = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])
    colors = np.array([[0, 1, 0]] * 4 + [[1, 0, 0]] * 4, np.float32)
    return vertices, faces, colors


def drawn_pixels(image: QImage) -> int:
    array = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), -1)
    pixels = array[:, :image.width() * 4].reshape(image.height(), image.width(), 4)[..., :3]
    background = np.array([BACKGROUND.blue(), BACKGROUND.green(), BACKGROUND.red()])
    return int(np.any(pixels != background, axis=-1).sum())


def test_the_mesh_view_paints_near_over_far_and_orbiting_turns_it(qtbot):
    view = MeshView()
    qtbot.addWidget(view)
    view.resize(200, 200)
    view.set_mesh(*two_squares())
    view.yaw = view.pitch = 0.0
    front = view.grab().toImage()
    centre = front.pixelColor(100, 100)
    assert centre.green() > 100 and centre.red() == 0  # the near (green) square covers
    assert drawn_pixels(front) > 0.3 * 200 * 200

    view.orbit(360.0, 0.0)  # 180° round: the red square is in front now
    assert view.yaw == pytest.approx(180.0)
    behind = view.grab().toImage()
    centre = behind.pixelColor(100, 100)
    assert centre.red() > 100 and centre.green() == 0

    view.orbit(180.0, 0.0)  # edge on (270°): only the slant the perspective shows
    assert drawn_pixels(view.grab().toImage()) < 0.25 * drawn_pixels(front)


def test_dragging_orbits_and_the_wheel_zooms_a_mesh_file(qtbot, tmp_path: Path):
    import trimesh

    box = trimesh.creation.box(extents=(1.0, 0.6, 0.4))
    box.visual.vertex_colors = np.tile([200, 120, 40, 255], (len(box.vertices), 1))
    path = tmp_path / "box.ply"
    box.export(path)
    panel = MediaPreview()
    qtbot.addWidget(panel)
    panel.resize(240, 240)
    assert panel.show_file(path) and panel.currentWidget() is panel.mesh
    view = panel.mesh
    panel.show()
    qtbot.waitExposed(panel)
    before = view.grab().toImage()
    assert drawn_pixels(before) > 500
    (yaw, pitch) = (view.yaw, view.pitch)
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
    qtbot.mouseMove(view, QPoint(160, 120))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(160, 120))
    assert view.yaw != yaw and view.pitch != pitch
    after = view.grab().toImage()
    assert after != before
    small = drawn_pixels(after)
    view.zoom_by(1.5)
    assert drawn_pixels(view.grab().toImage()) > 1.5 * small


def test_the_renderer_makes_a_thumbnail_of_the_colours():
    image = MeshRenderer(*two_squares()).image(QSize(64, 64), yaw=0.0, pitch=0.0)
    assert image.pixelColor(32, 32).green() > 100
