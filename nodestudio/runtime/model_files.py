"""Reading weight files from strangers: every library error becomes one sentence naming the file.

Model files come from the internet, truncated by a broken download, renamed from something
else, or pickled with code inside. safetensors, torch and diffusers report those as their own
text (``SafetensorError: … incomplete metadata``, torch's "Weights only load failed" essay,
diffusers' "Unable to load weights from checkpoint file") that names no file the artist picked
and says nothing about what to do. Every reader of weights goes through :func:`open_weights`,
:func:`load_pickle` or :func:`explained`, which turn those into a :class:`ModelLoadError` of one
sentence: which file, what is wrong with it, what to do.

Pickles are only ever read with ``torch.load(weights_only=True)``: a file that needs more than
tensors is refused, never executed.
"""

from __future__ import annotations

import json
import pickle
import re
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nodestudio.api.errors import NodeError

#: Suffixes read as single weight files (pickles only through ``weights_only``).
WEIGHT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".sft")
_SAFETENSORS_SUFFIXES = (".safetensors", ".sft")
#: diffusers names the file it failed on: "… checkpoint file for 'A' at 'B'".
_DIFFUSERS_FILE = re.compile(r"checkpoint file for '[^']*' at '([^']+)'")
_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
#: safetensors' header complaints, in words an artist can act on.
_HEADER_PROBLEMS = (
    ("incomplete metadata", "the file is shorter than its header says (an incomplete download)"),
    ("header too large", "its header declares an impossible size (the file is damaged)"),
    ("header too small", "it is too short to be a .safetensors file"),
    ("invalid json", "its header is not valid (the file is damaged or not a .safetensors file)"),
    ("invalid utf", "its header is not valid (the file is damaged or not a .safetensors file)"),
)
_DOWNLOAD_AGAIN = "download it again or pick another file"


class ModelLoadError(NodeError):
    """A model file exists but cannot be used; the message says which file and why."""


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and the errors it was raised from (diffusers wraps the real one)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _is_safetensors_error(error: BaseException) -> bool:
    # The class lives in safetensors' Rust extension; matching its name avoids importing it.
    return type(error).__name__ == "SafetensorError"


def _safetensors_problem(path: Path) -> str | None:
    """What is wrong with ``path``'s safetensors framing, or None when it looks whole.

    Reads only the 8-byte length and the JSON header, so a folder can be probed cheaply to find
    which of its files is broken after a library failed on "one of them"."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(8)
            if len(head) < 8:
                return _HEADER_PROBLEMS[2][1]
            (length,) = struct.unpack("<Q", head)
            if length > size - 8:
                return _HEADER_PROBLEMS[1][1]
            header = json.loads(handle.read(length))
    except OSError:
        return None
    except (ValueError, UnicodeDecodeError):
        return _HEADER_PROBLEMS[3][1]
    ends = [entry["data_offsets"][1] for key, entry in header.items()
            if key != "__metadata__" and isinstance(entry, dict) and "data_offsets" in entry]
    if 8 + length + max(ends, default=0) > size:
        return _HEADER_PROBLEMS[0][1]
    return None


def _culprit(path: Path, error: BaseException) -> Path:
    """The file inside ``path`` (a model folder) that the error is about, else ``path``."""
    for link in _chain(error):
        found = _DIFFUSERS_FILE.search(str(link))
        if found:
            return Path(found.group(1))
    if path.is_dir() and any(_is_safetensors_error(link) for link in _chain(error)):
        for candidate in sorted(path.rglob("*.safetensors")):
            if _safetensors_problem(candidate) is not None:
                return candidate
    return path


def _shown_name(path: Path, culprit: Path) -> str:
    """``folder/unet/weights.bin`` for a file inside a model folder, else the file's name."""
    try:
        return f"{path.name}/{culprit.relative_to(path).as_posix()}" if culprit != path else (
            path.name)
    except ValueError:
        return culprit.name


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    line = text[0] if text else type(error).__name__
    return line if len(line) <= 200 else line[:197] + "…"


def describe_load_error(path: Path, error: BaseException, kind: str = "model",
                        reading: bool = False) -> str:
    """One sentence for an artist: which file (of ``kind``), what is wrong, what to do.

    ``reading``: the error came from parsing the file itself (torch.load), so an error not
    recognised here still means the file is damaged (a truncated zip gives a bare OSError)."""
    culprit = _culprit(path, error)
    name = _shown_name(path, culprit)
    for link in _chain(error):
        if _is_safetensors_error(link):
            text = str(link).lower()
            problem = next((words for marker, words in _HEADER_PROBLEMS if marker in text), None)
            problem = problem or _safetensors_problem(culprit) or "its header is damaged"
            return f"{kind} file {name} cannot be read: {problem}; {_DOWNLOAD_AGAIN}"
        if isinstance(link, pickle.UnpicklingError) and "global" in str(link).lower():
            found = _GLOBAL.search(str(link))
            named = f" ({found.group(1)})" if found else ""
            return (f"{kind} file {name} is a pickle that holds code or objects besides "
                    f"weights{named}, which NodeStudio never runs; use a .safetensors version "
                    "of this model")
        if isinstance(link, (EOFError, pickle.UnpicklingError)) or (
                "failed reading zip archive" in str(link)
                or "invalid load key" in str(link)):
            return _damaged(kind, name)
    if isinstance(error, PermissionError):
        return f"{kind} file {name} cannot be read: permission denied; check the file's access"
    if reading:
        return _damaged(kind, name)
    return f"could not load {kind} {name}: {_first_line(error)}"


def _damaged(kind: str, name: str) -> str:
    return (f"{kind} file {name} is damaged or not a model file (it cannot be read as "
            f"weights); {_DOWNLOAD_AGAIN}")


@contextmanager
def explained(path: Path, kind: str = "model", reading: bool = False) -> Iterator[None]:
    """Turn any library error while loading ``path`` into a :class:`ModelLoadError`.

    NodeErrors (already clear), MemoryError (the caller's cache reacts to it) and a missing file
    (the callers say which name did not resolve) pass through.
    """
    try:
        yield
    except (NodeError, MemoryError, FileNotFoundError):
        raise
    except Exception as error:
        raise ModelLoadError(describe_load_error(path, error, kind, reading)) from None


def load_pickle(path: Path, kind: str = "model") -> Any:
    """A pickled file read with ``weights_only=True``: no code in it ever runs."""
    import torch

    with explained(path, kind, reading=True):
        return torch.load(str(path), map_location="cpu", weights_only=True)


def load_safetensors(path: Path, kind: str = "model") -> tuple[dict[str, Any], dict[str, str]]:
    """The tensors and the metadata of a .safetensors file."""
    from safetensors import safe_open

    with explained(path, kind, reading=True), safe_open(str(path), framework="pt") as handle:
        metadata = dict(handle.metadata() or {})
        return {key: handle.get_tensor(key) for key in handle.keys()}, metadata  # noqa: SIM118


def open_weights(path: Path, kind: str = "model") -> tuple[dict[str, Any], dict[str, str]]:
    """Weights and safetensors metadata of a single file (pickles only with weights_only).

    A pickle's state dict may sit under (nested) ``state_dict`` keys; only its top level's
    tensors are kept."""
    import torch

    if path.suffix.lower() in _SAFETENSORS_SUFFIXES:
        return load_safetensors(path, kind)
    if path.suffix.lower() not in WEIGHT_SUFFIXES:
        raise ModelLoadError(f"{kind} file {path.name} has an unsupported file type "
                             f"{path.suffix!r}; use a .safetensors file")
    loaded = load_pickle(path, kind)
    while isinstance(loaded, dict) and "state_dict" in loaded:
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict):
        raise ModelLoadError(f"{kind} file {path.name} does not contain a state dict")
    return {k: v for k, v in loaded.items() if isinstance(v, torch.Tensor)}, {}
