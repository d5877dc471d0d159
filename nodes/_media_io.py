"""Writing and reading video and sound files (PyAV for MP4/WEBM/FLAC/WAV/MP3/Opus, Pillow for
animated WEBP and PNG), each written file carrying the graph that made it.

PyAV and Pillow are imported inside the functions: the node pack must import cheaply.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from nodestudio.api import Audio, NodeError, Video

from ._imaging import to_uint8
from ._saving import COUNTER_DIGITS, GRAPH_CHUNK, next_counter

#: Containers written through PyAV: (ffmpeg format, video codec, audio codec).
VIDEO_CONTAINERS = {
    "mp4": ("mp4", "libx264", "aac"),
    "webm": ("webm", "libvpx-vp9", "libopus"),
}
#: Sound files: (ffmpeg format, codec, file suffix).
AUDIO_FORMATS = {
    "flac": ("flac", "flac", ".flac"),
    "wav": ("wav", "pcm_s16le", ".wav"),
    "mp3": ("mp3", "libmp3lame", ".mp3"),
    "opus": ("ogg", "libopus", ".opus"),
}
#: WAV keeps only the RIFF INFO tags ffmpeg knows; the graph goes into its comment, prefixed.
COMMENT_PREFIX = GRAPH_CHUNK + ":"


# -- numbered files, written whole or not at all -----------------------------------------------


def save_numbered(folder: Path, stem: str, suffix: str, write: Callable[[Path], None]) -> Path:
    """``<stem>_NNNNN_<suffix>`` in ``folder``, never overwriting, written by ``write(temp)``
    beside it and moved into place, so a reader never sees half a file."""
    folder.mkdir(parents=True, exist_ok=True)
    counter = next_counter(folder, stem, suffix)
    while True:
        path = folder / f"{stem}_{counter:0{COUNTER_DIGITS}d}_{suffix}"
        counter += 1
        try:
            path.open("xb").close()  # reserves the name against a run saving at the same time
        except FileExistsError:
            continue
        break
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=folder)
    os.close(handle)
    try:
        reserved_mode = stat.S_IMODE(path.stat().st_mode)
        write(Path(temporary))
        os.replace(temporary, path)
        os.chmod(path, reserved_mode)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        path.unlink(missing_ok=True)
        raise
    return path


# -- video -------------------------------------------------------------------------------------


def even_frames(frames: np.ndarray) -> np.ndarray:
    """8-bit frames padded to even sides by repeating the last row/column: yuv420p stores colour
    per 2 × 2 pixels, so H.264 and VP9 refuse odd sizes."""
    pixels = to_uint8(frames)
    height, width = pixels.shape[1:3]
    pad = ((0, 0), (0, height % 2), (0, width % 2), (0, 0))
    return np.pad(pixels, pad, mode="edge") if any(p[1] for p in pad) else pixels


def write_video(path: Path, video: Video, container: str, crf: float,
                texts: Mapping[str, str]) -> None:
    """``video`` (and its sound) as MP4 H.264 or WEBM VP9, yuv420p, with ``texts`` as tags."""
    import av

    fmt, video_codec, audio_codec = VIDEO_CONTAINERS[container]
    options = {"movflags": "use_metadata_tags"} if fmt == "mp4" else {}
    with av.open(str(path), "w", format=fmt, options=options) as output:
        for key, value in texts.items():
            output.metadata[key] = value
        rate = Fraction(video.fps).limit_denominator(1001)
        stream = output.add_stream(video_codec, rate=rate)
        pixels = even_frames(video.frames)
        stream.height, stream.width = pixels.shape[1:3]
        stream.pix_fmt = "yuv420p"
        # VP9's constant-quality mode needs the bitrate set to 0.
        stream.options = {"crf": str(round(crf)), **({"b:v": "0"} if fmt == "webm" else {})}
        sound = _sound_stream(output, audio_codec, video.audio) \
            if video.audio is not None else None
        for frame in pixels:
            output.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        output.mux(stream.encode(None))
        if sound is not None and video.audio is not None:
            _encode_sound(output, sound, video.audio)


def _audio_rate(audio: Audio | None, codec: str) -> int:
    # Opus runs at 48 kHz only; the others keep the sound's own rate.
    return 48000 if codec == "libopus" or audio is None else audio.sample_rate


def _sound_stream(output: Any, codec: str, audio: Audio) -> Any:
    # The layout is fixed when the stream is made: muxing opens every encoder.
    layout = "mono" if audio.channels == 1 else "stereo"
    return output.add_stream(codec, rate=_audio_rate(audio, codec), layout=layout)


def _encode_sound(output: Any, stream: Any, audio: Audio) -> None:
    import av

    wave = np.ascontiguousarray(np.clip(audio.waveform[:2], -1.0, 1.0))
    layout = "mono" if wave.shape[0] == 1 else "stereo"
    frame = av.AudioFrame.from_ndarray(wave, format="fltp", layout=layout)
    frame.sample_rate = audio.sample_rate
    # The resampler converts rate, sample format and frame size to what the encoder takes.
    resampler = av.AudioResampler(format=stream.format.name, layout=layout,
                                  rate=stream.rate, frame_size=stream.frame_size or None)
    for chunk in [*resampler.resample(frame), *resampler.resample(None)]:
        output.mux(stream.encode(chunk))
    output.mux(stream.encode(None))


def read_video(path: Path) -> Video:
    """Every frame (and the first sound track) of a video file; animated WEBP/GIF/PNG through
    Pillow, which keeps their per-frame timing."""
    if path.suffix.lower() in (".webp", ".gif", ".png", ".apng"):
        return _read_animation(path)
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise NodeError(f"{path} has no video track")
            stream = container.streams.video[0]
            frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
            rate = stream.average_rate or stream.guessed_rate or 24
        audio = read_audio(path) if _has_audio(path) else None
    except av.FFmpegError as error:
        raise NodeError(f"cannot read the video {path}: it is damaged or not a video "
                        f"({type(error).__name__})") from error
    if not frames:
        raise NodeError(f"the video {path} has no frames")
    return Video(np.stack(frames).astype(np.float32) / 255.0, float(rate), audio)


def _has_audio(path: Path) -> bool:
    import av

    with av.open(str(path)) as container:
        return bool(container.streams.audio)


def _read_animation(path: Path) -> Video:
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        with Image.open(path) as picture:
            frames, durations = [], []
            for frame in ImageSequence.Iterator(picture):
                frame.load()  # WEBP reports a frame's duration once it is decoded
                frames.append(np.asarray(frame.convert("RGB"), dtype=np.float32) / 255.0)
                durations.append(float(frame.info.get("duration") or 0.0))
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise NodeError(f"cannot read the animation {path}: {error}") from error
    mean = sum(durations) / len(durations) if durations else 0.0
    return Video(np.stack(frames), 1000.0 / mean if mean > 0 else 24.0)


def write_animation(path: Path, frames: np.ndarray, fps: float, kind: str,
                    texts: Mapping[str, str], **options: Any) -> None:
    """Animated WEBP (graph in EXIF, as ComfyUI writes it) or APNG (graph in text chunks)."""
    from PIL import Image

    from ._imaging import png_info

    pictures = [Image.fromarray(pixels) for pixels in to_uint8(frames)]
    duration = max(1, round(1000.0 / fps))
    if kind == "webp":
        exif = pictures[0].getexif()
        # Make (0x010f) and the tags below it hold "key:text" entries: ComfyUI's convention,
        # which nodestudio.app.formats reads back.
        for offset, (key, value) in enumerate(texts.items()):
            exif[0x010F - offset] = f"{key}:{value}"
        pictures[0].save(path, format="WEBP", save_all=True, append_images=pictures[1:],
                         duration=duration, loop=0, exif=exif, **options)
    else:
        pictures[0].save(path, format="PNG", save_all=True, append_images=pictures[1:],
                         duration=duration, loop=0, pnginfo=png_info(texts), **options)


# -- sound -------------------------------------------------------------------------------------


def write_audio(path: Path, audio: Audio, kind: str, texts: Mapping[str, str],
                bitrate: int | None = None) -> None:
    """``audio`` as FLAC, WAV, MP3 or Opus, carrying ``texts`` as tags (WAV: its comment)."""
    import av

    fmt, codec, _ = AUDIO_FORMATS[kind]
    with av.open(str(path), "w", format=fmt) as output:
        tags = {"comment": COMMENT_PREFIX + texts[GRAPH_CHUNK]} \
            if kind == "wav" and GRAPH_CHUNK in texts else dict(texts)
        stream = _sound_stream(output, codec, audio)
        if bitrate:
            stream.bit_rate = bitrate
        for key, value in tags.items():
            output.metadata[key] = value
            stream.metadata[key] = value  # Ogg keeps its comments on the stream
        _encode_sound(output, stream, audio)


def read_audio(path: Path) -> Audio:
    """The first sound track of ``path`` as float32 [channels, samples]."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise NodeError(f"{path} has no sound track")
            stream = container.streams.audio[0]
            rate = stream.rate
            chunks = [frame.to_ndarray() for frame in _planar(container.decode(stream))]
    except av.FFmpegError as error:
        raise NodeError(f"cannot read the sound file {path}: it is damaged or not audio "
                        f"({type(error).__name__})") from error
    if not chunks:
        raise NodeError(f"the sound file {path} holds no samples")
    return Audio(np.concatenate(chunks, axis=1).astype(np.float32), rate)


def _planar(frames: Iterator[Any]) -> Iterator[Any]:
    """Decoded frames as 32-bit float planes ([channels, samples] each)."""
    import av

    resampler: Any = None
    for frame in frames:
        if resampler is None:
            resampler = av.AudioResampler(format="fltp", layout=frame.layout.name,
                                          rate=frame.sample_rate)
        yield from resampler.resample(frame)
    if resampler is not None:
        yield from resampler.resample(None)


def file_texts(path: Path) -> dict[str, str]:
    """The tags of a media file, keys in lower case (Matroska writes them in capitals)."""
    import av

    with av.open(str(path)) as container:
        tags = dict(container.metadata)
        for stream in container.streams:
            tags.update(stream.metadata)
    return {str(key).lower(): str(value) for key, value in tags.items()}
