"""What a choice input may hold when its list comes from the environment ("models:<kind>",
"files:input"): one answer for validation in the window and on the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from nodestudio.paths import workflows_dir

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".mov", ".avi", ".webp", ".gif", ".apng")
AUDIO_SUFFIXES = (".flac", ".wav", ".mp3", ".ogg", ".opus", ".m4a", ".aac")
#: The choice source of an input picture (Load Image): the input folder and the examples.
INPUT_IMAGES_SOURCE = "files:input"
#: The input-folder sources ("files:<argument>") and the files each lists.
INPUT_FILE_SUFFIXES = {"input": IMAGE_SUFFIXES, "input_video": VIDEO_SUFFIXES,
                       "input_audio": AUDIO_SUFFIXES}


class ModelLister(Protocol):
    def list(self, kind: str) -> list[str]: ...


def input_images(folder: Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> list[str]:
    """Image files (or files with ``suffixes``) under ``folder`` as relative POSIX paths,
    sorted case-insensitively."""
    if not folder.is_dir():
        return []
    found = [path.relative_to(folder).as_posix() for path in folder.rglob("*")
             if path.suffix.lower() in suffixes and path.is_file()
             and not any(part.startswith(".") for part in path.relative_to(folder).parts)]
    return sorted(found, key=str.lower)


def example_images() -> list[str]:
    """The pictures shipped with the example workflows: Load Image falls back to them for a
    name the input folder lacks, so they are valid choices too."""
    return input_images(workflows_dir())


def available_choices(source: str, models: ModelLister | None,
                      input_dir: Path | None) -> list[str] | None:
    """The values a ``choices_source`` offers now, or None for a source nobody resolves (then
    any value is left for the node to check)."""
    kind, _, argument = source.partition(":")
    if kind == "models" and models is not None:
        try:
            return list(models.list(argument))
        except OSError:
            return []
    if kind == "files" and argument == "input" and input_dir is not None:
        # A picture in both folders is listed once (the input folder's copy wins at run time).
        return list(dict.fromkeys([*input_images(input_dir), *example_images()]))
    if kind == "files" and argument in INPUT_FILE_SUFFIXES and input_dir is not None:
        return input_images(input_dir, INPUT_FILE_SUFFIXES[argument])
    return None
