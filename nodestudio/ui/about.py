"""Help › About: what NodeStudio is and which version runs (issue 13: About showed none)."""

from __future__ import annotations

import nodestudio


def version() -> str:
    """The version pyproject.toml declares, as `nodestudio --version` prints it (one source:
    nodestudio.__version__ reads the checkout's pyproject or the installed metadata)."""
    return nodestudio.__version__


def about_text() -> str:
    return (f"<h3>NodeStudio {version()}</h3>"
            "<p>A node editor for controllable image generation with diffusion models.</p>"
            "<p>Graphs are plain JSON files; every PNG it writes carries the graph that made "
            "it.</p>")
