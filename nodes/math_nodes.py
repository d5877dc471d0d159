"""Math nodes: arithmetic on whole and decimal numbers, comparison and rounding.

An INT output links straight into a FLOAT input, so no int-to-float node is needed; going
the other way takes "math.round", which says how to round.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable

from nodestudio.api import BOOLEAN, FLOAT, INT, Choice, Float, Int, NodeError, Output, node

OPERATIONS = ("add", "subtract", "multiply", "divide", "modulo", "power", "min", "max")

#: Whole-number results are kept to 64-bit signed integers: what seeds, sizes and steps fit in.
INT_LIMIT = 2**63


def _divide_ints(a: int, b: int) -> int:
    if b == 0:
        raise NodeError(f"cannot divide {a} by zero")
    return a // b


def _modulo_ints(a: int, b: int) -> int:
    if b == 0:
        raise NodeError(f"cannot take {a} modulo zero (the remainder of a division by zero)")
    return a % b


def _power_ints(a: int, b: int) -> int:
    if b < 0:
        raise NodeError(f"{a} to the power {b} is not a whole number: use Float Math for "
                        "negative exponents")
    # Refuse before computing: a huge power would take long and need a lot of memory.
    if abs(a) > 1 and b * math.log2(abs(a)) >= 63:
        raise NodeError(f"{a} to the power {b} is too large for a whole number")
    return a**b


_INT_OPERATIONS: dict[str, Callable[[int, int], int]] = {
    "add": operator.add,
    "subtract": operator.sub,
    "multiply": operator.mul,
    "divide": _divide_ints,
    "modulo": _modulo_ints,
    "power": _power_ints,
    "min": min,
    "max": max,
}


@node(
    "math.int",
    display_name="Integer Math",
    category="math",
    description=(
        "Computes a whole number from a and b: add, subtract, multiply, divide (rounded down), "
        "modulo (the remainder), power, min or max."
    ),
    inputs=[Int("a", 0), Int("b", 1), Choice("operation", OPERATIONS, "add")],
    outputs=[Output("result", INT)],
)
def integer_math(a: int, b: int, operation: str) -> int:
    if operation not in _INT_OPERATIONS:
        raise NodeError(f"unknown operation {operation!r}; use one of {', '.join(OPERATIONS)}")
    result = _INT_OPERATIONS[operation](int(a), int(b))
    if not -INT_LIMIT <= result < INT_LIMIT:
        raise NodeError(f"{operation} of {a} and {b} gives {result}, too large for a whole number")
    return result


def _divide_floats(a: float, b: float) -> float:
    if b == 0:
        raise NodeError(f"cannot divide {a} by zero")
    return a / b


def _modulo_floats(a: float, b: float) -> float:
    if b == 0:
        raise NodeError(f"cannot take {a} modulo zero (the remainder of a division by zero)")
    return a % b  # like the integer modulo: the result has the sign of b


def _power_floats(a: float, b: float) -> float:
    if a == 0 and b < 0:
        raise NodeError(f"cannot raise zero to the negative power {b} (a division by zero)")
    if a < 0 and not float(b).is_integer():
        raise NodeError(f"{a} to the power {b} is not a real number (negative base, fractional "
                        "exponent)")
    return math.pow(a, b)


_FLOAT_OPERATIONS: dict[str, Callable[[float, float], float]] = {
    "add": operator.add,
    "subtract": operator.sub,
    "multiply": operator.mul,
    "divide": _divide_floats,
    "modulo": _modulo_floats,
    "power": _power_floats,
    "min": min,
    "max": max,
}


@node(
    "math.float",
    display_name="Float Math",
    category="math",
    description=(
        "Computes a decimal number from a and b: add, subtract, multiply, divide, modulo "
        "(the remainder), power, min or max."
    ),
    inputs=[
        Float("a", 0.0, step=0.01),
        Float("b", 1.0, step=0.01),
        Choice("operation", OPERATIONS, "add"),
    ],
    outputs=[Output("result", FLOAT)],
)
def float_math(a: float, b: float, operation: str) -> float:
    if operation not in _FLOAT_OPERATIONS:
        raise NodeError(f"unknown operation {operation!r}; use one of {', '.join(OPERATIONS)}")
    try:
        result = float(_FLOAT_OPERATIONS[operation](float(a), float(b)))
    except OverflowError as error:
        raise NodeError(f"{operation} of {a} and {b} is too large") from error
    if not math.isfinite(result):
        raise NodeError(f"{operation} of {a} and {b} is not a finite number ({result})")
    return result


COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "a == b": operator.eq,
    "a != b": operator.ne,
    "a < b": operator.lt,
    "a <= b": operator.le,
    "a > b": operator.gt,
    "a >= b": operator.ge,
}


@node(
    "math.compare",
    display_name="Compare Numbers",
    category="math",
    description="True when the comparison of a and b holds, otherwise false.",
    inputs=[
        Float("a", 0.0, step=0.01),
        Float("b", 0.0, step=0.01),
        Choice("comparison", tuple(COMPARISONS), "a == b"),
    ],
    outputs=[Output("result", BOOLEAN)],
)
def compare_numbers(a: float, b: float, comparison: str) -> bool:
    if comparison not in COMPARISONS:
        raise NodeError(f"unknown comparison {comparison!r}; use one of {', '.join(COMPARISONS)}")
    return bool(COMPARISONS[comparison](a, b))


ROUNDING = {
    "nearest": round,  # halves go to the even neighbour, as Python and numpy do
    "down": math.floor,
    "up": math.ceil,
    "toward zero": math.trunc,
}


@node(
    "math.round",
    display_name="Round to Integer",
    category="math",
    description=(
        "Turns a decimal number into a whole number: to the nearest, down, up, or toward zero "
        "(dropping the decimals)."
    ),
    inputs=[Float("value", 0.0, step=0.01), Choice("mode", tuple(ROUNDING), "nearest")],
    outputs=[Output("result", INT)],
)
def round_to_integer(value: float, mode: str) -> int:
    if mode not in ROUNDING:
        raise NodeError(f"unknown rounding {mode!r}; use one of {', '.join(ROUNDING)}")
    if not math.isfinite(value):
        raise NodeError(f"cannot round {value} to a whole number")
    result = int(ROUNDING[mode](value))
    if not -INT_LIMIT <= result < INT_LIMIT:
        raise NodeError(f"{value} is too large for a whole number")
    return result
