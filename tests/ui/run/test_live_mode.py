"""Issue 18, live mode: every edit queues a run after a short pause; an edit made while a run
goes cancels it; the final result is the last edit's; no more than one live run waits."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QTimer

from nodestudio.app.queue import CANCELLED, FINISHED, PENDING
from nodestudio.graph.model import Graph


def _slow_chain(kit, steps: int = 300) -> dict[str, str]:
    graph = Graph()
    ids = {"number": graph.add_node("test.number", {"value": 1.0}).id,
           "slow": graph.add_node("test.slow", {"steps": steps}).id,
           "sink": graph.add_node("test.sink").id}
    graph.connect(ids["number"], "value", ids["slow"], "x")
    graph.connect(ids["slow"], "x", ids["sink"], "x")
    kit.window.editor.set_graph(graph)
    return ids


def _watch_pending(kit) -> list[int]:
    """How many jobs wait in the queue, sampled every few milliseconds."""
    counts: list[int] = []
    timer = QTimer(kit.window)
    timer.timeout.connect(lambda: counts.append(
        sum(job.status == PENDING for job in kit.controller.queue.jobs())))
    timer.start(5)
    return counts


def test_edits_during_a_live_run_cancel_it_and_the_last_edit_wins(kit, qtbot):
    ids = _slow_chain(kit)
    live = kit.controller.live
    pending_counts = _watch_pending(kit)
    live.set_enabled(True)
    qtbot.waitUntil(kit.bench.slow_started.is_set, timeout=10_000)  # the first live run goes
    first = live.jobs[0]
    editor = kit.window.editor
    # A burst of edits while it runs, then more after the debounce: each burst queues one run.
    for value in (2.0, 3.0, 4.0):
        editor.set_value(ids["number"], "value", value)
    qtbot.wait(400)
    for value in (5.0, 6.0, 7.0):  # a second burst, inside one debounce whatever the load
        editor.set_value(ids["number"], "value", value)
    qtbot.waitUntil(lambda: not live.pending and all(job.done for job in live.jobs)
                    and kit.controller.queue.wait_idle(0), timeout=30_000)
    assert first.status == CANCELLED
    assert kit.bench.sunk[-1] == 7.0  # the newest state won
    assert 2.0 not in kit.bench.sunk and 3.0 not in kit.bench.sunk  # the burst ran once, as 4
    # Debounced: a burst of edits is one run, so far fewer runs than edits.
    assert live.submitted <= 4
    assert max(pending_counts) <= 1
    finished = [job for job in kit.controller.queue.jobs() if job.status == FINISHED]
    assert finished and finished[-1].graph.node(ids["number"]).values["value"] == 7.0


def test_moving_a_node_queues_nothing_and_live_off_stops_following(kit, qtbot):
    ids = _slow_chain(kit, steps=1)
    live = kit.controller.live
    live.set_enabled(True)
    qtbot.waitUntil(lambda: live.submitted == 1 and all(job.done for job in live.jobs),
                    timeout=10_000)
    kit.window.editor.move({ids["number"]: ((0.0, 0.0), (300.0, 40.0))})
    qtbot.wait(300)
    assert live.submitted == 1 and not live.pending
    live.set_enabled(False)
    kit.window.editor.set_value(ids["number"], "value", 9.0)
    qtbot.wait(300)
    assert live.submitted == 1 and 9.0 not in kit.bench.sunk


def test_live_is_a_toggle_in_the_run_menu_and_the_toolbar(kit):
    action = kit.controller.live.action
    assert action.isCheckable() and action in kit.window.menus["run"].actions()
    assert action in kit.window.toolbar.actions()
    action.trigger()
    assert kit.controller.live.enabled
    action.trigger()
    assert not kit.controller.live.enabled


def test_a_stroke_in_the_open_editor_reruns_the_drawing_live(kit, qtbot):
    from PySide6.QtCore import QPointF, Qt

    from nodestudio.ui.paint.editing import open_paint_editor

    graph = Graph()
    paint = graph.add_node("image.paint", {"width": 32, "height": 32, "color": "#ffffff"})
    show = graph.add_node("image.preview", {})
    graph.connect(paint.id, "image", show.id, "images")
    kit.window.editor.set_graph(graph)
    live = kit.controller.live
    live.set_enabled(True)
    qtbot.waitUntil(lambda: live.submitted == 1 and all(job.done for job in live.jobs),
                    timeout=10_000)
    editor = open_paint_editor(kit.window, paint.id, show=False)
    qtbot.addWidget(editor)
    editor.show()
    qtbot.waitExposed(editor)
    canvas = editor.canvas
    canvas.fit()
    editor.size_spin.setValue(4)
    editor.hardness_slider.setValue(100)

    def at(x: float, y: float):
        return canvas.to_widget(QPointF(x + 0.5, y + 0.5)).toPoint()

    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=at(4, 16))
    qtbot.mouseMove(canvas, at(28, 16))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=at(28, 16))
    # No Apply pressed: with live on, the stroke is on the node and a run follows it.
    assert kit.window.editor.graph.node(paint.id).values["sketch_png"]
    def drawn_run():
        return next((job for job in kit.controller.queue.jobs() if job.status == FINISHED
                     and job.graph.node(paint.id).values.get("sketch_png")), None)

    qtbot.waitUntil(lambda: drawn_run() is not None, timeout=10_000)
    job = drawn_run()
    kit.wait_done(job)  # its signals reached the window too
    assert paint.id in job.result.executed
    # What the window was shown: the Preview Image's picture from that run.
    [shown] = [event for kind, event, run in kit.recorder.calls if kind == "node_finished"
               and run.id == job.id and event.node_id == show.id]
    image = np.asarray(shown.images[0]).reshape(32, 32, 3)
    assert image[16, 16].max() < 0.2 and image[4, 16].min() > 0.9
