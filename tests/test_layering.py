"""The layering rules at run time: no Qt below ui/, no torch in graph/ and api/. The import
rules themselves (function-level imports too) are import-linter's contracts in pyproject.toml,
run by tests/test_import_contracts.py and .ci/run."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

BLOCKER = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def __init__(self, names): self.names = names
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.names:
            raise ImportError("layering: " + name + " imported")
        return None
sys.meta_path.insert(0, Block({blocked!r}))
"""


def run_blocked(blocked: set[str], code: str) -> subprocess.CompletedProcess[str]:
    script = BLOCKER.format(blocked=blocked) + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)


@pytest.mark.parametrize("package", ["nodestudio.graph", "nodestudio.api"])
def test_graph_and_api_import_neither_qt_nor_torch(package):
    done = run_blocked({"PySide6", "torch", "diffusers", "transformers"}, f"""
        import pkgutil, importlib, {package} as root
        for module in pkgutil.walk_packages(root.__path__, root.__name__ + "."):
            importlib.import_module(module.name)
    """)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("package", ["nodestudio.engine", "nodestudio.runtime", "nodestudio.app",
                                     "nodestudio.interop"])
def test_engine_runtime_and_app_import_no_qt(package):
    # A missing package fails: every layer exists, and a rename must update this list.
    done = run_blocked({"PySide6"}, f"""
        import pkgutil, importlib
        import {package} as root
        for module in pkgutil.walk_packages(root.__path__, root.__name__ + "."):
            importlib.import_module(module.name)
    """)
    assert done.returncode == 0, done.stderr


def test_a_headless_run_of_generic_nodes_needs_neither_qt_nor_torch(tmp_path):
    done = run_blocked({"PySide6", "torch"}, f"""
        import numpy as np
        from nodestudio.app.session import Session
        from nodestudio.graph import Graph
        graph = Graph()
        number = graph.add_node("primitive.int", {{"value": 3}})
        solid = graph.add_node("mask.solid", {{"value": 0.5, "width": 8, "height": 8}})
        image = graph.add_node("mask.to_image")
        save = graph.add_node("image.save", {{"filename_prefix": "x"}})
        graph.connect(solid.id, "mask", image.id, "mask")
        graph.connect(image.id, "image", save.id, "images")
        result = Session(device="auto", output_dir={str(tmp_path)!r}).run(graph)
        assert len(result.files) == 1
    """)
    assert done.returncode == 0, done.stderr


def test_the_window_and_the_plain_cli_never_import_ray():
    """Ray is for the farm only: the window, the backends and a local run work without it."""
    done = run_blocked({"ray"}, """
        import nodestudio.app.backends, nodestudio.app.farm, nodestudio.app.farm.routing
        import nodestudio.app.farm.sweep, nodestudio.app.farm.worker, nodestudio.app.farm.cli
        import nodestudio.ui.main_window, nodestudio.ui.run.farm_panel, nodestudio.cli
        import nodestudio.app.settings as settings
        assert settings.Settings().farm_address == "auto"
    """)
    assert done.returncode == 0, done.stderr
