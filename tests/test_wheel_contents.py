"""The wheel ships what users run: the app, the built-in nodes, resources (demo model included)
and the desktop files, and nothing the project only uses to build itself (issue 21)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    # The build backend's own API: offline, and the same code `pip wheel .` runs.
    from hatchling.builders.wheel import WheelBuilder

    out = tmp_path_factory.mktemp("wheel")
    built = list(WheelBuilder(str(ROOT)).build(directory=str(out), versions=["standard"]))
    assert len(built) == 1
    with zipfile.ZipFile(built[0]) as wheel:
        return set(wheel.namelist())


def test_the_wheel_carries_no_tests_and_no_training_code(wheel_names: set[str]) -> None:
    assert not [name for name in wheel_names if name.startswith(("tests/", "tools/"))]
    assert not [name for name in wheel_names if "/tests/" in name and "_bundled/resources" not in
                name]
    for dev_only in ("train", "evaluate", "data", "export", "metrics", "models", "tokenizer",
                     "workflows"):
        assert f"nodestudio/demo/{dev_only}.py" not in wheel_names
    assert not [name for name in wheel_names if name.endswith((".pyc", "/__pycache__/"))]
    assert not [name for name in wheel_names if "render_icons" in name or name.endswith(".spec")]


def test_the_wheel_carries_what_users_run(wheel_names: set[str]) -> None:
    bundled = "nodestudio/_bundled/"
    expected = [
        "nodestudio/cli.py",
        "nodestudio/app/desktop_install.py",
        "nodestudio/demo/world.py",
        bundled + "nodes/__init__.py",
        bundled + "resources/workflows/text_to_image.json",
        bundled + "resources/models/nodestudio-shapes/model_index.json",
        bundled + "resources/models/nodestudio-shapes/unet/config.json",
        bundled + "packaging/linux/org.nodestudio.NodeStudio.desktop",
        bundled + "packaging/linux/org.nodestudio.NodeStudio.metainfo.xml",
        bundled + "packaging/linux/org.nodestudio.NodeStudio-mime.xml",
        bundled + "packaging/linux/icons/org.nodestudio.NodeStudio.svg",
        bundled + "packaging/linux/icons/256x256/org.nodestudio.NodeStudio.png",
    ]
    missing = [name for name in expected if name not in wheel_names]
    assert not missing, missing
    for model in ("nodestudio-shapes", "nodestudio-shapes-canny"):
        weights = [name for name in wheel_names if name.startswith(f"{bundled}resources/models/"
                                                                   f"{model}/")
                   and name.endswith(".safetensors")]
        assert weights, f"the {model} weights are missing from the wheel"
    # The entry point users start, and the version from pyproject in the metadata.
    import nodestudio

    metadata = f"nodestudio-{nodestudio.__version__}.dist-info/entry_points.txt"
    assert metadata in wheel_names
