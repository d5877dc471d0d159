"""Validation hints: sizes too slow for the device, and where a missing picture belongs."""

from __future__ import annotations

import sys

import pytest

from nodestudio.app.session import Session
from nodestudio.graph import Graph


@pytest.fixture(scope="module")
def registry():
    from nodestudio.app.packs import create_registry

    return create_registry(user_packs_dir=None)


def _latent_graph(width: int, height: int, batch: int = 1) -> tuple[Graph, str]:
    graph = Graph()
    latent = graph.add_node("diffusion.empty_latent",
                            {"width": width, "height": height, "batch_size": batch})
    return graph, latent.id


def test_a_size_far_beyond_the_cpu_is_a_slow_warning(registry, tmp_path):
    session = Session(device="cpu", registry=registry, output_dir=tmp_path, input_dir=tmp_path)
    graph, latent = _latent_graph(4096, 2048)
    (warning,) = session.warnings(graph)
    assert (warning.kind, warning.node_id, warning.input) == ("slow", latent, "width")
    assert warning.message == (
        "4096 × 2048 is 8.4 megapixels, far more than the cpu renders in reasonable time "
        "(about 4): each step may take minutes; generate smaller and upscale afterwards; on a "
        "GPU it is much faster")
    assert session.warnings(_latent_graph(1024, 1024)[0]) == []
    assert session.warnings(_latent_graph(1024, 1024, batch=8)[0])[0].message.startswith(
        "1024 × 1024 × 8 images is 8.4 megapixels")
    # A warning, not an error: the graph still validates as far as size goes.
    assert not [p for p in session.validate(graph) if p.kind == "slow"]


def test_a_gpu_is_warned_only_far_beyond(registry, tmp_path):
    session = Session(device="cuda", registry=registry, output_dir=tmp_path, input_dir=tmp_path)
    assert session.warnings(_latent_graph(4096, 2048)[0]) == []
    (warning,) = session.warnings(_latent_graph(16384, 16384)[0])
    assert warning.message.startswith("16384 × 16384 is 268.4 megapixels, far more than the "
                                      "cuda renders")


def test_warnings_do_not_import_torch(tmp_path):
    import subprocess

    code = ("import sys\nfrom nodestudio.app.session import Session\nfrom nodestudio.graph "
            "import Graph\ns = Session(device='auto', output_dir='.')\ng = Graph()\n"
            "g.add_node('diffusion.empty_latent', {'width': 16384, 'height': 16384})\n"
            "print(len(s.warnings(g)), 'torch' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert done.stdout.split() == ["1", "False"], done.stderr


def test_a_missing_picture_names_the_input_folder(registry, tmp_path):
    folder = tmp_path / "input"
    folder.mkdir()
    session = Session(device="cpu", registry=registry, output_dir=tmp_path, input_dir=folder)
    graph = Graph()
    picture = graph.add_node("image.load", {"image": "x.png"})
    graph.connect(picture.id, "image", graph.add_node("image.preview").id, "images")
    problems = [p for p in session.validate(graph) if p.kind == "missing_choice"]
    assert [p.message for p in problems] == [
        f"'x.png' is not in {folder}; put the file there or choose one that is"]


def test_an_output_of_a_missing_pack_is_named_before_the_run(registry, tmp_path):
    """A save node whose pack is not installed would be skipped: the run must not look
    complete without its file (issue 16). Nodes nothing flows into (UI-pack switches) are
    left alone."""
    session = Session(device="cpu", registry=registry, output_dir=tmp_path, input_dir=tmp_path)
    graph, latent = _latent_graph(64, 64)
    saver = graph.add_node("somepack.save_latent_as_gif", {})
    graph.connect(latent, "LATENT", saver.id, "samples")
    switch = graph.add_node("somepack.group_muter", {})
    warnings = session.warnings(graph)
    assert [(w.kind, w.node_id) for w in warnings] == [("unrunnable_output", saver.id)]
    assert "not installed" in warnings[0].message
    assert switch.id not in {w.node_id for w in warnings}
    # Named once even when an importer named it already.
    graph.load_warnings.append(warnings[0])
    assert session.warnings(graph) == []
