"""The value maths behind the widgets drawn in nodes: steps, ranges, typed text, eliding.

Pure functions of an input's spec and a value (no Qt): the canvas, the properties panel and
tests share them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from nodestudio.api.schema import InputSpec, check_value, coerce_value
from nodestudio.api.sockets import FLOAT, INT

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
