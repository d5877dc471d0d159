"""Primitive nodes: a single value set on a widget, to feed into several inputs at once."""

from __future__ import annotations

from nodestudio.api import (
    BOOLEAN,
    FLOAT,
    INT,
    STRING,
    Boolean,
    Float,
    Int,
    Output,
    Seed,
    String,
    node,
)


@node(
    "primitive.int",
    display_name="Integer",
    category="primitives",
    description="A whole number you set once and link into any number of inputs.",
    inputs=[Int("value", 0)],
    outputs=[Output("value", INT)],
)
def integer_value(value: int) -> int:
    return value


@node(
    "primitive.float",
    display_name="Float",
    category="primitives",
    description="A decimal number you set once and link into any number of inputs.",
    inputs=[Float("value", 0.0, step=0.01)],
    outputs=[Output("value", FLOAT)],
)
def float_value(value: float) -> float:
    return float(value)


@node(
    "primitive.string",
    display_name="Text",
    category="primitives",
    description="A piece of text (several lines allowed), e.g. a prompt shared by two encoders.",
    inputs=[String("value", "", multiline=True)],
    outputs=[Output("value", STRING)],
)
def string_value(value: str) -> str:
    return value


@node(
    "primitive.boolean",
    display_name="Boolean",
    category="primitives",
    description="A switch: true or false.",
    inputs=[Boolean("value", False)],
    outputs=[Output("value", BOOLEAN)],
)
def boolean_value(value: bool) -> bool:
    return value


@node(
    "primitive.seed",
    display_name="Seed",
    category="primitives",
    description=(
        "A random seed to share between samplers. Its 'after each run' setting keeps it "
        "fixed, counts it up or down, or picks a new random one between queued runs."
    ),
    inputs=[Seed("seed")],
    outputs=[Output("seed", INT)],
)
def seed_value(seed: int) -> int:
    return seed
