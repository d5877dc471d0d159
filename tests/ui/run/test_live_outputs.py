"""Issue 18, live mode and the Outputs panel: live results show as the panel's current
(newest) image while the keyboard focus stays where the artist works — the canvas, or the
paint editor's canvas."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication

from nodestudio.app.queue import FINISHED
from nodestudio.graph.model import Graph


def _shown_red(gallery) -> int:
    entry = gallery.current()
    assert entry is not None
    image = entry.full_image()
    assert image is not None
    # The newest image is also the one the large view shows.
    assert gallery.preview.image is not None and gallery.preview.image.cacheKey() == \
        image.cacheKey()
    return image.pixelColor(0, 0).red()


def _live_runs_done(kit):
    live = kit.controller.live
    return bool(live.jobs) and all(job.done for job in live.jobs) and not live.pending


def test_live_results_show_newest_without_taking_the_focus(kit, qtbot):
    window = kit.window
    graph = Graph()
    source = graph.add_node("test.gradient", {"width": 16, "height": 8, "red": 0.2})
    show = graph.add_node("image.preview", {})
    graph.connect(source.id, "image", show.id, "images")
    window.editor.set_graph(graph)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    window.view.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.view, timeout=2000)

    live = kit.controller.live
    live.set_enabled(True)
    gallery = kit.controller.gallery
    for red in (0.4, 0.8):
        window.editor.set_value(source.id, "red", red)
        qtbot.waitUntil(lambda r=red: gallery.current() is not None
                        and abs(_shown_red(gallery) - round(r * 255)) <= 1, timeout=10_000)
        assert QApplication.focusWidget() is window.view
    qtbot.waitUntil(lambda: _live_runs_done(kit), timeout=10_000)
    assert abs(_shown_red(gallery) - 204) <= 1 and len(gallery.entries) >= 2
    assert QApplication.focusWidget() is window.view


def test_strokes_in_the_editor_keep_its_focus_while_results_arrive(kit, qtbot):
    from nodestudio.ui.paint.editing import open_paint_editor

    window = kit.window
    graph = Graph()
    paint = graph.add_node("image.paint", {"width": 32, "height": 32, "color": "#ffffff"})
    show = graph.add_node("image.preview", {})
    graph.connect(paint.id, "image", show.id, "images")
    window.editor.set_graph(graph)
    window.show()
    live = kit.controller.live
    live.set_enabled(True)
    qtbot.waitUntil(lambda: _live_runs_done(kit), timeout=10_000)
    editor = open_paint_editor(window, paint.id)
    qtbot.addWidget(editor)
    qtbot.waitExposed(editor)
    canvas = editor.canvas
    canvas.fit()
    editor.size_spin.setValue(4)
    editor.hardness_slider.setValue(100)
    editor.activateWindow()
    canvas.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is canvas, timeout=2000)
    gallery = kit.controller.gallery
    before = len(gallery.entries)

    def at(x: float, y: float):
        return canvas.to_widget(QPointF(x + 0.5, y + 0.5)).toPoint()

    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=at(2, 16))
    qtbot.mouseMove(canvas, at(30, 16))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=at(30, 16))
    qtbot.waitUntil(lambda: len(gallery.entries) > before and _live_runs_done(kit),
                    timeout=10_000)
    assert all(job.status == FINISHED for job in live.jobs)
    # The newest image is the stroke's (a dark line across the white canvas) …
    entry = gallery.current()
    assert entry is gallery.entries[0]
    image = entry.full_image()
    assert image is not None
    assert image.pixelColor(16, 16).lightness() < 60 and image.pixelColor(16, 4).lightness() > 230
    # … and the editor kept the keyboard: the next shortcut still goes to it.
    assert QApplication.focusWidget() is canvas and editor.isActiveWindow()
    editor.reject()
