"""The scene: items for the graph's nodes, links and groups, kept in step with the model.

The scene observes the graph (``Graph.subscribe``) and never changes it directly: moves,
links and edits go to the :class:`~nodestudio.ui.editor.GraphEditor` as undoable commands,
and the model's events bring the items up to date.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPixmapCache
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsScene,
    QGraphicsSceneContextMenuEvent,
    QGraphicsView,
)

from nodestudio.api.sockets import ANY
from nodestudio.graph.layout import reroute_key
from nodestudio.graph.model import (
    Graph,
    GraphEvent,
    LayoutChanged,
    Link,
    LinkAdded,
    LinkRemoved,
    NodeAdded,
    NodeChanged,
    NodeRemoved,
    ValueChanged,
)
from nodestudio.ui.canvas.geometry import SocketSlot
from nodestudio.ui.canvas.group_item import GroupItem
from nodestudio.ui.canvas.link_item import DragLinkItem, LinkItem
from nodestudio.ui.canvas.node_item import NodeItem
from nodestudio.ui.canvas.socket_item import HIT_RADIUS, SocketState, socket_at
from nodestudio.ui.canvas.widgets import InlineEditor
from nodestudio.ui.editor import Endpoint, GraphEditor
from nodestudio.ui.theme import DARK, Theme

PIXMAP_CACHE_KIB = 160 * 1024


@dataclass
class LinkDrag:
    """A link being drawn: ``start`` is the fixed end, the other follows the mouse."""

    start: Endpoint
    anchor: QPointF
    item: DragLinkItem
    #: An existing link picked up by its input end (it moves or goes on release).
    detached: Link | None = None
    states: dict[tuple[str, str, bool], SocketState] = field(default_factory=dict)


@dataclass
class MoveDrag:
    start: QPointF
    nodes: dict[str, tuple[NodeItem, QPointF]]
    groups: dict[str, tuple[GroupItem, QPointF]]
    moved: bool = False


class NodeScene(QGraphicsScene):
    #: A new link was dropped on empty canvas: (start endpoint, scene position).
    link_dropped = Signal(object, QPointF)
    #: Right click: (item under the mouse or None, screen position, scene position).
    context_menu_requested = Signal(object, QPoint, QPointF)
    #: A subgraph instance was double-clicked: open it (node id).
    subgraph_open_requested = Signal(str)
    #: A Paint node was double-clicked: open its mask / sketch editor (node id).
    paint_edit_requested = Signal(str)
    #: Every item was built again (new level, new graph): overlays re-add theirs.
    rebuilt = Signal()
    #: Links of these node ids were re-routed (the nodes moved or changed shape).
    links_refreshed = Signal(list)

    def __init__(self, editor: GraphEditor, theme: Theme = DARK) -> None:
        super().__init__()
        self.editor = editor
        self.theme = theme
        self.shadow_color = _opaque_shadow(theme)
        self.node_items: dict[str, NodeItem] = {}
        self.link_items: dict[tuple[str, str], LinkItem] = {}
        self.group_items: dict[str, GroupItem] = {}
        self.link_drag: LinkDrag | None = None
        self._move: MoveDrag | None = None
        self._unsubscribe: Callable[[], None] | None = None
        #: Filled by the window (nodestudio.ui.image_inputs): a picture input's Browse…
        #: button calls it with (node id, input name); the hint is what its dropdown says
        #: while the input folder is empty (None when it is not).
        self.browse_image: Callable[[str, str], bool] | None = None
        self.image_menu_hint: Callable[[], str | None] | None = None
        #: Set by an overlay (a subgraph's boundary): offered a link dropped off every socket
        #: with (start endpoint, scene position); True when it took the drop.
        self.link_drop_target: Callable[[Endpoint, QPointF], bool] | None = None
        #: Set by the same overlay: what Frame All shows besides the nodes and groups (the
        #: boundary items), as scene rectangles.
        self.frame_extras: Callable[[], list[QRectF]] = list
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        # Nodes keep a pixmap of themselves (DeviceCoordinateCache); leave room for a screenful
        # of large ones at high zoom.
        QPixmapCache.setCacheLimit(max(QPixmapCache.cacheLimit(), PIXMAP_CACHE_KIB))
        editor.graph_replaced.connect(self.rebuild)
        editor.level_changed.connect(self.rebuild)
        self.rebuild(editor.level)

    @property
    def graph(self) -> Graph:
        return self.editor.level

    def active_view(self) -> QGraphicsView | None:
        views = self.views()
        return views[0] if views else None

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.shadow_color = _opaque_shadow(theme)
        for item in self.items():
            item.update()  # also drops the items' cached pixmaps

    # -- building -------------------------------------------------------------------------------

    def rebuild(self, graph: Graph | None = None) -> None:
        """Drop every item and build them again from the (possibly new) graph."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        if InlineEditor.current is not None:
            InlineEditor.current.close(commit=False)
        self.link_drag = None
        self._move = None
        self.clear()
        self.node_items.clear()
        self.link_items.clear()
        self.group_items.clear()
        graph = self.editor.level
        for node in graph:
            self._add_node_item(node.id)
        for link in graph.links:
            self._add_link_item(link)
        self._sync_groups()
        self._unsubscribe = graph.subscribe(self._on_event)
        self.rebuilt.emit()

    def _add_node_item(self, node_id: str) -> NodeItem:
        node = self.graph.node(node_id)
        item = NodeItem(self, node)
        layout = self.graph.layout.nodes.get(node_id)
        if layout is not None:
            item.setPos(*layout.pos)
        self.addItem(item)
        self.node_items[node_id] = item
        return item

    def _add_link_item(self, link: Link) -> LinkItem:
        item = LinkItem(link, self.link_color(link))
        self.addItem(item)
        self.link_items[link.key] = item
        self._place_link(item)
        item.add_handles_to_scene()
        return item

    def link_color(self, link: Link) -> QColor:
        link_type = self.editor.output_type(link.source, link.output)
        if link_type == ANY:
            link_type = self.editor.input_type(link.target, link.input)
        return QColor(self.editor.registry.sockets.get(link_type).color)

    def _place_link(self, item: LinkItem) -> None:
        link = item.link
        source = self.node_items.get(link.source)
        target = self.node_items.get(link.target)
        if source is None or target is None:
            return
        points = self.graph.layout.reroutes.get(reroute_key(link.target, link.input), [])
        item.set_ends(source.output_pos(link.output), target.input_pos(link.input), points)
        item.dimmed = self.graph.node(link.source).mode == "muted"

    def refresh_links(self, node_ids: Iterable[str]) -> None:
        """Re-route the links of these nodes (after they moved or changed shape)."""
        node_ids = list(node_ids)
        self.links_refreshed.emit(node_ids)
        seen: set[tuple[str, str]] = set()
        for node_id in node_ids:
            if node_id not in self.graph:
                continue
            for link in self.graph.links_into(node_id) + self.graph.links_from(node_id):
                if link.key in seen:
                    continue
                seen.add(link.key)
                item = self.link_items.get(link.key)
                if item is not None:
                    self._place_link(item)

    def _sync_groups(self) -> None:
        wanted = {group.id: group for group in self.graph.layout.groups}
        for group_id in [g for g in self.group_items if g not in wanted]:
            self.removeItem(self.group_items.pop(group_id))
        for group_id, group in wanted.items():
            item = self.group_items.get(group_id)
            if item is None:
                item = GroupItem(self, group)
                self.addItem(item)
                self.group_items[group_id] = item
            else:
                item.sync(group)

    # -- observing the model --------------------------------------------------------------------

    def _on_event(self, event: GraphEvent) -> None:
        if isinstance(event, NodeAdded):
            self._add_node_item(event.node.id)
        elif isinstance(event, NodeRemoved):
            item = self.node_items.pop(event.node.id, None)
            if item is not None:
                if InlineEditor.current is not None and \
                        InlineEditor.current.proxy.parentItem() is item:
                    InlineEditor.current.close(commit=False)
                self.removeItem(item)
        elif isinstance(event, LinkAdded):
            old = self.link_items.pop(event.link.key, None)
            if old is not None:
                old.remove_from_scene()
            self._relayout([event.link.source, event.link.target])
            self._add_link_item(event.link)
        elif isinstance(event, LinkRemoved):
            item = self.link_items.pop(event.link.key, None)
            if item is not None:
                item.remove_from_scene()
            self._relayout([event.link.source, event.link.target])
        elif isinstance(event, ValueChanged):
            item = self.node_items.get(event.node_id)
            if item is not None:
                if item.is_placeholder and (event.old is None or event.new is None):
                    self._relayout([event.node_id])
                elif item.value_changed(event.name):  # an advanced row showed or folded
                    self.refresh_links([event.node_id])
        elif isinstance(event, NodeChanged):
            if event.field == "controls":
                self._update_items([event.node_id])
            else:
                self._relayout([event.node_id])
                if event.field == "mode":
                    self.refresh_links([event.node_id])
        elif isinstance(event, LayoutChanged):
            self._on_layout(event)

    def _on_layout(self, event: LayoutChanged) -> None:
        if event.node_id is None:
            if event.field == "all":
                self.rebuild()
            else:
                self._sync_groups()
            return
        item = self.node_items.get(event.node_id)
        if item is None:
            return
        if event.field == "pos":
            layout = self.graph.layout.node(event.node_id)
            if (item.pos().x(), item.pos().y()) != layout.pos:
                item.setPos(*layout.pos)
            self.refresh_links([event.node_id])
        elif event.field == "color":
            item.refresh_color()
        else:  # size, collapsed, socket_inputs, show_advanced, reroutes
            if event.field != "reroutes":
                self._relayout([event.node_id])
            else:
                self.refresh_links([event.node_id])

    def _relayout(self, node_ids: Iterable[str]) -> None:
        ids = [node_id for node_id in dict.fromkeys(node_ids) if node_id in self.node_items]
        for node_id in ids:
            self.node_items[node_id].relayout()
        self.refresh_links(ids)

    def _update_items(self, node_ids: Iterable[str]) -> None:
        for node_id in node_ids:
            item = self.node_items.get(node_id)
            if item is not None:
                item.update()

    # -- selection ------------------------------------------------------------------------------

    def select_only(self, items: Iterable[QGraphicsItem]) -> None:
        self.clearSelection()
        for item in items:
            item.setSelected(True)

    def press_select(self, item: QGraphicsItem, modifiers: Qt.KeyboardModifier) -> None:
        """What a click on a node or group title does to the selection."""
        if modifiers & Qt.KeyboardModifier.ControlModifier:
            item.setSelected(not item.isSelected())
        elif modifiers & Qt.KeyboardModifier.ShiftModifier:
            item.setSelected(True)
        elif not item.isSelected():
            self.select_only([item])

    def selected_node_ids(self) -> list[str]:
        chosen = {item.node_id for item in self.selectedItems() if isinstance(item, NodeItem)}
        return [node_id for node_id in self.graph.nodes if node_id in chosen]

    def selected_group_ids(self) -> list[str]:
        return [item.group_id for item in self.selectedItems() if isinstance(item, GroupItem)]

    def selected_link_keys(self) -> list[tuple[str, str]]:
        return [item.key for item in self.selectedItems() if isinstance(item, LinkItem)]

    def select_nodes(self, node_ids: Iterable[str]) -> None:
        self.select_only(self.node_items[n] for n in node_ids if n in self.node_items)

    # -- moving ---------------------------------------------------------------------------------

    def begin_move(self, scene_pos: QPointF) -> None:
        nodes = {item.node_id: (item, item.pos()) for item in self.selectedItems()
                 if isinstance(item, NodeItem)}
        groups = {item.group_id: (item, item.pos()) for item in self.selectedItems()
                  if isinstance(item, GroupItem)}
        for group_id in groups:
            group = self.graph.group(group_id)
            for node_id, item in self.node_items.items():
                if node_id not in nodes and group.contains((item.pos().x(), item.pos().y())):
                    nodes[node_id] = (item, item.pos())
        self._move = MoveDrag(scene_pos, nodes, groups)

    def move_to(self, scene_pos: QPointF) -> None:
        move = self._move
        if move is None:
            return
        delta = scene_pos - move.start
        if not move.moved and abs(delta.x()) + abs(delta.y()) < 2:
            return
        move.moved = True
        for item, start in move.nodes.values():
            item.setPos(start + delta)
        for item, start in move.groups.values():
            item.setPos(start + delta)
        self.refresh_links(move.nodes)

    def end_move(self) -> None:
        move, self._move = self._move, None
        if move is None or not move.moved:
            return
        nodes = {node_id: ((start.x(), start.y()), (item.pos().x(), item.pos().y()))
                 for node_id, (item, start) in move.nodes.items()}
        groups = {}
        for group_id, (item, start) in move.groups.items():
            _x, _y, width, height = self.graph.group(group_id).rect
            groups[group_id] = ((start.x(), start.y(), width, height),
                                (item.pos().x(), item.pos().y(), width, height))
        self.editor.move(nodes, groups)

    # -- links ----------------------------------------------------------------------------------

    def socket_at(self, scene_pos: QPointF) -> tuple[NodeItem, SocketSlot] | None:
        area = QRectF(scene_pos.x() - HIT_RADIUS, scene_pos.y() - HIT_RADIUS,
                      2 * HIT_RADIUS, 2 * HIT_RADIUS)
        for item in self.items(area):
            if isinstance(item, NodeItem):
                slot = socket_at(item.geometry, item.mapFromScene(scene_pos))
                if slot is not None:
                    return item, slot
        return None

    def node_at(self, scene_pos: QPointF) -> NodeItem | None:
        for item in self.items(scene_pos):
            if isinstance(item, NodeItem):
                return item
        return None

    def begin_link_drag(self, item: NodeItem, slot: SocketSlot, scene_pos: QPointF) -> None:
        detached = None
        if slot.is_output:
            start = Endpoint(item.node_id, slot.name, slot.type, True)
            anchor = item.output_pos(slot.name)
        else:
            detached = self.graph.link_into(item.node_id, slot.name)
            if detached is not None:
                source = self.node_items[detached.source]
                start = Endpoint(detached.source, detached.output,
                                 self.editor.output_type(detached.source, detached.output), True)
                anchor = source.output_pos(detached.output)
                self.link_items[detached.key].setVisible(False)
            else:
                start = Endpoint(item.node_id, slot.name, slot.type, False)
                anchor = item.mapToScene(slot.pos)
        color = QColor(self.editor.registry.sockets.get(start.type).color)
        drag_item = DragLinkItem(color)
        self.addItem(drag_item)
        self.link_drag = LinkDrag(start, anchor, drag_item, detached)
        self.update_link_drag(scene_pos)
        self._update_items(self.node_items)

    def update_link_drag(self, scene_pos: QPointF) -> None:
        drag = self.link_drag
        if drag is None:
            return
        end = scene_pos
        refused = False
        found = self.socket_at(scene_pos)
        if found is not None:
            item, slot = found
            if self.socket_state(item, slot) is SocketState.ACCEPTS:
                end = item.mapToScene(slot.pos)
            else:
                refused = True
        drag.item.set_refused(refused)
        if drag.start.is_output:
            drag.item.set_ends(drag.anchor, end)
        else:
            drag.item.set_ends(end, drag.anchor)

    def cancel_link_drag(self) -> None:
        drag, self.link_drag = self.link_drag, None
        if drag is None:
            return
        self.removeItem(drag.item)
        if drag.detached is not None and drag.detached.key in self.link_items:
            self.link_items[drag.detached.key].setVisible(True)
        self._update_items(self.node_items)

    def end_link_drag(self, scene_pos: QPointF) -> None:
        drag = self.link_drag
        if drag is None:
            return
        self.cancel_link_drag()
        found = self.socket_at(scene_pos)
        start, detached = drag.start, drag.detached
        if found is not None:
            item, slot = found
            end = Endpoint(item.node_id, slot.name, slot.type, slot.is_output)
            if detached is not None and not end.is_output and \
                    (end.node_id, end.name) == detached.key:
                return  # put back where it was
            problem = self.editor.link_problem(start, end)
            if problem is not None:
                self.editor.message.emit(f"Cannot link: {problem}", "warning")
                return
            source, target = (start, end) if start.is_output else (end, start)
            if detached is not None:
                self.editor.undo_stack.beginMacro("Move link")
                self.editor.disconnect(*detached.key)
            self.editor.connect(source.node_id, source.name, target.node_id, target.name)
            if detached is not None:
                self.editor.undo_stack.endMacro()
            return
        if self.link_drop_target is not None and self.link_drop_target(start, scene_pos):
            return
        if detached is not None:
            self.editor.disconnect(*detached.key)
        elif self.node_at(scene_pos) is None:
            self.link_dropped.emit(start, scene_pos)

    def socket_state(self, item: NodeItem, slot: SocketSlot) -> SocketState:
        drag = self.link_drag
        if drag is None:
            return SocketState.NORMAL
        key = (item.node_id, slot.name, slot.is_output)
        state = drag.states.get(key)
        if state is None:
            start = drag.start
            if (start.node_id, start.name, start.is_output) == key:
                state = SocketState.NORMAL
            else:
                end = Endpoint(item.node_id, slot.name, slot.type, slot.is_output)
                problem = self.editor.link_problem(start, end)
                state = SocketState.ACCEPTS if problem is None else SocketState.REFUSES
            drag.states[key] = state
        return state

    # -- menus ----------------------------------------------------------------------------------

    def contextMenuEvent(self, event: QGraphicsSceneContextMenuEvent) -> None:
        item = None
        for candidate in self.items(event.scenePos()):
            if isinstance(candidate, NodeItem | GroupItem | LinkItem):
                item = candidate
                break
        if item is not None and not item.isSelected():
            self.select_only([item])
        self.context_menu_requested.emit(item, event.screenPos(), event.scenePos())
        event.accept()


def _opaque_shadow(theme: Theme) -> QColor:
    """The node shadow, pre-mixed with the canvas colour: an opaque fill draws several times
    faster than a translucent one, and the shadow only ever lies over the canvas."""
    shadow, canvas = theme.color("shadow"), theme.color("canvas")
    alpha = 0.45
    return QColor.fromRgbF(*(canvas.getRgbF()[i] * (1 - alpha) + shadow.getRgbF()[i] * alpha
                             for i in range(3)))
