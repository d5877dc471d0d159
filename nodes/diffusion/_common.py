"""Helpers shared by the diffusion node modules (no torch here: the pack must import cheaply)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nodestudio.api import NodeError


def _stat_of(path: Path) -> list[Any]:
    """Identity of a model file or folder: every file's relative path, mtime and size."""
    if path.is_file():
        status = path.stat()
        return [str(path.resolve()), status.st_mtime_ns, status.st_size]
    entries: list[Any] = [str(path.resolve())]
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        status = file.stat()
        entries.append([file.relative_to(path).as_posix(), status.st_mtime_ns, status.st_size])
    return entries


def model_fingerprint(kind: str, name: str, ctx: Any) -> Any:
    """Changes when the model on disk does, or when the run moves to another device.

    ``ctx`` is the run environment the executor hands to fingerprints.
    """
    if ctx is None:
        raise LookupError("no model folders to resolve the name against")
    try:
        path = ctx.models.find(kind, name)
        identity = _stat_of(path)
    except (NodeError, OSError):
        return ("missing", kind, name)  # the run reports the problem
    resolve = getattr(ctx, "resolved_device", None)
    device = resolve() if callable(resolve) else getattr(ctx, "device", "")
    return [identity, str(device)]


def fingerprint_for(kind: str, field: str) -> Any:
    """A loader node's fingerprint: the model named by its ``field`` input, in folder ``kind``."""

    def fingerprint(ctx: Any = None, **values: Any) -> Any:
        return model_fingerprint(kind, values.get(field, ""), ctx)

    return fingerprint


def require(value: Any, what: str, hint: str) -> Any:
    if value is None:
        raise NodeError(f"connect {what}: {hint}")
    return value


def t5_tokenizer(ctx: Any) -> Any:
    """The models/tokenizers/t5 folder, or the error naming where it should be (raised only
    when a T5 is loaded from a single file, which carries no tokenizer)."""
    from nodestudio.api.errors import ModelNotFoundError

    try:
        return ctx.models.find("tokenizers", "t5")
    except ModelNotFoundError as missing:
        return missing
