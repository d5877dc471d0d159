"""Helpers shared by the diffusion node modules (no torch here: the pack must import cheaply)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nodestudio.api import InputSpec, NodeError


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


def declared_kind(spec: InputSpec) -> str:
    """The models folder ``spec`` (a ``ModelChoice``) lists: the loader's one declaration."""
    if spec.model_kind is None:
        raise ValueError(f"input {spec.name!r} is not a ModelChoice: it names no models folder")
    return spec.model_kind


def fingerprint_for(spec: InputSpec | str, field: str = "") -> Any:
    """A loader node's fingerprint: the model named by its ``spec`` input, in the folder the
    input lists (so the fingerprint watches the file the node loads).

    ``fingerprint_for(kind, field)`` is the older spelling, kept for callers outside the
    built-in loaders; new loaders pass their ``ModelChoice``.
    """
    kind, name = (spec, field) if isinstance(spec, str) else (declared_kind(spec), spec.name)

    def fingerprint(ctx: Any = None, **values: Any) -> Any:
        return model_fingerprint(kind, values.get(name, ""), ctx)

    return fingerprint


def find_model(ctx: Any, spec: InputSpec, name: str) -> Path:
    """The file or folder ``name`` chosen in the ``spec`` input, from the folder it lists."""
    return Path(ctx.models.find(declared_kind(spec), name))


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
