"""NodeStudio: a node editor for controllable image generation with diffusion models.

The stable Python API::

    import nodestudio
    graph = nodestudio.load_graph("workflow.json")
    session = nodestudio.Session(device="auto")      # models_dir=... optional
    result = session.run(graph)   # result.executed, result.cached: node ids; .outputs; .files
    graph.set_value(node_id, "seed", 7)
    again = session.run(graph)    # only the changed node and what is downstream run
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any


def _read_version() -> str:
    """pyproject.toml is the one source of truth: a checkout reads it directly (an editable
    install's metadata goes stale when the version is bumped), an installed wheel or bundle
    reads the metadata built from it."""
    import re
    from importlib import metadata
    from pathlib import Path

    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    if pyproject.is_file():
        match = re.search(r'^name = "nodestudio"\s*\nversion = "([^"]+)"',
                          pyproject.read_text(encoding="utf-8"), re.MULTILINE)
        if match:
            return match.group(1)
    try:
        return metadata.version("nodestudio")
    except metadata.PackageNotFoundError:  # copied sources without metadata: still say so
        return "0+unknown"


__version__ = _read_version()

if TYPE_CHECKING:
    from nodestudio.api.registry import NodeRegistry
    from nodestudio.app.session import Session
    from nodestudio.graph.model import Graph

__all__ = ["Graph", "Session", "__version__", "load_graph", "save_graph"]


def load_graph(path: str | os.PathLike[str], registry: NodeRegistry | None = None) -> Graph:
    """Open a graph file: NodeStudio JSON, a PNG carrying a graph, or a ComfyUI workflow.

    Node types are migrated and checked against ``registry`` (default: the built-in nodes,
    the user's packs and installed packs). Raises nodestudio.graph.GraphFileError.
    """
    from pathlib import Path

    from nodestudio.app.formats import read_graph
    from nodestudio.app.packs import create_registry
    from nodestudio.app.settings import Settings

    if registry is None:
        registry = create_registry(user_packs_dir=Settings.load().user_packs_dir)
    return read_graph(Path(path), registry)


def save_graph(graph: Graph, path: str | os.PathLike[str]) -> None:
    """Save ``graph`` as NodeStudio JSON, atomically."""
    from nodestudio.graph.files import save

    save(graph, path)


def __getattr__(name: str) -> Any:
    # Lazy, so that `import nodestudio` stays cheap for the GUI's start.
    if name == "Session":
        from nodestudio.app.session import Session

        return Session
    if name == "Graph":
        from nodestudio.graph.model import Graph

        return Graph
    raise AttributeError(f"module 'nodestudio' has no attribute {name!r}")
