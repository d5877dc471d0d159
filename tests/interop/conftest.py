"""Fixtures for the ComfyUI interoperability tests: the example workflows and the registry."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from nodestudio.api import NodeRegistry
from nodestudio.app.packs import create_registry
from nodestudio.paths import resources_dir

EXAMPLES = resources_dir() / "examples" / "comfy"


@pytest.fixture(scope="session")
def registry() -> NodeRegistry:
    loaded = create_registry(entry_points=False)
    assert not loaded.failures, loaded.failures[0].traceback
    return loaded


@pytest.fixture(scope="session")
def _examples() -> dict[str, Any]:
    return {path.name: json.loads(path.read_text()) for path in EXAMPLES.glob("*.json")}


@pytest.fixture
def example(_examples: dict[str, Any]) -> Callable[[str], Any]:
    """A fresh copy of an example file's JSON (tests may change it)."""
    return lambda name: copy.deepcopy(_examples[name])
