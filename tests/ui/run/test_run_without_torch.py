"""The window opens, marks stale nodes, validates and runs a torch-free graph without ever
importing torch: importing it is the first diffusion run's job, on the worker thread.

Runs in a fresh interpreter where importing torch is recorded and refused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from nodestudio.graph import files
from nodestudio.graph.model import Graph

SCRIPT = r"""
import importlib.abc, json, sys, threading
from pathlib import Path

attempts = []

class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "torch":
            attempts.append((name, threading.current_thread().name))
            raise ImportError("torch is not available in this test")
        return None

sys.meta_path.insert(0, NoTorch())

from PySide6.QtCore import QEventLoop, QTimer
from nodestudio.ui.application import create_main_window, ensure_application

graph_path, models = Path(sys.argv[1]), Path(sys.argv[2])
app = ensure_application()
window = create_main_window(graph_path, models=[models], autosave=False)
window.show()
controller = window.run_controller
states = controller.watcher.refresh()
problems = [str(p) for p in controller.problems()]
jobs = controller.run()
loop = QEventLoop()
poll = QTimer()
poll.timeout.connect(lambda: loop.quit() if jobs and jobs[0].done else None)
poll.start(10)
QTimer.singleShot(30000, loop.quit)
loop.exec()
app.processEvents()
gallery = [str(entry.path) for entry in controller.gallery.entries if entry.path]
print(json.dumps({
    "attempts": attempts, "torch_loaded": "torch" in sys.modules, "states": states,
    "problems": problems, "status": jobs[0].status if jobs else None,
    "error": jobs[0].error if jobs else None, "gallery": gallery,
    "loader_badge": controller.board.badge("checkpoint").kind,
}))
window.close()
"""


def test_the_window_works_and_runs_without_importing_torch(tmp_path: Path):
    models = tmp_path / "models"
    (models / "checkpoints").mkdir(parents=True)
    (models / "checkpoints" / "mine.safetensors").write_bytes(b"not really a model")
    inputs = tmp_path / "home" / "input"
    inputs.mkdir(parents=True)
    pixels = (np.random.default_rng(1).random((16, 24, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(inputs / "photo.png")

    graph = Graph()
    graph.add_node("image.load", {"image": "photo.png"}, id="load")
    graph.add_node("image.save", {"filename_prefix": "plain"}, id="save")
    graph.connect("load", "image", "save", "images")
    # Off to the side, not needed by the output: its fingerprint still asks for the device.
    graph.add_node("diffusion.load_checkpoint", {"checkpoint": "mine.safetensors"},
                   id="checkpoint")
    graph_path = tmp_path / "graph.json"
    files.save(graph, graph_path)

    environment = dict(os.environ, QT_QPA_PLATFORM="offscreen",
                       NODESTUDIO_HOME=str(tmp_path / "home"), NODESTUDIO_DEVICE="auto")
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(graph_path), str(models)],
                          capture_output=True, text=True, timeout=120, env=environment,
                          cwd=Path(__file__).resolve().parents[3])
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["attempts"] == [] and not report["torch_loaded"]
    assert report["problems"] == []
    assert report["states"] == {"load": "stale", "save": "stale", "checkpoint": "stale"}
    assert report["status"] == "finished", report["error"]
    assert len(report["gallery"]) == 1 and Path(report["gallery"][0]).is_file()
    assert report["loader_badge"] == "stale"
