"""A graph with values JSON cannot hold (issue 14, item 4): the window opens it, Save As and
autosave never raise, and ``--screenshot`` exits."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from PySide6.QtWidgets import QMessageBox

from nodestudio.graph import files


def _nan_file(tmp_path):
    data = {"format": "nodestudio.graph", "version": 2,
            "metadata": {"title": "shared", "score": float("nan")},
            "nodes": [{"id": "1", "type": "test.source", "values": {}, "odd": float("inf")}],
            "links": [], "layout": {"nodes": {"1": {"pos": [0, 0]}},
                                    "extra": {"zoom": float("-inf")}}}
    path = tmp_path / "shared.json"
    path.write_text(json.dumps(data))  # Python writes NaN / Infinity as other tools do
    return path


def test_a_file_with_nan_opens_saves_as_and_reopens_equal(make_window, tmp_path):
    window = make_window()
    assert window.open_file(_nan_file(tmp_path))
    target = tmp_path / "again.json"
    assert window.save_as(target)  # raised ValueError before
    assert files.load(target) == window.editor.graph
    assert window.editor.graph.metadata == {"title": "shared"}


def test_save_as_reports_a_value_json_cannot_hold_instead_of_raising(make_window, tmp_path,
                                                                     monkeypatch):
    window = make_window()
    window.editor.add_node("test.source", (0, 0))
    window.editor.graph.metadata["score"] = float("nan")  # set by a script, not a file
    warned = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: warned.append(args))
    target = tmp_path / "x.json"
    assert not window.save_as(target)
    assert warned and "Out of range float values" in warned[0][-1]
    assert not target.exists() and not list(tmp_path.glob(".x.json.*.tmp"))
    assert window.document.dirty  # the work is still there, still unsaved


def test_save_as_under_a_file_says_so_in_words(make_window, tmp_path, monkeypatch):
    window = make_window()
    window.editor.add_node("test.source", (0, 0))
    warned = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: warned.append(args))
    (tmp_path / "notes").write_text("a file")
    assert not window.save_as(tmp_path / "notes" / "x.json")
    assert warned[0][-1] == (f"{tmp_path / 'notes' / 'x.json'}\n\n{tmp_path / 'notes'} is a "
                             "file, not a folder")  # was "[Errno 20] Not a directory: '…'"
    assert window.document.dirty


def test_autosave_keeps_the_work_when_a_value_cannot_be_written(make_window, tmp_path,
                                                                monkeypatch):
    monkeypatch.setenv("NODESTUDIO_HOME", str(tmp_path / "home"))
    window = make_window(autosave=True)
    window.editor.add_node("test.source", (0, 0))
    window.editor.graph.metadata["score"] = float("inf")
    assert window.autosaver.save_if_needed()  # raised ValueError on every tick before
    data = json.loads(window.autosaver.file.read_text())
    recovered = files.from_document(data["graph"])
    assert list(recovered.nodes) == list(window.editor.graph.nodes)
    assert recovered.metadata == {"score": None}


def test_screenshot_of_a_file_with_nan_exits(tmp_path):
    picture = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", NODESTUDIO_HOME=str(tmp_path / "h"))
    done = subprocess.run([sys.executable, "-m", "nodestudio.cli", str(_nan_file(tmp_path)),
                           "--screenshot", str(picture)],
                          env=env, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert picture.is_file()


def test_a_screenshot_that_cannot_be_written_says_why_in_one_line(tmp_path):
    (tmp_path / "notes").write_text("a file where a folder would go")
    picture = tmp_path / "notes" / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", NODESTUDIO_HOME=str(tmp_path / "h"))
    done = subprocess.run([sys.executable, "-m", "nodestudio.cli", "--screenshot", str(picture)],
                          env=env, capture_output=True, text=True, timeout=90)
    assert done.returncode == 2
    assert done.stderr == (f"nodestudio: could not write {picture}: {tmp_path / 'notes'} is a "
                           "file, not a folder\n")
