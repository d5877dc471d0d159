"""Video, sound and mesh results in the window: the real Save Video / Save Audio / Save Mesh
nodes write files, the Outputs panel lists them with thumbnails and plays them; a long video
sampling run shows its middle frame live, keeps the bar honest and cancels within a step."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import Qt

from nodestudio.api import AUDIO, IMAGE, MESH, Audio, Int, Mesh, NodePack, Output, node
from nodestudio.app.packs import create_registry
from nodestudio.app.queue import CANCELLED, FINISHED

FRAMES = 6


def frame_level(index: int, frames: int) -> float:
    return (index + 1) / (frames + 1)


@node("media.frames", category="test", inputs=[Int("frames", FRAMES, min=1, max=64)],
      outputs=[Output("images", IMAGE)])
def make_frames(frames: int) -> np.ndarray:
    """Frame i is a flat grey whose level says which frame it is."""
    levels = np.array([frame_level(i, frames) for i in range(frames)], np.float32)
    return np.broadcast_to(levels[:, None, None, None], (frames, 32, 48, 3)).copy()


@node("media.tone", category="test", outputs=[Output("audio", AUDIO)])
def make_tone() -> Audio:
    time = np.arange(16000, dtype=np.float32) / 16000
    return Audio((0.5 * np.sin(2 * np.pi * 220 * time))[None], 16000)


@node("media.box", category="test", outputs=[Output("mesh", MESH)])
def make_box() -> Mesh:
    import trimesh

    box = trimesh.creation.box(extents=(1.0, 0.5, 0.5))
    colors = np.tile([0.9, 0.4, 0.1], (len(box.vertices), 1))
    return Mesh(box.vertices, box.faces, colors)


@node("media.video_sampler", category="test",
      inputs=[Int("steps", 4, min=1, max=10_000), Int("frames", 9, min=1, max=64)],
      outputs=[Output("images", IMAGE)])
def video_sampler(steps: int, frames: int, ctx: Any) -> np.ndarray:
    """Steps a [frames, h, w] video as a video sampler does: all frames each step, previews of
    the middle frame (the runtime's contract for 5-D latents), cancel checked every step."""
    video = np.zeros((frames, 16, 16, 3), np.float32)
    for step in range(steps):
        ctx.check_cancelled()
        threading.Event().wait(0.01)
        video[:, ..., 0] = (np.arange(frames) / frames)[:, None, None]  # red = frame position
        video[:, ..., 1] = (step + 1) / steps
        ctx.progress(step + 1, steps, preview=video[frames // 2][None])
    return video


@pytest.fixture
def media_kit(make_kit):
    registry = create_registry(entry_points=False)
    registry.add_pack(NodePack("media", [make_frames, make_tone, make_box, video_sampler]))
    return make_kit(registry=registry)


def test_video_sound_and_mesh_results_play_in_the_outputs_panel(media_kit):
    kit = media_kit
    editor = kit.window.editor
    frames = editor.add_node("media.frames", (0, 0))
    create = editor.add_node("video.create", (250, 0))
    save_video = editor.add_node("video.save", (500, 0))
    tone = editor.add_node("media.tone", (0, 300))
    save_audio = editor.add_node("audio.save", (250, 300))
    box = editor.add_node("media.box", (0, 500))
    save_mesh = editor.add_node("mesh.save", (250, 500))
    editor.set_value(create, "fps", 12.0)
    editor.connect(frames, "images", create, "images")
    editor.connect(create, "video", save_video, "video")
    editor.connect(tone, "audio", save_audio, "audio")
    editor.connect(box, "mesh", save_mesh, "mesh")
    job = kit.run(timeout=60_000)
    assert job.status == FINISHED, job.error

    gallery = kit.controller.gallery
    by_suffix = {entry.path.suffix: entry for entry in gallery.entries if entry.path}
    assert set(by_suffix) == {".mp4", ".flac", ".glb"}
    assert all(entry.thumb is not None and not entry.thumb.isNull()
               for entry in by_suffix.values())
    media = gallery.media

    gallery.list.setCurrentRow(gallery.entries.index(by_suffix[".mp4"]))
    assert media.kind == "video" and not media.isHidden() and gallery.preview.isHidden()
    player = media.video
    assert len(player.frames) == FRAMES and player.fps == pytest.approx(12.0)
    assert player.counter.text() == f"1 / {FRAMES}"
    for index in (0, 3, FRAMES - 1):
        player.seek(index)
        grey = player.current_image().pixelColor(24, 16).green()
        assert abs(grey - 255 * frame_level(index, FRAMES)) <= 4

    gallery.list.setCurrentRow(gallery.entries.index(by_suffix[".flac"]))
    assert media.kind == "audio" and media.currentWidget() is media.audio
    assert not player.playing  # leaving the video paused it
    assert media.audio.waveform_view.duration == pytest.approx(1.0, abs=1e-3)

    gallery.list.setCurrentRow(gallery.entries.index(by_suffix[".glb"]))
    assert media.kind == "mesh" and media.mesh.renderer is not None
    assert len(media.mesh.renderer.faces) == 12

    # A still image still shows in the large preview, not in the player.
    image_entry = gallery.add_image(np.ones((1, 8, 8, 3), np.float32), "Still", "x", None)
    assert gallery.current() is image_entry
    assert media.isHidden() and not gallery.preview.isHidden()
    assert gallery.preview.image is not None


def test_a_long_video_run_previews_its_middle_frame_and_cancels_within_a_step(media_kit, qtbot):
    kit = media_kit
    editor = kit.window.editor
    sampler = editor.add_node("media.video_sampler", (0, 0))
    preview = editor.add_node("image.preview", (300, 0))
    editor.connect(sampler, "images", preview, "images")
    editor.set_value(sampler, "steps", 6)
    job = kit.run()
    assert job.status == FINISHED
    events = kit.recorder.events("node_progress")
    assert [(e.done, e.total) for e in events] == [(step, 6) for step in range(1, 7)]

    # Live: the node showed the middle frame (red = 4/9) while it sampled.
    editor.set_value(sampler, "steps", 2000)  # 20 s if left alone
    shown: list[tuple[int, int, float]] = []
    status = kit.controller.status

    def seen(event: Any, _job: Any) -> None:
        item = kit.window.node_item(sampler)
        shown.append((event.done, status.bar.value(), item.preview.pixelColor(0, 0).redF()))

    kit.on_ui(kit.controller.bridge.node_progress, seen)
    emitted: list[int] = []
    kit.controller.bridge.node_progress.connect(lambda event, _job: emitted.append(event.done),
                                                Qt.ConnectionType.DirectConnection)
    jobs = kit.controller.run()
    assert jobs, "the graph did not validate"
    qtbot.waitUntil(lambda: len(shown) >= 3, timeout=10_000)
    kit.controller.cancel_action.trigger()
    at_cancel = len(emitted)
    kit.wait_done(jobs[0])
    assert jobs[0].status == CANCELLED
    assert len(emitted) - at_cancel <= 1  # the step under way may still report, no more
    assert emitted[-1] < 2000
    for done, bar, red in shown[:3]:
        assert bar == round(1000 * done / 2000)  # the bar is steps done of all steps
        assert red == pytest.approx(4 / 9, abs=0.01)
