"""The open subgraph's boundary on the canvas: a "Subgraph Inputs" item left of the inner
nodes, whose sockets are the definition's inputs (then its promoted widgets), and a
"Subgraph Outputs" item on the right, whose sockets are its outputs, with links drawn to the
inner sockets each feeds or comes from.

The two items are not nodes: they are no NodeItem, so selection, delete, copy, run and the
properties dock never see them. They can be moved (one undo step, "Move Subgraph Inputs");
where they sit is stored with the definition (``subgraphs.BOUNDARY_KEY`` in its inner
layout's extras), and a side never moved, or stored unreadably, sits beside the inner nodes'
bounding box each time the level is opened. Dropping a link dragged from an inner socket on
them promotes that socket (a new input or output of the definition, one undo step); a
right-click on a port row offers to remove it (an input or output, with the links to it on
every instance) or to unpromote it (a promoted widget), one undo step too.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import shiboken6
from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsSceneContextMenuEvent,
    QGraphicsSceneMouseEvent,
    QMenu,
    QStyleOptionGraphicsItem,
    QWidget,
)

from nodestudio.api.sockets import ANY
from nodestudio.graph.subgraphs import (
    SubgraphDefinition,
    SubgraphInput,
    SubgraphOutput,
    boundary_position,
    unique_name,
)
from nodestudio.ui.canvas import geometry as geo
from nodestudio.ui.canvas.link_item import LINK_WIDTH, Z_LINK, link_path
from nodestudio.ui.canvas.node_item import NodeItem
from nodestudio.ui.canvas.socket_item import HIT_RADIUS, SocketState, paint_socket
from nodestudio.ui.subgraph_commands import BoundaryMoveCommand, DefinitionCommand
from nodestudio.ui.subgraph_editing import open_definition, remove_port, set_promoted
from nodestudio.ui.subgraph_types import promoted_spec
from nodestudio.ui.theme import NO_BRUSH, NO_PEN

if TYPE_CHECKING:
    from nodestudio.ui.canvas.scene import NodeScene
    from nodestudio.ui.editor import Endpoint, GraphEditor

INPUTS, OUTPUTS = "inputs", "outputs"
TITLES = {INPUTS: "Subgraph Inputs", OUTPUTS: "Subgraph Outputs"}
HEADER_COLOR = "#4b5563"
#: Space between the boundary items and the inner nodes' bounding box (scene units).
GAP = 90.0
MIN_WIDTH = 150.0
#: The last row of each item: where a dropped link adds a new port.
ADD_LABEL = "+ drop a socket"


@dataclass(frozen=True)
class BoundaryPort:
    """One socket of a boundary item and the inner sockets it is linked to."""

    name: str
    type: str
    #: (inner node id, input name) it feeds, or (inner node id, output name) it shows.
    inner: tuple[tuple[str, str], ...]
    #: A promoted widget (drawn smaller; its value is the instance's widget).
    widget: bool = False


def boundary_ports(definition: SubgraphDefinition, side: str, registry: Any
                   ) -> list[BoundaryPort]:
    """The sockets of the ``side`` item, in the instance's order: inputs then promoted
    widgets on the left, outputs on the right."""
    if side == OUTPUTS:
        return [BoundaryPort(o.name, o.type, (o.source,)) for o in definition.outputs]
    ports = [BoundaryPort(i.name, i.type, tuple(i.targets)) for i in definition.inputs]
    for index, widget in enumerate(definition.widgets):
        spec = promoted_spec(definition, registry, index)
        ports.append(BoundaryPort(widget.name, spec.type, ((widget.node, widget.input),),
                                  widget=True))
    return ports


class BoundaryItem(QGraphicsItem):
    """A node-like box: a title and one socket row per port (sockets on the inner side)."""

    def __init__(self, overlay: BoundaryOverlay, side: str, ports: list[BoundaryPort]
                 ) -> None:
        super().__init__()
        self.overlay, self.side, self.ports = overlay, side, ports
        font = geo.label_font()
        labels = [port.name for port in ports] + [ADD_LABEL, TITLES[side]]
        self.width = max(MIN_WIDTH, max(geo.text_width(font, t) for t in labels) + 48.0)
        self.height = geo.HEADER_HEIGHT + geo.PAD_TOP + geo.ROW_HEIGHT * (len(ports) + 1) \
            + geo.PAD_BOTTOM
        flags = QGraphicsItem.GraphicsItemFlag
        self.setFlags(flags.ItemIsSelectable | flags.ItemIsMovable
                      | flags.ItemSendsGeometryChanges)
        self.setToolTip(f"{TITLES[side]}: drop a link from an inner socket here to "
                        f"make it a subgraph {side[:-1]}")
        #: Where a left-button drag started (None: no drag).
        self.press_pos: QPointF | None = None

    @property
    def names(self) -> list[str]:
        return [port.name for port in self.ports]

    def row_y(self, index: int) -> float:
        return geo.HEADER_HEIGHT + geo.PAD_TOP + geo.ROW_HEIGHT * (index + 0.5)

    def socket_local(self, index: int) -> QPointF:
        return QPointF(self.width if self.side == INPUTS else 0.0, self.row_y(index))

    def socket_scene_pos(self, name: str) -> QPointF:
        return self.mapToScene(self.socket_local(self.names.index(name)))

    def row_at(self, scene_pos: QPointF) -> int | None:
        """The port row under ``scene_pos`` (len(ports): the add row), or None."""
        local = self.mapFromScene(scene_pos)
        if not self.boundingRect().contains(local):
            return None
        index = int((local.y() - geo.HEADER_HEIGHT - geo.PAD_TOP) // geo.ROW_HEIGHT)
        return index if 0 <= index <= len(self.ports) else None

    def boundingRect(self) -> QRectF:
        return QRectF(-HIT_RADIUS, -4.0, self.width + 2 * HIT_RADIUS, self.height + 8.0)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRect(self.boundingRect())
        return path

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.press_pos = self.pos()
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        super().mouseReleaseEvent(event)
        start, self.press_pos = self.press_pos, None
        if start is not None and event.button() == Qt.MouseButton.LeftButton \
                and start != self.pos():
            # Last: the command's sync rebuilds the items, this one included.
            self.overlay.item_dropped(self)

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: Any) -> Any:
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            self.overlay.item_moved(self)
        return super().itemChange(change, value)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        theme = self.overlay.scene.theme
        rect = QRectF(0.0, 0.0, self.width, self.height)
        painter.setPen(QPen(theme.color("selection"), 2.0) if self.isSelected()
                       else QPen(theme.color("node_border"), 1.0, Qt.PenStyle.DashLine))
        painter.setBrush(theme.color("node_body"))
        painter.drawRoundedRect(rect, geo.CORNER_RADIUS, geo.CORNER_RADIUS)
        header = QRectF(0.0, 0.0, self.width, geo.HEADER_HEIGHT)
        painter.setPen(NO_PEN)
        painter.setBrush(QColor(HEADER_COLOR))
        painter.drawRoundedRect(header.adjusted(1, 1, -1, 0), geo.CORNER_RADIUS - 1,
                                geo.CORNER_RADIUS - 1)
        painter.setFont(geo.title_font())
        painter.setPen(theme.color("node_title"))
        painter.drawText(header.adjusted(geo.PAD_X, 0, -geo.PAD_X, 0),
                         Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                         TITLES[self.side])
        painter.setFont(geo.label_font())
        sockets = self.overlay.editor.registry.sockets
        align = Qt.AlignmentFlag.AlignRight if self.side == INPUTS else Qt.AlignmentFlag.AlignLeft
        for index, port in enumerate([*self.ports, None]):
            pos = self.socket_local(index)
            label_rect = QRectF(geo.PAD_X + 6.0, pos.y() - 10.0,
                                self.width - 2 * geo.PAD_X - 12.0, 20.0)
            if port is None:  # the add row: a hollow socket where a dropped link lands
                painter.setPen(QPen(theme.color("node_text_dim"), 1.4, Qt.PenStyle.DotLine))
                painter.setBrush(NO_BRUSH)
                painter.drawEllipse(pos, geo.SOCKET_RADIUS, geo.SOCKET_RADIUS)
                painter.setPen(theme.color("node_text_dim"))
                painter.drawText(label_rect, align | Qt.AlignmentFlag.AlignVCenter, ADD_LABEL)
                continue
            paint_socket(painter, pos, QColor(sockets.get(port.type).color), True,
                         SocketState.NORMAL, theme, small=port.widget)
            painter.setPen(theme.color("node_text"))
            painter.drawText(label_rect, align | Qt.AlignmentFlag.AlignVCenter, port.name)


class BoundaryLinkItem(QGraphicsPathItem):
    """A link between a boundary socket and an inner socket, drawn like the graph's links
    (same curve, width and type colour) but not selectable: it is the definition's
    interface, edited through the boundary and the ports dialog, not a graph link."""

    def __init__(self, side: str, port: str, inner: tuple[str, str], color: QColor) -> None:
        super().__init__()
        self.side, self.port, self.inner = side, port, inner
        self.setZValue(Z_LINK)
        self.setPen(QPen(color, LINK_WIDTH, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        self.start = QPointF()
        self.end = QPointF()

    def set_ends(self, start: QPointF, end: QPointF) -> None:
        self.start, self.end = start, end
        self.setPath(link_path(start, end))


class BoundaryOverlay(QObject):
    """Keeps the boundary items of the open level on the scene, in step with the definition."""

    def __init__(self, scene: NodeScene, editor: GraphEditor) -> None:
        super().__init__(scene)
        self.scene, self.editor = scene, editor
        self.items: dict[str, BoundaryItem] = {}
        self.links: list[BoundaryLinkItem] = []
        #: The default place given to each side not stored in the definition: kept while
        #: the level stays open, so the items do not jump when nodes or ports change.
        self.auto_places: dict[str, QPointF] = {}
        self._placing = False
        scene.rebuilt.connect(lambda: self.sync(fresh=True))
        scene.links_refreshed.connect(lambda _ids: self.place_links())
        editor.undo_stack.indexChanged.connect(lambda _index: self.sync())
        scene.link_drop_target = self.drop_link
        scene.frame_extras = lambda: [item.sceneBoundingRect() for item in self.items.values()
                                      if shiboken6.isValid(item)]
        # The scene turns every right-click into the window's canvas menu; one on a port row
        # is taken here first.
        scene.installEventFilter(self)
        self.sync(fresh=True)

    # -- building ---------------------------------------------------------------------------

    def sync(self, fresh: bool = False) -> None:
        """Build the items again from the open definition. ``fresh``: the scene was cleared
        (a new level), so a side with no stored place gets its default place anew."""
        if not shiboken6.isValid(self.scene):
            return  # the window is closing: the undo stack outlives the scene by a moment
        if fresh:
            self.auto_places.clear()
        self._clear(removed=fresh)
        definition = open_definition(self.editor)
        if definition is None:
            return
        self._placing = True
        try:
            for side in (INPUTS, OUTPUTS):
                item = BoundaryItem(self, side, boundary_ports(definition, side,
                                                               self.editor.registry))
                self.scene.addItem(item)
                self.items[side] = item
                stored = boundary_position(definition, side)
                if stored is not None:
                    item.setPos(QPointF(*stored))
                else:
                    item.setPos(self.auto_places.setdefault(side, self._auto_pos(item)))
        finally:
            self._placing = False
        for side, item in self.items.items():
            for port in item.ports:
                for inner in port.inner:
                    link = BoundaryLinkItem(side, port.name, inner, self._color(side, port, inner))
                    self.scene.addItem(link)
                    self.links.append(link)
        self.place_links()

    def _clear(self, removed: bool) -> None:
        """Drop the items; ``removed``: the scene already deleted them (scene.clear())."""
        for item in [*self.items.values(), *self.links]:
            if not removed and shiboken6.isValid(item) and item.scene() is self.scene:
                self.scene.removeItem(item)
        self.items.clear()
        self.links.clear()

    def _auto_pos(self, item: BoundaryItem) -> QPointF:
        """Left (inputs) or right (outputs) of the inner nodes, centred on them."""
        bounds = QRectF()
        for node_item in self.scene.node_items.values():
            bounds = bounds.united(node_item.sceneBoundingRect())
        if bounds.isNull():
            bounds = QRectF(0.0, 0.0, 200.0, 100.0)
        y = bounds.center().y() - item.height / 2
        if item.side == INPUTS:
            return QPointF(bounds.left() - GAP - item.width, y)
        return QPointF(bounds.right() + GAP, y)

    def _color(self, side: str, port: BoundaryPort, inner: tuple[str, str]) -> QColor:
        link_type = port.type
        if link_type == ANY and inner[0] in self.editor.level:
            link_type = (self.editor.input_type(*inner) if side == INPUTS
                         else self.editor.output_type(*inner))
        return QColor(self.editor.registry.sockets.get(link_type).color)

    # -- placing ----------------------------------------------------------------------------

    def item_moved(self, item: BoundaryItem) -> None:
        if not self._placing:
            self.place_links()

    def item_dropped(self, item: BoundaryItem) -> None:
        """A drag of ``item`` ended: store where it is, one undo step (marks the document
        modified, and undo puts it back)."""
        definition = open_definition(self.editor)
        if definition is None:
            return
        pos = (float(round(item.pos().x())), float(round(item.pos().y())))
        if boundary_position(definition, item.side) == pos:
            return
        self.editor.push(BoundaryMoveCommand(self.editor.graph, definition.id, item.side, pos,
                                             f"Move {TITLES[item.side]}"))

    def place_links(self) -> None:
        for link in self.links:
            item = self.items.get(link.side)
            node_item = self.scene.node_items.get(link.inner[0])
            link.setVisible(item is not None and node_item is not None)
            if item is None or node_item is None:
                continue  # its inner node is gone (deleted inside): nothing to draw to
            ours = item.socket_scene_pos(link.port)
            if link.side == INPUTS:
                link.set_ends(ours, inner_input_pos(node_item, link.inner[1]))
            else:
                link.set_ends(node_item.output_pos(link.inner[1]), ours)

    def item_at(self, scene_pos: QPointF) -> BoundaryItem | None:
        return next((item for item in self.items.values()
                     if item.row_at(scene_pos) is not None
                     or item.sceneBoundingRect().contains(scene_pos)), None)

    # -- the port menu ----------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.GraphicsSceneContextMenu \
                and isinstance(event, QGraphicsSceneContextMenuEvent):
            views = self.scene.views()
            # A parent keeps the menu alive (and deletes it on close) once this returns.
            menu = self.port_menu(event.scenePos(), views[0] if views else None)
            if menu is not None:
                menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
                menu.popup(event.screenPos())
                event.accept()
                return True
        return super().eventFilter(watched, event)

    def port_menu(self, scene_pos: QPointF, parent: QWidget | None = None) -> QMenu | None:
        """The menu for the port row under ``scene_pos`` (None off a port row: the header
        and the add row get the canvas menu)."""
        item = self.item_at(scene_pos)
        row = item.row_at(scene_pos) if item is not None else None
        definition = open_definition(self.editor)
        if item is None or row is None or row >= len(item.ports) or definition is None:
            return None
        port = item.ports[row]
        menu = QMenu(parent)
        if port.widget:
            node_id, input_name = port.inner[0]
            action = menu.addAction(f"Unpromote {port.name}")
            action.triggered.connect(lambda: set_promoted(self.editor, node_id, input_name,
                                                          False))
        else:
            action = menu.addAction(f"Remove {item.side[:-1]} {port.name}")
            action.triggered.connect(lambda: remove_port(self.editor, definition, port.name,
                                                         output=item.side == OUTPUTS))
        return menu

    # -- promoting by drag ------------------------------------------------------------------

    def drop_link(self, start: Endpoint, scene_pos: QPointF) -> bool:
        """A link from an inner socket was dropped at ``scene_pos``: on the inputs item, an
        inner input becomes (or joins) a subgraph input; on the outputs item, an inner
        output becomes a subgraph output. Returns whether the drop was on a boundary."""
        item = self.item_at(scene_pos)
        definition = open_definition(self.editor)
        if item is None or definition is None:
            return False
        wanted_output = item.side == OUTPUTS
        if start.is_output != wanted_output:
            what, where = ("output", TITLES[OUTPUTS]) if start.is_output \
                else ("input", TITLES[INPUTS])
            self.editor.message.emit(f"An inner {what} becomes a subgraph {what}: drop it on "
                                     f"{where}", "warning")
            return True
        row = item.row_at(scene_pos)
        port = item.ports[row] if row is not None and row < len(item.ports) else None
        if wanted_output:
            promote_output(self.editor, definition, start.node_id, start.name, start.type)
        else:
            join = port.name if port is not None and not port.widget else None
            promote_input(self.editor, definition, start.node_id, start.name, start.type, join)
        return True


def inner_input_pos(node_item: NodeItem, name: str) -> QPointF:
    """Where an inner input sits: its socket, or its widget row's socket (promoted widgets,
    and inputs fed from outside that still show their widget)."""
    if name not in node_item.geometry.inputs:
        for slot in node_item.geometry.widgets:
            if slot.name == name:
                return node_item.mapToScene(slot.socket_pos)
    return node_item.input_pos(name)


def _interface_copy(definition: SubgraphDefinition) -> SubgraphDefinition:
    after = copy.deepcopy(definition)
    after.graph = definition.graph  # not part of the interface; never copied back
    return after


def promote_input(editor: GraphEditor, definition: SubgraphDefinition, node_id: str,
                  input_name: str, input_type: str, join: str | None = None) -> bool:
    """Make inner input ``node_id.input_name`` a subgraph input (or a further target of
    input ``join``); one undo step. Refuses an input already linked or already fed."""
    level = editor.level
    if level.link_into(node_id, input_name) is not None:
        editor.message.emit(f"{input_name!r} is linked inside the subgraph; unlink it "
                            f"first to feed it from outside", "warning")
        return False
    if any((node_id, input_name) in item.targets for item in definition.inputs):
        editor.message.emit(f"{input_name!r} is already a subgraph input", "warning")
        return False
    after = _interface_copy(definition)
    existing = after.input(join) if join is not None else None
    if existing is not None and existing.type not in (ANY, input_type) \
            and input_type != ANY:
        existing = None  # another type: a port of its own rather than a refused drop
    if existing is not None:
        existing.targets.append((node_id, input_name))
        text = f"Feed {input_name} from {existing.name}"
    else:
        taken = {i.name for i in after.inputs} | {w.name for w in after.widgets}
        name = unique_name(input_name, taken)
        after.inputs.append(SubgraphInput(name, input_type, [(node_id, input_name)]))
        text = f"Promote input {name}"
    editor.push(DefinitionCommand(editor.graph, definition, after, {}, text))
    return True


def promote_output(editor: GraphEditor, definition: SubgraphDefinition, node_id: str,
                   output_name: str, output_type: str) -> bool:
    """Make inner output ``node_id.output_name`` a subgraph output; one undo step."""
    if any(item.source == (node_id, output_name) for item in definition.outputs):
        editor.message.emit(f"{output_name!r} is already a subgraph output", "warning")
        return False
    after = _interface_copy(definition)
    name = unique_name(output_name, {o.name for o in after.outputs})
    after.outputs.append(SubgraphOutput(name, output_type, (node_id, output_name)))
    editor.push(DefinitionCommand(editor.graph, definition, after, {},
                                  f"Promote output {name}"))
    return True
