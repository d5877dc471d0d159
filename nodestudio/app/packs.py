"""Finding and loading node packs: built-in folder, user folder, installed entry points.

The built-in pack goes through exactly the path a third-party folder pack takes. A pack that
raises while importing or registering — even SystemExit (``sys.exit`` in a pack) — is recorded
with its traceback and skipped; the rest load. Only Ctrl+C (KeyboardInterrupt) goes through. A
pack that is still importing after ``SLOW_PACK_SECONDS`` is named in a warning (Python cannot
abandon an import half way, so the warning says which pack holds up the start).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import logging
import re
import sys
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from nodestudio.api.pack import NodePack
from nodestudio.api.registry import LoadedPack, NodeRegistry, PackFailure
from nodestudio.paths import builtin_nodes_dir

ENTRY_POINT_GROUP = "nodestudio.nodes"
BUILTIN_PACK_MODULE = "builtin"
#: How long a pack may take to import before a warning names it (models load lazily, so a
#: healthy pack imports in well under a second; heavy imports such as torch take a few).
SLOW_PACK_SECONDS = 10.0

log = logging.getLogger("nodestudio.packs")


def load_folder_pack(
    registry: NodeRegistry, folder: Path, module_name: str | None = None
) -> LoadedPack | None:
    """Import the pack package (or single module) at ``folder`` and register its ``pack``."""
    folder = Path(folder)
    name = module_name or _module_name(folder)
    source = str(folder)
    try:
        with _warn_if_slow(folder.stem, source):
            module = _import_from_path(folder, name)
            pack = _pack_from(module)
        return registry.add_pack(pack, source=source)
    except KeyboardInterrupt:
        raise  # the person pressed Ctrl+C during start-up: stop, as they asked
    except BaseException as error:  # a pack must never end the program
        registry.record_failure(PackFailure(folder.stem, source, _one_line(error),
                                            traceback.format_exc()))
        return None


def load_packs_folder(registry: NodeRegistry, folder: Path) -> list[LoadedPack]:
    """Load every pack in ``folder``: sub-folders with ``__init__.py`` and ``*.py`` files."""
    loaded: list[LoadedPack] = []
    if not folder.is_dir():
        return loaded
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        if (entry.is_dir() and (entry / "__init__.py").exists()) or entry.suffix == ".py":
            pack = load_folder_pack(registry, entry)
            if pack is not None:
                loaded.append(pack)
    return loaded


def load_entry_point_packs(
    registry: NodeRegistry, path: list[str] | None = None, group: str = ENTRY_POINT_GROUP
) -> list[LoadedPack]:
    """Load the packs that installed distributions declare in the ``nodestudio.nodes`` group.

    ``path`` limits the search to those folders (tests use a temporary site directory).
    """
    loaded: list[LoadedPack] = []
    seen: set[str] = set()
    distributions = importlib.metadata.distributions(**({"path": path} if path else {}))
    for distribution in distributions:
        for entry_point in distribution.entry_points:
            if entry_point.group != group or entry_point.value in seen:
                continue
            seen.add(entry_point.value)
            source = f"{distribution.metadata['Name']} (entry point {entry_point.name})"
            try:
                with _warn_if_slow(entry_point.name, source):
                    pack = _pack_from(entry_point.load())
                loaded.append(registry.add_pack(pack, source=source))
            except KeyboardInterrupt:
                raise
            except BaseException as error:  # a pack must never end the program
                registry.record_failure(PackFailure(entry_point.name, source, _one_line(error),
                                                    traceback.format_exc()))
    return loaded


def create_registry(
    *, builtin: bool = True, user_packs_dir: Path | None = None, entry_points: bool = True,
    entry_point_path: list[str] | None = None,
) -> NodeRegistry:
    registry = NodeRegistry()
    if builtin:
        load_folder_pack(registry, builtin_nodes_dir(), f"nodestudio.packs.{BUILTIN_PACK_MODULE}")
    if user_packs_dir is not None:
        load_packs_folder(registry, user_packs_dir)
    if entry_points:
        load_entry_point_packs(registry, entry_point_path)
    return registry


def _pack_from(loaded: Any) -> NodePack:
    if isinstance(loaded, NodePack):
        return loaded
    if isinstance(loaded, ModuleType):
        pack = getattr(loaded, "pack", None)
        if isinstance(pack, NodePack):
            return pack
        raise TypeError(f"module {loaded.__name__} defines no `pack = NodePack(...)`")
    if callable(loaded):
        pack = loaded()
        if isinstance(pack, NodePack):
            return pack
        raise TypeError(f"{loaded!r} returned {type(pack).__name__}, not a NodePack")
    raise TypeError(f"{loaded!r} is not a NodePack, a module with `pack`, or a factory")


def _import_from_path(path: Path, module_name: str) -> ModuleType:
    existing = sys.modules.get(module_name)
    init = path / "__init__.py" if path.is_dir() else path
    if existing is not None and Path(getattr(existing, "__file__", "") or "") == init:
        return existing  # already imported from this very file (several registries, tests)
    if path.is_dir():
        spec = importlib.util.spec_from_file_location(module_name, init,
                                                      submodule_search_locations=[str(path)])
    else:
        spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import a pack from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        for name in [n for n in sys.modules if n == module_name or n.startswith(module_name + ".")]:
            del sys.modules[name]
        raise
    return module


def _module_name(path: Path) -> str:
    safe = re.sub(r"\W", "_", path.stem) or "pack"
    return f"nodestudio.packs.user_{safe}"


@contextlib.contextmanager
def _warn_if_slow(name: str, source: str, after: float | None = None) -> Iterator[None]:
    """Log a warning naming the pack if loading it takes longer than ``after`` seconds."""
    seconds = SLOW_PACK_SECONDS if after is None else after
    timer = threading.Timer(seconds, lambda: log.warning(
        "node pack %s (%s) is still loading after %g s; if it never finishes, move it out "
        "of the packs folder", name, source, seconds))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _one_line(error: BaseException) -> str:
    if isinstance(error, SystemExit):
        code = "" if error.code is None else repr(error.code)
        return (f"the pack called sys.exit({code}) while loading, which would have closed "
                "NodeStudio; it was skipped")
    return f"{type(error).__name__}: {error}".splitlines()[0]
