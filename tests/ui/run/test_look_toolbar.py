"""Issue 13, item 6: the toolbar stays put after edits, and Run / Cancel stay visible on a
narrow window."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QApplication, QToolButton


def _place(kit, action) -> QPoint:
    """Where the action's toolbar button sits in the window (window coordinates)."""
    button = kit.window.toolbar.widgetForAction(action)
    assert button is not None
    return button.mapTo(kit.window, QPoint(0, 0))


def test_run_and_cancel_do_not_move_after_an_edit(kit, qtbot):
    run, cancel = kit.controller.run_action, kit.controller.cancel_action
    QApplication.processEvents()
    before = (_place(kit, run), _place(kit, cancel))
    undo = kit.window.named_actions["undo"]
    undo_text = undo.text()

    kit.window.editor.add_node("test.number", (0, 0))  # an undoable edit with a long name
    QApplication.processEvents()

    assert (_place(kit, run), _place(kit, cancel)) == before
    assert undo.text() == undo_text  # the label stays, the action's name goes in the tooltip
    assert undo.isEnabled()
    assert kit.window.editor.undo_stack.undoText() in undo.toolTip()


@pytest.mark.parametrize("theme_name", ["dark", "light"])
def test_run_and_cancel_stay_visible_at_700_px(kit, qtbot, theme_name):
    window = kit.window
    window.set_theme(theme_name)
    window.resize(700, 600)
    qtbot.waitUntil(lambda: window.width() <= 700, timeout=2000)
    QApplication.processEvents()
    toolbar_rect = window.toolbar.rect()
    for action in (kit.controller.run_action, kit.controller.cancel_action):
        button = window.toolbar.widgetForAction(action)
        assert button is not None and button.isVisible(), action.text()
        # Wholly inside the toolbar (not pushed under its edge or into the overflow).
        assert toolbar_rect.contains(button.geometry()), action.text()
    assert kit.controller.batch_spin.isVisible()
    # What does not fit goes into the overflow, whose » shows.
    assert not window.toolbar.widgetForAction(window.named_actions["frame_all"]).isVisible()
    overflow = window.toolbar.findChild(QToolButton, "qt_toolbar_ext_button")
    assert overflow is not None and overflow.isVisible()
    picture = overflow.grab().toImage()
    ground = picture.pixelColor(0, 0)
    marks = sum(1 for x in range(picture.width()) for y in range(picture.height())
                if abs(picture.pixelColor(x, y).lightness() - ground.lightness()) > 80)
    assert marks >= 6, "the overflow button shows no arrow"
