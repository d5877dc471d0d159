"""Run This Branch (issue 13, item 17): Ctrl+Shift+Enter or a node's right-click menu runs
only the selected node(s) and what they need, as ComfyUI's partial execution does."""

from __future__ import annotations

from collections import Counter

from PySide6.QtCore import QPointF
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication, QMenu
from ui_helpers import Canvas

from nodestudio.app.queue import FINISHED


def two_branches(kit) -> dict[str, str]:
    """number → scale → sink, and number2 → sink2 beside it."""
    editor = kit.window.editor
    ids = {
        "number": editor.add_node("test.number", (0, 0)),
        "scale": editor.add_node("test.scale", (260, 0)),
        "sink": editor.add_node("test.sink", (520, 0)),
        "number2": editor.add_node("test.number", (0, 300)),
        "sink2": editor.add_node("test.sink", (520, 300)),
    }
    editor.set_value(ids["number"], "value", 3.0)
    editor.set_value(ids["number2"], "value", 5.0)
    editor.connect(ids["number"], "value", ids["scale"], "x")
    editor.connect(ids["scale"], "x", ids["sink"], "x")
    editor.connect(ids["number2"], "value", ids["sink2"], "x")
    return ids


def header(kit, node_id: str) -> QPointF:
    return kit.window.node_item(node_id).mapToScene(QPointF(40, 12))


def queued_job(kit):
    jobs = kit.controller.queue.jobs()
    assert len(jobs) == 1, "nothing (or too much) was queued"
    kit.wait_done(jobs[0])
    return jobs[0]


def test_ctrl_shift_enter_runs_only_the_selected_output_and_what_it_needs(kit):
    ids = two_branches(kit)
    canvas = Canvas(kit.window)
    kit.window.view.centerOn(header(kit, ids["sink"]))
    canvas.click(header(kit, ids["sink"]))
    assert kit.window.scene.selected_node_ids() == [ids["sink"]]

    canvas.shortcut("Ctrl+Shift+Return")
    job = queued_job(kit)

    assert job.status == FINISHED
    # The other branch (number2 → sink2) did not run: one number, one scale, one sink.
    assert kit.bench.runs == Counter({"test.number": 1, "test.scale": 1, "test.sink": 1})
    assert kit.bench.sunk == [6.0]
    assert set(job.result.executed) == {ids["number"], ids["scale"], ids["sink"]}
    assert kit.badge(ids["sink"]) == "ran" and kit.badge(ids["sink2"]) != "ran"

    # A plain Run afterwards runs the rest only (the branch is cached).
    full = kit.run()
    assert full.status == FINISHED
    assert set(full.result.executed) == {ids["number2"], ids["sink2"]}
    assert kit.bench.runs == Counter({"test.number": 2, "test.scale": 1, "test.sink": 2})


def test_the_node_menu_runs_a_non_output_node_and_what_feeds_it(kit):
    ids = two_branches(kit)
    view = kit.window.view
    view.centerOn(header(kit, ids["scale"]))
    local = view.mapFromScene(header(kit, ids["scale"]))
    QApplication.sendEvent(view.viewport(), QContextMenuEvent(
        QContextMenuEvent.Reason.Mouse, local, view.viewport().mapToGlobal(local)))
    menu = QApplication.activePopupWidget()
    assert isinstance(menu, QMenu)
    action = next(a for a in menu.actions() if a.text().replace("&", "") == "Run This Branch")
    action.trigger()
    menu.close()
    job = queued_job(kit)

    assert job.status == FINISHED
    assert kit.bench.runs == Counter({"test.number": 1, "test.scale": 1})
    assert kit.bench.sunk == []  # neither sink ran
    assert set(job.result.executed) == {ids["number"], ids["scale"]}
    assert kit.badge(ids["scale"]) == "ran" and kit.badge(ids["sink"]) != "ran"


def test_a_problem_off_the_branch_does_not_stop_it(kit):
    ids = two_branches(kit)
    kit.window.editor.disconnect(ids["sink2"], "x")  # sink2 now lacks its input
    assert kit.controller.run() == []  # the whole graph cannot run …
    assert kit.controller.queue.jobs() == []

    kit.window.scene.select_nodes([ids["sink"]])
    jobs = kit.controller.run_branch()  # … its other branch can
    assert len(jobs) == 1
    kit.wait_done(jobs[0])
    assert jobs[0].status == FINISHED
    assert kit.bench.sunk == [6.0]


def test_without_a_selection_it_says_what_to_do(kit):
    two_branches(kit)
    kit.window.scene.select_nodes([])
    assert kit.controller.run_branch() == []
    assert kit.controller.queue.jobs() == []
    assert "select the node" in kit.window.log_dock.messages("warning")[-1]
