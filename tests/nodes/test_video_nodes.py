"""Video nodes in real graphs run by a Session: files written by PyAV / Pillow, read back by
them, frames through image nodes one by one, and the graph restored from the saved file."""

from __future__ import annotations

import shutil
from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

import nodestudio
from nodestudio.api import Audio, NodeError, Video
from nodestudio.app.settings import Settings
from nodestudio.graph.model import Graph

FRAMES, WIDTH, HEIGHT, FPS = 6, 32, 24, 12


def moving_square(frames: int = FRAMES) -> np.ndarray:
    """A white square on black moving right one step per frame (edges a Canny finds)."""
    clip = np.zeros((frames, HEIGHT, WIDTH, 3), np.float32)
    for index in range(frames):
        clip[index, 6:18, 2 + 2 * index:14 + 2 * index] = 1.0
    return clip


def write_test_mp4(path, frames: np.ndarray, fps: int) -> None:
    """An input video made with PyAV directly (not through the code under test)."""
    with av.open(str(path), "w", format="mp4") as output:
        stream = output.add_stream("libx264", rate=Fraction(fps))
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "0"}
        for pixels in (frames * 255).round().astype(np.uint8):
            output.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        output.mux(stream.encode(None))


def decode(path) -> tuple[np.ndarray, float, dict[str, str]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
        return frames.astype(np.float32) / 255.0, float(stream.average_rate), dict(
            container.metadata)


@pytest.fixture
def session(registry, folders):
    return nodestudio.Session(device="cpu", models_dir=folders.models, output_dir=folders.output,
                              input_dir=folders.input, registry=registry, settings=Settings())


def edges_graph(save_type: str, save_values: dict) -> Graph:
    """Load Video → Get Video Components → Canny (per frame) → Create Video → save."""
    graph = Graph()
    graph.add_node("video.load", {"file": "clip.mp4"}, id="load")
    graph.add_node("video.components", {}, id="parts")
    graph.add_node("preprocess.canny", {"low_threshold": 50, "high_threshold": 100}, id="canny")
    graph.add_node("video.create", {"fps": 8.0}, id="create")
    graph.add_node(save_type, save_values, id="save")
    graph.connect("load", "video", "parts", "video")
    graph.connect("parts", "images", "canny", "image")
    graph.connect("canny", "image", "create", "images")
    graph.connect("create", "video", "save", "video")
    return graph


def test_video_frames_go_through_a_preprocessor_one_by_one_and_save_as_mp4(
        session, folders, registry):
    write_test_mp4(folders.input / "clip.mp4", moving_square(), FPS)
    graph = edges_graph("video.save", {"filename_prefix": "clips/edges", "format": "mp4",
                                       "crf": 0})
    result = session.run(graph, outputs=["save", "parts", "canny"])
    assert result.ok
    frames_in = result.outputs["parts"]["images"]
    assert frames_in.shape == (FRAMES, HEIGHT, WIDTH, 3)
    assert result.outputs["parts"]["fps"] == pytest.approx(FPS)
    edges = result.outputs["canny"]["image"]
    # Per frame: the edges move with the square, two pixels a frame.
    columns = [np.flatnonzero(edges[i].max(axis=(0, 2)) > 0.5) for i in range(FRAMES)]
    assert [c.min() for c in columns] == [columns[0].min() + 2 * i for i in range(FRAMES)]
    [path] = result.files
    assert path.parent == folders.output / "clips" and path.name == "edges_00001_.mp4"
    frames, fps, tags = decode(path)
    assert frames.shape == (FRAMES, HEIGHT, WIDTH, 3)
    assert fps == pytest.approx(8.0)
    assert FRAMES / fps == pytest.approx(0.75)
    # crf 0 is near-lossless in luma; chroma is subsampled: the edges are still where they were.
    assert np.abs(frames.mean(axis=-1) - edges.mean(axis=-1)).mean() < 0.08
    assert "nodestudio" in tags
    reopened = session.load_graph(path)
    assert set(reopened.nodes) == set(graph.nodes)
    assert reopened.node("canny").values["low_threshold"] == 50


def test_save_video_keeps_sound_and_pads_odd_sizes(ctx, node):
    sound = Audio(np.sin(np.linspace(0, 440 * 2 * np.pi, 44100))[None].repeat(2, 0) * 0.5,
                  44100)
    clip = Video(np.full((5, 15, 17, 3), 0.5, np.float32), 10.0, sound)
    node("video.save").function(video=clip, filename_prefix="v", format="mp4", crf=18, ctx=ctx)
    [path] = ctx.files
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert (video.width, video.height) == (18, 16)  # yuv420p needs even sides
        assert audio.rate == 44100 and audio.channels == 2
        assert float(container.duration) / av.time_base == pytest.approx(1.0, abs=0.1)


def test_load_video_reads_back_what_save_video_wrote_with_sound(ctx, node, folders):
    sound = Audio(np.zeros((1, 11025), np.float32), 22050)  # half a second
    clip = Video(moving_square(4), 6.0, sound)
    node("video.save").function(video=clip, filename_prefix="round", format="webm", crf=10,
                                ctx=ctx)
    [path] = ctx.files
    shutil.copy(path, folders.input / path.name)
    loaded = node("video.load").function(file=path.name, ctx=ctx)
    assert loaded.frame_count == 4 and loaded.fps == pytest.approx(6.0)
    assert loaded.audio is not None and loaded.audio.sample_rate == 48000  # Opus runs at 48 kHz
    assert loaded.audio.duration == pytest.approx(0.5, abs=0.05)
    assert np.abs(loaded.frames - clip.frames).mean() < 0.05


def test_animated_webp_and_apng_keep_frames_timing(ctx, node, folders):
    frames = moving_square(5)
    node("video.save_webp").function(images=frames, filename_prefix="anim", fps=10.0,
                                     lossless=True, quality=80, method="fastest", ctx=ctx)
    node("video.save_apng").function(images=frames, filename_prefix="anim", fps=5.0,
                                     compress_level=1, ctx=ctx)
    webp, apng = ctx.files
    assert (webp.name, apng.name) == ("anim_00001_.webp", "anim_00001_.png")
    for path, delay in ((webp, 100), (apng, 200)):
        with Image.open(path) as picture:
            assert picture.n_frames == 5
            picture.seek(3)
            picture.load()  # WEBP reports a frame's duration once it is decoded
            assert picture.info["duration"] == delay
            assert np.array_equal(np.asarray(picture.convert("RGB")),
                                  (frames[3] * 255).astype(np.uint8))
    shutil.copy(webp, folders.input / webp.name)
    loaded = node("video.load").function(file=webp.name, ctx=ctx)
    assert loaded.frame_count == 5 and loaded.fps == pytest.approx(10.0)


def test_save_webm_from_image_frames(ctx, node):
    node("video.save_webm").function(images=moving_square(3), filename_prefix="w", fps=24.0,
                                     crf=30.0, ctx=ctx)
    frames, fps, _ = decode(ctx.files[0])
    assert frames.shape[0] == 3 and fps == pytest.approx(24.0)


def test_video_errors_are_one_sentence(ctx, node, folders):
    with pytest.raises(NodeError, match="not found"):
        node("video.load").function(file="missing.mp4", ctx=ctx)
    (folders.input / "notes.txt").write_text("hello")
    with pytest.raises(NodeError, match="not a video"):
        node("video.load").function(file="notes.txt", ctx=ctx)
    (folders.input / "broken.mp4").write_bytes(b"\x00" * 64)
    with pytest.raises(NodeError, match="cannot read the video"):
        node("video.load").function(file="broken.mp4", ctx=ctx)
    with pytest.raises(NodeError, match="make one with Create Video"):
        node("video.save").function(video=np.zeros((1, 4, 4, 3)), filename_prefix="x",
                                    format="mp4", crf=19, ctx=ctx)
    with pytest.raises(NodeError, match="outside the input folder"):
        node("video.load").function(file="/etc/passwd", ctx=ctx)
    assert not list(folders.output.rglob("*.mp4"))


def test_get_video_components_gives_silence_for_a_silent_video(node):
    images, audio, fps = node("video.components").function(video=Video(moving_square(3), 6.0))
    assert images.shape[0] == 3 and fps == 6.0
    assert audio.duration == pytest.approx(0.5) and not audio.waveform.any()
