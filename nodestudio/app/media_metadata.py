"""The graph texts inside videos, sounds and meshes, found by the file's content (not its name).

Save Video / Save Audio / Save Mesh write the graph (key "nodestudio") and, where ComfyUI can
express it, its "prompt" into the file's tags: MP4 and WEBM container tags, FLAC/MP3/Opus
tags, WAV's comment ("nodestudio:{…}"), GLB ``asset.extras``, a PLY header comment, an OBJ
comment line. ComfyUI's own videos carry "workflow"/"prompt" tags, which read back too.
"""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

from nodestudio.graph.problems import GraphFileError, Problem

GRAPH_KEY = "nodestudio"
_TEXT_KEYS = (GRAPH_KEY, "workflow", "prompt")


def media_kind(raw: bytes) -> str | None:
    """"MP4", "WEBM", "FLAC", "WAV", "OGG", "MP3", "GLB", "PLY", "OBJ" or None."""
    if raw[4:8] == b"ftyp":
        return "MP4"
    if raw.startswith(b"\x1a\x45\xdf\xa3"):
        return "WEBM"
    if raw.startswith(b"fLaC"):
        return "FLAC"
    if raw[:4] == b"RIFF" and raw[8:12] == b"WAVE":
        return "WAV"
    if raw.startswith(b"OggS"):
        return "OGG"
    if raw.startswith(b"ID3"):
        return "MP3"
    if raw.startswith(b"glTF"):
        return "GLB"
    if raw.startswith((b"ply\n", b"ply\r\n")):
        return "PLY"
    if raw.startswith(f"# {GRAPH_KEY}: ".encode()):
        return "OBJ"
    return None


def media_texts(raw: bytes, kind: str) -> dict[str, str]:
    """The graph texts a file of ``kind`` (see :func:`media_kind`) carries, by key."""
    if kind == "GLB":
        return _glb_texts(raw)
    if kind == "PLY":
        return _ply_texts(raw)
    if kind == "OBJ":
        first = raw.split(b"\n", 1)[0].decode("utf-8", errors="replace")
        return {GRAPH_KEY: first[len(f"# {GRAPH_KEY}: "):].strip()}
    return container_texts(raw, kind)


#: The kinds whose tags PyAV reads: from the file itself, however long the video.
CONTAINER_KINDS = frozenset({"MP4", "WEBM", "FLAC", "WAV", "OGG", "MP3"})


def container_texts(raw: bytes | Path, kind: str) -> dict[str, str]:
    """The graph texts in the tags of a video or sound: its bytes, or the file at a path
    (PyAV then reads only what it needs, not a whole video into memory)."""
    try:
        import av
    except ImportError:  # PyAV is a dependency; a stripped install says what is missing
        raise GraphFileError(f"cannot read the {kind} file's tags", [Problem(
            "PyAV is not installed (pip install av)", kind="media")]) from None
    try:
        with av.open(str(raw) if isinstance(raw, Path) else io.BytesIO(raw)) as container:
            tags = dict(container.metadata)
            for stream in container.streams:
                tags.update(stream.metadata)
    except (av.FFmpegError, OSError, ValueError) as error:
        raise GraphFileError(f"the {kind} file could not be read", [Problem(
            f"damaged or not a media file ({type(error).__name__})", kind="media")]) from None
    texts = {str(key).lower(): str(value) for key, value in tags.items()}
    comment = texts.get("comment", "")
    if comment.startswith(GRAPH_KEY + ":") and GRAPH_KEY not in texts:
        texts[GRAPH_KEY] = comment[len(GRAPH_KEY) + 1:]  # WAV keeps it in its comment
    return {key: texts[key] for key in _TEXT_KEYS if key in texts}


def _glb_texts(raw: bytes) -> dict[str, str]:
    """GLB: a 12-byte header, then a JSON chunk (length, b"JSON", text)."""
    try:
        length, chunk_type = struct.unpack_from("<I4s", raw, 12)
        if chunk_type != b"JSON":
            raise ValueError("the first chunk is not JSON")
        tree = json.loads(raw[20:20 + length])
        extras = tree.get("asset", {}).get("extras", {})
    except (struct.error, ValueError, AttributeError) as error:
        raise GraphFileError("the GLB file could not be read", [Problem(
            f"damaged glTF binary ({error})", kind="media")]) from None
    if not isinstance(extras, dict):
        return {}
    return {key: value if isinstance(value, str) else json.dumps(value)
            for key, value in extras.items() if key in _TEXT_KEYS}


def _ply_texts(raw: bytes) -> dict[str, str]:
    header = raw.split(b"end_header", 1)[0].decode("latin-1")
    texts: dict[str, str] = {}
    for line in header.splitlines():
        words = line.split(" ", 2)
        if len(words) == 3 and words[0] == "comment" and words[1] in _TEXT_KEYS:
            # Latin-1 kept the bytes; the JSON itself was written as UTF-8.
            texts[words[1]] = words[2].encode("latin-1").decode("utf-8", errors="replace")
    return texts
