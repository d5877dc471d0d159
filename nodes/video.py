"""Video nodes: make a video of image frames and take it apart, load and save video files.

A video's frames are an IMAGE batch, so every image node and ControlNet preprocessor works on
a video frame by frame: Get Video Components → image nodes → Create Video.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nodestudio.api import (
    AUDIO,
    FLOAT,
    IMAGE,
    VIDEO,
    Audio,
    Boolean,
    Choice,
    Float,
    Input,
    Int,
    NodeContext,
    NodeError,
    Output,
    String,
    Video,
    node,
)

from ._imaging import as_image_batch
from ._media_io import read_video, save_numbered, write_animation, write_video
from ._saving import cannot_save, metadata_chunks, resolve_output_prefix
from .image import readable_roots, resolve_input_image

VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".mov", ".avi", ".webp", ".gif", ".apng")
#: Save Video's formats: MP4 (H.264) plays everywhere, WEBM (VP9) in browsers, WEBP in image
#: viewers too.
VIDEO_FORMATS = ("mp4", "webm", "webp")
WEBP_METHODS = ("default", "fastest", "slowest")
_WEBP_METHOD_LEVELS = {"default": 4, "fastest": 0, "slowest": 6}


def as_video(value: Any, what: str = "video") -> Video:
    if not isinstance(value, Video):
        raise NodeError(f"{what}: expected a video (frames and frames per second), got "
                        f"{type(value).__name__}; make one with Create Video")
    return value


def allowed_input_file(name: str, ctx: Any, what: str) -> Path:
    """The input file ``name`` names (input folder or absolute path), refused outside the
    folders this run may read, and required to exist."""
    input_dir = Path(ctx.input_dir)
    if not name.strip():
        raise NodeError(f"choose a {what} file: put it in the input folder {input_dir} and "
                        "pick it, or type an absolute path")
    path = resolve_input_image(name, input_dir)
    if not any(path.is_relative_to(root) for root in readable_roots(ctx)):
        raise NodeError(f"may not read {path}: it is outside the input folder {input_dir}; "
                        "allow its folder first (nodestudio run --allow-path DIR, or the "
                        "window's Run prompt)")
    if not path.is_file():
        raise NodeError(f"{what} file not found: {path} (input folder: {input_dir})")
    return path


def input_file_fingerprint(ctx: Any = None, **values: Any) -> Any:
    """Changes when the named file does (path, modification time, size)."""
    if ctx is None:
        raise LookupError("no input folder to resolve the file name against")
    name = str(next(iter(values.values()), ""))
    try:
        status = allowed_input_file(name, ctx, "input").stat()
    except (NodeError, OSError):
        return ("missing", name)
    return (name, status.st_mtime_ns, status.st_size)


@node(
    "video.create",
    display_name="Create Video",
    category="video",
    description="Makes a video of image frames (an image batch, one image per frame) played at "
                "'fps' frames per second, with an optional sound track.",
    inputs=[
        Input("images", IMAGE, description="The frames, in order"),
        Float("fps", 24.0, min=0.01, max=1000.0, step=1.0),
        Input("audio", AUDIO, optional=True),
    ],
    outputs=[Output("video", VIDEO)],
)
def create_video(images: Any, fps: float, audio: Audio | None = None) -> Video:
    if audio is not None and not isinstance(audio, Audio):
        raise NodeError(f"audio: expected sound, got {type(audio).__name__}")
    return Video(as_image_batch(images, "images"), fps, audio)


@node(
    "video.components",
    display_name="Get Video Components",
    category="video",
    description="Takes a video apart: its frames as an image batch (for image nodes, frame by "
                "frame), its sound (none: silence of the video's length) and its frame rate.",
    inputs=[Input("video", VIDEO)],
    outputs=[Output("images", IMAGE), Output("audio", AUDIO), Output("fps", FLOAT)],
)
def video_components(video: Any) -> tuple[np.ndarray, Audio, float]:
    clip = as_video(video)
    # Silence rather than nothing, so a linked sound input downstream always gets a value.
    audio = clip.audio or Audio(np.zeros((1, max(1, round(clip.duration * 44100))),
                                         np.float32), 44100)
    return clip.frames, audio, clip.fps


@node(
    "video.load",
    display_name="Load Video",
    category="video",
    description="Loads a video from the input folder (or an absolute path): MP4, WEBM, MKV, "
                "MOV, animated WEBP/GIF/PNG. All frames become the video's frames.",
    inputs=[Choice("file", source="files:input_video",
                   description="File name in the input folder, or an absolute path")],
    outputs=[Output("video", VIDEO)],
    deterministic=False,
    fingerprint=input_file_fingerprint,
)
def load_video(file: str, ctx: NodeContext) -> Video:
    path = allowed_input_file(file, ctx, "video")
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise NodeError(f"{path.name} is not a video Load Video reads "
                        f"({', '.join(VIDEO_SUFFIXES)})")
    return read_video(path)


def _report(ctx: NodeContext, path: Path, frames: np.ndarray) -> None:
    # The Outputs panel lists the file; the node shows the first frame as its thumbnail.
    ctx.add_file(path)
    ctx.show_image(frames[:1])


@node(
    "video.save",
    display_name="Save Video",
    category="video",
    description="Saves a video in the output folder as <prefix>_00001_.mp4 (H.264), .webm (VP9) "
                "or .webp (animated), never overwriting a file. MP4 and WEBM keep the sound. "
                "The file carries the graph: open it to get the graph back.",
    inputs=[
        Input("video", VIDEO),
        String("filename_prefix", "video/NodeStudio",
               description="Start of the file name; may include sub-folders of the output folder"),
        Choice("format", VIDEO_FORMATS, "mp4"),
        Int("crf", 19, min=0, max=63,
            description="Quality of MP4/WEBM: lower is better and larger (H.264 up to 51)"),
    ],
    outputs=[],
    output_node=True,
)
def save_video(video: Any, filename_prefix: str, format: str, crf: int,
               ctx: NodeContext) -> tuple[()]:
    clip = as_video(video)
    if format not in VIDEO_FORMATS:
        raise NodeError(f"unknown video format {format!r}; use one of {', '.join(VIDEO_FORMATS)}")
    if format == "mp4" and crf > 51:
        raise NodeError(f"crf {crf} is beyond H.264's 0–51; lower it, or save as webm")
    if format == "webp":
        def write(path: Path, texts: Any) -> None:
            write_animation(path, clip.frames, clip.fps, "webp", texts, quality=90)
    else:
        def write(path: Path, texts: Any) -> None:
            write_video(path, clip, format, crf, texts)
    _save_frames(ctx, filename_prefix, f".{format}", clip.frames, write)
    return ()


def _save_frames(ctx: NodeContext, filename_prefix: str, suffix: str, frames: Any,
                 write: Callable[[Path, Any], None]) -> None:
    """The save nodes' common path: the numbered file under the output prefix, written with
    the graph's metadata, reported to the window with its first frame."""
    folder, stem = resolve_output_prefix(Path(ctx.output_dir), filename_prefix)
    texts = metadata_chunks(ctx)
    path = _save(folder, stem, suffix, lambda target: write(target, texts))
    _report(ctx, path, frames)


def _save(folder: Path, stem: str, suffix: str, write: Any) -> Path:
    try:
        return save_numbered(folder, stem, suffix, write)
    except NodeError:
        raise
    except Exception as error:  # PyAV and Pillow raise many kinds; the user needs one sentence
        raise cannot_save(f"the {suffix[1:].upper()} file", folder, error) from error


@node(
    "video.save_webp",
    display_name="Save Animated WEBP",
    category="video",
    description="Saves image frames as one animated WEBP (<prefix>_00001_.webp) played at 'fps'; "
                "the file carries the graph.",
    inputs=[
        Input("images", IMAGE),
        String("filename_prefix", "NodeStudio"),
        Float("fps", 6.0, min=0.01, max=1000.0, step=1.0),
        Boolean("lossless", True),
        Int("quality", 80, min=0, max=100),
        Choice("method", WEBP_METHODS, "default", advanced=True,
               description="Encoder effort: slowest makes the smallest file"),
    ],
    outputs=[],
    output_node=True,
)
def save_animated_webp(images: Any, filename_prefix: str, fps: float, lossless: bool,
                       quality: int, method: str, ctx: NodeContext) -> tuple[()]:
    frames = as_image_batch(images, "images")
    level = _WEBP_METHOD_LEVELS.get(method, 4)
    _save_frames(ctx, filename_prefix, ".webp", frames, lambda target, texts: write_animation(
        target, frames, fps, "webp", texts, lossless=lossless, quality=quality, method=level))
    return ()


@node(
    "video.save_apng",
    display_name="Save Animated PNG",
    category="video",
    description="Saves image frames as one animated PNG (<prefix>_00001_.png) played at 'fps'; "
                "lossless, and the file carries the graph.",
    inputs=[
        Input("images", IMAGE),
        String("filename_prefix", "NodeStudio"),
        Float("fps", 6.0, min=0.01, max=1000.0, step=1.0),
        Int("compress_level", 4, min=0, max=9, advanced=True),
    ],
    outputs=[],
    output_node=True,
)
def save_animated_png(images: Any, filename_prefix: str, fps: float, compress_level: int,
                      ctx: NodeContext) -> tuple[()]:
    frames = as_image_batch(images, "images")
    _save_frames(ctx, filename_prefix, ".png", frames, lambda target, texts: write_animation(
        target, frames, fps, "png", texts, compress_level=compress_level))
    return ()


@node(
    "video.save_webm",
    display_name="Save WEBM",
    category="video",
    description="Saves image frames as a WEBM video (VP9, <prefix>_00001_.webm) played at 'fps'; "
                "the file carries the graph.",
    inputs=[
        Input("images", IMAGE),
        String("filename_prefix", "NodeStudio"),
        Float("fps", 24.0, min=0.01, max=1000.0, step=1.0),
        Float("crf", 32.0, min=0.0, max=63.0, step=1.0,
              description="Quality: lower is better and larger"),
    ],
    outputs=[],
    output_node=True,
)
def save_webm(images: Any, filename_prefix: str, fps: float, crf: float,
              ctx: NodeContext) -> tuple[()]:
    clip = Video(as_image_batch(images, "images"), fps)
    _save_frames(ctx, filename_prefix, ".webm", clip.frames,
                 lambda target, texts: write_video(target, clip, "webm", crf, texts))
    return ()
