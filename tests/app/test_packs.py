"""Pack loading: built-ins through the folder loader, user folders, entry points, failures."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nodestudio.api import NodeRegistry
from nodestudio.app.packs import create_registry, load_entry_point_packs, load_packs_folder

EXAMPLE_PACK = Path(__file__).parents[2] / "resources" / "examples" / "nodestudio-example-pack"

GOOD_PACK = """
from nodestudio.api import FLOAT, Float, NodePack, Output, node

@node("{prefix}.half", inputs=[Float("x", 1.0)], outputs=[Output("x", FLOAT)])
def half(x: float) -> float:
    return x / 2

pack = NodePack("{prefix}", [half])
"""


def test_builtin_pack_loads_through_the_folder_loader():
    registry = create_registry(entry_points=False)
    assert registry.failures == []
    builtin = next(p for p in registry.packs if p.name == "nodestudio")
    assert builtin.source.endswith("nodes")
    assert "image.save" in registry and "primitive.seed" in registry
    assert "nodes" not in sys.modules  # never a top-level import package called `nodes`


def test_a_broken_pack_is_recorded_and_the_rest_load(tmp_path):
    (tmp_path / "good_pack").mkdir()
    (tmp_path / "good_pack" / "__init__.py").write_text(GOOD_PACK.format(prefix="good"))
    (tmp_path / "broken_pack.py").write_text("raise RuntimeError('the plugin is broken')\n")
    (tmp_path / "no_pack.py").write_text("x = 1\n")
    registry = NodeRegistry()
    loaded = load_packs_folder(registry, tmp_path)
    assert [p.name for p in loaded] == ["good"]
    assert registry.get("good.half").function(x=4.0) == 2.0
    failures = {f.name: f for f in registry.failures}
    assert set(failures) == {"broken_pack", "no_pack"}
    assert "the plugin is broken" in failures["broken_pack"].message
    assert "Traceback" in failures["broken_pack"].traceback
    assert "pack = NodePack" in failures["no_pack"].message


def test_a_pack_whose_node_ids_clash_fails_whole(tmp_path):
    (tmp_path / "one.py").write_text(GOOD_PACK.format(prefix="same"))
    (tmp_path / "two.py").write_text(GOOD_PACK.format(prefix="same"))
    registry = NodeRegistry()
    load_packs_folder(registry, tmp_path)
    assert len(registry) == 1
    assert "redefines" in registry.failures[0].message


def test_entry_point_pack_from_a_dist_info(tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "ep_pack").mkdir(parents=True)
    (site / "ep_pack" / "__init__.py").write_text(GOOD_PACK.format(prefix="ep"))
    dist_info = site / "ep_pack-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-pack\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("[nodestudio.nodes]\nep = ep_pack:pack\n"
                                                "[console_scripts]\nx = ep_pack:pack\n")
    monkeypatch.syspath_prepend(str(site))
    registry = NodeRegistry()
    loaded = load_entry_point_packs(registry, path=[str(site)])
    assert [p.name for p in loaded] == ["ep"]
    assert "ep-pack" in loaded[0].source
    assert "ep.half" in registry


@pytest.mark.slow
def test_the_example_pack_installs_with_pip_and_loads(tmp_path, monkeypatch):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(EXAMPLE_PACK)],
        check=True, capture_output=True, text=True,
    )
    monkeypatch.syspath_prepend(str(target))
    registry = create_registry(entry_points=True, entry_point_path=[str(target)])
    assert registry.failures == []
    assert "example.vignette" in registry and "example.caption" in registry
    caption = registry.get("example.caption")
    assert caption.function(colour="red", shape="circle") == "a red circle"


def test_user_packs_folder_is_loaded_by_create_registry(tmp_path):
    (tmp_path / "mine.py").write_text(GOOD_PACK.format(prefix="mine"))
    registry = create_registry(user_packs_dir=tmp_path, entry_points=False)
    assert "mine.half" in registry and "image.load" in registry


def test_pack_modules_are_written_without_heavy_imports():
    script = textwrap.dedent("""
        import sys
        from nodestudio.app.packs import create_registry
        registry = create_registry(entry_points=False)
        assert not registry.failures, registry.failures
        heavy = [m for m in ("torch", "diffusers", "transformers", "cv2", "controlnet_aux",
                             "PySide6") if m in sys.modules]
        print(",".join(heavy))
    """)
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    assert output.stdout.strip() == ""
