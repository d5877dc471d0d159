"""Pressing and dragging the widgets inside nodes: steps, drags, menus, typing in place.

The interactions see the node through :class:`WidgetHost`, the few things they ask of it
(its values, its choices, a menu, a report line), not through the concrete NodeItem.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QGraphicsItem, QGraphicsScene

from nodestudio.api.schema import SEED_CONTROLS, InputSpec
from nodestudio.graph.model import Node
from nodestudio.ui.canvas.geometry import WidgetSlot
from nodestudio.ui.canvas.inline_editor import InlineEditor
from nodestudio.ui.canvas.widget_paint import ARROW_ZONE, BROWSE_WIDTH, browse_rect
from nodestudio.ui.canvas.widget_values import format_value, from_ratio, parse_typed, stepped

#: Screen pixels of mouse travel per step while dragging a number.
PIXELS_PER_STEP = 6.0


@runtime_checkable
class WidgetHost(Protocol):
    """What a widget's interactions use of the node item that shows it (NodeItem). The item is
    also the QGraphicsItem an inline editor hangs from."""

    node: Node

    @property
    def node_id(self) -> str: ...
    def scene(self) -> QGraphicsScene | None: ...
    def value(self, name: str) -> Any: ...
    def set_value(self, name: str, value: Any, gesture: object | None = None) -> None: ...
    def set_control(self, name: str, control: str) -> None: ...
    def choices(self, spec: InputSpec) -> list[Any]: ...
    def open_choice_menu(self, slot: WidgetSlot, choices: list[Any], current: Any,
                         chosen: Callable[[Any], None],
                         first: list[tuple[str, Callable[[], Any] | None]] | None = None
                         ) -> object: ...
    def report(self, message: str) -> None: ...
    def release_held(self) -> None: ...


def _editor_parent(item: WidgetHost) -> QGraphicsItem:
    """The graphics item an inline editor's proxy hangs from: the host itself."""
    if not isinstance(item, QGraphicsItem):
        raise TypeError(f"a widget host must be a QGraphicsItem, not {type(item).__name__}")
    return item


class Interaction:
    """A press on a widget that may turn into a drag; ``release`` ends it."""

    def move(self, pos: QPointF, screen_x: float) -> None:
        pass

    def release(self, pos: QPointF, screen_x: float) -> None:
        pass


class NumberDrag(Interaction):
    """Press and drag sideways to change a number; a click without a drag types it."""

    def __init__(self, item: WidgetHost, slot: WidgetSlot, screen_x: float) -> None:
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
    def __init__(self, item: WidgetHost, slot: WidgetSlot, pos: QPointF) -> None:
        self.item, self.slot = item, slot
        self.gesture = object()
        self.move(pos, 0.0)

    def move(self, pos: QPointF, screen_x: float) -> None:
        rect = self.slot.rect
        assert self.slot.spec is not None
        ratio = (pos.x() - rect.left()) / max(rect.width(), 1.0)
        self.item.set_value(self.slot.name, from_ratio(self.slot.spec, ratio), self.gesture)


def press_widget(item: WidgetHost, slot: WidgetSlot, pos: QPointF,
                 screen_x: float) -> Interaction | None:
    """Start whatever pressing ``slot`` at ``pos`` (item coordinates) does."""
    spec, kind, rect = slot.spec, slot.kind, slot.rect
    if kind == "value" or spec is None:
        return None
    if spec.display == "drawing":  # a stored drawing opens the paint editor, never typing
        signal = getattr(item.scene(), "paint_edit_requested", None)
        if signal is not None:
            signal.emit(item.node_id)
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


def _browse(item: WidgetHost, slot: WidgetSlot) -> None:
    hook = getattr(item.scene(), "browse_image", None)
    if hook is not None:
        hook(item.node_id, slot.name)


def _picture_menu_entries(item: WidgetHost, slot: WidgetSlot
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


def open_value_editor(item: WidgetHost, slot: WidgetSlot) -> None:
    """Type a value in place: numbers on Enter, text live (one undo step per edit)."""
    spec = slot.spec
    assert spec is not None
    gesture = object()
    text = format_value(spec, item.value(slot.name))
    if slot.kind in ("text", "multiline"):
        def on_change(new_text: str) -> None:
            item.set_value(slot.name, new_text, gesture)

        InlineEditor.open(_editor_parent(item), slot.rect, text, multiline=slot.kind == "multiline",
                          on_change=on_change, on_close=item.release_held)
        return

    def on_commit(new_text: str) -> None:
        value, problem = parse_typed(spec, new_text)
        if problem is not None:
            item.report(f"{slot.label}: {problem}")
            return
        item.set_value(slot.name, value)

    InlineEditor.open(_editor_parent(item), slot.rect, text, multiline=False, on_commit=on_commit,
                      on_close=item.release_held)
