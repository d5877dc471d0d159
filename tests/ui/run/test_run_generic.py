"""Running graphs of small counting nodes from the window: order of events, responsiveness,
cancelling, cache reuse and badges, failures, validation problems, seeds and batches."""

from __future__ import annotations

import time

from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtGui import QDropEvent
from PySide6.QtTest import QTest

from nodestudio.app.queue import CANCELLED, FINISHED


def chain(kit, *, steps: int = 6, value: float = 3.0) -> dict[str, str]:
    """number → slow (reports progress) → scale → sink."""
    editor = kit.window.editor
    ids = {
        "number": editor.add_node("test.number", (0, 0)),
        "slow": editor.add_node("test.slow", (260, 0)),
        "scale": editor.add_node("test.scale", (520, 0)),
        "sink": editor.add_node("test.sink", (780, 0)),
    }
    editor.set_value(ids["number"], "value", value)
    editor.set_value(ids["slow"], "steps", steps)
    editor.connect(ids["number"], "value", ids["slow"], "x")
    editor.connect(ids["slow"], "x", ids["scale"], "x")
    editor.connect(ids["scale"], "x", ids["sink"], "x")
    return ids


def test_progress_arrives_in_order_while_the_ui_keeps_working(kit, qtbot):
    ids = chain(kit, steps=20)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    seen_running: list[tuple[str | None, str]] = []

    def watch_header(event, job):  # what the sampler-like node's header says mid-run
        item = kit.window.node_item(event.node_id)
        seen_running.append((item.status, item.status_text))

    kit.on_ui(kit.controller.bridge.node_progress, watch_header)
    job = kit.run()
    timer.stop()

    assert job.status == FINISHED
    assert kit.bench.sunk == [6.0]
    kinds = kit.recorder.kinds(job.id)
    assert kinds[:3] == ["queue_changed:added", "queue_changed:started", "run_started"]
    assert kinds[-2:] == ["run_finished", "queue_changed:finished"]
    progress = kit.recorder.events("node_progress")
    assert [(e.node_id, e.done, e.total) for e in progress] == [
        (ids["slow"], step, 20) for step in range(1, 21)]
    started = [e.node_id for e in kit.recorder.events("node_started")]
    assert started == [ids["number"], ids["slow"], ids["scale"], ids["sink"]]
    # Progress of the slow node came between its start and its finish.
    order = [(kind, getattr(event, "node_id", None)) for kind, event, _ in kit.recorder.calls]
    slow_events = [kind for kind, node_id in order if node_id == ids["slow"]]
    assert slow_events == ["node_started"] + ["node_progress"] * 20 + ["node_finished"]
    # The event loop kept turning while the worker ran the slow node (it waits 10 ms/step).
    began = kit.recorder.time_of("node_started", ids["slow"])
    ended = kit.recorder.time_of("node_finished", ids["slow"])
    assert sum(1 for tick in ticks if began < tick < ended) >= 3
    assert seen_running and all(status == "running" for status, _text in seen_running)
    assert seen_running[-1][1] == "20/20"
    # Afterwards: no node left running, every node badged with what it cost.
    for node_id in ids.values():
        assert kit.window.node_item(node_id).status is None
        assert kit.badge(node_id) == "ran"
    ran = kit.controller.board.badge(ids["slow"])
    assert " s" in ran.text and ("RAM" in ran.text or "VRAM" in ran.text)
    assert "done" in kit.window.log_dock.messages("success")[-1]


def test_the_status_bar_shows_step_speed_and_time_left(kit, qtbot):
    chain(kit, steps=12)
    texts: list[str] = []
    kit.on_ui(kit.controller.bridge.node_progress,
              lambda _e, _j: texts.append(kit.controller.status.label.text()))
    kit.run()
    stepped = [text for text in texts if "step" in text]
    assert stepped and stepped[-1].startswith("Slow")
    assert "step 12/12" in stepped[-1]
    assert any("it/s" in text or "s/it" in text for text in stepped)
    assert any("left" in text for text in stepped[:-1])
    assert not kit.controller.status.isVisible()  # idle again


def test_cancel_stops_within_a_step_and_the_next_run_works(kit, qtbot):
    ids = chain(kit, steps=400)  # 4 s if left alone
    emitted: list[int] = []  # counted on the worker thread, as the steps happen
    kit.controller.bridge.node_progress.connect(lambda event, _job: emitted.append(event.done),
                                                Qt.ConnectionType.DirectConnection)
    jobs = kit.controller.run()
    qtbot.waitUntil(lambda: bool(kit.recorder.events("node_progress")), timeout=10_000)
    assert kit.controller.cancel_action.isEnabled()
    kit.controller.cancel_action.trigger()
    at_cancel = len(emitted)
    kit.wait_done(jobs[0])
    assert jobs[0].status == CANCELLED
    # Cooperative cancel: at most the step that was under way when it was asked still reports.
    assert len(emitted) - at_cancel <= 1
    assert [e.done for e in kit.recorder.events("node_progress")] == emitted
    assert kit.recorder.events("node_progress")[-1].done < 20
    assert kit.bench.sunk == []
    for node_id in ids.values():
        item = kit.window.node_item(node_id)
        assert item.status is None and item.progress is None
    assert "cancelled" in kit.window.log_dock.messages("warning")[-1]

    kit.window.editor.set_value(ids["slow"], "steps", 2)
    job = kit.run()
    assert job.status == FINISHED
    assert kit.bench.sunk == [6.0]
    assert kit.badge(ids["number"]) == "cached"  # it finished before the cancel


def test_changing_a_downstream_value_reuses_upstream_nodes(kit, qtbot):
    ids = chain(kit, steps=2)
    kit.run()
    runs = kit.bench.runs
    assert runs["test.number"] == runs["test.slow"] == runs["test.scale"] == 1

    kit.window.editor.set_value(ids["scale"], "factor", 3.0)
    # Before anything runs, the marks say what the next run will do.
    kit.settle_marks()
    assert kit.badge(ids["number"]) == "ran" and kit.badge(ids["slow"]) == "ran"
    assert kit.badge(ids["scale"]) == "stale" and kit.badge(ids["sink"]) == "stale"
    overlay = kit.controller.marks.overlay(ids["scale"])
    assert overlay.shows_badge and overlay.state.badge.text == "stale"

    job = kit.run()
    assert job.result.executed == [ids["scale"], ids["sink"]]
    assert runs["test.number"] == 1 and runs["test.slow"] == 1
    assert runs["test.scale"] == 2
    assert kit.bench.sunk[-1] == 9.0
    assert kit.badge(ids["number"]) == "cached" and kit.badge(ids["scale"]) == "ran"
    kit.window.editor.set_value(ids["number"], "value", 4.0)
    kit.settle_marks()
    assert [kit.badge(ids[n]) for n in ("number", "slow", "scale", "sink")] == ["stale"] * 4
    kit.window.editor.undo_stack.undo()
    kit.settle_marks()
    assert kit.badge(ids["number"]) == "cached" and kit.badge(ids["scale"]) == "cached"
    job = kit.run()  # back to what is cached: nothing runs
    assert job.result.executed == []
    assert kit.badge(ids["scale"]) == "cached" and kit.badge(ids["sink"]) == "cached"


def test_a_failing_node_is_marked_and_a_fixed_rerun_clears_it(kit, qtbot):
    editor = kit.window.editor
    number = editor.add_node("test.number", (0, 0))
    fail = editor.add_node("test.fail", (260, 0))
    sink = editor.add_node("test.sink", (520, 0))
    other = editor.add_node("test.number", (0, 200))
    other_sink = editor.add_node("test.sink", (260, 200))
    editor.set_value(fail, "message", "the picture is too dark")
    editor.connect(number, "value", fail, "x")
    editor.connect(fail, "x", sink, "x")
    editor.connect(other, "value", other_sink, "x")

    job = kit.run()
    assert job.status == "failed"
    item = kit.window.node_item(fail)
    assert (item.status, item.status_text) == ("error", "failed")
    overlay = kit.controller.marks.overlay(fail)
    assert overlay.bubble_text() == ["the picture is too dark"]
    assert not overlay.bubble_rect().isNull()
    assert overlay.bubble_rect().top() > item.geometry.height  # under the node
    assert kit.badge(fail) == "failed" and kit.badge(sink) == "skipped"
    errors = kit.window.log_dock.messages("error")
    assert any("the picture is too dark" in message and fail in message for message in errors)
    assert any("Traceback" in message and "NodeError" in message for message in errors)
    assert kit.bench.sunk == [5.0] or kit.bench.sunk == [1.0]  # the other branch still ran

    # The app is still usable: fix the node, run again, the mark goes.
    editor.set_value(fail, "message", "")
    job = kit.run()
    assert job.status == FINISHED
    assert item.status is None
    assert kit.controller.marks.overlay(fail).bubble_text() == []
    assert kit.badge(fail) == "ran" and kit.badge(sink) == "ran"


def test_validation_problems_are_drawn_before_anything_runs(kit, qtbot):
    editor = kit.window.editor
    number = editor.add_node("test.number", (0, 0))
    add = editor.add_node("test.add", (260, 0))
    sink = editor.add_node("test.sink", (520, 0))
    editor.set_value(number, "value", 500.0)  # above its maximum of 100
    editor.connect(number, "value", add, "a")
    editor.connect(add, "sum", sink, "x")  # add's b is not linked

    assert kit.controller.run() == []
    assert kit.controller.queue.jobs() == []
    assert sum(kit.bench.runs.values()) == 0
    add_overlay = kit.controller.marks.overlay(add)
    number_overlay = kit.controller.marks.overlay(number)
    assert add_overlay.problem_inputs() == ["b"]
    assert number_overlay.problem_inputs() == ["value"]
    sink_overlay = kit.controller.marks.overlay(sink)
    assert sink_overlay is None or not sink_overlay.problem_inputs()
    for node_id in (number, add):
        item = kit.window.node_item(node_id)
        assert (item.status, item.status_text) == ("error", "invalid")
    assert kit.window.node_item(sink).status is None
    # The marks sit on the input's row: the widget of "value", the socket of "b".
    value_widget = kit.window.node_item(number).geometry.widget("value")
    assert number_overlay.mark_rects()[0].contains(value_widget.rect.center())
    b_socket = kit.window.node_item(add).geometry.inputs["b"]
    assert add_overlay.mark_rects()[0].contains(b_socket.pos)
    assert "maximum" in " ".join(number_overlay.bubble_text())
    assert "cannot run: 2 problem" in kit.window.log_dock.messages("error")[0]

    # The marks follow the fixes, without running.
    editor.set_value(number, "value", 50.0)
    kit.settle_marks()
    assert kit.controller.marks.overlay(number).problem_inputs() == []
    editor.connect(number, "value", add, "b")
    kit.settle_marks()
    assert kit.controller.marks.overlay(add).problem_inputs() == []
    assert kit.window.node_item(add).status is None
    assert sum(kit.bench.runs.values()) == 0

    kit.controller.validate_action.trigger()
    assert "ready to run" in kit.window.log_dock.messages("success")[-1]
    assert kit.run().status == FINISHED
    assert kit.bench.sunk == [100.0]


def test_seeds_move_on_after_each_queued_run(kit, qtbot):
    editor = kit.window.editor
    seeded = editor.add_node("test.seeded", (0, 0))
    sink = editor.add_node("test.sink", (260, 0))
    editor.connect(seeded, "value", sink, "x")
    editor.set_value(seeded, "seed", 41)
    editor.set_control(seeded, "seed", "increment")
    item = kit.window.node_item(seeded)
    kit.window.scene.select_nodes([seeded])

    kit.controller.batch_spin.setValue(3)
    jobs = kit.controller.run()
    assert [job.graph.node(seeded).values["seed"] for job in jobs] == [41, 42, 43]
    assert [job.label.split(" (")[-1] for job in jobs] == ["1/3)", "2/3)", "3/3)"]
    # The canvas and the properties panel show the value the next run will use.
    assert item.value("seed") == 44
    assert kit.window.properties_dock.setters  # the panel shows the node
    kit.wait_done(jobs[-1])
    assert sorted(kit.bench.sunk) == [41.0, 42.0, 43.0]

    editor.set_control(seeded, "seed", "fixed")
    kit.controller.batch_spin.setValue(1)
    kit.run()
    assert item.value("seed") == 44 and kit.bench.sunk[-1] == 44.0


def test_the_queue_panel_reorders_and_removes_waiting_jobs(kit, qtbot):
    editor = kit.window.editor
    ids = chain(kit, steps=2000)  # runs until cancelled below
    dock = kit.controller.queue_dock
    first = kit.controller.run()[0]
    qtbot.waitUntil(lambda: first.status == "running", timeout=10_000)
    editor.set_value(ids["slow"], "steps", 1)
    waiting = [kit.controller.run()[0] for _ in range(3)]
    qtbot.waitUntil(lambda: dock.list.count() == 4, timeout=2000)
    order = lambda: [job.id for job in kit.controller.queue.jobs()]  # noqa: E731
    assert order() == [first.id] + [job.id for job in waiting]
    assert dock.list.item(0).text().startswith(f"#{first.id}")

    dock.list.setCurrentRow(3)
    dock.up_button.click()
    assert order() == [first.id, waiting[0].id, waiting[2].id, waiting[1].id]
    qtbot.waitUntil(lambda: dock.list.job_id(2) == waiting[2].id, timeout=2000)
    assert dock.selected_job_id() == waiting[2].id

    # Dragging the last one onto the top half of the first waiting job's row.
    row = dock.list.visualItemRect(dock.list.item(1))
    mime = dock.list.mime_for(waiting[1].id)  # the event does not own it: keep it alive
    drop = QDropEvent(QPointF(row.left() + 4, row.top() + 2), Qt.DropAction.MoveAction,
                      mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    dock.list.dropEvent(drop)
    assert order() == [first.id, waiting[1].id, waiting[0].id, waiting[2].id]

    qtbot.waitUntil(lambda: dock.list.job_id(1) == waiting[1].id, timeout=2000)
    dock.list.setCurrentRow(1)
    dock.remove_button.click()
    assert waiting[1].id not in order()
    dock.list.setCurrentRow(0)
    assert dock.remove_button.text() == "Cancel"
    dock.remove_button.click()
    kit.wait_done(waiting[2])
    assert first.status == CANCELLED
    assert waiting[0].status == waiting[2].status == FINISHED
    assert kit.bench.runs["test.slow"] == 2  # the cancelled one, then one re-run
    dock.clear_button.click()
    qtbot.waitUntil(lambda: dock.list.count() == 0, timeout=2000)


def test_run_shortcut_and_batch_box_sit_in_the_toolbar(kit, qtbot):
    chain(kit, steps=1)
    toolbar = kit.window.toolbar
    assert kit.controller.run_action in toolbar.actions()
    assert kit.controller.cancel_action in toolbar.actions()
    widgets = [toolbar.widgetForAction(a) for a in toolbar.actions()]
    assert kit.controller.batch_spin in widgets
    kit.window.view.setFocus()
    QTest.keyClick(kit.window.view, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: bool(kit.controller.queue.jobs()), timeout=2000)
    kit.wait_done(kit.controller.queue.jobs()[0])


def test_the_badge_overlay_can_be_switched_off_and_stays_so(kit, make_kit, qtbot):
    ids = chain(kit, steps=1)
    kit.run()
    overlay = kit.controller.marks.overlay(ids["number"])
    assert overlay.isVisible() and not overlay.badge_rect().isNull()
    view_menu = kit.window.menus["view"]
    assert kit.controller.badges_action in view_menu.actions()
    kit.controller.badges_action.trigger()
    assert not overlay.shows_badge and not overlay.isVisible()
    assert kit.badge(ids["number"]) == "ran"  # still known, just not drawn
    # The choice is remembered by the next window (same settings file).
    other = make_kit()
    assert not other.controller.badges_action.isChecked()
    assert not other.controller.marks.badges_visible
    kit.controller.badges_action.trigger()
    assert overlay.isVisible()


def test_finished_jobs_let_go_of_their_values_and_old_ones_leave_the_panel(kit, qtbot,
                                                                          monkeypatch):
    from nodestudio.ui.run import controller as controller_module

    monkeypatch.setattr(controller_module, "MAX_HISTORY", 2)
    ids = chain(kit, steps=1)
    kit.controller.batch_spin.setValue(3)
    jobs = kit.controller.run()
    kit.wait_done(jobs[-1])
    # The node outputs stay in the session's cache (which may evict them), not in the jobs.
    assert all(job.result.outputs == {} for job in jobs)
    assert kit.session.cache.get(
        next(e for e in kit.recorder.events("plan_ready")).signatures[ids["number"]])
    qtbot.waitUntil(lambda: kit.controller.queue_dock.list.count() == 2, timeout=2000)
    assert [job.id for job in kit.controller.queue.jobs()] == [jobs[1].id, jobs[2].id]
