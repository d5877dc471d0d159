"""Reading the media files runs write (video, sound, meshes) for the Outputs panel.

Heavy libraries (PyAV, Pillow, trimesh) are imported inside the functions: the window opens
without them. Every failure is a :class:`MediaError` with one sentence the panel shows as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtGui import QImage

VIDEO_SUFFIXES = frozenset({".mp4", ".webm", ".mkv", ".mov", ".avi", ".gif"})
#: Formats that are a still image or an animation: a video only when they hold several frames.
ANIMATION_SUFFIXES = frozenset({".webp", ".png", ".apng", ".gif"})
AUDIO_SUFFIXES = frozenset({".flac", ".wav", ".mp3", ".ogg", ".opus", ".m4a"})
MESH_SUFFIXES = frozenset({".glb", ".gltf", ".ply", ".obj", ".stl", ".off"})
#: A generated clip is short; a long file is cut here rather than filling the memory.
MAX_FRAMES = 300
#: Frames are kept at most this large on their long side (the panel shows them smaller).
MAX_FRAME_SIDE = 640


class MediaError(Exception):
    """A media file the panel cannot show; the message is one sentence for the artist."""


@dataclass
class VideoClip:
    frames: list[QImage]
    fps: float
    #: True when the file had more frames than :data:`MAX_FRAMES` (the rest are not shown).
    truncated: bool = False


def media_kind(path: Path) -> str | None:
    """"video", "audio", "mesh" or None (a still image, or a file the panel does not play)."""
    suffix = path.suffix.lower()
    if suffix in AUDIO_SUFFIXES:
        return "audio"
    if suffix in MESH_SUFFIXES:
        return "mesh"
    if suffix in ANIMATION_SUFFIXES:
        return "video" if _frame_count(path) > 1 else None
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return None


def _frame_count(path: Path) -> int:
    from PIL import Image

    try:
        with Image.open(path) as image:
            return int(getattr(image, "n_frames", 1))
    except Image.DecompressionBombError:
        # Pillow refuses a picture over its size limit (a big upscale) before it counts
        # frames: the gallery shows it as a still.
        return 1
    except (OSError, ValueError):
        return 0


def frames_to_qimages(frames: np.ndarray) -> list[QImage]:
    """Float [F, H, W, 3] in 0–1 (a VIDEO value's frames) or uint8 frames as QImages."""
    if frames.dtype != np.uint8:
        frames = (np.clip(np.nan_to_num(frames), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return [_rgb_image(frame) for frame in frames]


def _rgb_image(pixels: np.ndarray) -> QImage:
    pixels = np.ascontiguousarray(pixels[..., :3])
    height, width = pixels.shape[:2]
    image = QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    image = image.copy()  # own the pixels: the numpy buffer goes away
    if max(width, height) > MAX_FRAME_SIDE:
        from PySide6.QtCore import Qt

        image = image.scaled(MAX_FRAME_SIDE, MAX_FRAME_SIDE, Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
    return image


def read_video(path: Path, limit: int | None = None) -> VideoClip:
    """The frames of a video file (PyAV) or an animated WEBP/PNG/GIF (Pillow, which keeps
    their frame timing), up to ``limit`` frames (default :data:`MAX_FRAMES`)."""
    limit = MAX_FRAMES if limit is None else limit
    if path.suffix.lower() in ANIMATION_SUFFIXES:
        return _read_animation(path, limit)
    import av

    frames: list[QImage] = []
    truncated = False
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(f"{path.name} has no video track")
            stream = container.streams.video[0]
            rate = float(stream.average_rate or stream.guessed_rate or 24)
            for frame in container.decode(stream):
                if len(frames) == limit:
                    truncated = True
                    break
                frames.append(_rgb_image(frame.to_ndarray(format="rgb24")))
    except av.FFmpegError as error:
        raise MediaError(f"cannot play {path.name}: the file is damaged or not a video "
                         f"({type(error).__name__})") from error
    except OSError as error:
        raise MediaError(f"cannot read {path.name}: {error.strerror or error}") from error
    if not frames:
        raise MediaError(f"{path.name} has no frames to show")
    return VideoClip(frames, rate, truncated)


def _read_animation(path: Path, limit: int) -> VideoClip:
    from PIL import Image, ImageSequence, UnidentifiedImageError

    frames: list[QImage] = []
    durations: list[float] = []
    truncated = False
    try:
        with Image.open(path) as image:
            for frame in ImageSequence.Iterator(image):
                if len(frames) == limit:
                    truncated = True
                    break
                frames.append(_rgb_image(np.asarray(frame.convert("RGB"))))
                durations.append(float(frame.info.get("duration", 0) or 0))
    except Image.DecompressionBombError as error:
        raise MediaError(f"cannot play {path.name}: its frames are larger than the pictures "
                         "the panel shows (Pillow's decompression-bomb limit)") from error
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise MediaError(f"cannot play {path.name}: the file is damaged or not an "
                         "animation") from error
    if not frames:
        raise MediaError(f"{path.name} has no frames to show")
    timed = [d for d in durations if d > 0]
    fps = 1000.0 / (sum(timed) / len(timed)) if timed else 10.0
    return VideoClip(frames, fps, truncated)


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """The first sound track as float32 [channels, samples] and its sample rate."""
    import av

    chunks: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise MediaError(f"{path.name} has no sound track")
            stream = container.streams.audio[0]
            rate = int(stream.rate or 0)
            resampler = None
            for frame in container.decode(stream):
                if resampler is None:
                    resampler = av.AudioResampler(format="fltp", layout=frame.layout.name,
                                                  rate=frame.sample_rate)
                chunks.extend(part.to_ndarray() for part in resampler.resample(frame))
            if resampler is not None:
                chunks.extend(part.to_ndarray() for part in resampler.resample(None))
    except av.FFmpegError as error:
        raise MediaError(f"cannot play {path.name}: the file is damaged or not sound "
                         f"({type(error).__name__})") from error
    except OSError as error:
        raise MediaError(f"cannot read {path.name}: {error.strerror or error}") from error
    if not chunks or rate <= 0:
        raise MediaError(f"{path.name} holds no sound")
    return np.concatenate(chunks, axis=1).astype(np.float32), rate


def read_mesh(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Vertices [V, 3], triangles [F, 3] and vertex colours ([V, 3] in 0–1, or None)."""
    import trimesh

    try:
        loaded = trimesh.load(str(path), force="mesh")
    except Exception as error:  # trimesh raises many kinds; the artist needs one sentence
        raise MediaError(f"cannot show {path.name}: the file is damaged or not a mesh "
                         f"({type(error).__name__})") from error
    vertices = np.asarray(getattr(loaded, "vertices", np.zeros((0, 3))), dtype=np.float32)
    faces = np.asarray(getattr(loaded, "faces", np.zeros((0, 3))), dtype=np.int64)
    if len(vertices) == 0 or len(faces) == 0:
        raise MediaError(f"{path.name} holds no triangles to show")
    colors = None
    visual = getattr(loaded, "visual", None)
    if visual is not None and getattr(visual, "kind", None) == "vertex":
        colors = np.asarray(visual.vertex_colors, dtype=np.float32)[:, :3] / 255.0
    return vertices, faces, colors
