"""Take docs/screenshots/outputs_video.png, outputs_audio.png and outputs_mesh.png: the
Outputs panel playing a video, showing a sound's waveform and a mesh (docs only, not a test).

    QT_QPA_PLATFORM=offscreen python docs/screenshots/make_media_screenshots.py docs/screenshots

The files are made here (a short clip of a ball bouncing over a gradient, a chord that swells
and fades, a coloured torus), written as the Save nodes write them (MP4 H.264, FLAC, GLB), and
shown through the real gallery and players of the window's Outputs panel.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPOSITORY))

WIDTH, HEIGHT, FRAMES, FPS = 256, 160, 48, 24


def bouncing_ball() -> np.ndarray:
    """uint8 [F, H, W, 3]: a ball bouncing across a dusk gradient."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    sky = np.stack([0.15 + 0.5 * y / HEIGHT, 0.12 + 0.2 * x / WIDTH, 0.45 - 0.2 * y / HEIGHT],
                   axis=-1)
    frames = []
    for index in range(FRAMES):
        t = index / FRAMES
        cx = 30 + (WIDTH - 60) * t
        cy = HEIGHT - 30 - abs(np.sin(np.pi * 2 * t)) * (HEIGHT - 70)
        ball = ((x - cx) ** 2 + (y - cy) ** 2) < 18 ** 2
        shade = np.clip(1.1 - ((x - cx + 6) ** 2 + (y - cy + 6) ** 2) / 900, 0.35, 1.0)
        frame = sky.copy()
        frame[ball] = np.stack([shade, 0.55 * shade, 0.2 * shade], axis=-1)[ball]
        frame[HEIGHT - 12:] = [0.1, 0.25, 0.12]
        frames.append((np.clip(frame, 0, 1) * 255).astype(np.uint8))
    return np.stack(frames)


def write_video(path: Path, frames: np.ndarray) -> None:
    import av

    with av.open(str(path), "w", format="mp4") as output:
        stream = output.add_stream("libx264", rate=Fraction(FPS))
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for frame in frames:
            output.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        output.mux(stream.encode(None))


def write_chord(path: Path, rate: int = 44100, seconds: float = 4.0) -> None:
    import av

    t = np.arange(int(rate * seconds), dtype=np.float32) / rate
    envelope = np.sin(np.pi * t / seconds) ** 2 * (0.6 + 0.4 * np.sin(2 * np.pi * 1.5 * t))
    left = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) / 3
    right = sum(np.sin(2 * np.pi * f * t + 0.3) for f in (110.0, 164.8, 440.0)) / 3
    wave = np.ascontiguousarray(np.stack([left, right]) * envelope * 0.9, dtype=np.float32)
    with av.open(str(path), "w", format="flac") as output:
        stream = output.add_stream("flac", rate=rate, layout="stereo")
        frame = av.AudioFrame.from_ndarray(wave, format="fltp", layout="stereo")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            output.mux(packet)


def write_torus(path: Path) -> None:
    import trimesh

    torus = trimesh.creation.torus(major_radius=1.0, minor_radius=0.38, major_sections=48,
                                   minor_sections=24)
    angle = np.arctan2(torus.vertices[:, 1], torus.vertices[:, 0])
    colors = np.stack([0.55 + 0.45 * np.cos(angle), 0.5 + 0.4 * np.sin(angle),
                       0.85 - 0.3 * np.cos(angle)], axis=-1)
    torus.visual.vertex_colors = (np.c_[colors, np.ones(len(colors))] * 255).astype(np.uint8)
    torus.export(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    from PySide6.QtWidgets import QApplication

    from nodestudio.ui.outputs_dock import OutputsDock
    from nodestudio.ui.run.gallery import OutputGallery
    from nodestudio.ui.theme import DARK, apply_theme

    app = QApplication.instance() or QApplication(sys.argv)
    apply_theme(app, DARK)
    work = Path(tempfile.mkdtemp(prefix="nodestudio-media-"))
    frames = bouncing_ball()
    write_video(work / "NodeStudio_00001_.mp4", frames)
    write_chord(work / "NodeStudio_00001_.flac")
    write_torus(work / "NodeStudio_00001_.glb")
    dock = OutputsDock()
    gallery = OutputGallery(dock)
    dock.content_layout().addWidget(gallery, 1)
    dock.placeholder.hide()
    dock.resize(420, 540)
    gallery.add_file(work / "NodeStudio_00001_.glb", "Save Mesh", "9", 1)
    gallery.add_file(work / "NodeStudio_00001_.flac", "Save Audio", "7", 1)
    gallery.add_file(work / "NodeStudio_00001_.mp4", "Save Video", "5", 1,
                     pixels=frames[:1].astype(np.float32) / 255)
    dock.show()
    args.folder.mkdir(parents=True, exist_ok=True)
    for row, name, prepare in (
        (0, "outputs_video.png", lambda: gallery.media.video.seek(20)),
        (1, "outputs_audio.png", lambda: gallery.media.audio._show_position(1.6)),
        (2, "outputs_mesh.png", lambda: gallery.media.mesh.orbit(20, 10)),
    ):
        gallery.list.setCurrentRow(row)
        prepare()
        for _ in range(5):
            app.processEvents()
        dock.grab().save(str(args.folder / name))
        print(args.folder / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
