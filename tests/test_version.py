"""One version, from pyproject.toml: the package, About and `nodestudio --version` agree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tomllib

import nodestudio
from nodestudio.ui import about

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "version"]


def test_package_about_and_cli_show_the_pyproject_version() -> None:
    version = _pyproject_version()
    assert nodestudio.__version__ == version
    assert about.version() == version
    assert f"NodeStudio {version}<" in about.about_text()
    # A fresh process, as a user types it; it must answer without loading Qt or torch.
    code = ("import sys\nfrom nodestudio.cli import main\ncode = main(['--version'])\n"
            "assert 'torch' not in sys.modules and 'PySide6' not in sys.modules\n"
            "sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"nodestudio {version}"


def test_the_appstream_release_names_the_current_version() -> None:
    metainfo = (ROOT / "packaging" / "linux" / "org.nodestudio.NodeStudio.metainfo.xml")
    import xml.etree.ElementTree as ElementTree

    releases = ElementTree.parse(metainfo).getroot().find("releases")
    assert releases is not None
    newest = releases.findall("release")[0]
    assert newest.get("version") == _pyproject_version()
