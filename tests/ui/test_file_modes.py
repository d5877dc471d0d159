"""Issue 13, item 9: files NodeStudio writes get the permissions the user's umask gives new
files (0644 under 022), not the private 0600 of the atomic save's temporary file; a file
that already exists keeps the permissions it has."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from nodestudio.app.packs import create_registry
from nodestudio.app.session import Session
from nodestudio.app.settings import Settings
from nodestudio.graph import Graph, files


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_saved_graphs_follow_the_umask_and_keep_an_existing_files_mode(umask_022, tmp_path):
    graph = Graph()
    graph.add_node("test.source", {"width": 64})
    saved = files.save(graph, tmp_path / "graph.json")
    assert mode(saved) == 0o644
    os.umask(0o077)
    assert mode(files.save(graph, tmp_path / "private.json")) == 0o600
    os.umask(0o022)
    os.chmod(saved, 0o640)  # the user's choice survives the next save
    files.save(graph, saved)
    assert mode(saved) == 0o640
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_written_images_follow_the_umask(umask_022, tmp_path):
    settings = Settings(models_dirs=[tmp_path / "models"], output_dir=tmp_path / "output",
                        input_dir=tmp_path / "input", user_packs_dir=tmp_path / "packs",
                        device="cpu")
    session = Session(settings=settings, registry=create_registry(entry_points=False))
    graph = Graph()
    # The example picture (Load Image's fallback), saved: no model needed.
    load = graph.add_node("image.load", {"image": "controlnet_shape.png"})
    save = graph.add_node("image.save", {"filename_prefix": "modes"})
    graph.connect(load.id, "image", save.id, "images")
    written = session.run(graph).files
    assert written
    for path in written:
        assert mode(Path(path)) == 0o644, path


def test_autosaves_follow_the_umask(umask_022, make_window, tmp_path):
    window = make_window(autosave=True, autosave_folder=tmp_path / "autosave")
    window.editor.add_node("test.source", (0, 0))
    assert window.autosaver.save_if_needed()
    assert mode(window.autosaver.file) == 0o644
