"""The window's actions, menus, toolbar and context menus, with the standard shortcuts.

They see the window only through :class:`WindowCommands`, the typed surface of the parts and
commands they use; the window reads back what they build from the return values (no
attribute is set on the window from here).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, Protocol

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu, QMenuBar, QToolBar, QToolButton, QWidget

from nodestudio.ui.canvas.group_item import GroupItem
from nodestudio.ui.canvas.link_item import LinkItem
from nodestudio.ui.canvas.node_item import NodeItem
from nodestudio.ui.comfy_export import export_for_comfyui
from nodestudio.ui.icons import icon

if TYPE_CHECKING:
    from nodestudio.ui.canvas.scene import NodeScene
    from nodestudio.ui.canvas.view import NodeView
    from nodestudio.ui.document import Document, RecentFiles
    from nodestudio.ui.editor import GraphEditor
    from nodestudio.ui.theme import Theme


class WindowCommands(Protocol):
    """What the actions and menus use of the window (MainWindow satisfies it structurally).

    Commands return what they like (``object``): a menu entry ignores the result."""

    editor: GraphEditor
    document: Document
    recent: RecentFiles
    scene: NodeScene
    view: NodeView
    theme: Theme
    named_actions: dict[str, QAction]
    toolbar: QToolBar

    # Qt's own: the top-level widget parents the actions and owns their window shortcuts.
    def window(self) -> QWidget: ...
    def menuBar(self) -> QMenuBar: ...

    def report(self, message: str, level: str = "info") -> None: ...
    def new_graph(self) -> object: ...
    def open_dialog(self) -> object: ...
    def save(self) -> object: ...
    def save_as(self) -> object: ...
    def close(self) -> object: ...
    def cut(self) -> object: ...
    def copy(self) -> object: ...
    def paste(self) -> object: ...
    def duplicate(self) -> object: ...
    def delete_selection(self) -> object: ...
    def select_all(self) -> object: ...
    def open_palette(self, scene_pos: QPointF | None = None) -> object: ...
    def group_selection(self) -> object: ...
    def toggle_mode(self, mode: str) -> object: ...
    def toggle_collapse(self) -> object: ...
    def rename_selection(self) -> object: ...
    def fill_recent_menu(self) -> object: ...
    def set_theme(self, name: str) -> object: ...
    def show_about(self) -> object: ...
    def set_color(self, color: str | None, group_id: str | None = None) -> object: ...
    def extend_node_menu(self, item: NodeItem, menu: QMenu) -> object:
        """Add the extensions' entries (paint, run, subgraphs) to a node's context menu."""


class Menus(NamedTuple):
    """What :func:`build_menus` made: the menu bar's menus by name, and the two submenus the
    window fills itself (recent files; the docks' toggles)."""

    menus: dict[str, QMenu]
    recent: QMenu
    panels: QMenu

NODE_COLORS = (("Red", "#a33b3b"), ("Orange", "#b8652a"), ("Yellow", "#a68a22"),
               ("Green", "#3f8a4a"), ("Teal", "#24857a"), ("Blue", "#3a66b0"),
               ("Purple", "#7a4fb3"), ("Grey", "#5b616b"))

Std = QKeySequence.StandardKey

#: name: (text, shortcuts, canvas only, icon)
_ACTIONS: dict[str, tuple[str, tuple, bool, str | None]] = {
    "new": ("&New", (Std.New,), False, "new"),
    "open": ("&Open…", (Std.Open,), False, "open"),
    "save": ("&Save", (Std.Save,), False, "save"),
    "save_as": ("Save &As…", ("Ctrl+Shift+S",), False, None),
    "export_comfy_workflow": ("ComfyUI &Workflow…", (), False, None),
    "export_comfy_flat_workflow": ("ComfyUI Workflow, Subgraphs &Flattened…", (), False, None),
    "export_comfy_api": ("ComfyUI &API Prompt…", (), False, None),
    "quit": ("&Quit", (Std.Quit, "Ctrl+Q"), False, None),
    "cut": ("Cu&t", (Std.Cut,), True, None),
    "copy": ("&Copy", (Std.Copy,), True, None),
    "paste": ("&Paste", (Std.Paste,), True, None),
    "duplicate": ("D&uplicate", ("Ctrl+D",), True, None),
    "delete": ("&Delete", (Std.Delete, "Backspace"), True, None),
    "select_all": ("Select &All", (Std.SelectAll,), True, None),
    "add_node": ("Add &Node…", (), False, "add"),
    "group": ("&Group Selection", ("Ctrl+G",), True, None),
    "mute": ("&Mute", ("Ctrl+M",), True, None),
    "bypass": ("&Bypass", ("Ctrl+B",), True, None),
    "collapse": ("Co&llapse", ("Alt+C",), True, None),
    "advanced": ("Show Ad&vanced Inputs", (), True, None),
    # Not in a menu: the keys open the right-click menu of the selection.
    "context_menu": ("Context &Menu", ("Menu", "Shift+F10"), True, None),
    "rename": ("&Rename…", ("F2",), True, None),
    "frame_all": ("Frame &All", ("Home",), True, "frame"),
    "frame_selection": ("Frame &Selection", ("F",), True, None),
    "zoom_in": ("Zoom &In", (Std.ZoomIn, "Ctrl+="), False, None),
    "zoom_out": ("Zoom &Out", (Std.ZoomOut,), False, None),
    "zoom_reset": ("&Actual Size", ("Ctrl+0",), False, None),
}


def create_actions(window: WindowCommands) -> dict[str, QAction]:
    handlers: dict[str, Callable[[], object]] = {
        "new": window.new_graph, "open": window.open_dialog, "save": window.save,
        "save_as": window.save_as, "quit": window.close, "cut": window.cut,
        "export_comfy_workflow": lambda: export_for_comfyui(window, "workflow"),
        "export_comfy_flat_workflow": lambda: export_for_comfyui(window, "flat_workflow"),
        "export_comfy_api": lambda: export_for_comfyui(window, "api"),
        "copy": window.copy, "paste": window.paste, "duplicate": window.duplicate,
        "delete": window.delete_selection, "select_all": window.select_all,
        "add_node": window.open_palette, "group": window.group_selection,
        "mute": lambda: window.toggle_mode("muted"),
        "bypass": lambda: window.toggle_mode("bypassed"),
        "collapse": window.toggle_collapse, "rename": window.rename_selection,
        "advanced": lambda: window.editor.toggle_show_advanced(
            window.scene.selected_node_ids()),
        "context_menu": lambda: open_selection_menu(window),
        "frame_all": window.view.frame_all, "frame_selection": window.view.frame_selection,
        "zoom_in": lambda: window.view.zoom_by(1.25), "zoom_out": lambda: window.view.zoom_by(0.8),
        "zoom_reset": lambda: window.view.set_zoom(1.0),
    }
    actions: dict[str, QAction] = {}
    host = window.window()
    for name, (text, shortcuts, canvas_only, icon_name) in _ACTIONS.items():
        action = QAction(text, host)
        action.setObjectName(f"action_{name}")
        keys: list[QKeySequence] = []
        for shortcut in shortcuts:
            keys.extend(QKeySequence.keyBindings(shortcut) if isinstance(shortcut, Std)
                        else [QKeySequence(shortcut)])
        unique: dict[str, QKeySequence] = {}
        for key in keys:
            unique.setdefault(key.toString(), key)
        action.setShortcuts(list(unique.values()))
        if canvas_only:
            # Only while the canvas has the focus: Delete or F in a text field stay text.
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            window.view.addAction(action)
        else:
            host.addAction(action)
        if icon_name:
            action.setIcon(icon(icon_name, window.theme))
        handler = handlers[name]
        action.triggered.connect(lambda _checked=False, h=handler: h())
        actions[name] = action
    actions["add_node"].setToolTip("Add a node (Tab on the canvas)")
    actions["advanced"].setCheckable(True)  # checked and enabled as menus open
    undo = _undo_action(window, "undo", QKeySequence.keyBindings(Std.Undo))
    redo = _undo_action(window, "redo", [QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    actions["undo"], actions["redo"] = undo, redo
    return actions


def _undo_action(window: WindowCommands, name: str, keys: list[QKeySequence]) -> QAction:
    """Undo or Redo with a fixed label: QUndoStack's own actions put the command's name in
    the label, so the toolbar buttons after them (Run, Cancel) moved with every edit. The
    name goes into the tooltip and status tip instead."""
    stack = window.editor.undo_stack
    label = name.title()
    action = QAction(f"&{label}", window.window())
    action.setObjectName(f"action_{name}")
    action.setShortcuts(keys)
    action.setIcon(icon(name, window.theme))
    undo = name == "undo"
    shortcut = keys[0].toString(QKeySequence.SequenceFormat.NativeText) if keys else ""

    def set_tip(what: str) -> None:
        tip = f"{label} {what}" if what else f"Nothing to {name}"
        action.setToolTip(f"{tip} ({shortcut})" if shortcut else tip)
        action.setStatusTip(tip)

    # Slots use the signals' values only: the stack may be half gone when the window closes.
    (stack.canUndoChanged if undo else stack.canRedoChanged).connect(action.setEnabled)
    (stack.undoTextChanged if undo else stack.redoTextChanged).connect(set_tip)
    action.triggered.connect(stack.undo if undo else stack.redo)
    action.setEnabled(stack.canUndo() if undo else stack.canRedo())
    set_tip(stack.undoText() if undo else stack.redoText())
    window.window().addAction(action)
    return action


def apply_action_icons(actions: dict[str, QAction], theme: Theme) -> None:
    """Redraw the built-in actions' icons in ``theme``'s colours."""
    for name, (_text, _keys, _canvas_only, icon_name) in _ACTIONS.items():
        if icon_name:
            actions[name].setIcon(icon(icon_name, theme))
    for name in ("undo", "redo"):
        actions[name].setIcon(icon(name, theme))


def build_menus(window: WindowCommands) -> Menus:
    a = window.named_actions
    bar = window.menuBar()
    menus: dict[str, QMenu] = {}
    file_menu = menus["file"] = bar.addMenu("&File")
    file_menu.addActions([a["new"], a["open"]])
    recent = file_menu.addMenu("Open &Recent")
    recent.aboutToShow.connect(window.fill_recent_menu)
    file_menu.addSeparator()
    file_menu.addActions([a["save"], a["save_as"]])
    export = file_menu.addMenu("&Export")
    export.addActions([a["export_comfy_workflow"], a["export_comfy_flat_workflow"],
                       a["export_comfy_api"]])
    file_menu.addSeparator()
    file_menu.addAction(a["quit"])
    edit = menus["edit"] = bar.addMenu("&Edit")
    edit.addActions([a["undo"], a["redo"]])
    edit.addSeparator()
    edit.addActions([a["cut"], a["copy"], a["paste"], a["duplicate"], a["delete"]])
    edit.addSeparator()
    edit.addAction(a["select_all"])
    node = menus["node"] = bar.addMenu("&Node")
    node.addActions([a["add_node"], a["rename"], a["group"]])
    node.addSeparator()
    node.addActions([a["mute"], a["bypass"], a["collapse"], a["advanced"]])
    node.aboutToShow.connect(lambda: sync_advanced_action(window))
    view = menus["view"] = bar.addMenu("&View")
    view.addActions([a["frame_all"], a["frame_selection"]])
    view.addSeparator()
    view.addActions([a["zoom_in"], a["zoom_out"], a["zoom_reset"]])
    view.addSeparator()
    themes = view.addMenu("&Theme")
    group = QActionGroup(window.window())
    for name in ("dark", "light"):
        action = themes.addAction(name.title())
        action.setCheckable(True)
        action.setChecked(window.theme.name == name)
        action.triggered.connect(lambda _c=False, n=name: window.set_theme(n))
        group.addAction(action)
        a[f"theme_{name}"] = action
    panels = view.addMenu("&Panels")
    menus["help"] = bar.addMenu("&Help")
    about = menus["help"].addAction("&About NodeStudio")
    about.triggered.connect(window.show_about)
    return Menus(menus, recent, panels)


def build_toolbar(window: WindowCommands) -> QToolBar:
    toolbar = QToolBar("Main", window.window())
    toolbar.setObjectName("mainToolbar")
    toolbar.setMovable(False)
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    a = window.named_actions
    toolbar.addActions([a["new"], a["open"], a["save"]])
    toolbar.addSeparator()
    toolbar.addActions([a["undo"], a["redo"]])
    toolbar.addSeparator()
    toolbar.addActions([a["add_node"], a["frame_all"]])
    toolbar.addSeparator()
    return toolbar


def theme_toolbar(window: WindowCommands) -> None:
    """Draw the toolbar's overflow button (») in the theme's colours: the style's own arrow
    is a fixed dark grey, invisible on the dark toolbar, so what did not fit seemed gone."""
    overflow = window.toolbar.findChild(QToolButton, "qt_toolbar_ext_button")
    if overflow is not None:
        overflow.setIcon(icon("more", window.theme))
        overflow.setToolTip("More tools")


def context_menu(window: WindowCommands, item: object, scene_pos: QPointF) -> QMenu:
    """The right-click menu for a node, a group, a link, or the empty canvas."""
    a = window.named_actions
    menu = QMenu(window.view)
    if isinstance(item, NodeItem):
        sync_advanced_action(window)
        menu.addActions([a["rename"], a["collapse"], a["advanced"], a["mute"], a["bypass"]])
        _color_menu(window, menu.addMenu("Colour"))
        _socket_menu(window, item, menu)
        menu.addSeparator()
        menu.addActions([a["copy"], a["duplicate"], a["group"], a["delete"]])
        window.extend_node_menu(item, menu)
    elif isinstance(item, GroupItem):
        rename = menu.addAction("Rename Group…")
        rename.triggered.connect(item.edit_title)
        _color_menu(window, menu.addMenu("Colour"), group_id=item.group_id)
        menu.addAction(a["delete"])
    elif isinstance(item, LinkItem):
        remove = menu.addAction("Delete Link")
        remove.triggered.connect(lambda: window.editor.disconnect(*item.key))
        if item.reroutes:
            straighten = menu.addAction("Remove Reroutes")
            straighten.triggered.connect(
                lambda: window.editor.set_reroutes(item.link.target, item.link.input, [],
                                                   "Remove reroutes"))
    else:
        add = menu.addAction("Add Node…")
        add.triggered.connect(lambda: window.open_palette(scene_pos))
        menu.addAction(a["paste"])
        menu.addSeparator()
        menu.addActions([a["select_all"], a["frame_all"]])
        if window.editor.path and "leave_subgraph" in a:
            menu.addAction(a["leave_subgraph"])
    return menu


def open_selection_menu(window: WindowCommands) -> QMenu:
    """The context menu from the keyboard (Menu, Shift+F10): the one of the selected node
    (else group or link), shown beside it; the canvas's menu when nothing is selected."""
    scene, view = window.scene, window.view
    selected = scene.selectedItems()
    item = next((i for i in selected if isinstance(i, NodeItem)), None) or next(
        (i for i in selected if isinstance(i, GroupItem | LinkItem)), None)
    if isinstance(item, NodeItem):
        scene_pos = item.mapToScene(QPointF(16.0, item.geometry.header_rect.bottom()))
    elif item is not None:
        scene_pos = item.sceneBoundingRect().center()
    else:
        scene_pos = view.scene_center()
    menu = context_menu(window, item, scene_pos)
    menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    menu.popup(view.viewport().mapToGlobal(view.mapFromScene(scene_pos)))
    return menu


def sync_advanced_action(window: WindowCommands) -> None:
    """Check "Show Advanced Inputs" when every selected node shows them; enable it when a
    selected node has advanced inputs at all."""
    action = window.named_actions["advanced"]
    node_ids = window.scene.selected_node_ids()
    items = [window.scene.node_items[node_id] for node_id in node_ids]
    action.setEnabled(any(item.node_type is not None
                          and any(spec.advanced for spec in item.node_type.inputs)
                          for item in items))
    layout = window.editor.level.layout
    action.setChecked(bool(node_ids) and all(
        node_id in layout.nodes and layout.nodes[node_id].show_advanced for node_id in node_ids))


def _color_menu(window: WindowCommands, menu: QMenu, group_id: str | None = None) -> None:
    for name, color in (*NODE_COLORS, ("Default", None)):
        action = menu.addAction(name)
        action.triggered.connect(lambda _c=False, value=color: window.set_color(value, group_id))


def _socket_menu(window: WindowCommands, item: NodeItem, menu: QMenu) -> None:
    """Turn widget inputs into sockets and back."""
    node_type = item.node_type
    if node_type is None:
        return
    names = [spec.name for spec in node_type.inputs if spec.has_widget]
    if not names:
        return
    sockets = menu.addMenu("Inputs as Sockets")
    layout = window.editor.level.layout.node(item.node_id)
    for name in names:
        action = sockets.addAction(name.replace("_", " "))
        action.setCheckable(True)
        linked = window.editor.level.link_into(item.node_id, name) is not None
        action.setChecked(name in layout.socket_inputs or linked)
        action.toggled.connect(
            lambda on, n=name: window.editor.set_socket_input(item.node_id, n, on))
