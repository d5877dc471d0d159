"""Packs and nodes that try to end the process: NodeStudio records them and carries on."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nodestudio.api import NodeRegistry
from nodestudio.app import packs
from nodestudio.app.packs import load_packs_folder
from nodestudio.graph import Graph, save

GOOD_PACK = """
from nodestudio.api import FLOAT, Float, NodePack, Output, node

@node("good.half", inputs=[Float("x", 1.0)], outputs=[Output("x", FLOAT)], output_node=True)
def half(x: float) -> float:
    return x / 2

pack = NodePack("good", [half])
"""

EXITING_NODE_PACK = """
import sys
from nodestudio.api import NodePack, node

@node("quitter.quit", display_name="Quitter", output_node=True)
def quit_now() -> None:
    sys.exit(3)

pack = NodePack("quitter", [quit_now])
"""


def _packs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "good.py").write_text(GOOD_PACK)
    (folder / "exit_pack.py").write_text("import sys\nsys.exit(3)\n")
    (folder / "odd_pack.py").write_text("raise GeneratorExit('odd')\n")
    return folder


def test_a_pack_calling_sys_exit_at_import_is_a_failed_pack(tmp_path):
    registry = NodeRegistry()
    loaded = load_packs_folder(registry, _packs(tmp_path))  # before the fix: SystemExit
    assert [p.name for p in loaded] == ["good"]
    failures = {f.name: f for f in registry.failures}
    assert failures["exit_pack"].message == (
        "the pack called sys.exit(3) while loading, which would have closed NodeStudio; "
        "it was skipped")
    assert failures["exit_pack"].source == str(tmp_path / "exit_pack.py")
    assert failures["odd_pack"].message == "GeneratorExit: odd"
    assert "exit_pack" not in " ".join(sys.modules)  # nothing half-imported is left behind


def test_ctrl_c_while_loading_packs_still_stops(tmp_path):
    (tmp_path / "interrupt.py").write_text("raise KeyboardInterrupt\n")
    with pytest.raises(KeyboardInterrupt):
        load_packs_folder(NodeRegistry(), tmp_path)


def test_a_pack_slow_to_import_is_named_in_a_warning(tmp_path, monkeypatch, caplog):
    (tmp_path / "sleepy.py").write_text("import time\ntime.sleep(1.0)\n" + GOOD_PACK)
    monkeypatch.setattr(packs, "SLOW_PACK_SECONDS", 0.2)
    caplog.set_level(logging.WARNING, "nodestudio.packs")
    started = time.monotonic()
    loaded = load_packs_folder(NodeRegistry(), tmp_path)
    assert [p.name for p in loaded] == ["good"]
    assert time.monotonic() - started < 10
    assert [r.getMessage() for r in caplog.records] == [
        f"node pack sleepy ({tmp_path / 'sleepy.py'}) is still loading after 0.2 s; if it never "
        "finishes, move it out of the packs folder"]


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ, NODESTUDIO_HOME=str(home))
    return subprocess.run([sys.executable, "-m", "nodestudio.cli", *args], capture_output=True,
                          text=True, env=environment, timeout=120, cwd=home)


def test_the_cli_lists_validates_and_runs_despite_an_exiting_pack(tmp_path):
    home = tmp_path / "home"
    _packs(home / "packs")
    listed = _cli("nodes", home=home)
    assert listed.returncode == 0, listed.stderr  # before the fix: exit 3, no message
    assert "good.half" in listed.stdout
    assert (f"failed pack exit_pack ({home / 'packs' / 'exit_pack.py'}): the pack called "
            "sys.exit(3) while loading") in listed.stdout
    # Looking for a type that is not there names the packs that failed: it may be in one.
    searched = _cli("nodes", "exit_pack_node", home=home)
    assert searched.returncode == 2
    assert (f"failed pack exit_pack ({home / 'packs' / 'exit_pack.py'}): the pack called "
            "sys.exit(3) while loading") in searched.stderr
    failed = json.loads(_cli("nodes", "--json", home=home).stdout)["failed_packs"]
    assert {f["name"] for f in failed} == {"exit_pack", "odd_pack"}
    graph = Graph()
    graph.add_node("good.half")
    path = save(graph, tmp_path / "half.json")
    assert _cli("validate", str(path), home=home).returncode == 0
    ran = _cli("run", str(path), "--output", str(tmp_path / "out"), home=home)
    assert ran.returncode == 0, ran.stderr


def test_a_node_calling_sys_exit_fails_the_run_with_exit_1_and_a_message(tmp_path):
    home = tmp_path / "home"
    (home / "packs").mkdir(parents=True)
    (home / "packs" / "quitter.py").write_text(EXITING_NODE_PACK)
    graph = Graph()
    graph.add_node("quitter.quit")
    path = save(graph, tmp_path / "quit.json")
    done = _cli("run", str(path), "--output", str(tmp_path / "out"), home=home)
    assert done.returncode == 1  # before the fix: 3, the node's own code, and nothing printed
    assert "Quitter (node 1)" in done.stderr
    assert "called sys.exit(3), which would have closed NodeStudio" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
