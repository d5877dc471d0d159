"""nodestudio.testing, the pytest plugin for pack authors: the example pack's own tests run on
it (in a copy, in a separate pytest), its fixtures give a session on the demo model and on a
tiny SD model, and a broken node makes those tests fail."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_PACK = ROOT / "resources" / "examples" / "nodestudio-example-pack"

#: What a pack author writes to test against the model fixtures (added to the copy).
FIXTURE_TESTS = '''
from nodestudio.graph import Graph


def test_the_session_is_on_the_demo_model_in_temporary_folders(nodestudio_session, tmp_path):
    assert "nodestudio-shapes" in nodestudio_session.choices("models:checkpoints")
    settings = nodestudio_session.settings
    assert settings.output_dir.is_relative_to(tmp_path) and settings.device == "cpu"
    assert "example.vignette" in nodestudio_session.registry


def test_the_tiny_sd_model_generates_an_image_through_the_pack(tiny_sd_session, tiny_sd_model,
                                                              nodestudio_run):
    assert tiny_sd_model.name in tiny_sd_session.choices("models:checkpoints")
    graph = Graph()
    load = graph.add_node("diffusion.load_checkpoint", {"checkpoint": tiny_sd_model.name})
    prompt = graph.add_node("diffusion.text_encode", {"text": "a red circle"})
    latent = graph.add_node("diffusion.empty_latent", {"width": 32, "height": 32})
    sampler = graph.add_node("diffusion.sampler", {"seed": 3, "steps": 2, "cfg": 1.0})
    decode = graph.add_node("diffusion.vae_decode")
    vignette = graph.add_node("example.vignette", {"strength": 1.0})
    save = graph.add_node("image.save", {"filename_prefix": "plugin"})
    graph.connect(load.id, "clip", prompt.id, "clip")
    graph.connect(load.id, "model", sampler.id, "model")
    graph.connect(prompt.id, "conditioning", sampler.id, "positive")
    graph.connect(load.id, "model", latent.id, "model")
    graph.connect(latent.id, "latent", sampler.id, "latent")
    graph.connect(sampler.id, "latent", decode.id, "latent")
    graph.connect(load.id, "vae", decode.id, "vae")
    graph.connect(decode.id, "image", vignette.id, "image")
    graph.connect(vignette.id, "image", save.id, "images")
    result = nodestudio_run(graph, session=tiny_sd_session)
    image = result.outputs[vignette.id]["image"]
    assert image.shape == (1, 32, 32, 3) and float(image.std()) > 0.0
    assert float(abs(image[0, 0, 0]).max()) < 1e-6  # the vignette's corner
    assert [path.parent for path in result.files] == [tiny_sd_session.settings.output_dir]
'''


def example_copy(tmp_path: Path) -> Path:
    """The example pack without its build leftovers, where its pytest may write caches."""
    copy = tmp_path / "example-pack"
    shutil.copytree(EXAMPLE_PACK, copy, ignore=shutil.ignore_patterns(
        "build", "*.egg-info", "__pycache__", ".pytest_cache"))
    return copy


def run_pytest(folder: Path) -> subprocess.CompletedProcess[str]:
    # -p: the plugin as the pytest11 entry point loads it, whether or not this checkout's
    # entry points are installed (the name is the entry point's, so it never loads twice).
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "nodestudio.testing", "-q", "-p",
         "no:cacheprovider", "-o", "timeout=300"],
        cwd=folder, capture_output=True, text=True, timeout=600)


def test_the_entry_point_names_the_plugin():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["entry-points"]["pytest11"] == {
        "nodestudio.testing": "nodestudio.testing"}


def test_the_example_pack_tests_pass_on_the_plugin_fixtures(tmp_path):
    pack = example_copy(tmp_path)
    (pack / "tests" / "test_fixtures.py").write_text(textwrap.dedent(FIXTURE_TESTS))
    done = run_pytest(pack)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "6 passed" in done.stdout


def test_a_broken_node_fails_the_example_pack_tests(tmp_path):
    pack = example_copy(tmp_path)
    nodes = pack / "src" / "nodestudio_example_pack" / "nodes.py"
    source = nodes.read_text(encoding="utf-8")
    assert "falloff = 1.0 - strength * distance**2" in source
    nodes.write_text(source.replace("falloff = 1.0 - strength * distance**2",
                                    "falloff = 1.0 - strength * distance"), encoding="utf-8")
    done = run_pytest(pack)
    assert done.returncode == 1
    assert "FAILED tests/test_nodes.py::test_vignette_darkens_the_corners_and_keeps_the_centre" \
        in done.stdout


def test_a_pack_name_that_does_not_import_is_one_clear_sentence(tmp_path):
    pack = example_copy(tmp_path)
    config = pack / "pyproject.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        'nodestudio_packs = ["nodestudio_example_pack"]', 'nodestudio_packs = ["no_such_pack"]'),
        encoding="utf-8")
    done = run_pytest(pack)
    assert done.returncode != 0
    assert "nodestudio_packs: cannot import 'no_such_pack'" in done.stdout + done.stderr


@pytest.mark.parametrize("reference", ["nodestudio.api", "nodestudio.api:NodePack"])
def test_a_reference_that_is_not_a_pack_is_refused(reference):
    from nodestudio.testing import load_pack

    with pytest.raises(pytest.UsageError, match="is not a NodePack"):
        load_pack(reference)
