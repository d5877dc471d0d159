"""Warm start (issue 13, item 18): once the window is up, torch, diffusers and the demo model
are loaded on a background thread, so the first Run finds the model in the cache; the window
opens without torch, the UI keeps turning meanwhile, a setting switches it off, and closing
the window while it warms exits at once.

Each case runs in a fresh interpreter that records which thread imports torch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = r"""
import importlib.abc, json, sys, threading, time

imports = []

class Recorder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "torch":
            imports.append(threading.current_thread().name)
        return None

sys.meta_path.insert(0, Recorder())

from PySide6.QtCore import QEventLoop, QTimer
from nodestudio.ui.application import create_main_window, ensure_application

mode = sys.argv[1]
app = ensure_application()
window = create_main_window(autosave=False)  # the default workflow: the demo model
window.show()
app.processEvents()
report = {"torch_at_open": "torch" in sys.modules}
controller = window.run_controller
warm = {}
controller.warmup.finished.connect(lambda seconds, what: warm.update(what=what))
ticks = []
timer = QTimer()
timer.timeout.connect(lambda: ticks.append(time.monotonic()))
timer.start(10)

def wait(condition, limit):
    loop = QEventLoop()
    poll = QTimer()
    poll.timeout.connect(lambda: loop.quit() if condition() else None)
    poll.start(5)
    QTimer.singleShot(int(limit * 1000), loop.quit)
    loop.exec()

if mode == "close":  # the user quits while the libraries are still loading
    wait(lambda: controller.warmup.running, 10)
    report["running"] = controller.warmup.running
    window.close()
    app.quit()
    print(json.dumps(report), flush=True)
    raise SystemExit(0)

if mode == "early":  # the user presses Run while the model is still loading
    wait(lambda: controller.warmup.running, 10)
    report["running"] = controller.warmup.running
else:
    wait(lambda: bool(warm), 120 if mode == "on" else 2)
timer.stop()
gaps = [b - a for a, b in zip(ticks, ticks[1:])]
report.update(imports=list(imports), warm=warm, ticks=len(ticks), max_gap=max(gaps, default=0.0),
              states=controller.watcher.refresh())
jobs = controller.run()
wait(lambda: jobs and jobs[0].done, 120)
result = jobs[0].result
report.update(status=jobs[0].status, executed=list(result.executed) if result else None,
              cached=list(result.cached) if result else None)
print(json.dumps(report), flush=True)
window.close()
"""


def _run(tmp_path: Path, mode: str, warm: str) -> tuple[dict, float]:
    environment = dict(os.environ, QT_QPA_PLATFORM="offscreen",
                       NODESTUDIO_HOME=str(tmp_path / "home"), NODESTUDIO_WARM_START=warm,
                       NODESTUDIO_DEVICE="cpu")
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True,
                          timeout=240, env=environment, cwd=Path(__file__).resolve().parents[3])
    took = time.monotonic() - began
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), took


@pytest.mark.slow
def test_the_window_warms_the_model_in_the_background(tmp_path: Path):
    report, _took = _run(tmp_path, "on", "1")
    assert report["torch_at_open"] is False  # the window opened without torch …
    # … which was imported once it was up, off the UI thread,
    assert report["imports"] and set(report["imports"]) == {"nodestudio-warmup"}
    assert report["warm"] == {"what": "libraries and models"}
    assert report["ticks"] > 20 and report["max_gap"] < 2.0  # the UI kept turning
    # and the model waits in the cache: the first run reuses the loader instead of loading.
    assert report["states"]["checkpoint"] == "cached"
    assert report["status"] == "finished"
    assert "checkpoint" in report["cached"] and "checkpoint" not in report["executed"]


@pytest.mark.slow
def test_a_run_pressed_while_it_warms_waits_for_its_model(tmp_path: Path):
    report, _took = _run(tmp_path, "early", "1")
    assert report["running"] is True
    assert report["status"] == "finished"
    # Loaded once, by the warm start: the run took it from the cache.
    assert "checkpoint" in report["cached"] and "checkpoint" not in report["executed"]


@pytest.mark.slow
def test_the_setting_switches_it_off(tmp_path: Path):
    report, _took = _run(tmp_path, "off", "0")
    assert report["warm"] == {}
    assert report["imports"] == []  # nothing imported torch before Run
    assert report["status"] == "finished"
    assert "checkpoint" in report["executed"]


@pytest.mark.slow
def test_closing_while_it_warms_exits_at_once(tmp_path: Path):
    report, took = _run(tmp_path, "close", "1")
    assert report["running"] is True
    assert took < 60
