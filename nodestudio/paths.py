"""Where NodeStudio's own files are, installed or run from a checkout.

In a checkout (or an editable install) ``nodes/`` and ``resources/`` sit beside the package;
in a wheel they travel inside it as data under ``nodestudio/_bundled/`` (see pyproject.toml).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


@cache
def _bundle_root() -> Path:
    bundled = PACKAGE_DIR / "_bundled"
    if bundled.is_dir():
        return bundled
    return PACKAGE_DIR.parent


def resources_dir() -> Path:
    """The folder of icons, styles, example workflows, model configs and the demo model."""
    return _bundle_root() / "resources"


def builtin_nodes_dir() -> Path:
    """The built-in node pack (loaded through the same loader as third-party packs)."""
    return _bundle_root() / "nodes"


def demo_models_dir() -> Path:
    """The embedded demo models, listed beside the user's models."""
    return resources_dir() / "models"


def workflows_dir() -> Path:
    return resources_dir() / "workflows"
