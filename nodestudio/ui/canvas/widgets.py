"""Widgets drawn inside nodes: numbers, sliders, choices, switches, text, seed controls.

Split by what each part holds; this module gathers them under the names the canvas and the
properties panel import:

- ``widget_values``: the value maths (steps, ranges, typed text, eliding), no Qt;
- ``widget_paint``: painting a widget from its slot and value;
- ``widget_interactions``: presses, drags and menus, against the ``WidgetHost`` protocol;
- ``inline_editor``: the one real text editor that exists while a value is typed.
"""

from __future__ import annotations

from nodestudio.ui.canvas.inline_editor import InlineEditor
from nodestudio.ui.canvas.widget_interactions import (
    PIXELS_PER_STEP,
    Interaction,
    NumberDrag,
    SliderDrag,
    WidgetHost,
    open_value_editor,
    press_widget,
)
from nodestudio.ui.canvas.widget_paint import (
    ARROW_ZONE,
    BROWSE_WIDTH,
    FILE_SOURCE,
    browse_rect,
    paint_advanced_toggle,
    paint_widget,
    selection_pen,
)
from nodestudio.ui.canvas.widget_values import (
    ELLIPSIS,
    clamp,
    decimals,
    elide_value,
    format_value,
    from_ratio,
    number_step,
    parse_typed,
    stepped,
)

__all__ = [
    "ARROW_ZONE", "BROWSE_WIDTH", "ELLIPSIS", "FILE_SOURCE", "PIXELS_PER_STEP", "InlineEditor",
    "Interaction", "NumberDrag", "SliderDrag", "WidgetHost", "browse_rect", "clamp", "decimals",
    "elide_value", "format_value", "from_ratio", "number_step", "open_value_editor",
    "paint_advanced_toggle", "paint_widget", "parse_typed", "press_widget", "selection_pen",
    "stepped",
]
