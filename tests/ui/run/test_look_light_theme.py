"""Issue 13, item 15: the light theme reaches the log panel, the menu bar and the Run / Cancel
icons (which the run work adds after the window chose its theme)."""

from __future__ import annotations

from PySide6.QtCore import QPoint
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication

from nodestudio.ui.theme import LIGHT


def _light(color: QColor) -> bool:
    return color.lightness() > 200


def test_the_log_panel_and_the_menu_bar_turn_light(kit):
    window = kit.window
    window.log_dock.log("a message", "info")
    window.set_theme("light")
    QApplication.processEvents()
    log = window.log_dock.text
    assert _light(log.palette().base().color()) and not _light(log.palette().text().color())
    bar = window.menuBar()
    assert _light(bar.palette().window().color())
    # What is on screen (the window's backing store, not a fresh render).
    shot = QApplication.primaryScreen().grabWindow(window.winId()).toImage()
    for widget in (log.viewport(), bar):
        point = widget.mapTo(window, QPoint(widget.width() - 6, widget.height() - 4))
        assert _light(shot.pixelColor(point)), type(widget).__name__


def _ink(image: QImage) -> list[QColor]:
    """The opaque pixels of an icon."""
    return [image.pixelColor(x, y) for x in range(image.width()) for y in range(image.height())
            if image.pixelColor(x, y).alpha() > 220]


def test_run_and_cancel_icons_follow_the_theme(kit):
    controller = kit.controller
    controller.cancel_action.setEnabled(True)
    kit.window.set_theme("light")
    # Run in the light theme's dark text colour (not the dark theme's light grey); Cancel in
    # the light theme's red (a stop, not a checkbox).
    for action, expected in ((controller.run_action, LIGHT.text),
                             (controller.cancel_action, LIGHT.error)):
        colour = QColor(expected)
        ink = _ink(action.icon().pixmap(24, 24).toImage())
        assert ink, action.text()
        assert all(abs(c.red() - colour.red()) + abs(c.green() - colour.green())
                   + abs(c.blue() - colour.blue()) < 60 for c in ink), action.text()
