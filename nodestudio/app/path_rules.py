"""What a graph may touch on disk: the one rule for validation, the CLI, the API and the window.

Graphs are shared between strangers, so a graph alone may read pictures only from the input
folder and the pictures shipped with the examples, name models only under the models roots,
and write only inside the output folder. Anything else needs the user's consent: a folder
given with ``--allow-path``, ``Session(allowed_paths=...)`` or allowed in the window's dialog.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from nodestudio.api.registry import NodeRegistry
from nodestudio.graph.model import Graph
from nodestudio.graph.problems import Problem
from nodestudio.paths import workflows_dir

#: The choices source of inputs that name a picture to read (Load Image and its kin).
INPUT_FILES_SOURCE = "files:input"
#: The input save nodes name their files with (Save Image and its kin).
PREFIX_INPUT = "filename_prefix"
# Characters Windows refuses in file names (as nodes/_saving.py refuses them at run time).
_FORBIDDEN_CHARACTERS = set('<>:"|?*')


class ModelPermit(Protocol):
    def permits(self, path: Path) -> bool: ...


@dataclass(frozen=True)
class OutsidePath:
    """A file a graph names outside the folders it may use without consent."""

    node_id: str
    input: str
    name: str  # as the graph spells it
    path: Path  # where it leads

    def problem(self, label: str) -> Problem:
        return Problem(f"{label} reads {self.path}, outside the input folder and the example "
                       "pictures: allow its folder first (nodestudio run --allow-path DIR, "
                       "Session(allowed_paths=[DIR]) or the window's Run prompt)",
                       self.node_id, self.input, kind="path_not_allowed")


def normalized(path: Path) -> Path:
    """``path`` absolute, with ``~`` expanded and ``..`` removed lexically: links the user made
    inside the input folder keep working, while a graph's ``../`` cannot climb out."""
    return Path(os.path.abspath(os.path.expanduser(path)))


def is_inside(path: Path, roots: Iterable[Path]) -> bool:
    target = normalized(path)
    return any(target.is_relative_to(normalized(root)) for root in roots)


def readable_roots(input_dir: Path, allowed: Iterable[Path] = ()) -> tuple[Path, ...]:
    """Where Load Image may read: the input folder, the example pictures, the allowed folders.
    The run hands these to nodes as ``ctx.readable_roots``."""
    return tuple(normalized(root) for root in (input_dir, workflows_dir(), *allowed))


def resolve_image_name(name: str, input_dir: Path) -> Path:
    """The file a Load Image name leads to, as nodes/image.py resolves it: inside the input
    folder, else the example picture of that name, else the input folder's (missing) file."""
    path = Path(name.strip()).expanduser()
    if path.is_absolute():
        return normalized(path)
    inside = normalized(input_dir / path)
    if not inside.exists():
        shipped = normalized(workflows_dir() / path)
        if shipped.is_file():
            return shipped
    return inside


def _widget_values(graph: Graph, registry: NodeRegistry) -> Iterator[tuple[str, str, str, str]]:
    """(node id, input, choices source or "", value) of every unlinked string widget of the
    nodes a run computes (muted and bypassed nodes read and write nothing)."""
    for node in graph:
        node_type = registry.get(node.type)
        if node_type is None or node.mode != "normal":
            continue
        for spec in node_type.inputs:
            value = node.values.get(spec.name, spec.default)
            if isinstance(value, str) and graph.link_into(node.id, spec.name) is None:
                yield node.id, spec.name, spec.choices_source or "", value


def outside_paths(graph: Graph, registry: NodeRegistry, input_dir: Path,
                  allowed: Iterable[Path] = ()) -> list[OutsidePath]:
    """The pictures ``graph`` would read outside the input folder, the examples and
    ``allowed``: what the window asks consent for and the CLI refuses."""
    roots = readable_roots(input_dir, allowed)
    found = []
    for node_id, name, source, value in _widget_values(graph, registry):
        # Video and sound inputs ("files:input_video", …) read the same folder.
        if source.startswith(INPUT_FILES_SOURCE) and value.strip():
            path = resolve_image_name(value, input_dir)
            if not is_inside(path, roots):
                found.append(OutsidePath(node_id, name, value, path))
    return found


def model_problems(graph: Graph, registry: NodeRegistry, models: ModelPermit) -> list[Problem]:
    """Absolute model paths outside the models roots (a graph naming /usr as a checkpoint)."""
    problems = []
    for node_id, name, source, value in _widget_values(graph, registry):
        if (source.startswith("models:") and os.path.isabs(os.path.expanduser(value))
                and not models.permits(Path(value))):
            problems.append(Problem(
                f"model {value!r} is outside the models folders: put it in a models folder "
                "(or allow its folder with --allow-path DIR)", node_id, name,
                kind="path_not_allowed"))
    return problems


def prefix_problem(output_dir: Path, prefix: str) -> str | None:
    """Why Save Image's ``prefix`` cannot name a file inside ``output_dir`` (None when it can);
    the same rules nodes/_saving.py applies when it saves, asked before the render."""
    text = prefix.strip().replace("\\", "/")
    if not text or text.endswith("/"):
        return f"filename prefix {prefix!r} needs a file name, e.g. 'NodeStudio'"
    if any(c in _FORBIDDEN_CHARACTERS or ord(c) < 32 for c in text):
        return f"filename prefix {prefix!r} contains characters that file names cannot hold"
    relative = PurePosixPath(text)
    if text.startswith("/") or ".." in relative.parts:
        return (f"filename prefix {prefix!r} must stay inside the output folder {output_dir}: "
                "use a relative name without '..'")
    root = output_dir.resolve()
    if not root.joinpath(*relative.parent.parts).resolve().is_relative_to(root):
        return f"filename prefix {prefix!r} leads outside the output folder {output_dir}"
    folders = relative.parent.parts
    for depth in range(1, len(folders) + 1):
        folder = root.joinpath(*folders[:depth])
        if folder.exists() and not folder.is_dir():
            return f"filename prefix {prefix!r} saves in the folder {folder}, but that is a file"
    return None


def folder_problem(folder: Path) -> str | None:
    """Why files cannot be written in ``folder`` (None when they can, or it can be made)."""
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        return f"cannot create the output folder {folder}: {existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"cannot write in the output folder {folder}: {existing} is not writable"
    return None


def named_folder_warnings(named: list[tuple[str, Path]]) -> list[str]:
    """For each folder named on the command line (option, path) that is not a folder, why:
    a mistyped --models root would otherwise leave only the demo model, without a word."""
    warnings = []
    for option, folder in named:
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            why = "it is a file, not a folder" if folder.exists() else "there is no such folder"
            warnings.append(f"{option} {folder}: {why}")
    return warnings


def write_failure_reason(error: OSError, target: Path) -> str:
    """Why ``target`` could not be written, in words: a folder on its way that is a file
    reads "File exists" or "Not a directory" from the system."""
    if isinstance(error, FileExistsError | NotADirectoryError):
        # The target itself when it was to be a folder (mkdir of a name a file holds).
        blocking = next((place for place in (Path(target), *Path(target).parents)
                         if place.exists()), None)
        if blocking is not None and blocking.is_file():
            return f"{blocking} is a file, not a folder"
    if isinstance(error, IsADirectoryError):
        return "it is a folder; name a file in it"
    if isinstance(error, PermissionError):
        return "this user may not write there (permission denied)"
    reason = error.strerror or str(error)
    return reason[:1].lower() + reason[1:]


def output_problems(graph: Graph, registry: NodeRegistry, output_dir: Path) -> list[Problem]:
    """Save nodes whose prefix leaves the output folder, and an output folder that cannot be
    written: found before the render, not after it."""
    problems = []
    saves = [(node_id, name, value) for node_id, name, _, value
             in _widget_values(graph, registry) if name == PREFIX_INPUT]
    for node_id, name, value in saves:
        message = prefix_problem(output_dir, value)
        if message:
            problems.append(Problem(message, node_id, name, kind="invalid_value"))
    folder = folder_problem(Path(output_dir)) if saves else None
    if folder:
        problems.append(Problem(folder, kind="output_folder"))
    return problems


#: What a ComfyUI workflow or prompt written under such a name would be mistaken for.
_MEDIA_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".mp4", ".webm", ".mov",
                             ".mkv", ".wav", ".flac", ".mp3", ".ogg", ".glb", ".obj", ".ply"})


def export_target_problem(targets: list[Path]) -> str | None:
    """Why the export's target names cannot be used, before anything is converted: both
    formats to one file (the second would replace the first), or a picture's or video's name
    for what is a JSON file (ComfyUI would not open it, nor would an image viewer)."""
    if len(targets) == 2 and Path(targets[0]).resolve() == Path(targets[1]).resolve():
        return f"--comfy-api and --comfy-workflow both name {targets[0]}; give each its own file"
    for target in targets:
        if target.suffix.lower() in _MEDIA_SUFFIXES:
            return (f"{target}: ComfyUI workflows and prompts are JSON files, not "
                    f"{target.suffix.lower()[1:].upper()}; name it "
                    f"{target.with_suffix('.json').name}")
    return None
