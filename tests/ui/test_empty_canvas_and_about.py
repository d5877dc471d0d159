"""Issue 13, item 12: File › New shows what to do on the empty canvas, and the hint goes once
a node exists; Help › About names the version."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox

import nodestudio


def _hint(window) -> QLabel | None:
    """The visible label over the canvas that tells how to add a node, if any."""
    for label in window.view.findChildren(QLabel):
        if label.isVisible() and "double-click to add a node" in label.text():
            return label
    return None


def _menu_action(window, menu: str, text: str):
    return next(action for action in window.menus[menu].actions()
                if action.text().replace("&", "") == text)


def test_file_new_shows_a_hint_that_goes_once_a_node_exists(window, canvas, qtbot):
    window.add_node_at("test.source", window.view.scene_center())
    assert _hint(window) is None
    _menu_action(window, "file", "New").trigger()
    assert len(window.editor.graph) == 0
    hint = _hint(window)
    assert hint is not None and "Tab" in hint.text() and "drop" in hint.text().lower()
    viewport = window.view.viewport().geometry()
    assert viewport.contains(hint.geometry())  # on the canvas, centred
    assert abs(hint.geometry().center().x() - viewport.center().x()) <= 2
    canvas.drag(canvas.at((0.0, 0.0)), canvas.at((0.0, 0.0)) + QPoint(120, 80),
                Qt.MouseButton.MiddleButton)  # panning leaves it where it is
    assert abs(hint.geometry().center().x() - viewport.center().x()) <= 2
    assert hint.testAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)

    canvas.key(Qt.Key.Key_Tab)  # the way the hint says
    qtbot.waitUntil(window.palette.isVisible)
    window.palette.edit.setText("image source")
    assert window.palette.result_ids()[0] == "test.source"
    QTest.keyClick(window.palette.edit, Qt.Key.Key_Return)
    assert len(window.editor.graph) == 1
    assert _hint(window) is None
    window.editor.undo_stack.undo()  # empty again: the hint is back
    assert len(window.editor.graph) == 0 and _hint(window) is not None


def test_about_names_the_version(window, qtbot):
    seen: list[str] = []

    def read_and_close() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            seen.append(box.text())
            box.accept()
        else:
            QTimer.singleShot(20, read_and_close)

    QTimer.singleShot(20, read_and_close)
    _menu_action(window, "help", "About NodeStudio").trigger()
    assert seen and nodestudio.__version__ in seen[0]
