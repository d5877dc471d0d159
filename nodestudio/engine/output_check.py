"""Checking what a node returned against its declared outputs, at the node that returned it.

Without this, a node that returns a string where its schema says IMAGE (or None) succeeds, and
the node downstream fails with a confusing message about a value it never made. The checks are
cheap — the value's type, and the number of axes of an image or mask — never its contents, so
they cost nothing next to the node itself. Types this module does not know (a pack's own socket
types, models, conditioning) are only required to be there (not None).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from nodestudio.api.errors import NodeError
from nodestudio.api.schema import NodeType
from nodestudio.api.sockets import ANY, BOOLEAN, FLOAT, IMAGE, INT, LATENT, MASK, STRING

#: Socket type -> (what a value of it must be, in words; whether ``value`` is one).
_RULES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    IMAGE: ("a numpy array [batch, height, width, channels]",
            lambda v: isinstance(v, np.ndarray) and v.ndim == 4),
    MASK: ("a numpy array [batch, height, width]",
           lambda v: isinstance(v, np.ndarray) and v.ndim == 3),
    # LATENT values are runtime.types.Latent (torch inside); the engine must not import torch,
    # so the latent batch is recognised by the attribute every reader uses.
    LATENT: ("a latent batch (with .samples)", lambda v: hasattr(v, "samples")),
    INT: ("a whole number",
          lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool | np.bool_)),
    FLOAT: ("a number",
            lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool | np.bool_)),
    STRING: ("text (str)", lambda v: isinstance(v, str)),
    BOOLEAN: ("True or False", lambda v: isinstance(v, bool | np.bool_)),
}


class OutputTypeError(NodeError):
    """A node returned a value its own schema does not allow (a bug in that node's code)."""


def output_problem(socket_type: str, value: Any) -> str | None:
    """Why ``value`` cannot flow out of a ``socket_type`` output, or None when it can."""
    if socket_type == ANY:
        return None
    rule = _RULES.get(socket_type)
    if value is None:
        return f"it returned None, but {socket_type} needs {rule[0] if rule else 'a value'}"
    if rule is None or rule[1](value):
        return None
    return f"it returned {_describe(value)}, but {socket_type} needs {rule[0]}"


def check_outputs(node_type: NodeType, outputs: tuple[Any, ...]) -> None:
    """Raise OutputTypeError naming the first output whose value does not fit its type."""
    for spec, value in zip(node_type.outputs, outputs, strict=False):
        problem = output_problem(spec.type, value)
        if problem:
            pack = f" (pack {node_type.pack!r})" if node_type.pack else ""
            raise OutputTypeError(f"wrong value for output {spec.name!r}: {problem} — a bug in "
                                  f"the code of {node_type.display_name}{pack}")


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {list(value.shape)}"
    text = repr(value)
    shown = text if len(text) <= 40 else text[:37] + "…"
    return f"a {type(value).__name__} ({shown})"
