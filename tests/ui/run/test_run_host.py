"""The run controller reaches the window only through its RunHost (ui/run/host.py): the
parts it names are the window's own, and what changes while the window lives (theme, report)
is read when used."""

from __future__ import annotations

from nodestudio.ui.run.host import host_of
from nodestudio.ui.theme import THEMES


def test_host_names_the_windows_own_parts(kit):
    window, host = kit.window, kit.controller.host
    assert host.window is window and host.editor is window.editor
    assert host.scene is window.scene and host.log_dock is window.log_dock
    assert host.menus is window.menus and host.panels_menu is window.panels_menu
    # The run's actions landed where the window shows them.
    assert kit.controller.run_action in window.menus["run"].actions()
    assert window.named_actions["run_branch"] is kit.controller.branch_action
    assert kit.controller.queue_dock.toggleViewAction() in window.panels_menu.actions()


def test_report_and_theme_are_read_when_used(kit):
    window, controller = kit.window, kit.controller
    heard: list[tuple[str, str]] = []
    window.report = lambda message, level="info": heard.append((message, level))
    window.scene.select_nodes([])
    assert controller.run_branch() == []
    assert heard == [("Run This Branch: select the node(s) to run first", "warning")]
    window.set_theme("light")
    assert controller.host.theme() is THEMES["light"]
    assert host_of(window).theme() is THEMES["light"]
