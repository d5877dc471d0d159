"""The main window: the canvas in the middle, docks around it, menus, files and recovery."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, QPoint, QPointF, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from nodestudio.api.registry import NodeRegistry
from nodestudio.api.schema import NodeType
from nodestudio.app.path_rules import write_failure_reason
from nodestudio.app.settings import config_dir
from nodestudio.graph.model import Graph
from nodestudio.graph.problems import GraphFileError
from nodestudio.ui import actions as window_actions
from nodestudio.ui import clipboard
from nodestudio.ui.autosave import Autosaver, Recovery, RecoveryBanner, find_recoveries
from nodestudio.ui.canvas.empty_hint import EmptyCanvasHint
from nodestudio.ui.canvas.node_item import NodeItem
from nodestudio.ui.canvas.scene import NodeScene
from nodestudio.ui.canvas.view import NodeView
from nodestudio.ui.choices import ChoiceProvider
from nodestudio.ui.document import Document, RecentFiles
from nodestudio.ui.editor import Endpoint, GraphEditor
from nodestudio.ui.icons import THEMED_ICON, icon
from nodestudio.ui.image_inputs import ImageInputs
from nodestudio.ui.library_dock import LibraryDock
from nodestudio.ui.log_dock import LogDock
from nodestudio.ui.outputs_dock import OutputsDock
from nodestudio.ui.palette import SearchPalette
from nodestudio.ui.properties_dock import PropertiesDock
from nodestudio.ui.subgraph_library_items import SubgraphFileDrops
from nodestudio.ui.theme import DARK, THEMES, Theme, apply_theme

if TYPE_CHECKING:
    from nodestudio.ui.run.controller import RunController

GRAPH_FILTER = ("Graphs (*.json *.png *.webp);;NodeStudio graphs (*.json);;"
                "Images with a graph (*.png *.webp)")
#: ask_save_changes returns one of these.
SAVE, DISCARD, CANCEL = "save", "discard", "cancel"


def gui_settings() -> QSettings:
    """The window's own settings (geometry, docks, theme, recent files), in an INI file in
    NodeStudio's config folder, so that NODESTUDIO_HOME isolates it like everything else."""
    return QSettings(str(config_dir() / "gui.ini"), QSettings.Format.IniFormat)


class MainWindow(QMainWindow):
    #: The window accepted a close (the run work stops its worker on it).
    closed = Signal()
    #: The node search (Tab). It shadows QWidget.palette() (the colour palette), which the
    #: window never calls; tests and embedders know it by this name.
    palette: SearchPalette  # type: ignore[assignment]

    def __init__(
        self,
        registry: NodeRegistry,
        *,
        choices: ChoiceProvider | None = None,
        settings: QSettings | None = None,
        theme: str | None = None,
        autosave: bool = True,
        autosave_interval_ms: int = 5000,
        autosave_folder: Path | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings or gui_settings()
        self.theme: Theme = THEMES.get(theme or str(self.settings.value("theme", "dark")), DARK)
        self.editor = GraphEditor(registry, choices, self)
        self.document = Document(self.editor, self)
        self.recent = RecentFiles(self.settings)
        #: Replaceable in tests and by embedders: (document name) -> SAVE, DISCARD or CANCEL.
        self.ask_save_changes: Callable[[str], str] = self._ask_save_changes
        self.choose_open_path: Callable[[], Path | None] = self._choose_open_path
        self.choose_save_path: Callable[[str], Path | None] = self._choose_save_path
        self.error_dialog: QMessageBox | None = None
        self.recoveries: list[Recovery] = []
        #: Set by nodestudio.ui.run.install_run_support (Run, queue, badges, outputs).
        self.run_controller: RunController | None = None

        self._build_canvas(registry)
        self._build_docks(registry)
        self._build_menus()

        self.zoom_label = QLabel("100%", self)
        self.count_label = QLabel(self)
        self.statusBar().addPermanentWidget(self.count_label)
        self.statusBar().addPermanentWidget(self.zoom_label)
        self._connect()
        self.setAcceptDrops(True)
        self._default_size()
        self._restore_window_state()
        self.apply_theme()
        self._update_title()
        self._update_counts()

        self.autosaver: Autosaver | None = None
        if autosave:
            self.autosaver = Autosaver(self.editor, self.document, autosave_interval_ms,
                                       autosave_folder, self)
            self.autosaver.start()
            self.offer_recovery(find_recoveries(autosave_folder))

    def _build_canvas(self, registry: NodeRegistry) -> None:
        """The node view and what sits on it: search, the empty-canvas hint, image drops, the
        recovery banner."""
        self.scene = NodeScene(self.editor, self.theme)
        self.view = NodeView(self.scene)
        self.palette = SearchPalette(lambda: iter(registry), self.view)
        self.empty_hint = EmptyCanvasHint(self.view, self.editor)
        self.image_inputs = ImageInputs(self.editor, self.scene, self.view, self.report)
        self.subgraph_drops = SubgraphFileDrops(self)
        self.recovery_banner = RecoveryBanner(self)
        central = QWidget(self)
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.recovery_banner)
        column.addWidget(self.view, 1)
        self.setCentralWidget(central)

    def _build_docks(self, registry: NodeRegistry) -> None:
        """The Library, Properties, Outputs and Log panels in their default places."""
        self.library_dock = LibraryDock(registry, self)
        self.properties_dock = PropertiesDock(self.editor, self.scene, self)
        self.outputs_dock = OutputsDock(self)
        self.log_dock = LogDock(self)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.library_dock)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.properties_dock)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.outputs_dock)
        self.tabifyDockWidget(self.properties_dock, self.outputs_dock)
        self.properties_dock.raise_()
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.log_dock)
        self.resizeDocks([self.library_dock, self.properties_dock], [220, 270],
                         Qt.Orientation.Horizontal)
        self.resizeDocks([self.log_dock], [80], Qt.Orientation.Vertical)

    def _build_menus(self) -> None:
        """Actions, menus, the toolbar, subgraph editing and the Panels menu."""
        self.named_actions: dict[str, QAction] = window_actions.create_actions(self)
        built = window_actions.build_menus(self)
        self.menus: dict[str, QMenu] = built.menus
        self.recent_menu: QMenu = built.recent
        self.panels_menu: QMenu = built.panels
        self.toolbar = window_actions.build_toolbar(self)
        from nodestudio.ui.subgraph_window import install_subgraph_support, open_instance

        install_subgraph_support(self)
        self.scene.subgraph_open_requested.connect(lambda node_id: open_instance(self, node_id))
        self.scene.paint_edit_requested.connect(self._open_paint_editor)
        self.addToolBar(self.toolbar)
        for dock in (self.library_dock, self.properties_dock, self.outputs_dock, self.log_dock):
            self.panels_menu.addAction(dock.toggleViewAction())

    def _connect(self) -> None:
        self.editor.message.connect(self.report)
        self.document.changed.connect(self._update_title)
        self.editor.undo_stack.indexChanged.connect(self._update_counts)
        self.editor.graph_replaced.connect(lambda _g: self._update_counts())
        self.editor.level_changed.connect(self._update_counts)
        self.view.palette_requested.connect(lambda at, pos: self.open_palette(pos, at))
        self.view.files_dropped.connect(self._files_dropped)
        self.view.node_type_dropped.connect(self.add_node_at)
        self.view.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f}%"))
        self.scene.link_dropped.connect(self._link_dropped)
        self.scene.context_menu_requested.connect(self._context_menu)
        self.library_dock.add_requested.connect(
            lambda type_id: self.add_node_at(type_id, self.view.scene_center()))
        self.recovery_banner.restore_button.clicked.connect(self.restore_recovery)
        self.recovery_banner.discard_button.clicked.connect(self.discard_recovery)

    # -- extension points -----------------------------------------------------------------------

    def add_action(self, action: QAction, menu: str = "run", toolbar: bool = False,
                   title: str | None = None) -> QAction:
        """Add ``action`` to the menu ``menu`` (created before Help when new) and, if asked,
        to the toolbar. The run work adds Run/Stop here."""
        target = self.menus.get(menu)
        if target is None:
            target = QMenu(title or menu.title(), self)
            self.menuBar().insertMenu(self.menus["help"].menuAction(), target)
            self.menus[menu] = target
        target.addAction(action)
        if toolbar:
            self.toolbar.addAction(action)
        if action.parent() is None:
            action.setParent(self)
        self.addAction(action)
        return action

    def node_item(self, node_id: str) -> NodeItem | None:
        """The canvas item of a node (run badges, progress and previews go through it)."""
        return self.scene.node_items.get(node_id)

    # -- messages -------------------------------------------------------------------------------

    def report(self, message: str, level: str = "info") -> None:
        self.log_dock.log(message, level)
        self.statusBar().showMessage(message, 6000)

    def _update_title(self) -> None:
        self.setWindowTitle(f"{self.document.display_name}[*] — NodeStudio")
        self.setWindowModified(self.document.dirty)

    def _update_counts(self, *_args: Any) -> None:
        graph = self.editor.level  # inside a subgraph: what the canvas shows
        self.count_label.setText(f"{len(graph)} nodes · {len(graph.links)} links")

    def show_about(self) -> None:
        from nodestudio.ui.about import about_text

        QMessageBox.about(self, "About NodeStudio", about_text())

    # -- files ----------------------------------------------------------------------------------

    def confirm_discard(self) -> bool:
        """True when the current graph may be replaced (saved, or the user said so)."""
        if not self.document.dirty:
            return True
        answer = self.ask_save_changes(self.document.display_name)
        if answer == SAVE:
            return self.save()
        return answer == DISCARD

    def new_graph(self) -> bool:
        if not self.confirm_discard():
            return False
        self.document.new()
        self.view.frame_all()
        return True

    def open_dialog(self) -> bool:
        path = self.choose_open_path()
        return self.open_file(path) if path is not None else False

    def open_file(self, path: str | Path, *, ask: bool = True) -> bool:
        """Open a graph file; errors are shown and logged, the current graph stays."""
        if ask and not self.confirm_discard():
            return False
        path = Path(path)
        try:
            graph = self.document.load(path)
        except GraphFileError as error:
            if not path.exists():  # moved or deleted: Open Recent stops offering it
                self.recent.remove(path)
            self.show_load_error(error)
            return False
        self.recent.add(path)
        self.report(f"Opened {path}")
        for warning in graph.load_warnings:
            self.report(str(warning), "warning")
        self.view.frame_all()
        return True

    def show_load_error(self, error: GraphFileError) -> None:
        details = "\n".join(f"• {problem}" for problem in error.problems[:30])
        self.report(f"Could not open: {error.summary}" + (f"\n{details}" if details else ""),
                    "error")
        dialog = QMessageBox(QMessageBox.Icon.Warning, "Could not open the graph",
                             error.summary, QMessageBox.StandardButton.Ok, self)
        dialog.setInformativeText(details)
        dialog.setWindowModality(Qt.WindowModality.NonModal)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()  # not modal: the window stays usable behind it
        self.error_dialog = dialog

    def save(self) -> bool:
        if self.document.path is None:
            return self.save_as()
        return self._save_to(self.document.path)

    def save_as(self, path: str | Path | None = None) -> bool:
        target = Path(path) if path else self.choose_save_path(self.document.suggested_name)
        if target is None:
            return False
        if target.suffix.lower() != ".json":
            target = target.with_suffix(".json")
        return self._save_to(target)

    def _save_to(self, path: Path) -> bool:
        try:
            self.document.save(path)
        except (OSError, ValueError, TypeError, RecursionError) as error:
            # ValueError: a value JSON cannot hold (NaN set by a script); the file on disk is
            # untouched (atomic save) and the window keeps the work.
            reason = (write_failure_reason(error, path) if isinstance(error, OSError)
                      else str(error))
            self.report(f"Could not save {path}: {reason}", "error")
            QMessageBox.warning(self, "Could not save", f"{path}\n\n{reason}")
            return False
        self.recent.add(path)
        self.report(f"Saved {path}", "success")
        return True

    def fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        paths = self.recent.paths()
        for path in paths:
            action = self.recent_menu.addAction(str(path))
            action.triggered.connect(lambda _c=False, p=path: self.open_file(p))
        if not paths:
            self.recent_menu.addAction("(none)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear", self.recent.clear)

    def _choose_open_path(self) -> Path | None:
        name, _ = QFileDialog.getOpenFileName(self, "Open graph", "", GRAPH_FILTER)
        return Path(name) if name else None

    def _choose_save_path(self, suggested: str) -> Path | None:
        start = str(self.document.save_dialog_start(self.recent).with_name(suggested))
        name, _ = QFileDialog.getSaveFileName(self, "Save graph", start,
                                              "NodeStudio graphs (*.json)")
        return Path(name) if name else None

    def _ask_save_changes(self, name: str) -> str:
        answer = QMessageBox.question(
            self, "Unsaved changes", f"Save the changes to {name}?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
        return {QMessageBox.StandardButton.Save: SAVE,
                QMessageBox.StandardButton.Discard: DISCARD}.get(answer, CANCEL)

    def _files_dropped(self, paths: list[str]) -> None:
        if paths:
            self.open_file(paths[0])

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self._files_dropped(paths)

    # -- recovery -------------------------------------------------------------------------------

    def offer_recovery(self, recoveries: list[Recovery]) -> None:
        self.recoveries = recoveries
        if not recoveries:
            self.recovery_banner.hide()
            return
        newest = recoveries[0]
        more = f" (and {len(recoveries) - 1} older)" if len(recoveries) > 1 else ""
        self.recovery_banner.label.setText(
            f"NodeStudio did not close properly. Restore {newest.label}{more}?")
        self.recovery_banner.show()

    def restore_recovery(self) -> bool:
        if not self.recoveries:
            return False
        newest = self.recoveries[0]
        try:
            graph = newest.graph(self.editor.registry)
        except GraphFileError as error:
            self.show_load_error(error)
            return False
        self.document.restore(graph, newest.source)
        self.discard_recovery()
        self.report(f"Restored {newest.label}", "success")
        for warning in graph.load_warnings:
            self.report(str(warning), "warning")
        self.view.frame_all()
        return True

    def discard_recovery(self) -> None:
        for recovery in self.recoveries:
            recovery.discard()
        self.recoveries = []
        self.recovery_banner.hide()

    # -- editing --------------------------------------------------------------------------------

    def add_node_at(self, type_id: str, scene_pos: QPointF) -> str | None:
        if type_id.startswith("subgraph:"):  # a template or library entry of the Nodes panel
            from nodestudio.ui.subgraph_library_items import add_library_entry

            return add_library_entry(self, type_id, scene_pos)
        if self.editor.registry.get(type_id) is None:
            self.report(f"Unknown node type {type_id}", "warning")
            return None
        node_id = self.editor.add_node(type_id, (round(scene_pos.x()), round(scene_pos.y())))
        self.scene.select_nodes([node_id])
        self.view.setFocus()
        return node_id

    def open_palette(self, scene_pos: QPointF | None = None, at: QPoint | None = None) -> None:
        if scene_pos is None:
            scene_pos = self.view.cursor_scene_pos() or self.view.scene_center()
        if at is None:
            at = self.view.mapFromScene(scene_pos)
        where: QPointF = scene_pos

        def pick(type_id: str) -> None:  # the palette wants no result back
            self.add_node_at(type_id, where)

        self.palette.open(at, pick)

    def _link_dropped(self, start: Endpoint, scene_pos: QPointF) -> None:
        def accepts(node_type: NodeType) -> bool:
            return self.editor.compatible_socket(node_type, start) is not None

        def pick(type_id: str) -> None:
            pos = (round(scene_pos.x()), round(scene_pos.y()))
            if not start.is_output:  # the new node feeds the input: put it on the left
                pos = (pos[0] - 220, pos[1])
            node_id = self.editor.add_node_linked(type_id, pos, start)
            if node_id is not None:
                self.scene.select_nodes([node_id])

        heading = (f"Nodes that take {start.type}" if start.is_output
                   else f"Nodes that give {start.type}")
        self.palette.open(self.view.mapFromScene(scene_pos), pick, accepts, heading)

    def extend_node_menu(self, item: NodeItem, menu: QMenu) -> None:
        """The extensions' entries in a node's context menu: painting, Run This Branch (when
        the window can run graphs), subgraphs."""
        from nodestudio.ui.paint.editing import add_context_entries as add_paint_entries
        from nodestudio.ui.placeholder_fix import add_context_entries as add_fix_entries

        add_paint_entries(self, item.node.type, item.node.id, menu)
        add_fix_entries(self, item, menu)
        if "run_branch" in self.named_actions:
            menu.addSeparator()
            menu.addAction(self.named_actions["run_branch"])
        if "make_subgraph" in self.named_actions:
            from nodestudio.ui.subgraph_window import add_context_entries

            add_context_entries(self, item, menu)

    def _context_menu(self, item: object, screen_pos: QPoint, scene_pos: QPointF) -> None:
        menu = window_actions.context_menu(self, item, scene_pos)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(screen_pos)

    def _open_paint_editor(self, node_id: str) -> None:
        from nodestudio.ui.paint.editing import open_paint_editor

        open_paint_editor(self, node_id)

    def delete_selection(self) -> None:
        scene = self.scene
        self.editor.delete(scene.selected_node_ids(), scene.selected_link_keys(),
                           scene.selected_group_ids())

    def select_all(self) -> None:
        self.scene.select_only(self.scene.node_items.values())

    def copy(self) -> str | None:
        node_ids = self.scene.selected_node_ids()
        if not node_ids:
            return None
        return clipboard.copy_nodes(self.editor.level, node_ids)

    def cut(self) -> None:
        node_ids = self.scene.selected_node_ids()
        if node_ids:
            clipboard.copy_nodes(self.editor.level, node_ids)
            self.editor.delete(node_ids, text="Cut")

    def paste(self) -> list[str]:
        try:
            part = clipboard.graph_from_text(clipboard.clipboard_text(), self.editor.registry)
        except GraphFileError as error:
            self.report(f"The clipboard holds no usable graph: {error.summary}", "warning")
            return []
        if part is None or len(part) == 0:
            self.report("Nothing to paste: the clipboard holds no nodes", "warning")
            return []
        return self._insert(part, clipboard.paste_offset(part, self.view.cursor_scene_pos()),
                            "Paste")

    def duplicate(self) -> list[str]:
        node_ids = self.scene.selected_node_ids()
        if not node_ids:
            return []
        part = self.editor.level.subgraph(node_ids)
        return self._insert(part, clipboard.PASTE_STEP, "Duplicate")

    def _insert(self, part: Graph, offset: tuple[float, float], text: str) -> list[str]:
        new_ids = self.editor.insert(part, offset, text)
        self.scene.select_nodes(new_ids)
        return new_ids

    def group_selection(self) -> str | None:
        items = [self.scene.node_items[n] for n in self.scene.selected_node_ids()]
        if not items:
            return None
        rect = items[0].sceneBoundingRect()
        for item in items[1:]:
            rect = rect.united(item.sceneBoundingRect())
        rect = rect.adjusted(-20, -54, 20, 20)
        return self.editor.add_group("Group", (round(rect.x()), round(rect.y()),
                                               round(rect.width()), round(rect.height())))

    def toggle_mode(self, mode: str) -> None:
        self.editor.toggle_mode(self.scene.selected_node_ids(), mode)

    def toggle_collapse(self) -> None:
        self.editor.toggle_collapsed(self.scene.selected_node_ids())

    def rename_selection(self) -> None:
        selected = self.scene.selectedItems()
        if len(selected) == 1 and hasattr(selected[0], "edit_title"):
            selected[0].edit_title()

    def set_color(self, color: str | None, group_id: str | None = None) -> None:
        if group_id is not None:
            self.editor.update_group(group_id, color=color)
            return
        self.editor.set_node_layout(self.scene.selected_node_ids(), "color", color,
                                    "Change colour")

    # -- look and state -------------------------------------------------------------------------

    def set_theme(self, name: str) -> None:
        self.theme = THEMES.get(name, DARK)
        self.settings.setValue("theme", self.theme.name)
        self.apply_theme()

    def apply_theme(self) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, self.theme)
        self.scene.set_theme(self.theme)
        self.view.viewport().update()
        self.library_dock.populate()
        self.library_dock.apply_filter(self.library_dock.filter.text())
        self.log_dock.theme_colors = {"warning": self.theme.warning, "error": self.theme.error,
                                      "success": self.theme.success}
        window_actions.apply_action_icons(self.named_actions, self.theme)
        window_actions.theme_toolbar(self)
        for action in self.findChildren(QAction):  # extensions' icons (Run, Cancel)
            name = action.property(THEMED_ICON)
            if isinstance(name, str) and name:
                action.setIcon(icon(name, self.theme))
        checked = self.named_actions.get(f"theme_{self.theme.name}")
        if checked is not None:
            checked.setChecked(True)

    def _default_size(self) -> None:
        screen = QApplication.primaryScreen()
        available = screen.availableGeometry() if screen is not None else None
        if available is None or available.width() < 800:
            self.resize(1440, 900)
            return
        self.resize(min(1680, int(available.width() * 0.9)),
                    min(1050, int(available.height() * 0.9)))

    def _restore_window_state(self) -> None:
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state)

    def save_window_state(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.confirm_discard():
            event.ignore()
            return
        self.save_window_state()
        if self.autosaver is not None:
            self.autosaver.stop()
        self.palette.close_palette()
        event.accept()
        self.closed.emit()
