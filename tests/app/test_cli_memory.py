"""`nodestudio run --json` reports the run's peak memory; --memory-mode and --fast reach it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

from nodestudio.graph import Graph, save


def _run(tmp_path, *options: str) -> subprocess.CompletedProcess:
    (tmp_path / "input").mkdir(exist_ok=True)
    picture = np.full((64, 64, 3), 90, dtype=np.uint8)
    Image.fromarray(picture).save(tmp_path / "input" / "a.png")
    graph = Graph()
    load = graph.add_node("image.load", {"image": "a.png"})
    resize = graph.add_node("image.resize", {"width": 1024, "height": 1024})
    out = graph.add_node("image.save", {"filename_prefix": "mem"})
    graph.connect(load.id, "image", resize.id, "image")
    graph.connect(resize.id, "image", out.id, "images")
    path = save(graph, tmp_path / "graph.json")
    environment = {**os.environ, "NODESTUDIO_INPUT": str(tmp_path / "input"),
                   "NODESTUDIO_HOME": str(tmp_path / "home")}
    return subprocess.run([sys.executable, "-m", "nodestudio.cli", "run", str(path), "--output",
                           str(tmp_path / "o"), "--json", *options], capture_output=True,
                          text=True, cwd=tmp_path, env=environment, timeout=120)


def test_json_reports_the_run_peak_as_the_largest_node_peak(tmp_path):
    done = _run(tmp_path, "--memory-mode", "offload", "--fast")
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    memory = next(event for event in events if event["event"] == "run_memory")
    nodes = [event for event in events if event["event"] == "node_finished"]
    assert memory["peak_ram"] == max(event["peak_ram"] for event in nodes)
    # A 1024² float image is 12 MiB: the resize node's rise is in the run's figure.
    assert memory["ram_added"] >= 12 * 2**20
    assert events[-1]["event"] == "files"


def test_an_unknown_memory_mode_is_refused_before_running(tmp_path):
    done = _run(tmp_path, "--memory-mode", "tiny")
    assert done.returncode == 2
    assert "invalid choice: 'tiny'" in done.stderr


def test_settings_keep_memory_mode_and_fast_and_the_session_applies_them(tmp_path, monkeypatch):
    from nodestudio.app.session import Session
    from nodestudio.app.settings import Settings
    from nodestudio.runtime import fast_mode, memory_manager

    monkeypatch.setenv("NODESTUDIO_HOME", str(tmp_path))
    settings = Settings()
    settings.memory_mode, settings.fast = "sequential", True
    path = settings.save(tmp_path / "settings.json")
    loaded = Settings.load(path, environment=False)
    assert (loaded.memory_mode, loaded.fast) == ("sequential", True)
    path.write_text(json.dumps({"memory_mode": "huge", "fast": "yes"}))
    assert (Settings.load(path, environment=False).memory_mode,
            Settings.load(path, environment=False).fast) == ("auto", False)
    try:
        Session(settings=loaded, output_dir=tmp_path / "o", input_dir=tmp_path / "i")
        assert memory_manager.current_policy().mode == "sequential"
        assert fast_mode.current_policy().enabled
        assert fast_mode.current_policy().cache_dir == tmp_path / "cache" / "torch-compile"
    finally:
        memory_manager.configure("auto")
        fast_mode.configure(False)
