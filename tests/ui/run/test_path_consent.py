"""The window asks before a graph reads a picture outside the input folder (issue 14, item 11):
once per graph, remembered for that document, forgotten when another one is opened."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from nodestudio.app.queue import FINISHED
from nodestudio.graph.model import Graph


def private_picture_graph(kit, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    private = tmp_path / "secret" / "private.png"
    private.parent.mkdir()
    Image.fromarray(np.full((8, 8, 3), 70, dtype=np.uint8)).save(private)
    editor = kit.window.editor
    ids = {"load": editor.add_node("image.load", (0, 0)),
           "save": editor.add_node("image.save", (300, 0))}
    editor.set_value(ids["load"], "image", str(private))
    editor.connect(ids["load"], "image", ids["save"], "images")
    return private, ids


def recording_answer(answer: bool, asked: list[list[Path]]):
    def ask(_parent, outside, title):
        asked.append([item.path for item in outside])
        assert all("Load Image" in title(item.node_id) for item in outside)
        return answer
    return ask


def test_refusing_stops_the_run_and_marks_the_node(kit, tmp_path, monkeypatch):
    private, ids = private_picture_graph(kit, tmp_path)
    asked: list[list[Path]] = []
    monkeypatch.setattr(kit.controller.consent, "ask", recording_answer(False, asked))
    assert kit.controller.run(1) == []
    assert asked == [[private]]
    problems = kit.controller.problems()
    assert any(p.kind == "path_not_allowed" and p.node_id == ids["load"] for p in problems)
    # Remembered: the next Run does not ask again, and still does not read the file.
    assert kit.controller.run(1) == [] and len(asked) == 1
    assert not kit.output_dir.exists()


def test_allowing_runs_and_is_remembered_for_the_document_only(kit, tmp_path, monkeypatch):
    private, _ids = private_picture_graph(kit, tmp_path)
    asked: list[list[Path]] = []
    monkeypatch.setattr(kit.controller.consent, "ask", recording_answer(True, asked))
    job = kit.run()
    assert job.status == FINISHED and len(job.result.files) == 1
    again = kit.run()
    assert again.status == FINISHED and len(asked) == 1  # asked once for this graph

    # Another document: the same file needs its own answer.
    other = Graph()
    load = other.add_node("image.load", {"image": str(private)})
    save = other.add_node("image.save", {"filename_prefix": "other"})
    other.connect(load.id, "image", save.id, "images")
    kit.window.editor.set_graph(other)
    assert kit.session.allowed_paths == []
    kit.run()
    assert len(asked) == 2
