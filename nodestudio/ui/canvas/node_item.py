"""A node on the canvas: header, typed sockets, painted widgets, and run-state overlays.

The item reads its node from the model and paints it; edits go through the scene's
:class:`~nodestudio.ui.editor.GraphEditor`. The run work drives the overlays through
:meth:`NodeItem.set_status`, :meth:`NodeItem.set_progress` and :meth:`NodeItem.set_preview`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QCursor, QFont, QImage, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsSceneHoverEvent,
    QGraphicsSceneMouseEvent,
    QMenu,
    QStyleOptionGraphicsItem,
    QWidget,
)

from nodestudio.api.schema import InputSpec
from nodestudio.graph.model import Node
from nodestudio.ui.canvas import geometry as geo
from nodestudio.ui.canvas.geometry import NodeGeometry, WidgetSlot
from nodestudio.ui.canvas.node_overlays import STATUS_COLORS, paint_preview, paint_run_state
from nodestudio.ui.canvas.socket_item import HIT_RADIUS, SocketState, paint_socket, socket_at
from nodestudio.ui.canvas.widgets import (
    InlineEditor,
    Interaction,
    paint_advanced_toggle,
    paint_widget,
    press_widget,
)
from nodestudio.ui.theme import NO_BRUSH, NO_PEN, category_color

if TYPE_CHECKING:
    from nodestudio.ui.canvas.scene import NodeScene

#: Below this zoom a node is drawn as plain shapes (text would be unreadable anyway).
DETAIL_ZOOM = 0.42
#: Titles stay drawn below DETAIL_ZOOM, in a font grown to about OVERVIEW_TITLE_PIXELS screen
#: pixels (as far as the header holds it), down to this zoom.
TITLE_ZOOM = 0.15
OVERVIEW_TITLE_PIXELS = 11.0
PLACEHOLDER_COLOR = "#8a3b3b"
#: Nodes that never run (notes: no outputs, no output node) look like sticky notes.
NOTE_COLOR = "#8a7330"
#: ``NodeItem._hovered`` while the pointer is on the advanced toggle row.
ADVANCED_HOVER = ("", "advanced")


class NodeItem(QGraphicsItem):
    def __init__(self, scene: NodeScene, node: Node) -> None:
        super().__init__()
        self._scene = scene
        self.node = node
        self.node_type = scene.editor.type_of(node)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setAcceptHoverEvents(True)
        # Panning and dragging then blit a pixmap instead of calling paint() from Python for
        # every visible node on every frame (see docs/PERFORMANCE.md, GUI).
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.geometry: NodeGeometry = NodeGeometry(0.0, 0.0, False)
        self._paths: tuple[QPainterPath, QPainterPath] = (QPainterPath(), QPainterPath())
        self._shadow_path = QPainterPath()
        self._bounds = QRectF()
        self._shape = QPainterPath()
        self._header_color = QColor()
        self._hovered: tuple[str, str] | None = None
        self._pointer_inside = False
        #: Advanced rows set back to their default while the pointer was on the node: they
        #: fold when it leaves, not under the mouse (see value_changed).
        self._held: set[str] = set()
        self._interaction: Interaction | None = None
        self._resize: tuple[object, QPointF, QPointF] | None = None
        # Run state, drawn over the node (set by the run work through the methods below).
        self.status: str | None = None
        self.status_text = ""
        self.progress: float | None = None
        self.preview: QImage | None = None
        self.relayout()

    # -- model ----------------------------------------------------------------------------------

    @property
    def node_id(self) -> str:
        return self.node.id

    @property
    def is_placeholder(self) -> bool:
        return self.node_type is None

    def value(self, name: str) -> Any:
        if name in self.node.values:
            return self.node.values[name]
        spec = self.node_type.input(name) if self.node_type else None
        return spec.default if spec is not None else None

    def set_value(self, name: str, value: Any, gesture: object | None = None) -> None:
        self._scene.editor.set_value(self.node.id, name, value, gesture)

    def set_control(self, name: str, control: str) -> None:
        self._scene.editor.set_control(self.node.id, name, control)

    def choices(self, spec: InputSpec) -> list[Any]:
        return self._scene.editor.choices.choices(spec)

    def report(self, message: str) -> None:
        self._scene.editor.message.emit(message, "warning")

    def title(self) -> str:
        return geo.display_title(self.node, self.node_type)

    def relayout(self) -> None:
        """Recompute the geometry after the node, its links or its layout changed."""
        graph = self._scene.editor.level
        self.node_type = self._scene.editor.type_of(self.node)
        layout = graph.layout.nodes.get(self.node.id) or geo.NodeLayout()
        linked_in = [link.input for link in graph.links_into(self.node.id)]
        linked_out = list(dict.fromkeys(link.output for link in graph.links_from(self.node.id)))
        aspect = None
        if self.preview is not None and not self.preview.isNull():
            aspect = self.preview.height() / max(self.preview.width(), 1)
        self.prepareGeometryChange()
        self.geometry = geo.build_geometry(self.node, self.node_type, layout, linked_in,
                                           linked_out, aspect, self._held)
        rect = self.geometry.rect
        body = QPainterPath()
        body.addRoundedRect(rect, geo.CORNER_RADIUS, geo.CORNER_RADIUS)
        header = QPainterPath()
        header.addRect(self.geometry.header_rect)
        self._paths = (body, body.intersected(header))
        shadow = QPainterPath()
        shadow.addRoundedRect(rect.adjusted(-1.0, 2.0, 1.0, 5.0), geo.CORNER_RADIUS + 1,
                              geo.CORNER_RADIUS + 1)
        self._shadow_path = shadow
        self._bounds = rect.adjusted(-HIT_RADIUS, -4.0, HIT_RADIUS, 8.0)
        self._shape = QPainterPath()
        self._shape.addRect(rect.adjusted(-HIT_RADIUS, 0.0, HIT_RADIUS, 0.0))
        self._header_color = self._compute_header_color()
        self.setOpacity(0.45 if self.node.mode == "muted" else 1.0)
        self.setToolTip(self._tooltip())
        self.update()

    def value_changed(self, name: str) -> bool:
        """Follow a value change; True when it showed or folded an advanced row (the
        geometry was rebuilt, so links need placing again). Other changes only repaint."""
        spec = self.node_type.input(name) if self.node_type is not None else None
        if spec is None or not spec.advanced or self.geometry.collapsed:
            self.update()
            return False
        graph = self._scene.editor.level
        layout = graph.layout.nodes.get(self.node.id) or geo.NodeLayout()
        linked_in = {link.input for link in graph.links_into(self.node.id)}
        foldable = geo.foldable_inputs(self.node, self.node_type, layout, linked_in)
        if foldable == self.geometry.foldable:
            self.update()
            return False
        if name in foldable and self._holding():
            self._held.add(name)
        self.relayout()
        return True

    def _holding(self) -> bool:
        """Whether rows must stay where they are: the pointer or an editor is on the node."""
        editor = InlineEditor.current
        editing = editor is not None and editor.proxy.parentItem() is self
        return self._pointer_inside or self._interaction is not None or editing

    def release_held(self) -> None:
        """Fold the rows kept in place for the pointer, once nothing holds them."""
        if self._held and not self._holding() and self.scene() is not None:
            self._held.clear()
            self.relayout()
            self._scene.refresh_links([self.node.id])

    def _tooltip(self) -> str:
        if self.node_type is None:
            return (f"Unknown node type {self.node.type!r}: kept as it was saved "
                    "(is a node pack missing?)")
        return f"{self.node_type.display_name} ({self.node_type.id})\n{self.node_type.description}"

    def header_color(self) -> QColor:
        return self._header_color

    def refresh_color(self) -> None:
        self._header_color = self._compute_header_color()
        self.update()

    def _compute_header_color(self) -> QColor:
        layout = self._scene.editor.level.layout.nodes.get(self.node.id)
        if layout is not None and layout.color:
            return QColor(layout.color)
        if self.node_type is None:
            return QColor(PLACEHOLDER_COLOR)
        if not self.node_type.outputs and not self.node_type.output_node:
            return QColor(NOTE_COLOR)
        return category_color(self.node_type.category)

    def input_pos(self, name: str) -> QPointF:
        slot = self.geometry.inputs.get(name)
        local = slot.pos if slot is not None else QPointF(0.0, geo.HEADER_HEIGHT / 2)
        return self.mapToScene(local)

    def output_pos(self, name: str) -> QPointF:
        slot = self.geometry.outputs.get(name)
        local = slot.pos if slot is not None else QPointF(self.geometry.width,
                                                          geo.HEADER_HEIGHT / 2)
        return self.mapToScene(local)

    def widget_at(self, pos: QPointF) -> WidgetSlot | None:
        if self.geometry.collapsed:
            return None
        for slot in self.geometry.widgets:
            if slot.rect.contains(pos):
                return slot
        return None

    # -- run state (extension points for running) -----------------------------------------------

    def set_status(self, status: str | None, text: str = "") -> None:
        """Show a run state: "queued", "running", "cached", "done", "error" or None."""
        self.status, self.status_text = status, text
        if status is None:
            self.progress = None
        self.update()

    def set_progress(self, fraction: float | None) -> None:
        """Show progress (0..1) under the header, or hide it with None."""
        self.progress = None if fraction is None else min(1.0, max(0.0, float(fraction)))
        self.update()

    def set_preview(self, image: QImage | None) -> None:
        """Show ``image`` inside the node below its widgets (None removes it)."""
        self.preview = image
        self.relayout()
        self._scene.refresh_links([self.node.id])

    # -- painting -------------------------------------------------------------------------------

    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        return self._shape

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        theme = self._scene.theme
        g = self.geometry
        rect = g.rect
        selected = self.isSelected()
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        header_color = self.header_color()
        if lod < DETAIL_ZOOM:
            painter.setPen(QPen(theme.color("selection"), 3.0) if selected else NO_PEN)
            painter.setBrush(theme.color("node_body"))
            painter.drawRect(rect)
            painter.fillRect(g.header_rect, header_color)
            if lod >= TITLE_ZOOM:
                self._paint_overview_title(painter, theme, lod)
            return
        body_path, header_path = self._paths
        painter.setPen(NO_PEN)
        painter.setBrush(self._scene.shadow_color)
        painter.drawPath(self._shadow_path)
        painter.setBrush(theme.color("node_body"))
        painter.drawPath(body_path)
        painter.setBrush(header_color)
        painter.drawPath(header_path)
        if self.node.mode == "bypassed":
            painter.setBrush(theme.color("bypass_tint", 90))
            painter.drawPath(body_path)
        self._paint_title(painter, theme)
        self._paint_sockets(painter, theme)
        if not g.collapsed:
            self._paint_widgets(painter, theme)
            self._paint_advanced_toggle(painter, theme)
            paint_preview(painter, self.geometry.preview_rect, self.preview)
        paint_run_state(painter, theme, self.geometry.width, self.status, self.status_text,
                        self.progress)
        outline = self._outline_pen(theme, selected)
        painter.setPen(outline)
        painter.setBrush(NO_BRUSH)
        painter.drawPath(body_path)

    def _outline_pen(self, theme: Any, selected: bool) -> QPen:
        if selected:
            return QPen(theme.color("selection"), 2.0)
        if self.status in ("running", "error"):
            return QPen(theme.color(STATUS_COLORS[self.status]), 2.0)
        if self.is_placeholder:
            return QPen(theme.color("error"), 1.5, Qt.PenStyle.DashLine)
        return QPen(theme.color("node_border"), 1.0)

    def _paint_title(self, painter: QPainter, theme: Any) -> None:
        g = self.geometry
        arrow = g.toggle_rect.center()
        painter.setPen(NO_PEN)
        painter.setBrush(QColor(255, 255, 255, 170))
        path = QPainterPath()
        if g.collapsed:
            path.moveTo(arrow + QPointF(-2.5, -4.5))
            path.lineTo(arrow + QPointF(3.5, 0.0))
            path.lineTo(arrow + QPointF(-2.5, 4.5))
        else:
            path.moveTo(arrow + QPointF(-4.5, -2.5))
            path.lineTo(arrow + QPointF(4.5, -2.5))
            path.lineTo(arrow + QPointF(0.0, 3.5))
        path.closeSubpath()
        painter.drawPath(path)
        painter.setFont(geo.title_font())
        painter.setPen(theme.color("node_title"))
        title_rect = g.header_rect.adjusted(26.0, 0.0, -geo.PAD_X - self._badge_width(), 0.0)
        title = self.title()
        if self.is_placeholder:
            title = f"⚠ {title}"
        if self.node.mode != "normal":
            title = f"{title}  ({self.node.mode})"
        painter.drawText(title_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                         painter.fontMetrics().elidedText(title, Qt.TextElideMode.ElideRight,
                                                          int(title_rect.width())))

    def _paint_overview_title(self, painter: QPainter, theme: Any, lod: float) -> None:
        """The title alone, large enough to read on a zoomed-out canvas."""
        header = self.geometry.header_rect
        pixels = min(header.height() * 0.8, max(geo.TITLE_PIXELS, OVERVIEW_TITLE_PIXELS / lod))
        font = QFont(geo.title_font())  # a copy: the shared font is cached
        font.setPixelSize(round(pixels))
        painter.setFont(font)
        painter.setPen(theme.color("node_title"))
        rect = header.adjusted(geo.PAD_X, 0.0, -geo.PAD_X, 0.0)
        painter.drawText(rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                         painter.fontMetrics().elidedText(self.title(), Qt.TextElideMode.ElideRight,
                                                          int(rect.width())))

    def _paint_sockets(self, painter: QPainter, theme: Any) -> None:
        g = self.geometry
        scene = self._scene
        sockets = scene.editor.registry.sockets
        graph = scene.editor.level
        connected_in = {link.input for link in graph.links_into(self.node.id)}
        connected_out = {link.output for link in graph.links_from(self.node.id)}
        painter.setFont(geo.label_font())
        metrics = painter.fontMetrics()
        for slot in list(g.inputs.values()) + list(g.outputs.values()):
            state = scene.socket_state(self, slot)
            connected = slot.name in (connected_out if slot.is_output else connected_in)
            paint_socket(painter, slot.pos, QColor(sockets.get(slot.type).color), connected,
                         state, theme)
            if g.collapsed:
                continue
            color = theme.color("node_text") if slot.known else theme.color("error")
            painter.setPen(color)
            half = g.width / 2 - geo.PAD_X - 6.0
            label = slot.label
            if slot.widget_backed and not connected:
                label = f"{label} = {self._short_value(slot.name)}"
            text = metrics.elidedText(label, Qt.TextElideMode.ElideRight, int(half))
            if slot.is_output:
                rect = QRectF(g.width - geo.PAD_X - half, slot.pos.y() - 10.0, half, 20.0)
                align = Qt.AlignmentFlag.AlignRight
            else:
                rect = QRectF(geo.PAD_X, slot.pos.y() - 10.0, half, 20.0)
                align = Qt.AlignmentFlag.AlignLeft
            painter.drawText(rect, align | Qt.AlignmentFlag.AlignVCenter, text)

    def _short_value(self, name: str) -> str:
        from nodestudio.ui.canvas.widgets import elide_value, format_value

        spec = self.node_type.input(name) if self.node_type else None
        if spec is not None and spec.display == "drawing":  # PNG data: its summary instead
            from nodestudio.ui.paint.summary import summary

            return summary(name, self.value(name))
        text = format_value(spec, self.value(name)).replace("\n", " ")
        return elide_value(text, 18, len)  # file names keep their extension

    def _paint_widgets(self, painter: QPainter, theme: Any) -> None:
        scene = self._scene
        for slot in self.geometry.widgets:
            hovered = self._hovered == (slot.name, slot.kind)
            value = self.node.values.get(slot.name) if slot.spec is None else self.value(slot.name)
            choices_ok = True
            if slot.kind == "combo" and slot.spec is not None:
                choices_ok = value in self.choices(slot.spec)
            control = self.node.controls.get(slot.name, "fixed") if slot.kind == "control" else ""
            paint_widget(painter, slot, value, theme, hovered, choices_ok, control)
            if slot.spec is not None and slot.kind != "control" and scene.link_drag is not None:
                probe = geo.SocketSlot(slot.name, slot.spec.type, False, slot.socket_pos,
                                       slot.label, True, True)
                state = scene.socket_state(self, probe)
                if state is SocketState.ACCEPTS:
                    color = QColor(scene.editor.registry.sockets.get(slot.spec.type).color)
                    paint_socket(painter, slot.socket_pos, color, False, state, theme, True)

    def _paint_advanced_toggle(self, painter: QPainter, theme: Any) -> None:
        g = self.geometry
        if g.advanced_rect is not None:
            paint_advanced_toggle(painter, g.advanced_rect, g.advanced_label, g.show_advanced,
                                  self._hovered == ADVANCED_HOVER, theme)

    def _badge_width(self) -> float:
        return 0.0 if not self.status else 64.0

    # -- events ---------------------------------------------------------------------------------

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: Any) -> Any:
        if change == QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged:
            self.setZValue(1.0 if value else 0.0)
        return super().itemChange(change, value)

    def on_advanced_toggle(self, pos: QPointF) -> bool:
        rect = self.geometry.advanced_rect
        return rect is not None and not self.geometry.collapsed and rect.contains(pos)

    def hoverEnterEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        self._pointer_inside = True
        super().hoverEnterEvent(event)

    def hoverMoveEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        self._pointer_inside = True
        slot = self.widget_at(event.pos())
        hovered = (slot.name, slot.kind) if slot is not None else None
        on_toggle = self.on_advanced_toggle(event.pos())
        if on_toggle:
            hovered = ADVANCED_HOVER
        if hovered != self._hovered:
            self._hovered = hovered
            self.update()
        on_socket = socket_at(self.geometry, event.pos(), include_widgets=False) is not None
        on_resize = not self.geometry.collapsed and self.geometry.resize_rect.contains(
            event.pos())
        cursor = (Qt.CursorShape.CrossCursor if on_socket else
                  Qt.CursorShape.SizeFDiagCursor if on_resize else
                  Qt.CursorShape.PointingHandCursor if slot is not None or on_toggle else
                  Qt.CursorShape.ArrowCursor)
        self.setCursor(QCursor(cursor))

    def hoverLeaveEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        self._pointer_inside = False
        if self._hovered is not None:
            self._hovered = None
            self.update()
        self.release_held()

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if event.button() == Qt.MouseButton.RightButton:
            event.accept()  # keeps the selection for the context menu that follows
            return
        if event.button() != Qt.MouseButton.LeftButton:
            event.ignore()
            return
        scene = self._scene
        pos = event.pos()
        event.accept()
        socket = socket_at(self.geometry, pos)
        if socket is not None:
            scene.begin_link_drag(self, socket, event.scenePos())
            return
        g = self.geometry
        if g.toggle_rect.adjusted(-4, -4, 4, 4).contains(pos):
            scene.editor.toggle_collapsed([self.node.id])
            return
        if not g.collapsed and g.resize_rect.contains(pos):
            self._resize = (object(), event.scenePos(), QPointF(g.width, g.height))
            return
        if self.on_advanced_toggle(pos) and event.modifiers() == Qt.KeyboardModifier.NoModifier:
            self._held.clear()  # folding on purpose folds everything foldable
            scene.editor.toggle_show_advanced([self.node.id])
            return
        slot = self.widget_at(pos)
        no_modifiers = event.modifiers() == Qt.KeyboardModifier.NoModifier
        if slot is not None and no_modifiers and slot.kind != "value":
            if not self.isSelected():
                scene.select_only([self])
            self._interaction = press_widget(self, slot, pos, event.screenPos().x())
            return
        scene.press_select(self, event.modifiers())
        scene.begin_move(event.scenePos())

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        scene = self._scene
        if self._interaction is not None:
            self._interaction.move(event.pos(), event.screenPos().x())
        elif self._resize is not None:
            gesture, start, size = self._resize
            delta = event.scenePos() - start
            new_size = (max(120.0, round(size.x() + delta.x())),
                        max(geo.HEADER_HEIGHT, round(size.y() + delta.y())))
            scene.editor.set_node_layout([self.node.id], "size", new_size, "Resize node",
                                         gesture)
        elif scene.link_drag is not None:
            scene.update_link_drag(event.scenePos())
        else:
            scene.move_to(event.scenePos())

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        scene = self._scene
        if self._interaction is not None:
            interaction, self._interaction = self._interaction, None
            interaction.release(event.pos(), event.screenPos().x())
            self.release_held()
        elif self._resize is not None:
            self._resize = None
        elif scene.link_drag is not None:
            scene.end_link_drag(event.scenePos())
        else:
            scene.end_move()

    def mouseDoubleClickEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        g = self.geometry
        if event.button() == Qt.MouseButton.LeftButton and g.header_rect.contains(event.pos()) \
                and not g.toggle_rect.contains(event.pos()):
            self.edit_title()
            event.accept()
            return
        if event.button() == Qt.MouseButton.LeftButton and self.node.type == "subgraph" \
                and self.node_type is not None and self.widget_at(event.pos()) is None:
            self._scene.subgraph_open_requested.emit(self.node.id)
            event.accept()
            return
        if event.button() == Qt.MouseButton.LeftButton and self.node.type == "image.paint":
            self._scene.paint_edit_requested.emit(self.node.id)
            event.accept()
            return
        self.mousePressEvent(event)

    def edit_title(self) -> None:
        rect = self.geometry.header_rect.adjusted(24.0, 4.0, -8.0, -4.0)

        def commit(text: str) -> None:
            default = self.node_type.display_name if self.node_type else self.node.type
            self._scene.editor.set_title(self.node.id, None if text in ("", default) else text)

        InlineEditor.open(self, rect, self.title(), on_commit=commit)

    def open_choice_menu(self, slot: WidgetSlot, choices: list[Any], current: Any,
                         chosen: Callable[[Any], None],
                         first: list[tuple[str, Callable[[], Any] | None]] | None = None
                         ) -> QMenu | None:
        """A menu of ``choices`` under ``slot``; picking one calls ``chosen``. ``first``:
        entries above the choices (text, action; no action: a disabled line of help)."""
        view = self._scene.active_view()
        if view is None:
            return None
        menu = QMenu(view)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        for text, run in first or []:
            entry = menu.addAction(text)
            entry.setEnabled(run is not None)
            if run is not None:
                entry.triggered.connect(lambda _=False, r=run: r())
        if first:
            menu.addSeparator()
        if not choices:
            menu.addAction("(nothing to choose from)").setEnabled(False)
        for choice in choices:
            action = menu.addAction(str(choice))
            action.setCheckable(True)
            action.setChecked(choice == current)
            action.triggered.connect(lambda _=False, c=choice: chosen(c))
        corner = self.mapToScene(slot.rect.bottomLeft())
        menu.popup(view.viewport().mapToGlobal(view.mapFromScene(corner)))
        return menu
