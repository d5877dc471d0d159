"""Helpers for the GUI tests: exact graph snapshots and real input events on the canvas."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QKeySequence, QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from nodestudio.graph import files
from nodestudio.graph.model import Graph
from nodestudio.ui.main_window import MainWindow


def snapshot(graph: Graph) -> dict[str, Any]:
    """The graph's document with nodes and links in a canonical order (file order is not
    part of what an undo restores), for exact comparisons."""
    document = json.loads(files.dumps(graph))
    document["nodes"] = sorted(document["nodes"], key=lambda entry: entry["id"])
    document["links"] = sorted(document["links"], key=lambda entry: (entry["to"], entry["from"]))
    return document


class Canvas:
    """Real mouse and key events on the canvas viewport, at scene positions."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.view = window.view
        self.viewport = window.view.viewport()

    def at(self, scene_pos: QPointF | tuple[float, float] | QPoint) -> QPoint:
        """Viewport position of a scene position (a QPoint is a viewport position already)."""
        if isinstance(scene_pos, QPoint):
            return scene_pos
        if isinstance(scene_pos, tuple):
            scene_pos = QPointF(*scene_pos)
        return self.view.mapFromScene(scene_pos)

    def press(self, pos: Any, button: Qt.MouseButton = Qt.MouseButton.LeftButton,
              modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
        QTest.mousePress(self.viewport, button, modifiers, self.at(pos))

    def move(self, pos: Any) -> None:
        QTest.mouseMove(self.viewport, self.at(pos))

    def release(self, pos: Any, button: Qt.MouseButton = Qt.MouseButton.LeftButton,
                modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
        QTest.mouseRelease(self.viewport, button, modifiers, self.at(pos))

    def click(self, pos: Any, modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier
              ) -> None:
        QTest.mouseClick(self.viewport, Qt.MouseButton.LeftButton, modifiers, self.at(pos))

    def double_click(self, pos: Any) -> None:
        """Press, release, double-click, release: what a real mouse sends (QTest's mouseDClick
        sends the double-click event alone)."""
        point = QPointF(self.at(pos))
        left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
        for kind, buttons in ((QEvent.Type.MouseButtonPress, left),
                              (QEvent.Type.MouseButtonRelease, none),
                              (QEvent.Type.MouseButtonDblClick, left),
                              (QEvent.Type.MouseButtonRelease, none)):
            event = QMouseEvent(kind, point, self.viewport.mapToGlobal(point), left, buttons,
                                Qt.KeyboardModifier.NoModifier)
            QApplication.sendEvent(self.viewport, event)

    def drag(self, start: Any, end: Any, button: Qt.MouseButton = Qt.MouseButton.LeftButton,
             modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier,
             steps: int = 6) -> None:
        if isinstance(start, QPoint):  # viewport positions (panning moves the scene)
            a, b = QPointF(start), QPointF(end)
            points = [(a + (b - a) * (i / steps)).toPoint() for i in range(steps + 1)]
        else:
            a = QPointF(*start) if isinstance(start, tuple) else QPointF(start)
            b = QPointF(*end) if isinstance(end, tuple) else QPointF(end)
            points = [a + (b - a) * (i / steps) for i in range(steps + 1)]
        self.press(points[0], button, modifiers)
        for point in points[1:]:
            self.move(point)
        self.release(points[-1], button, modifiers)

    def key(self, key: Qt.Key, modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier
            ) -> None:
        QTest.keyClick(self.view, key, modifiers)

    def shortcut(self, sequence: str) -> None:
        """Press a key sequence on the canvas so that QActions' shortcuts fire."""
        combination = QKeySequence(sequence)[0]
        QTest.keyClick(self.view, combination.key(), combination.keyboardModifiers())
        QApplication.processEvents()


