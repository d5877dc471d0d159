"""The actions and menus see the window through WindowCommands and hand back what they build:
the window's recent-files and panels menus are the ones inside File and View."""

from __future__ import annotations

from nodestudio.ui import actions as window_actions
from nodestudio.ui.icons import icon


def _submenus(menu):
    return [action.menu() for action in menu.actions() if action.menu() is not None]


def test_recent_and_panels_menus_are_the_windows(window, tmp_path):
    assert window.recent_menu in _submenus(window.menus["file"])
    assert window.panels_menu in _submenus(window.menus["view"])
    assert window.library_dock.toggleViewAction() in window.panels_menu.actions()
    path = tmp_path / "a.json"
    window.recent.add(path)
    window.recent_menu.aboutToShow.emit()  # the window fills it as it opens
    assert str(path) in [action.text() for action in window.recent_menu.actions()]


def test_theme_change_redraws_the_action_icons(window):
    window.set_theme("light")
    light = window.named_actions["save"].icon().pixmap(16, 16).toImage()
    window.set_theme("dark")
    dark = window.named_actions["save"].icon().pixmap(16, 16).toImage()
    assert light != dark
    assert dark == icon("save", window.theme).pixmap(16, 16).toImage()
    window_actions.apply_action_icons(window.named_actions, window.theme)
    assert window.named_actions["undo"].icon().pixmap(16, 16).toImage() == \
        icon("undo", window.theme).pixmap(16, 16).toImage()
