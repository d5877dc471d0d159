"""The layer contracts of pyproject.toml ([tool.importlinter]), checked by import-linter.

The project must keep them, and breaking one must fail, imports inside functions included
(grimp reads every import statement, not only those run at module load) and a layer that
disappears too. The broken trees are copies of the sources in a temporary folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    script = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    # The tree first on the path: lint-imports must read this copy, not the installed package.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([script, "--no-cache"], cwd=tree, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """The Python sources and pyproject.toml, without resources (a few MB)."""
    for package in ("nodestudio", "nodes"):
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__", "_bundled", "*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def add_function(path: Path, body: str) -> None:
    """A violation where tests/test_layering.py cannot see it: inside a function never called."""
    source = path.read_text(encoding="utf-8")
    indented = "".join(f"    {line}\n" for line in body.splitlines())
    path.write_text(f"{source}\n\ndef _violation() -> None:\n{indented}", encoding="utf-8")


def test_the_project_keeps_its_import_contracts():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(("module", "body", "broken"), [
    ("nodestudio/graph/model.py", "import torch\nfrom PySide6 import QtCore",
     ["nodestudio.graph is not allowed to import torch",
      "nodestudio.graph is not allowed to import PySide6"]),
    ("nodestudio/engine/executor.py", "from nodestudio.app import session",
     ["nodestudio.engine is not allowed to import nodestudio.app"]),
    ("nodes/math_nodes.py", "from nodestudio.engine import cache",
     ["nodes is not allowed to import nodestudio.engine"]),
    ("nodes/image.py", "from nodestudio.paths import workflows_dir",
     ["nodes is not allowed to import nodestudio.paths"]),
    ("nodestudio/interop/comfy/__init__.py", "from nodestudio.app.packs import create_registry",
     ["nodestudio.interop is not allowed to import nodestudio.app"]),
    ("nodestudio/runtime/vae.py", "from nodestudio.engine import cache",
     ["nodestudio.runtime is not allowed to import nodestudio.engine"]),
])
def test_a_function_level_import_across_the_layers_breaks_a_contract(tree, module, body, broken):
    add_function(tree / module, body)
    done = lint_imports(tree)
    assert done.returncode == 1, done.stdout + done.stderr
    for line in broken:
        assert line in done.stdout, done.stdout


def test_a_missing_layer_fails_rather_than_passing(tree):
    shutil.rmtree(tree / "nodestudio" / "interop")
    done = lint_imports(tree)
    assert done.returncode != 0
    assert "nodestudio.interop does not exist" in done.stdout + done.stderr
