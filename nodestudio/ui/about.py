"""Help › About: what NodeStudio is and which version runs (issue 13: About showed none)."""

from __future__ import annotations

from importlib import metadata

import nodestudio


def version() -> str:
    """The installed package's version; the module's own when it runs from a bare checkout
    (no metadata), so About always names one."""
    try:
        return metadata.version("nodestudio")
    except metadata.PackageNotFoundError:
        return nodestudio.__version__


def about_text() -> str:
    return (f"<h3>NodeStudio {version()}</h3>"
            "<p>A node editor for controllable image generation with diffusion models.</p>"
            "<p>Graphs are plain JSON files; every PNG it writes carries the graph that made "
            "it.</p>")
