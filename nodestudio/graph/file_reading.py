"""Reading the bytes of a graph file (JSON, an imported workflow, or a picture carrying one)
with a reason a person understands when that fails.

Graph files come from strangers: the path may name a folder, a pipe or a device that never
ends (``/dev/zero``), or a file far larger than any graph. Those are refused before a byte is
read, so neither the window nor a headless run hangs or fills the memory on them.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from nodestudio.graph.problems import GraphFileError, Problem

#: Far above any real graph: ComfyUI workflows are kilobytes to a few megabytes, and an 8K
#: PNG that carries one is a few hundred megabytes at most.
MAX_GRAPH_FILE_BYTES = 1 << 30


def read_graph_file(path: str | os.PathLike[str], limit: int = MAX_GRAPH_FILE_BYTES) -> bytes:
    """The bytes of ``path``; raises GraphFileError ("cannot read PATH" and the reason)."""
    path = Path(path)
    with _opened(path) as (file, size):
        if size > limit:
            raise _cannot_read(path, f"it is {_size(size)}; no graph file is larger than "
                                     f"{_size(limit)}")
        raw = _read(path, file, limit + 1)  # the file may grow while it is read
    if len(raw) > limit:
        raise _cannot_read(path, f"it is larger than {_size(limit)}; no graph file is")
    return raw


def read_graph_file_head(path: str | os.PathLike[str], count: int = 64) -> bytes:
    """The first ``count`` bytes of ``path``, with the same refusals as
    :func:`read_graph_file` except its size: a video is read by its tags, not whole."""
    path = Path(path)
    with _opened(path) as (file, _size):
        return _read(path, file, count)


@contextmanager
def _opened(path: Path) -> Iterator[tuple[BinaryIO, int]]:
    """``path`` open for reading, with its size, once it is known to be a regular file."""
    # Non-blocking: opening a pipe for reading would otherwise wait for a writer.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        raise _cannot_read(path, read_failure_text(error)) from None
    status = os.fstat(descriptor)
    if not stat.S_ISREG(status.st_mode):  # looked at before Python wraps it (a folder raises)
        os.close(descriptor)
        raise _cannot_read(path, read_failure_text(IsADirectoryError())
                           if stat.S_ISDIR(status.st_mode)
                           else "it is not a file (a pipe or a device)")
    with os.fdopen(descriptor, "rb") as file:
        yield file, status.st_size


def _read(path: Path, file: BinaryIO, count: int) -> bytes:
    try:
        return file.read(count)
    except OSError as error:
        raise _cannot_read(path, read_failure_text(error)) from None


def read_failure_text(error: OSError) -> str:
    """What the system's refusal to read a file means, without its errno and repeated path."""
    if isinstance(error, FileNotFoundError):
        return "there is no such file"
    if isinstance(error, IsADirectoryError):
        return "it is a folder, not a file"
    if isinstance(error, PermissionError):
        return "this user may not read it (permission denied)"
    reason = error.strerror or str(error)
    return reason[:1].lower() + reason[1:]


def _cannot_read(path: Path, reason: str) -> GraphFileError:
    return GraphFileError(f"cannot read {path}", [Problem(reason, kind="io")])


def _size(count: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"
