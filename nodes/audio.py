"""Sound nodes: load and save audio files (through PyAV: FLAC, WAV, MP3, Opus)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nodestudio.api import (
    AUDIO,
    Audio,
    Choice,
    Input,
    NodeContext,
    NodeError,
    Output,
    String,
    node,
)

from ._media_io import AUDIO_FORMATS, read_audio, save_numbered, write_audio
from ._saving import cannot_save, metadata_chunks, resolve_output_prefix
from .video import allowed_input_file, input_file_fingerprint

AUDIO_SUFFIXES = (".flac", ".wav", ".mp3", ".ogg", ".opus", ".m4a", ".aac",
                  ".mp4", ".webm", ".mkv", ".mov")
#: Bitrates offered for the lossy formats (ComfyUI's choices); "V0" is LAME's best VBR.
MP3_QUALITIES = ("V0", "128k", "320k")
OPUS_QUALITIES = ("64k", "96k", "128k", "192k", "320k")
AUDIO_QUALITIES = ("V0", *OPUS_QUALITIES)


def as_audio(value: Any, what: str = "audio") -> Audio:
    if not isinstance(value, Audio):
        raise NodeError(f"{what}: expected sound (a waveform and its sample rate), got "
                        f"{type(value).__name__}")
    return value


@node(
    "audio.load",
    display_name="Load Audio",
    category="audio",
    description="Loads sound from the input folder (or an absolute path): FLAC, WAV, MP3, "
                "Opus/OGG, or the sound track of a video.",
    inputs=[Choice("audio", source="files:input_audio",
                   description="File name in the input folder, or an absolute path")],
    outputs=[Output("audio", AUDIO)],
    deterministic=False,
    fingerprint=input_file_fingerprint,
)
def load_audio(audio: str, ctx: NodeContext) -> Audio:
    path = allowed_input_file(audio, ctx, "sound")
    if path.suffix.lower() not in AUDIO_SUFFIXES:
        raise NodeError(f"{path.name} is not a sound file Load Audio reads "
                        f"({', '.join(AUDIO_SUFFIXES)})")
    return read_audio(path)


def _bitrate(quality: str) -> int | None:
    return int(quality[:-1]) * 1000 if quality.endswith("k") else None


@node(
    "audio.save",
    display_name="Save Audio",
    category="audio",
    description="Saves sound in the output folder as <prefix>_00001_.flac (lossless), .wav, "
                ".mp3 or .opus, never overwriting a file. The file carries the graph: open it "
                "to get the graph back.",
    inputs=[
        Input("audio", AUDIO),
        String("filename_prefix", "audio/NodeStudio",
               description="Start of the file name; may include sub-folders of the output folder"),
        Choice("format", tuple(AUDIO_FORMATS), "flac"),
        Choice("quality", AUDIO_QUALITIES, "128k", advanced=True,
               description="Bitrate of MP3 and Opus (FLAC and WAV are lossless)"),
    ],
    outputs=[],
    output_node=True,
)
def save_audio(audio: Any, filename_prefix: str, format: str, ctx: NodeContext,
               quality: str = "128k") -> tuple[()]:
    sound = as_audio(audio)
    if format not in AUDIO_FORMATS:
        raise NodeError(f"unknown sound format {format!r}; use one of "
                        f"{', '.join(AUDIO_FORMATS)}")
    folder, stem = resolve_output_prefix(Path(ctx.output_dir), filename_prefix)
    texts = metadata_chunks(ctx)
    suffix = AUDIO_FORMATS[format][2]
    try:
        path = save_numbered(folder, stem, suffix, lambda target: write_audio(
            target, sound, format, texts, _bitrate(quality)))
    except NodeError:
        raise
    except Exception as error:  # PyAV raises many kinds; the user needs one sentence
        raise cannot_save(f"the {format.upper()} file", folder, error) from error
    ctx.add_file(path)
    return ()
