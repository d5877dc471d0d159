"""Navigating the canvas: pan, zoom to the cursor, frame, selection."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication


def test_middle_drag_pans_the_canvas(window, canvas):
    view = window.view
    before = view.mapToScene(QPoint(300, 300))
    canvas.drag(QPoint(400, 300), QPoint(300, 250), button=Qt.MouseButton.MiddleButton)
    after = view.mapToScene(QPoint(300, 300))
    assert (after - before).x() == 100 and (after - before).y() == 50


def test_space_drag_pans_too(window, canvas):
    view = window.view
    QTest.keyPress(view, Qt.Key.Key_Space)
    before = view.mapToScene(QPoint(300, 300))
    canvas.drag(QPoint(300, 300), QPoint(340, 300))
    QTest.keyRelease(view, Qt.Key.Key_Space)
    assert (view.mapToScene(QPoint(300, 300)) - before).x() == -40
    assert window.scene.selectedItems() == []


def test_the_wheel_zooms_around_the_cursor(window):
    view = window.view
    cursor = QPointF(200, 150)
    under = view.mapToScene(cursor.toPoint())
    event = QWheelEvent(cursor, view.viewport().mapToGlobal(cursor), QPoint(0, 0),
                        QPoint(0, 240), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view.viewport(), event)
    assert view.zoom() > 1.4  # two notches
    moved = view.mapFromScene(under) - cursor.toPoint()
    assert abs(moved.x()) <= 1 and abs(moved.y()) <= 1


def test_home_frames_everything_and_f_frames_the_selection(window, canvas):
    editor = window.editor
    far = editor.add_node("test.source", (5000, 3000))
    editor.add_node("test.sink", (-2000, -800))
    canvas.shortcut("Home")
    visible = window.view.mapToScene(window.view.viewport().rect()).boundingRect()
    for item in window.scene.node_items.values():
        assert visible.contains(item.sceneBoundingRect())
    window.scene.select_nodes([far])
    canvas.shortcut("F")
    visible = window.view.mapToScene(window.view.viewport().rect()).boundingRect()
    assert visible.contains(window.scene.node_items[far].sceneBoundingRect())
    assert window.view.zoom() > 0.8


def test_rubber_band_and_control_click_select(window, canvas):
    editor = window.editor
    ids = [editor.add_node("test.mask", (x, 0)) for x in (0, 250, 500)]
    canvas.drag((-30, -30), (420, 80))
    assert window.scene.selected_node_ids() == ids[:2]
    third = window.scene.node_items[ids[2]].mapToScene(QPointF(40, 12))
    canvas.click(third, Qt.KeyboardModifier.ControlModifier)
    assert window.scene.selected_node_ids() == ids
    canvas.click(third, Qt.KeyboardModifier.ControlModifier)
    assert window.scene.selected_node_ids() == ids[:2]
    canvas.click((100, 600))
    assert window.scene.selected_node_ids() == []
    canvas.shortcut("Ctrl+A")
    assert window.scene.selected_node_ids() == ids


def test_the_whole_canvas_draws_at_any_zoom(window):
    editor = window.editor
    for index in range(30):
        editor.add_node(["test.filter", "test.sampler", "test.source"][index % 3],
                        (index % 6 * 300, index // 6 * 320))
    for zoom in (0.1, 0.5, 1.0, 2.5):
        window.view.set_zoom(zoom)
        window.view.viewport().repaint()
    assert QRectF(window.scene.itemsBoundingRect()).width() > 1500


def test_a_graph_opened_before_the_window_shows_is_framed_once_it_is_shown(
        qtbot, registry, tmp_path):
    from PySide6.QtCore import QSettings

    from nodestudio.graph import files
    from nodestudio.graph.model import Graph
    from nodestudio.ui.main_window import MainWindow

    graph = Graph()
    graph.add_node("test.mask", {}, pos=(4000.0, 2500.0))
    graph.add_node("test.mask", {}, pos=(5200.0, 3100.0))
    files.save(graph, tmp_path / "far.json")
    window = MainWindow(registry, settings=QSettings(str(tmp_path / "s.ini"),
                                                     QSettings.Format.IniFormat),
                        autosave=False)
    qtbot.addWidget(window)
    assert window.open_file(tmp_path / "far.json", ask=False)
    window.resize(1200, 800)
    window.show()
    qtbot.waitExposed(window)
    visible = window.view.mapToScene(window.view.viewport().rect()).boundingRect()
    for item in window.scene.node_items.values():
        assert visible.contains(item.sceneBoundingRect())
