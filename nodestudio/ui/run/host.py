"""What running graphs uses of the window, named and typed: the run controller's collaborators.

The controller used to hold the whole MainWindow and reach into some twenty of its attributes;
:class:`RunHost` lists them, so a change to the window that breaks the run support is a type
error here rather than an AttributeError in a user's session.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, SignalInstance
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu, QToolBar

if TYPE_CHECKING:
    from PySide6.QtCore import QSettings

    from nodestudio.ui.canvas.node_item import NodeItem
    from nodestudio.ui.canvas.scene import NodeScene
    from nodestudio.ui.document import Document
    from nodestudio.ui.editor import GraphEditor
    from nodestudio.ui.library_dock import LibraryDock
    from nodestudio.ui.log_dock import LogDock
    from nodestudio.ui.main_window import MainWindow
    from nodestudio.ui.outputs_dock import OutputsDock
    from nodestudio.ui.theme import Theme


@dataclass(frozen=True)
class RunHost:
    #: The Qt parent of the run's actions, docks and status widget, and what the warm start
    #: watches for the first Show: only its QMainWindow side is used.
    window: QMainWindow
    editor: GraphEditor
    scene: NodeScene
    document: Document
    settings: QSettings
    library_dock: LibraryDock
    outputs_dock: OutputsDock
    log_dock: LogDock
    toolbar: QToolBar
    #: The menu bar's menus by name ("view", "run" once made …) and the docks' toggles.
    menus: dict[str, QMenu]
    panels_menu: QMenu
    #: The window's named actions: Run This Branch is added for the node context menu.
    named_actions: dict[str, QAction]
    closed: SignalInstance
    theme: Callable[[], Theme]
    report: Callable[[str, str], None]
    add_action: Callable[[QAction, str], object]
    node_item: Callable[[str], NodeItem | None]
    open_file: Callable[[Path], object]
    #: Docks a panel on the given side, listed in View › Panels, where the saved window state
    #: had it; False when that state does not know the dock (first start, or a dock new in
    #: this version): the caller then picks its default visibility.
    add_dock: Callable[[QDockWidget, Qt.DockWidgetArea], bool]


def host_of(window: MainWindow) -> RunHost:
    """The run collaborators of ``window``. Theme and report are read when used: the theme
    changes while the window lives, and tests and embedders replace ``window.report``."""
    return RunHost(
        window=window, editor=window.editor, scene=window.scene, document=window.document,
        settings=window.settings, library_dock=window.library_dock,
        outputs_dock=window.outputs_dock, log_dock=window.log_dock, toolbar=window.toolbar,
        menus=window.menus, panels_menu=window.panels_menu,
        named_actions=window.named_actions, closed=window.closed,
        theme=lambda: window.theme,
        report=lambda message, level: window.report(message, level),
        add_action=lambda action, menu: window.add_action(action, menu=menu),
        node_item=window.node_item, open_file=window.open_file,
        add_dock=lambda dock, area: _add_dock(window, dock, area),
    )


def _add_dock(window: MainWindow, dock: QDockWidget, area: Qt.DockWidgetArea) -> bool:
    window.panels_menu.addAction(dock.toggleViewAction())
    # The window restored its saved state before the run support existed; Qt kept the
    # places of docks it did not know yet and puts this one back in its own (before it is
    # added anywhere else: an added dock has no place left to restore).
    if window.restoreDockWidget(dock):
        return True
    window.addDockWidget(area, dock)
    return False
