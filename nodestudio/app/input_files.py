"""Bringing a picture into the input folder, where Load Image looks (issue 13: the window had
no way to pick a file). Used by the window's Browse… button and its image drops; no Qt here.

A picked file is copied in under its own name; a different file already there under that
name is never overwritten: the copy gets a suffix ("photo_1.png"). Picking the same file
again reuses the copy made before.
"""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

from nodestudio.app.choices import IMAGE_SUFFIXES
from nodestudio.app.image_texts import PNG_GRAPH_CHUNK, png_text_chunks, webp_exif_texts
from nodestudio.graph.file_reading import read_graph_file
from nodestudio.graph.problems import GraphFileError

#: Text keys that make a picture a graph file (NodeStudio's own, ComfyUI's).
GRAPH_KEYS = (PNG_GRAPH_CHUNK, "workflow", "prompt")


class InputFileError(Exception):
    """A picture that could not be brought into the input folder; the message says why."""


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def carries_graph(path: Path) -> bool:
    """Whether the picture holds a graph (then dropping it on the canvas opens the graph)."""
    suffix = path.suffix.lower()
    if suffix not in (".png", ".webp"):
        return False
    try:
        raw = read_graph_file(path)
        texts = png_text_chunks(raw) if suffix == ".png" else webp_exif_texts(raw)
    except (OSError, GraphFileError):
        return False
    return any(key in texts for key in GRAPH_KEYS)


def import_input_image(source: Path, input_dir: Path) -> str:
    """The name Load Image takes for ``source`` after copying it into ``input_dir`` (a file
    already inside the folder is not copied). Raises InputFileError with a readable reason."""
    source = Path(source).expanduser()
    if not source.is_file():
        raise InputFileError(f"{source} is not a file")
    if not is_image_file(source):
        raise InputFileError(f"{source.name} is not a picture Load Image reads "
                             f"({', '.join(IMAGE_SUFFIXES)})")
    folder = Path(input_dir).expanduser()
    try:
        return source.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        pass  # outside the input folder: copy it in
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target = _free_target(source, folder)
        if not target.exists():
            shutil.copy2(source, target)
    except OSError as error:
        raise InputFileError(f"cannot copy {source.name} into the input folder {folder}: "
                             f"{error.strerror or error}") from error
    return target.name


def _free_target(source: Path, folder: Path) -> Path:
    """``folder``/name, or name_1, name_2 … past different files of that name; a file with
    the same content is the target itself (picking a picture twice makes one copy)."""
    candidate = folder / source.name
    number = 0
    while candidate.exists():
        if candidate.is_file() and filecmp.cmp(source, candidate, shallow=False):
            return candidate
        number += 1
        candidate = folder / f"{source.stem}_{number}{source.suffix}"
    return candidate
