"""Node type schemas: the contract the canvas, the validator, graph files and the executor read.

A node type is declared with :func:`node` on a plain function::

    @node(
        "acme.math.add",
        display_name="Add",
        category="math",
        inputs=[Float("a"), Float("b", default=1.0)],
        outputs=[Output("sum", FLOAT)],
    )
    def add(a: float, b: float) -> float:
        return a + b

The function receives every input as a keyword argument (plus ``ctx``, a
:class:`~nodestudio.api.context.NodeContext`, when it declares a parameter of that name) and
returns the value of its single output, or a tuple with one value per output.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from nodestudio.api.sockets import BOOLEAN, FLOAT, INT, STRING, WIDGET_TYPES

CONTEXT_PARAMETER = "ctx"
SEED_CONTROLS = ("fixed", "increment", "decrement", "randomize")
MAX_SEED = 2**64 - 1

_MISSING = object()
#: The prefix of the choice sources listing a models folder ("models:<kind>").
MODELS_SOURCE = "models"


@dataclass(frozen=True)
class InputSpec:
    """One input of a node type: a linked socket, or a widget value that can also be linked."""

    name: str
    type: str
    default: Any = None
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: tuple[Any, ...] | None = None
    #: Choices filled at run time from the environment, e.g. ``"models:checkpoints"`` or
    #: ``"files:input"``; the app resolves them (the schema stays pure data).
    choices_source: str | None = None
    multiline: bool = False
    optional: bool = False
    #: An INT input that artists re-roll between queued runs (fixed/increment/randomize).
    control_after_generate: bool = False
    display: str = "number"  # "number" or "slider" for numbers
    description: str = ""
    #: Whether the value is edited on the node. None: decided by the type (INT, FLOAT, STRING,
    #: BOOLEAN and choices have widgets). ``Input(...)`` sets False: a socket only.
    widget: bool | None = None
    #: A widget value few artists change (SDXL size hints, staged sampling, tile sizes): the
    #: canvas folds it away until the node is expanded, unless it is linked, shown as a
    #: socket or set to something other than its default. Presentation only: the engine
    #: treats it like any other input.
    advanced: bool = False

    @property
    def has_widget(self) -> bool:
        if self.widget is not None:
            return self.widget
        return (self.type in WIDGET_TYPES or self.choices is not None
                or self.choices_source is not None)

    @property
    def required(self) -> bool:
        return not self.optional and self.default is None and not self.has_widget

    @property
    def model_kind(self) -> str | None:
        """The models folder this choice lists (``"models:<kind>"``), or None: the one place
        a loader names its kind, read by its fingerprint and its lookup."""
        prefix, _, kind = (self.choices_source or "").partition(":")
        return kind if prefix == MODELS_SOURCE and kind else None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "type": self.type}
        for key in ("default", "min", "max", "step", "choices_source", "description"):
            value = getattr(self, key)
            if value not in (None, ""):
                data[key] = value
        if self.choices is not None:
            data["choices"] = list(self.choices)
        for flag in ("multiline", "optional", "control_after_generate", "advanced"):
            if getattr(self, flag):
                data[flag] = True
        if self.display != "number":
            data["display"] = self.display
        return data


@dataclass(frozen=True)
class OutputSpec:
    name: str
    type: str
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        data = {"name": self.name, "type": self.type}
        if self.description:
            data["description"] = self.description
        return data


# ---------------------------------------------------------------------------------------------
# Input constructors: short, typed spellings of InputSpec for node authors.


def Input(name: str, type: str, *, optional: bool = False, description: str = "") -> InputSpec:
    """A socket that must be linked (unless ``optional``), e.g. ``Input("model", MODEL)``."""
    return InputSpec(name, type, optional=optional, description=description, widget=False)


def Int(
    name: str,
    default: int = 0,
    *,
    min: int | None = None,
    max: int | None = None,
    step: int | None = None,
    control_after_generate: bool = False,
    display: str = "number",
    description: str = "",
    advanced: bool = False,
) -> InputSpec:
    return InputSpec(
        name, INT, default, min, max, step,
        control_after_generate=control_after_generate, display=display, description=description,
        advanced=advanced,
    )


def Seed(name: str = "seed", default: int = 0, *, description: str = "",
         advanced: bool = False) -> InputSpec:
    """A random seed: an INT in [0, 2**64 - 1] with a control-after-generate mode."""
    return Int(
        name, default, min=0, max=MAX_SEED, control_after_generate=True,
        description=description or "Seed of the random noise; the same seed gives the same image",
        advanced=advanced,
    )


def Float(
    name: str,
    default: float = 0.0,
    *,
    min: float | None = None,
    max: float | None = None,
    step: float | None = None,
    display: str = "number",
    description: str = "",
    advanced: bool = False,
) -> InputSpec:
    return InputSpec(name, FLOAT, float(default), min, max, step, display=display,
                     description=description, advanced=advanced)


def String(
    name: str, default: str = "", *, multiline: bool = False, description: str = "",
    advanced: bool = False,
) -> InputSpec:
    return InputSpec(name, STRING, default, multiline=multiline, description=description,
                     advanced=advanced)


def Boolean(name: str, default: bool = False, *, description: str = "",
            advanced: bool = False) -> InputSpec:
    return InputSpec(name, BOOLEAN, bool(default), description=description, advanced=advanced)


def Choice(
    name: str,
    choices: Sequence[Any] | None = None,
    default: Any = _MISSING,
    *,
    source: str | None = None,
    description: str = "",
    advanced: bool = False,
    optional: bool = False,
) -> InputSpec:
    """A value picked from a fixed list, or from a list the app fills (``source``).

    An ``optional`` choice starts unset (None): the node gets None until one is picked.
    """
    if choices is None and source is None:
        raise ValueError(f"Choice {name!r} needs choices or a source")
    fixed = tuple(choices) if choices is not None else None
    if default is _MISSING:
        default = None if optional else (fixed[0] if fixed else "")
    value_type = INT if fixed and all(type(c) is int for c in fixed) else STRING
    return InputSpec(name, value_type, default, choices=fixed, choices_source=source,
                     description=description, advanced=advanced, optional=optional)


def ModelChoice(name: str, kind: str, default: Any = _MISSING, *, description: str = "",
                advanced: bool = False, optional: bool = False) -> InputSpec:
    """A model picked from the ``kind`` folder of the model roots (``checkpoints``, ``vae`` …).

    The kind is declared here once: ``spec.model_kind`` gives it to the fingerprint and the
    lookup, so a loader cannot list one folder and load from another.
    """
    return Choice(name, source=f"{MODELS_SOURCE}:{kind}", default=default,
                  description=description, advanced=advanced, optional=optional)


def Output(name: str, type: str, *, description: str = "") -> OutputSpec:
    return OutputSpec(name, type, description)


# ---------------------------------------------------------------------------------------------


Migration = Callable[[int, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class NodeType:
    """A node type: stable id, version, typed inputs and outputs, and a stateless function."""

    id: str
    version: int
    display_name: str
    category: str
    description: str
    inputs: tuple[InputSpec, ...]
    outputs: tuple[OutputSpec, ...]
    function: Callable[..., Any] = field(compare=False, repr=False)
    output_node: bool = False
    #: False: the node must re-run even when its inputs are unchanged, unless ``fingerprint``
    #: returns the same value (for example a file's mtime and size). The fingerprint gets the
    #: widget values as keyword arguments, and ``ctx`` (input_dir, output_dir, models) if it
    #: declares it.
    deterministic: bool = True
    fingerprint: Callable[..., Any] | None = field(default=None, compare=False, repr=False)
    legacy_ids: tuple[str, ...] = ()
    #: ``migrate(saved_version, values) -> values`` brings values saved by an older version
    #: of this node type up to date.
    migrate: Migration | None = field(default=None, compare=False, repr=False)
    pack: str = ""

    @property
    def wants_context(self) -> bool:
        return CONTEXT_PARAMETER in inspect.signature(self.function).parameters

    def input(self, name: str) -> InputSpec | None:
        return next((spec for spec in self.inputs if spec.name == name), None)

    def output_index(self, name: str) -> int | None:
        return next((i for i, spec in enumerate(self.outputs) if spec.name == name), None)

    def default_values(self) -> dict[str, Any]:
        return {spec.name: spec.default for spec in self.inputs if spec.has_widget}

    def with_pack(self, pack: str) -> NodeType:
        return replace(self, pack=pack)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "display_name": self.display_name,
            "category": self.category,
            "description": self.description,
            "inputs": [spec.to_json() for spec in self.inputs],
            "outputs": [spec.to_json() for spec in self.outputs],
            "output_node": self.output_node,
            "deterministic": self.deterministic,
            "legacy_ids": list(self.legacy_ids),
            "pack": self.pack,
        }


def node(
    id: str,
    *,
    display_name: str | None = None,
    category: str = "utils",
    description: str | None = None,
    inputs: Sequence[InputSpec] = (),
    outputs: Sequence[OutputSpec] = (),
    version: int = 1,
    output_node: bool = False,
    deterministic: bool = True,
    fingerprint: Callable[..., Any] | None = None,
    legacy_ids: Sequence[str] = (),
    migrate: Migration | None = None,
) -> Callable[[Callable[..., Any]], NodeType]:
    """Declare a node type from a function. See the module docstring for an example."""

    def decorate(function: Callable[..., Any]) -> NodeType:
        node_type = NodeType(
            id=id,
            version=version,
            display_name=display_name or _title_from(function.__name__),
            category=category,
            description=description if description is not None else inspect.getdoc(function) or "",
            inputs=tuple(inputs),
            outputs=tuple(outputs),
            function=function,
            output_node=output_node,
            deterministic=deterministic,
            fingerprint=fingerprint,
            legacy_ids=tuple(legacy_ids),
            migrate=migrate,
        )
        check_node_type(node_type)
        return node_type

    return decorate


class SchemaError(ValueError):
    """A node type declaration is inconsistent (raised when the pack is defined or loaded)."""


def check_node_type(node_type: NodeType) -> None:
    """Reject declarations that would only fail later, with a message naming the culprit."""
    where = f"node type {node_type.id!r}"
    if not node_type.id or any(c.isspace() for c in node_type.id):
        raise SchemaError(f"{where}: the id must be a non-empty string without spaces")
    if not isinstance(node_type.version, int) or node_type.version < 1:
        raise SchemaError(f"{where}: version must be a positive integer")
    for kind, names in (
        ("input", [spec.name for spec in node_type.inputs]),
        ("output", [spec.name for spec in node_type.outputs]),
    ):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise SchemaError(f"{where}: duplicate {kind} names {duplicates}")
    if CONTEXT_PARAMETER in {spec.name for spec in node_type.inputs}:
        raise SchemaError(f"{where}: {CONTEXT_PARAMETER!r} is reserved for the node context")
    parameters = inspect.signature(node_type.function).parameters
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    if not takes_kwargs:
        missing = [spec.name for spec in node_type.inputs if spec.name not in parameters]
        if missing:
            raise SchemaError(f"{where}: the function has no parameter for inputs {missing}")
    for spec in node_type.inputs:
        if spec.advanced and not spec.has_widget:
            # Folding hides widget rows; a socket-only input stays on the node, so the flag
            # would silently do nothing.
            raise SchemaError(f"{where}: input {spec.name!r} is a socket only and cannot be "
                              "advanced (only widget values fold away)")
        if not spec.has_widget or spec.default is None or spec.choices_source:
            continue
        problem = check_value(spec, spec.default)
        if problem:
            raise SchemaError(f"{where}: default of input {spec.name!r}: {problem}")


def check_value(spec: InputSpec, value: Any) -> str | None:
    """Why ``value`` is not acceptable for the widget input ``spec``, or None if it is."""
    if spec.choices is not None:
        if value not in spec.choices:
            shown = ", ".join(map(repr, spec.choices[:8])) + (" …" if len(spec.choices) > 8 else "")
            return f"{value!r} is not one of {shown}"
        return None
    if spec.type == INT:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"expected a whole number, got {value!r}"
    elif spec.type == FLOAT:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"expected a number, got {value!r}"
        if not _finite(value):
            return f"expected a finite number, got {_shown(value)}"
    elif spec.type == STRING:
        if not isinstance(value, str):
            return f"expected text, got {value!r}"
    elif spec.type == BOOLEAN and not isinstance(value, bool):
        return f"expected true or false, got {value!r}"
    if spec.type in (INT, FLOAT) and not isinstance(value, bool):
        if spec.min is not None and value < spec.min:
            return f"{_shown(value)} is below the minimum {spec.min}"
        if spec.max is not None and value > spec.max:
            return f"{_shown(value)} is above the maximum {spec.max}"
    return None


def coerce_value(spec: InputSpec, value: Any) -> Any:
    """Gentle conversion of a value typed by a person (CLI ``--set``, a text field)."""
    if isinstance(value, str) and spec.choices is None:
        text = value.strip()
        try:
            if spec.type == INT:
                return int(text, 0)
            if spec.type == FLOAT:
                return float(text)
        except ValueError:
            return value
        if spec.type == BOOLEAN and text.lower() in ("true", "false", "1", "0", "yes", "no"):
            return text.lower() in ("true", "1", "yes")
    if spec.type == INT and isinstance(value, float) and value.is_integer():
        return int(value)  # "64.0": a whole number, written as a float
    if spec.type == FLOAT and isinstance(value, int) and not isinstance(value, bool):
        # An integer beyond float range stays as it is: check_value reports it as not finite.
        return float(value) if _finite(value) else value
    if spec.choices is not None and isinstance(value, str) and value not in spec.choices:
        for choice in spec.choices:
            if str(choice) == value:
                return choice
    return value


def _finite(value: int | float) -> bool:
    """math.isfinite without its OverflowError for integers beyond float range (which a
    file or ``--set`` can hold): those are not finite numbers."""
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _shown(value: Any) -> str:
    """A value for a message, cut short (a hostile 400-digit number must not fill it)."""
    text = repr(value) if not isinstance(value, int) or _finite(value) else "a huge integer"
    return text if len(text) <= 40 else text[:37] + "…"


def _title_from(function_name: str) -> str:
    return function_name.replace("_", " ").strip().title()

