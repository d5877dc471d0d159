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

from PySide6.QtCore import SignalInstance
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMainWindow, QMenu, QToolBar

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
    #: The Qt parent of the run's actions, docks and status widget. The run's extension
    #: modules (live mode, warm start, farm panel) still take it whole: next to move here.
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
    )
