"""Autosave while there are unsaved changes, and recovery after a crash (a real kill -9)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from nodestudio.graph import files
from nodestudio.ui.autosave import AUTOSAVE_FORMAT, autosave_dir, find_recoveries

HERE = Path(__file__).parent

CRASHING_SESSION = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, sys.argv[1])
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    from conftest import TEST_TYPES
    from nodestudio.api import registry_of
    from nodestudio.graph import files
    from nodestudio.ui.application import gui_settings
    from nodestudio.ui.main_window import MainWindow
    window = MainWindow(registry_of(*TEST_TYPES), settings=gui_settings(),
                        autosave_interval_ms=100)
    editor = window.editor
    a = editor.add_node("test.source", (0, 0))
    b = editor.add_node("test.filter", (300, 0))
    editor.connect(a, "image", b, "image")
    editor.set_value(b, "prompt", "unsaved work")
    window.show()

    def crash_after_autosave():
        if window.autosaver.file.exists():
            with open(sys.argv[2], "w") as expected:
                expected.write(files.dumps(editor.graph))
            os.kill(os.getpid(), signal.SIGKILL)

    timer = QTimer()
    timer.timeout.connect(crash_after_autosave)
    timer.start(50)
    app.exec()
""")


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("NODESTUDIO_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_autosave_writes_only_unsaved_changes_and_a_clean_exit_removes_it(make_window, home,
                                                                          tmp_path):
    window = make_window(autosave=True)
    saver = window.autosaver
    assert not saver.save_if_needed()  # nothing to protect yet
    window.editor.add_node("test.source", (0, 0))
    assert saver.save_if_needed()
    data = json.loads(saver.file.read_text())
    assert data["format"] == AUTOSAVE_FORMAT and data["pid"] == os.getpid()
    assert files.from_document(data["graph"]) == window.editor.graph
    assert not saver.save_if_needed()  # no change since
    assert window.save_as(tmp_path / "saved.json")
    assert not saver.file.exists()  # saved: nothing left to recover
    window.editor.add_node("test.mask", (0, 300))
    assert saver.save_if_needed()
    assert window.close()
    assert not saver.file.exists()
    assert find_recoveries() == []


def test_after_a_kill_9_the_next_window_offers_to_restore(make_window, home, tmp_path):
    expected_file = tmp_path / "expected.json"
    env = dict(os.environ, NODESTUDIO_HOME=str(home), QT_QPA_PLATFORM="offscreen")
    process = subprocess.run([sys.executable, "-c", CRASHING_SESSION, str(HERE),
                              str(expected_file)], env=env, timeout=60, capture_output=True)
    assert process.returncode == -9, process.stderr.decode()
    [left_behind] = list(autosave_dir().glob("session-*.json"))

    window = make_window(autosave=True)
    banner = window.recovery_banner
    assert banner.isVisible()
    assert "did not close properly" in banner.label.text()
    assert len(window.editor.graph) == 0
    QTest.mouseClick(banner.restore_button, Qt.MouseButton.LeftButton)
    assert not banner.isVisible()
    assert window.editor.graph == files.loads(expected_file.read_text())
    assert window.editor.graph.value("2", "prompt") == "unsaved work"
    assert window.document.dirty and window.isWindowModified()
    assert not left_behind.exists()
    assert window.close()
    assert list(autosave_dir().glob("session-*.json")) == []


def _fake_autosave(folder: Path, pid: int, name: str = "session-1-abc.json") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    graph = {"format": "nodestudio.graph", "version": 2, "nodes": [
        {"id": "1", "type": "test.mask", "type_version": 1, "values": {}}], "links": []}
    path.write_text(json.dumps({"format": AUTOSAVE_FORMAT, "version": 1, "pid": pid,
                                "saved_at": 1.0, "source": None, "graph": graph}))
    return path


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_discarding_the_offer_deletes_the_autosave(make_window, home):
    path = _fake_autosave(autosave_dir(), _dead_pid())
    window = make_window(autosave=True)
    assert window.recovery_banner.isVisible()
    QTest.mouseClick(window.recovery_banner.discard_button, Qt.MouseButton.LeftButton)
    assert not path.exists() and len(window.editor.graph) == 0


def test_autosaves_of_running_sessions_and_damaged_files_are_not_offered(home):
    folder = autosave_dir()
    _fake_autosave(folder, os.getppid(), "session-2-live.json")  # a process that runs
    (folder / "session-3-bad.json").write_text("{ not json")
    assert find_recoveries() == []
    _fake_autosave(folder, _dead_pid(), "session-4-dead.json")
    assert [r.file.name for r in find_recoveries()] == ["session-4-dead.json"]
