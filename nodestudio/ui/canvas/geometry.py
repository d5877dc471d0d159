"""Where everything sits inside a node: header, socket rows, widget rows, preview.

Computed once per change (not per paint) from the node, its type and its layout, so that
painting a thousand nodes only reads rectangles.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QFont, QFontMetricsF

from nodestudio.api.schema import InputSpec, NodeType
from nodestudio.api.sockets import ANY, BOOLEAN, FLOAT, INT, STRING
from nodestudio.graph.layout import NodeLayout
from nodestudio.graph.model import Node
from nodestudio.ui.theme import canvas_font

HEADER_HEIGHT = 30.0
ROW_HEIGHT = 24.0
WIDGET_HEIGHT = 22.0
WIDGET_PITCH = 27.0
MULTILINE_HEIGHT = 84.0
PAD_X = 12.0
PAD_TOP = 6.0
PAD_BOTTOM = 9.0
SOCKET_RADIUS = 5.5
CORNER_RADIUS = 8.0
MIN_WIDTH = 220.0
MAX_AUTO_WIDTH = 380.0
TITLE_PIXELS = 13
LABEL_PIXELS = 12


def title_font() -> QFont:
    return canvas_font(TITLE_PIXELS, QFont.Weight.DemiBold)


def label_font() -> QFont:
    return canvas_font(LABEL_PIXELS)


_widths: dict[tuple[int, str], float] = {}


def text_width(font: QFont, text: str) -> float:
    """Width of ``text`` in ``font``, remembered (labels repeat across many nodes)."""
    key = (font.pixelSize() * 1000 + font.weight(), text)
    width = _widths.get(key)
    if width is None:
        if len(_widths) > 20000:
            _widths.clear()
        width = _widths[key] = QFontMetricsF(font).horizontalAdvance(text)
    return width


def pretty(name: str) -> str:
    return name.replace("_", " ")


@dataclass
class SocketSlot:
    name: str
    type: str
    is_output: bool
    pos: QPointF
    label: str
    #: Declared by the node type (False for links to inputs/outputs it no longer has).
    known: bool = True
    #: A widget input shown as a socket (its value still applies while it is unlinked).
    widget_backed: bool = False


@dataclass
class WidgetSlot:
    name: str
    spec: InputSpec | None
    #: number, slider, combo, toggle, text, multiline, control (seed mode), value (read-only)
    kind: str
    rect: QRectF
    #: Where a link may be dropped onto this widget's input (its left edge).
    socket_pos: QPointF
    label: str


@dataclass
class NodeGeometry:
    width: float
    height: float
    collapsed: bool
    inputs: dict[str, SocketSlot] = field(default_factory=dict)
    outputs: dict[str, SocketSlot] = field(default_factory=dict)
    widgets: list[WidgetSlot] = field(default_factory=list)
    preview_rect: QRectF | None = None
    #: Advanced inputs with nothing to show (default value, no link, not a socket): the
    #: ones the advanced toggle folds away and brings back.
    foldable: tuple[str, ...] = ()
    #: Whether those are shown (the node is expanded), and the toggle row under the widgets
    #: ("▸ 7 advanced" / "▾ hide advanced"); None when there is nothing to fold.
    show_advanced: bool = False
    advanced_rect: QRectF | None = None

    @property
    def rect(self) -> QRectF:
        return QRectF(0.0, 0.0, self.width, self.height)

    @property
    def header_rect(self) -> QRectF:
        return QRectF(0.0, 0.0, self.width, HEADER_HEIGHT)

    @property
    def toggle_rect(self) -> QRectF:
        """The collapse arrow at the left of the header."""
        return QRectF(6.0, 7.0, 16.0, 16.0)

    @property
    def resize_rect(self) -> QRectF:
        return QRectF(self.width - 12.0, self.height - 12.0, 12.0, 12.0)

    @property
    def advanced_label(self) -> str:
        if self.show_advanced:
            return "hide advanced"
        return f"{len(self.foldable)} advanced"

    def widget(self, name: str, kind: str | None = None) -> WidgetSlot | None:
        for slot in self.widgets:
            if slot.name == name and (kind is None or slot.kind == kind):
                return slot
        return None


def widget_kind(spec: InputSpec) -> str:
    if spec.choices is not None or spec.choices_source is not None:
        return "combo"
    if spec.type == BOOLEAN:
        return "toggle"
    if spec.type in (INT, FLOAT):
        has_range = spec.min is not None and spec.max is not None
        return "slider" if spec.display == "slider" and has_range else "number"
    if spec.type == STRING and spec.multiline:
        return "multiline"
    return "text"


def display_title(node: Node, node_type: NodeType | None) -> str:
    if node.title:
        return node.title
    return node_type.display_name if node_type is not None else node.type


def differs_from_default(spec: InputSpec, value: Any) -> bool:
    if isinstance(value, bool) or isinstance(spec.default, bool):
        return value is not spec.default  # 1 is not True here, though 1 == True
    return bool(value != spec.default)  # 1 == 1.0: a float input saved as a whole number


def foldable_inputs(node: Node, node_type: NodeType | None, layout: NodeLayout,
                    linked_inputs: Collection[str]) -> tuple[str, ...]:
    """The advanced inputs of ``node`` that may be folded away: nothing about them matters
    to the picture (not linked, not shown as a socket, left at the default value)."""
    if node_type is None:
        return ()
    return tuple(
        spec.name for spec in node_type.inputs
        if spec.advanced and spec.has_widget and spec.name not in linked_inputs
        and spec.name not in layout.socket_inputs
        and not differs_from_default(spec, node.values.get(spec.name, spec.default))
    )


def build_geometry(
    node: Node,
    node_type: NodeType | None,
    layout: NodeLayout,
    linked_inputs: list[str],
    linked_outputs: list[str],
    preview_aspect: float | None = None,
    keep_shown: Collection[str] = (),
) -> NodeGeometry:
    """Lay out ``node``. ``linked_*`` name the inputs/outputs that links use right now;
    ``keep_shown`` names advanced rows to leave in place although they could fold (the
    pointer is on them)."""
    inputs, outputs, widgets = _rows(node, node_type, layout, linked_inputs, linked_outputs)
    title = display_title(node, node_type)
    # Folded rows count for the width too: expanding a node must not make it wider.
    width = _natural_width(title, inputs, outputs, widgets)
    if layout.size is not None:
        width = max(MIN_WIDTH * 0.6, layout.size[0])
    if layout.collapsed:
        width = min(max(text_width(title_font(), title) + 62.0, 110.0), width)
        return _collapsed(width, inputs, outputs)

    foldable = foldable_inputs(node, node_type, layout, linked_inputs)
    if foldable and not layout.show_advanced:
        folded = set(foldable) - set(keep_shown)
        widgets = [row for row in widgets if row[0] not in folded]
    geometry = NodeGeometry(width, 0.0, False, foldable=foldable,
                            show_advanced=layout.show_advanced)
    toggle_height = WIDGET_PITCH if foldable else 0.0
    y = _place_sockets(geometry, inputs, outputs)
    if (widgets or foldable) and (inputs or outputs):
        y += 4.0
    extra_height = 0.0
    if layout.size is not None:
        natural = _content_height(y, widgets, preview_aspect, width) + toggle_height
        extra_height = max(0.0, layout.size[1] - natural)
    multiline_count = sum(1 for _, kind, _ in widgets if kind == "multiline")
    grow = extra_height / multiline_count if multiline_count and preview_aspect is None else 0.0
    for name, kind, spec in widgets:
        height = MULTILINE_HEIGHT + grow if kind == "multiline" else WIDGET_HEIGHT
        rect = QRectF(PAD_X, y + 2.0, width - 2 * PAD_X, height)
        label = pretty(name) if kind != "control" else "control after generate"
        geometry.widgets.append(WidgetSlot(name, spec, kind, rect,
                                           QPointF(0.0, rect.center().y()), label))
        y += height + (WIDGET_PITCH - WIDGET_HEIGHT)
    if foldable:
        # Under the widgets (not under a sampler's preview), where the folded rows would be.
        geometry.advanced_rect = QRectF(PAD_X, y + 2.0, width - 2 * PAD_X, WIDGET_HEIGHT)
        y += toggle_height
    if preview_aspect is not None:
        preview_height = max(64.0, min((width - 2 * PAD_X) * preview_aspect, 2 * width))
        preview_height += extra_height
        geometry.preview_rect = QRectF(PAD_X, y + 4.0, width - 2 * PAD_X, preview_height)
        y += preview_height + 8.0
    geometry.height = y + PAD_BOTTOM
    if layout.size is not None and grow == 0.0 and preview_aspect is None:
        geometry.height = max(geometry.height, layout.size[1])
    return geometry


def _place_sockets(geometry: NodeGeometry, inputs: list, outputs: list) -> float:
    """Inputs on the left edge and outputs on the right, one row each side by side; returns
    the y below the last row."""
    y = HEADER_HEIGHT + PAD_TOP
    for index in range(max(len(inputs), len(outputs))):
        centre = y + ROW_HEIGHT / 2
        if index < len(inputs):
            name, type_, known, backed = inputs[index]
            geometry.inputs[name] = SocketSlot(name, type_, False, QPointF(0.0, centre),
                                               pretty(name), known, backed)
        if index < len(outputs):
            name, type_, known = outputs[index]
            geometry.outputs[name] = SocketSlot(name, type_, True,
                                                QPointF(geometry.width, centre), pretty(name),
                                                known)
        y += ROW_HEIGHT
    return y


def _content_height(y: float, widgets: list, preview_aspect: float | None,
                    width: float) -> float:
    for _name, kind, _spec in widgets:
        y += (MULTILINE_HEIGHT if kind == "multiline" else WIDGET_HEIGHT)
        y += WIDGET_PITCH - WIDGET_HEIGHT
    if preview_aspect is not None:
        y += max(64.0, min((width - 2 * PAD_X) * preview_aspect, 2 * width)) + 12.0
    return y + PAD_BOTTOM


def _collapsed(width: float, inputs: list, outputs: list) -> NodeGeometry:
    geometry = NodeGeometry(width, HEADER_HEIGHT, True)
    centre = HEADER_HEIGHT / 2
    for name, type_, known, backed in inputs:
        geometry.inputs[name] = SocketSlot(name, type_, False, QPointF(0.0, centre),
                                           pretty(name), known, backed)
    for name, type_, known in outputs:
        geometry.outputs[name] = SocketSlot(name, type_, True, QPointF(width, centre),
                                            pretty(name), known)
    return geometry


def _rows(node: Node, node_type: NodeType | None, layout: NodeLayout,
          linked_inputs: list[str], linked_outputs: list[str]):
    """Socket inputs, outputs and widget rows, in the order they are drawn."""
    inputs: list[tuple[str, str, bool, bool]] = []
    outputs: list[tuple[str, str, bool]] = []
    widgets: list[tuple[str, str, InputSpec | None]] = []
    linked = set(linked_inputs)
    if node_type is None:  # a placeholder: sockets from its links, its values read-only
        inputs = [(name, ANY, False, False) for name in linked_inputs]
        outputs = [(name, ANY, False) for name in linked_outputs]
        widgets = [(name, "value", None) for name in node.values if name not in linked]
        return inputs, outputs, widgets
    shown_as_socket = set(layout.socket_inputs)
    for spec in node_type.inputs:
        if not spec.has_widget:
            inputs.append((spec.name, spec.type, True, False))
        elif spec.name in linked or spec.name in shown_as_socket:
            inputs.append((spec.name, spec.type, True, True))
        else:
            widgets.append((spec.name, widget_kind(spec), spec))
            if spec.control_after_generate:
                widgets.append((spec.name, "control", spec))
    declared = {spec.name for spec in node_type.inputs}
    inputs.extend((name, ANY, False, False) for name in linked_inputs if name not in declared)
    outputs = [(spec.name, spec.type, True) for spec in node_type.outputs]
    declared_outputs = {spec.name for spec in node_type.outputs}
    outputs.extend((name, ANY, False) for name in linked_outputs if name not in declared_outputs)
    return inputs, outputs, widgets


def _natural_width(title: str, inputs: list, outputs: list, widgets: list) -> float:
    labels = label_font()
    width = text_width(title_font(), title) + 2 * PAD_X + 44.0
    for index in range(max(len(inputs), len(outputs))):
        left = text_width(labels, pretty(inputs[index][0])) if index < len(inputs) else 0.0
        right = text_width(labels, pretty(outputs[index][0])) if index < len(outputs) else 0.0
        width = max(width, left + right + 2 * PAD_X + 36.0)
    for name, kind, _spec in widgets:
        if kind in ("multiline",):
            width = max(width, 240.0)
        else:
            label = "control after generate" if kind == "control" else pretty(name)
            room = 170.0 if kind == "combo" else 110.0  # file and model names are long
            width = max(width, text_width(labels, label) + 2 * PAD_X + room)
    return min(max(MIN_WIDTH, width), MAX_AUTO_WIDTH)
