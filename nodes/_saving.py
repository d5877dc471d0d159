"""Saving image batches as numbered PNG files that carry the graph which made them."""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from nodestudio.api import NodeError

from ._imaging import to_uint8, write_png_atomically

#: The PNG text chunk holding the NodeStudio graph (json.dumps of the graph document).
GRAPH_CHUNK = "nodestudio"
COUNTER_DIGITS = 5

#: Save Image's conversions of 0–1 floats to 8 bits.
ROUND, TRUNCATE = "round", "truncate (ComfyUI)"
EIGHT_BIT_CONVERSIONS = (ROUND, TRUNCATE)

# Characters Windows refuses in file names: a prefix must produce a file name everywhere.
_FORBIDDEN_CHARACTERS = set('<>:"|?*')


def metadata_chunks(ctx: Any, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The PNG text chunks a saved image carries: what the run provides (the graph that made
    it, and ComfyUI's prompt and workflow where possible), else the bare graph document, plus
    ``extra``."""
    chunks: dict[str, str] = dict(getattr(ctx, "image_metadata", None) or {})
    document = getattr(ctx, "graph_document", None)
    if GRAPH_CHUNK not in chunks and document is not None:
        chunks[GRAPH_CHUNK] = json.dumps(document)
    if extra:
        chunks.update(extra)
    return chunks


def resolve_output_prefix(output_dir: Path, filename_prefix: str) -> tuple[Path, str]:
    """The folder (inside ``output_dir``) and the file stem that ``filename_prefix`` names.

    ``renders/portrait`` saves ``portrait_00001_.png`` in ``<output>/renders``. Absolute
    paths, ``..`` and characters that some systems forbid are refused with a clear message.
    """
    text = filename_prefix.strip().replace("\\", "/")
    if not text or text.endswith("/"):
        raise NodeError(f"filename prefix {filename_prefix!r} needs a file name, e.g. 'NodeStudio' "
                        "or 'renders/portrait'")
    bad = sorted({c for c in text if c in _FORBIDDEN_CHARACTERS or ord(c) < 32})
    if bad:
        raise NodeError(f"filename prefix {filename_prefix!r} contains characters that file names "
                        f"cannot hold: {' '.join(repr(c) for c in bad)}")
    relative = PurePosixPath(text)
    if text.startswith("/") or ".." in relative.parts:
        raise NodeError(f"filename prefix {filename_prefix!r} must stay inside the output folder "
                        f"{output_dir}: use a relative name without '..'")
    root = output_dir.resolve()
    folder = root.joinpath(*relative.parent.parts).resolve()
    if not folder.is_relative_to(root):
        raise NodeError(f"filename prefix {filename_prefix!r} leads outside the output folder "
                        f"{output_dir} (through a link)")
    return folder, relative.name


def next_counter(folder: Path, stem: str, suffix: str = ".png") -> int:
    """One past the highest counter of ``<stem>_NNNNN_<suffix>`` files in ``folder`` (1 if
    none); videos, sounds and meshes count their own suffix."""
    pattern = re.compile(re.escape(stem) + r"_(\d+)_" + re.escape(suffix), re.IGNORECASE)
    highest = 0
    if folder.is_dir():
        for entry in folder.iterdir():
            match = pattern.fullmatch(entry.name)
            if match:
                highest = max(highest, int(match.group(1)))
    return highest + 1


def to_uint8_truncated(pixels: np.ndarray) -> np.ndarray:
    """ComfyUI's Save Image conversion, ``np.clip(255. * i, 0, 255).astype(np.uint8)``: the
    float32 product is truncated (0.999 → 254), so its PNGs are up to 1/255 darker than rounded
    ones. NaN is black, as in :func:`to_uint8`."""
    finite = np.nan_to_num(pixels.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(np.float32(255.0) * finite, 0, 255).astype(np.uint8)


def save_png_batch(images: np.ndarray, folder: Path, stem: str,
                   text_chunks: Mapping[str, str], conversion: str = ROUND) -> list[Path]:
    """Save each image of the [B, H, W, 3] batch as ``<stem>_<counter>_.png``; never overwrite.
    ``conversion`` picks how floats become 8 bits (:data:`EIGHT_BIT_CONVERSIONS`).

    Each name is reserved by creating the file exclusively before the finished PNG replaces it,
    so two runs saving with the same prefix at once still get distinct files.
    """
    if conversion not in EIGHT_BIT_CONVERSIONS:
        raise NodeError(f"unknown 8-bit conversion {conversion!r}; known: "
                        f"{', '.join(EIGHT_BIT_CONVERSIONS)}")
    convert = to_uint8_truncated if conversion == TRUNCATE else to_uint8
    folder.mkdir(parents=True, exist_ok=True)
    counter = next_counter(folder, stem)
    written: list[Path] = []
    for pixels in images:
        while True:
            path = folder / f"{stem}_{counter:0{COUNTER_DIGITS}d}_.png"
            counter += 1
            try:
                path.open("xb").close()
            except FileExistsError:
                continue
            break
        try:
            # The reservation was created under the user's umask (0644 under 022); the atomic
            # write's temporary file is private (0600), so the image takes the reservation's.
            reserved_mode = stat.S_IMODE(path.stat().st_mode)
            write_png_atomically(path, convert(pixels), text_chunks)
            os.chmod(path, reserved_mode)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        written.append(path)
    return written


def cannot_save(what: str, folder: Path, error: BaseException) -> NodeError:
    """"cannot save WHAT in FOLDER: why", the why in words: the system's reason without its
    errno and repeated path, or a writer library's one-line message."""
    if not isinstance(error, OSError):
        return NodeError(f"cannot save {what} in {folder}: {error}")
    reason = error.strerror or str(error)
    reason = reason[:1].lower() + reason[1:]
    if isinstance(error, FileExistsError | NotADirectoryError):
        # Making the folder met a file of that name on the way.
        blocking = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if blocking is not None and not blocking.is_dir():
            reason = f"{blocking} is a file, not a folder"
    return NodeError(f"cannot save {what} in {folder}: {reason}")
