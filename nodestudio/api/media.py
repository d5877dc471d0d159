"""Values of the VIDEO, AUDIO and MESH sockets: plain numpy, no torch (the API stays light).

Video frames follow the IMAGE convention (float32 [F, H, W, 3] in 0–1), so a video's frames
are an image batch and every image node works on them frame by frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nodestudio.api.errors import NodeError


@dataclass(frozen=True, eq=False)
class Audio:
    """Sound: ``waveform`` float32 [channels, samples] in -1..1, ``sample_rate`` in Hz."""

    waveform: np.ndarray
    sample_rate: int

    def __post_init__(self) -> None:
        wave = np.asarray(self.waveform, dtype=np.float32)
        if wave.ndim == 1:
            wave = wave[None]  # one channel given as a plain list of samples
        if wave.ndim != 2 or wave.shape[0] < 1:
            raise NodeError(f"audio: expected a waveform shaped [channels, samples], got shape "
                            f"{list(wave.shape)}")
        if int(self.sample_rate) <= 0:
            raise NodeError(f"audio: the sample rate must be positive, got {self.sample_rate}")
        object.__setattr__(self, "waveform", wave)
        object.__setattr__(self, "sample_rate", int(self.sample_rate))

    @property
    def channels(self) -> int:
        return int(self.waveform.shape[0])

    @property
    def samples(self) -> int:
        return int(self.waveform.shape[1])

    @property
    def duration(self) -> float:
        """Seconds of sound."""
        return self.samples / self.sample_rate


@dataclass(frozen=True, eq=False)
class Video:
    """Moving pictures: ``frames`` float32 [F, H, W, 3] in 0–1, ``fps`` frames per second and
    an optional sound track."""

    frames: np.ndarray
    fps: float
    audio: Audio | None = None

    def __post_init__(self) -> None:
        frames = np.asarray(self.frames, dtype=np.float32)
        if frames.ndim == 3 and frames.shape[-1] == 3:
            frames = frames[None]
        if frames.ndim != 4 or frames.shape[-1] != 3 or 0 in frames.shape:
            raise NodeError(f"video: expected frames shaped [frames, height, width, 3], got "
                            f"shape {list(frames.shape)}")
        fps = float(self.fps)
        if not np.isfinite(fps) or fps <= 0:
            raise NodeError(f"video: frames per second must be a positive number, got {self.fps}")
        object.__setattr__(self, "frames", frames)
        object.__setattr__(self, "fps", fps)

    @property
    def frame_count(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.frames.shape[2]), int(self.frames.shape[1])

    @property
    def duration(self) -> float:
        return self.frame_count / self.fps


@dataclass(frozen=True, eq=False)
class Mesh:
    """A triangle mesh: ``vertices`` float32 [V, 3], ``faces`` int64 [F, 3] (vertex indices),
    ``vertex_colors`` float32 [V, 3 or 4] in 0–1 or None."""

    vertices: np.ndarray
    faces: np.ndarray
    vertex_colors: np.ndarray | None = None

    def __post_init__(self) -> None:
        vertices = np.asarray(self.vertices, dtype=np.float32)
        faces = np.asarray(self.faces, dtype=np.int64)
        if vertices.ndim != 2 or vertices.shape[1] != 3:
            raise NodeError(f"mesh: expected vertices shaped [count, 3], got shape "
                            f"{list(vertices.shape)}")
        if faces.size == 0:
            faces = faces.reshape(0, 3)
        if faces.ndim != 2 or faces.shape[1] != 3:
            raise NodeError(f"mesh: expected triangles shaped [count, 3], got shape "
                            f"{list(faces.shape)}")
        if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
            raise NodeError(f"mesh: a triangle names a vertex outside 0..{len(vertices) - 1}")
        colors: Any = self.vertex_colors
        if colors is not None:
            colors = np.asarray(colors, dtype=np.float32)
            shape_ok = colors.ndim == 2 and colors.shape[0] == len(vertices)
            if not shape_ok or colors.shape[1] not in (3, 4):
                raise NodeError(f"mesh: expected one RGB or RGBA colour per vertex "
                                f"([{len(vertices)}, 3 or 4]), got shape {list(colors.shape)}")
        object.__setattr__(self, "vertices", vertices)
        object.__setattr__(self, "faces", faces)
        object.__setattr__(self, "vertex_colors", colors)
