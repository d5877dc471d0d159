"""In the window, a node that calls sys.exit fails alone; the queue's worker keeps running."""

from __future__ import annotations

import sys

from fakes import make_bench

from nodestudio.api import FLOAT, Input, NodePack, Output, node
from nodestudio.app.packs import create_registry


@node("hostile.quit", display_name="Quitter", inputs=[Input("x", FLOAT)],
      outputs=[Output("x", FLOAT)])
def quit_now(x: float) -> float:
    sys.exit(3)


def test_a_node_calling_sys_exit_fails_and_the_next_run_works(make_kit):
    bench = make_bench()
    registry = create_registry(entry_points=False)
    registry.add_pack(NodePack("test", [*bench.registry, quit_now]))
    kit = make_kit(registry=registry, bench=bench)
    editor = kit.window.editor
    number = editor.add_node("test.number", (0, 0))
    bad = editor.add_node("hostile.quit", (260, 0))
    sink = editor.add_node("test.sink", (520, 0))
    editor.connect(number, "value", bad, "x")
    editor.connect(bad, "x", sink, "x")

    job = kit.run()  # before the fix the worker died and the job stayed "running"
    assert job.status == "failed"
    item = kit.window.node_item(bad)
    assert (item.status, item.status_text) == ("error", "failed")
    assert kit.controller.marks.overlay(bad).bubble_text() == [
        "the node called sys.exit(3), which would have closed NodeStudio; it was stopped and "
        "counted as failed"]
    editor.connect(number, "value", sink, "x")  # route around it: the next run must work
    assert kit.run().status == "finished"
    assert kit.bench.sunk == [1.0]
