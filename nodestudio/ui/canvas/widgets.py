"""Widgets drawn inside nodes: numbers, sliders, choices, switches, text, seed controls.

They are painted, not QWidgets: a graph with thousands of values stays cheap to draw and to
pan. A real editor (QLineEdit/QPlainTextEdit in a proxy) exists only while one value is typed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QKeyEvent, QPainter, QPainterPath, QPen, QTextCursor
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsProxyWidget,
    QLineEdit,
    QPlainTextEdit,
    QWidget,
)

from nodestudio.api.schema import SEED_CONTROLS, InputSpec, check_value, coerce_value
from nodestudio.api.sockets import FLOAT, INT
from nodestudio.app.choices import INPUT_IMAGES_SOURCE
from nodestudio.ui.canvas.geometry import WidgetSlot, label_font, text_width
from nodestudio.ui.theme import NO_PEN, Theme

if TYPE_CHECKING:
    from nodestudio.ui.canvas.node_item import NodeItem

ARROW_ZONE = 16.0
#: The Browse… button at the right end of a picture input's dropdown (Load Image).
BROWSE_WIDTH = 26.0
FILE_SOURCE = INPUT_IMAGES_SOURCE
#: Screen pixels of mouse travel per step while dragging a number.
PIXELS_PER_STEP = 6.0


# -- values ------------------------------------------------------------------------------------


def number_step(spec: InputSpec) -> float:
    if spec.step:
        return spec.step
    if spec.type == INT:
        return 1
    if spec.min is not None and spec.max is not None and spec.max - spec.min <= 2:
        return 0.01
    return 0.1


def decimals(spec: InputSpec) -> int:
    step = number_step(spec)
    return max(1, min(4, math.ceil(-math.log10(step) - 1e-9))) if step < 1 else 1


def format_value(spec: InputSpec | None, value: Any) -> str:
    if spec is None:
        return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    if value is None:
        return ""
    if spec.type == FLOAT and isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.{decimals(spec)}f}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def clamp(spec: InputSpec, value: float) -> float:
    if spec.min is not None:
        value = max(spec.min, value)
    if spec.max is not None:
        value = min(spec.max, value)
    return value


def stepped(spec: InputSpec, start: Any, steps: int) -> Any:
    """``start`` moved by ``steps`` steps, kept in range and of the input's type."""
    step = number_step(spec)
    base = start if isinstance(start, int | float) and not isinstance(start, bool) else 0
    value = clamp(spec, base + steps * step)
    if spec.type == INT:
        return round(value)
    return round(float(value), 10)


def from_ratio(spec: InputSpec, ratio: float) -> Any:
    """The value at ``ratio`` (0..1) along a slider's range, snapped to the step."""
    low, high = float(spec.min or 0), float(spec.max if spec.max is not None else 1)
    ratio = min(1.0, max(0.0, ratio))
    step = number_step(spec)
    value = clamp(spec, low + round((high - low) * ratio / step) * step)
    return round(value) if spec.type == INT else round(float(value), 10)


def parse_typed(spec: InputSpec, text: str) -> tuple[Any, str | None]:
    """A typed value for ``spec`` from text, clamped into range; or a reason it is not one."""
    value = coerce_value(spec, text)
    if spec.type in (INT, FLOAT) and isinstance(value, int | float) \
            and not isinstance(value, bool):
        value = clamp(spec, value)
        value = round(value) if spec.type == INT else float(value)
    problem = check_value(spec, value)
    return value, problem


# -- eliding ----------------------------------------------------------------------------------

ELLIPSIS = "…"
_FILE_SUFFIX = re.compile(r"^(?P<stem>.+?)(?P<suffix>\.[A-Za-z][A-Za-z0-9]{0,4})$")


def elide_value(text: str, width: float, measure: Callable[[str], float]) -> str:
    """``text`` cut to fit ``width`` (as ``measure`` measures it). A file name keeps its
    extension and loses the middle of its stem ("contr…ape.png"): its start and end tell
    files apart, the end of a plain cut ("controlnet_sh…") does not. Other text is cut in
    the middle too."""
    if measure(text) <= width:
        return text
    match = _FILE_SUFFIX.match(text.rsplit("/", 1)[-1]) if "." in text else None
    if match is None:
        return _elide_middle(text, "", width, measure) or ELLIPSIS
    stem = text[:len(text) - len(match["suffix"])]
    return _elide_middle(stem, match["suffix"], width, measure) or \
        _elide_middle(text, "", width, measure) or ELLIPSIS


def _elide_middle(text: str, tail: str, width: float, measure: Callable[[str], float]) -> str:
    """The longest "start…end" + ``tail`` that fits, start and end of ``text`` balanced (the
    start one longer when odd); "" when not even the first character fits."""
    best = ""
    for keep in range(1, len(text)):
        head, end = (keep + 1) // 2, keep // 2
        candidate = text[:head] + ELLIPSIS + text[len(text) - end:] + tail
        if measure(candidate) > width:
            break
        best = candidate
    return best


# -- painting ----------------------------------------------------------------------------------


def browse_rect(slot: WidgetSlot) -> QRectF | None:
    """Where a picture input's Browse… button is (None for other widgets)."""
    if slot.kind != "combo" or slot.spec is None or slot.spec.choices_source != FILE_SOURCE:
        return None
    rect = slot.rect
    return QRectF(rect.right() - BROWSE_WIDTH, rect.top(), BROWSE_WIDTH, rect.height())


def _paint_browse_button(painter: QPainter, rect: QRectF, theme: Theme) -> None:
    """A small folder on an accent-tinted end cap: painted, as fonts may lack a folder."""
    radius = rect.height() / 2
    painter.save()
    clip = QPainterPath()
    clip.addRoundedRect(rect.adjusted(-radius, 0.0, 0.0, 0.0), radius, radius)
    painter.setClipPath(clip)
    painter.setPen(NO_PEN)
    painter.setBrush(theme.color("accent", 90))
    painter.drawRect(rect)
    painter.restore()
    center = rect.center() - QPointF(2.0, 0.0)
    folder = QPainterPath()
    folder.moveTo(center + QPointF(-6.0, -4.0))
    folder.lineTo(center + QPointF(-2.0, -4.0))
    folder.lineTo(center + QPointF(-0.5, -2.5))
    folder.lineTo(center + QPointF(6.0, -2.5))
    folder.lineTo(center + QPointF(6.0, 4.5))
    folder.lineTo(center + QPointF(-6.0, 4.5))
    folder.closeSubpath()
    painter.setBrush(theme.color("widget_text"))
    painter.drawPath(folder)


def paint_widget(painter: QPainter, slot: WidgetSlot, value: Any, theme: Theme,
                 hovered: bool, choices_ok: bool = True, control: str = "") -> None:
    rect = slot.rect
    radius = min(rect.height() / 2, 8.0) if slot.kind == "multiline" else rect.height() / 2
    painter.setPen(NO_PEN)
    painter.setBrush(theme.color("widget_hover" if hovered else "widget_fill"))
    painter.drawRoundedRect(rect, radius, radius)
    painter.setFont(label_font())
    browse = browse_rect(slot)
    if browse is not None:  # the rest of the row lays out left of the button
        _paint_browse_button(painter, browse, theme)
        rect = rect.adjusted(0.0, 0.0, -BROWSE_WIDTH, 0.0)
    kind = slot.kind
    if kind == "multiline":
        _paint_multiline(painter, slot, value, theme)
        return
    if kind == "slider" and slot.spec is not None:
        _paint_slider_fill(painter, slot, value, theme, radius)
    # Every kind keeps the arrows' margin, so that labels and values line up down a node.
    inner = rect.adjusted(ARROW_ZONE + 2, 0.0, -ARROW_ZONE - 2, 0.0)
    if hovered and kind in ("number", "combo"):
        _paint_arrows(painter, rect, theme)
    if kind == "toggle":
        _paint_switch(painter, rect, bool(value), theme)
        inner = inner.adjusted(0.0, 0.0, -24.0, 0.0)
    metrics = painter.fontMetrics()
    text = ""
    if kind != "toggle":
        text = control if kind == "control" else format_value(slot.spec, value)
        if kind == "combo" and len(text) > 28:
            text = text.rsplit("/", 1)[-1]
    empty = kind == "combo" and text == ""
    if empty:
        text = "(none)"
    # The value keeps what it needs, up to 60 % or all a short label leaves (file names are
    # long, their labels short); the label takes the rest, elided if short.
    label_needs = metrics.horizontalAdvance(slot.label) + 8.0
    value_width = min(metrics.horizontalAdvance(text) + 10.0,
                      max(inner.width() * 0.6, inner.width() - label_needs))
    label_width = min(label_needs, inner.width() - value_width)
    label_rect = QRectF(inner.left(), inner.top(), label_width, inner.height())
    value_rect = QRectF(inner.right() - value_width, inner.top(), value_width, inner.height())
    align_v = Qt.AlignmentFlag.AlignVCenter
    painter.setPen(theme.color("widget_label"))
    painter.drawText(label_rect, align_v | Qt.AlignmentFlag.AlignLeft,
                     metrics.elidedText(slot.label, Qt.TextElideMode.ElideRight,
                                        int(label_rect.width())))
    if kind == "toggle":
        return
    painter.setPen(theme.color("node_text_dim") if empty else
                   theme.color("widget_text") if choices_ok else theme.color("warning"))
    painter.drawText(value_rect, align_v | Qt.AlignmentFlag.AlignRight,
                     elide_value(text, value_rect.width(), metrics.horizontalAdvance))


def paint_advanced_toggle(painter: QPainter, rect: QRectF, label: str, expanded: bool,
                          hovered: bool, theme: Theme) -> None:
    """The row that folds a node's advanced inputs ("▸ 7 advanced" / "▾ hide advanced"): a
    quieter widget row with its arrow and text centred. The arrow is painted like the
    header's collapse arrow rather than taken from a font that may lack the glyph."""
    radius = rect.height() / 2
    painter.setPen(NO_PEN)
    painter.setBrush(theme.color("widget_hover") if hovered else theme.color("widget_fill", 110))
    painter.drawRoundedRect(rect, radius, radius)
    font = label_font()
    painter.setFont(font)
    width = text_width(font, label)
    left = rect.center().x() - (width + 14.0) / 2
    tip = QPointF(left + 4.0, rect.center().y())
    path = QPainterPath()
    if expanded:
        path.moveTo(tip + QPointF(-4.0, -2.0))
        path.lineTo(tip + QPointF(4.0, -2.0))
        path.lineTo(tip + QPointF(0.0, 3.0))
    else:
        path.moveTo(tip + QPointF(-2.0, -4.0))
        path.lineTo(tip + QPointF(3.0, 0.0))
        path.lineTo(tip + QPointF(-2.0, 4.0))
    path.closeSubpath()
    color = theme.color("widget_text" if hovered else "widget_label")
    painter.setBrush(color)
    painter.drawPath(path)
    painter.setPen(color)
    painter.drawText(QRectF(left + 14.0, rect.top(), width + 4.0, rect.height()),
                     Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, label)


def _paint_arrows(painter: QPainter, rect: QRectF, theme: Theme) -> None:
    painter.setBrush(theme.color("widget_label"))
    painter.setPen(NO_PEN)
    cy = rect.center().y()
    for x, direction in ((rect.left() + 9.0, -1), (rect.right() - 9.0, 1)):
        path = QPainterPath()
        path.moveTo(x + 3.0 * direction, cy)
        path.lineTo(x - 2.5 * direction, cy - 4.0)
        path.lineTo(x - 2.5 * direction, cy + 4.0)
        path.closeSubpath()
        painter.drawPath(path)


def _paint_slider_fill(painter: QPainter, slot: WidgetSlot, value: Any, theme: Theme,
                       radius: float) -> None:
    spec = slot.spec
    assert spec is not None
    low, high = float(spec.min or 0), float(spec.max if spec.max is not None else 1)
    try:
        ratio = (float(value) - low) / (high - low) if high > low else 0.0
    except (TypeError, ValueError):
        ratio = 0.0
    ratio = min(1.0, max(0.0, ratio))
    if ratio <= 0:
        return
    fill = theme.color("accent", 110)
    painter.save()
    clip = QPainterPath()
    clip.addRoundedRect(slot.rect, radius, radius)
    painter.setClipPath(clip)
    painter.setBrush(fill)
    painter.drawRect(QRectF(slot.rect.left(), slot.rect.top(), slot.rect.width() * ratio,
                            slot.rect.height()))
    painter.restore()


def _paint_switch(painter: QPainter, rect: QRectF, on: bool, theme: Theme) -> None:
    track = QRectF(rect.right() - 36.0, rect.center().y() - 7.0, 26.0, 14.0)
    painter.setBrush(theme.color("accent") if on else theme.color("node_border"))
    painter.drawRoundedRect(track, 7.0, 7.0)
    knob_x = track.right() - 7.0 if on else track.left() + 7.0
    painter.setBrush(QColor("#ffffff"))
    painter.drawEllipse(QPointF(knob_x, track.center().y()), 5.0, 5.0)


def _paint_multiline(painter: QPainter, slot: WidgetSlot, value: Any, theme: Theme) -> None:
    inner = slot.rect.adjusted(9.0, 6.0, -9.0, -6.0)
    text = value if isinstance(value, str) else ""
    if not text:
        painter.setPen(theme.color("node_text_dim"))
        text = slot.label
    else:
        painter.setPen(theme.color("widget_text"))
    painter.drawText(inner, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop
                     | Qt.TextFlag.TextWordWrap, text)


# -- interaction -------------------------------------------------------------------------------


class Interaction:
    """A press on a widget that may turn into a drag; ``release`` ends it."""

    def move(self, pos: QPointF, screen_x: float) -> None:
        pass

    def release(self, pos: QPointF, screen_x: float) -> None:
        pass


class NumberDrag(Interaction):
    """Press and drag sideways to change a number; a click without a drag types it."""

    def __init__(self, item: NodeItem, slot: WidgetSlot, screen_x: float) -> None:
        self.item, self.slot, self.start_x = item, slot, screen_x
        self.start_value = item.value(slot.name)
        self.dragging = False
        self.gesture = object()

    def move(self, pos: QPointF, screen_x: float) -> None:
        distance = screen_x - self.start_x
        if not self.dragging and abs(distance) < 3:
            return
        self.dragging = True
        assert self.slot.spec is not None
        value = stepped(self.slot.spec, self.start_value, int(distance / PIXELS_PER_STEP))
        self.item.set_value(self.slot.name, value, self.gesture)

    def release(self, pos: QPointF, screen_x: float) -> None:
        if not self.dragging:
            open_value_editor(self.item, self.slot)


class SliderDrag(Interaction):
    def __init__(self, item: NodeItem, slot: WidgetSlot, pos: QPointF) -> None:
        self.item, self.slot = item, slot
        self.gesture = object()
        self.move(pos, 0.0)

    def move(self, pos: QPointF, screen_x: float) -> None:
        rect = self.slot.rect
        assert self.slot.spec is not None
        ratio = (pos.x() - rect.left()) / max(rect.width(), 1.0)
        self.item.set_value(self.slot.name, from_ratio(self.slot.spec, ratio), self.gesture)


def press_widget(item: NodeItem, slot: WidgetSlot, pos: QPointF,
                 screen_x: float) -> Interaction | None:
    """Start whatever pressing ``slot`` at ``pos`` (item coordinates) does."""
    spec, kind, rect = slot.spec, slot.kind, slot.rect
    if kind == "value" or spec is None:
        return None
    browse = browse_rect(slot)
    if browse is not None:
        if browse.contains(pos):
            _browse(item, slot)
            return None
        rect = rect.adjusted(0.0, 0.0, -BROWSE_WIDTH, 0.0)
    current = item.value(slot.name)
    left_arrow = pos.x() < rect.left() + ARROW_ZONE
    right_arrow = pos.x() > rect.right() - ARROW_ZONE
    if kind == "number":
        if left_arrow or right_arrow:
            item.set_value(slot.name, stepped(spec, current, 1 if right_arrow else -1))
            return None
        return NumberDrag(item, slot, screen_x)
    if kind == "slider":
        return SliderDrag(item, slot, pos)
    if kind == "toggle":
        item.set_value(slot.name, not bool(current))
        return None
    if kind == "combo":
        choices = item.choices(spec)
        if (left_arrow or right_arrow) and choices:
            index = choices.index(current) if current in choices else -1
            index = (index + (1 if right_arrow else -1)) % len(choices)
            item.set_value(slot.name, choices[index])
            return None
        item.open_choice_menu(slot, choices, current,
                              lambda choice: item.set_value(slot.name, choice),
                              _picture_menu_entries(item, slot) if browse else None)
        return None
    if kind == "control":
        current_control = item.node.controls.get(slot.name, "fixed")
        item.open_choice_menu(slot, list(SEED_CONTROLS), current_control,
                              lambda choice: item.set_control(slot.name, choice))
        return None
    if kind in ("text", "multiline"):
        open_value_editor(item, slot)
    return None


def _browse(item: NodeItem, slot: WidgetSlot) -> None:
    hook = getattr(item.scene(), "browse_image", None)
    if hook is not None:
        hook(item.node_id, slot.name)


def _picture_menu_entries(item: NodeItem, slot: WidgetSlot
                          ) -> list[tuple[str, Callable[[], Any] | None]]:
    """Above a picture input's choices: Browse…, and where to put pictures while the input
    folder has none (the shipped example pictures are listed even then)."""
    entries: list[tuple[str, Callable[[], Any] | None]] = [
        ("Browse…", lambda: _browse(item, slot))]
    hint = getattr(item.scene(), "image_menu_hint", None)
    text = hint() if hint is not None else None
    if text:
        entries.append((text, None))
    return entries


def open_value_editor(item: NodeItem, slot: WidgetSlot) -> None:
    """Type a value in place: numbers on Enter, text live (one undo step per edit)."""
    spec = slot.spec
    assert spec is not None
    gesture = object()
    text = format_value(spec, item.value(slot.name))
    if slot.kind in ("text", "multiline"):
        def on_change(new_text: str) -> None:
            item.set_value(slot.name, new_text, gesture)

        InlineEditor.open(item, slot.rect, text, multiline=slot.kind == "multiline",
                          on_change=on_change, on_close=item.release_held)
        return

    def on_commit(new_text: str) -> None:
        value, problem = parse_typed(spec, new_text)
        if problem is not None:
            item.report(f"{slot.label}: {problem}")
            return
        item.set_value(slot.name, value)

    InlineEditor.open(item, slot.rect, text, multiline=False, on_commit=on_commit,
                      on_close=item.release_held)


class _LineEdit(QLineEdit):
    def __init__(self, owner: InlineEditor) -> None:
        super().__init__()
        self.owner = owner

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.owner.close(commit=False)
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.owner.close(commit=True)
            return
        super().keyPressEvent(event)

    def focusOutEvent(self, event: Any) -> None:
        super().focusOutEvent(event)
        self.owner.close(commit=True)


class _TextEdit(QPlainTextEdit):
    def __init__(self, owner: InlineEditor) -> None:
        super().__init__()
        self.owner = owner

    def keyPressEvent(self, event: QKeyEvent) -> None:
        control = event.modifiers() & Qt.KeyboardModifier.ControlModifier
        if event.key() == Qt.Key.Key_Escape or (
                control and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)):
            self.owner.close(commit=True)
            return
        super().keyPressEvent(event)

    def focusOutEvent(self, event: Any) -> None:
        super().focusOutEvent(event)
        self.owner.close(commit=True)


class InlineEditor:
    """One text editor placed over a rectangle of an item, in a proxy that zooms with it."""

    current: InlineEditor | None = None

    def __init__(self, parent: QGraphicsItem, rect: QRectF, text: str, multiline: bool,
                 on_change: Callable[[str], None] | None,
                 on_commit: Callable[[str], None] | None,
                 on_close: Callable[[], None] | None = None) -> None:
        self.on_change, self.on_commit, self.on_close = on_change, on_commit, on_close
        self.closed = False
        self.widget: QWidget = _TextEdit(self) if multiline else _LineEdit(self)
        self.widget.setObjectName("inlineEditor")
        self.widget.setFont(label_font())
        if multiline:
            self.widget.setPlainText(text)
            self.widget.moveCursor(QTextCursor.MoveOperation.End)
            self.widget.textChanged.connect(self._changed)
            self.widget.setFrameStyle(0)
        else:
            self.widget.setText(text)
            self.widget.selectAll()
            self.widget.textEdited.connect(self._changed)
        self.proxy = QGraphicsProxyWidget(parent)
        self.proxy.setWidget(self.widget)
        self.proxy.setZValue(100)
        self.proxy.setPos(rect.topLeft())
        self.widget.resize(int(rect.width()), int(rect.height()))
        self.widget.setFocus()
        self.proxy.setFocus()

    @classmethod
    def open(cls, parent: QGraphicsItem, rect: QRectF, text: str, *, multiline: bool = False,
             on_change: Callable[[str], None] | None = None,
             on_commit: Callable[[str], None] | None = None,
             on_close: Callable[[], None] | None = None) -> InlineEditor:
        """``on_close`` runs once the editor is gone (after ``on_commit``)."""
        if cls.current is not None:
            cls.current.close(commit=True)
        cls.current = cls(parent, rect, text, multiline, on_change, on_commit, on_close)
        return cls.current

    def text(self) -> str:
        widget = self.widget
        return widget.toPlainText() if isinstance(widget, QPlainTextEdit) else widget.text()

    def _changed(self, *_args: Any) -> None:
        if self.on_change is not None and not self.closed:
            self.on_change(self.text())

    def close(self, commit: bool) -> None:
        if self.closed:
            return
        self.closed = True
        if commit and self.on_commit is not None:
            self.on_commit(self.text())
        if InlineEditor.current is self:
            InlineEditor.current = None
        proxy = self.proxy
        scene = proxy.scene()
        views = scene.views() if scene is not None else []
        proxy.setWidget(None)
        self.widget.hide()
        self.widget.deleteLater()
        if scene is not None:
            scene.removeItem(proxy)
        if views:
            views[0].setFocus()
        if self.on_close is not None:
            self.on_close()


def selection_pen(theme: Theme, width: float = 2.0) -> QPen:
    pen = QPen(theme.color("selection"), width)
    pen.setCosmetic(False)
    return pen
