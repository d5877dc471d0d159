"""Primitive, math and text nodes."""

from __future__ import annotations

import pytest

from nodestudio.api import MAX_SEED, NodeError, check_value


def test_primitives_pass_their_value_through(node):
    assert node("primitive.int").function(value=-7) == -7
    assert node("primitive.float").function(value=2) == 2.0
    assert isinstance(node("primitive.float").function(value=2), float)
    assert node("primitive.string").function(value="a\nb") == "a\nb"
    assert node("primitive.boolean").function(value=True) is True
    assert node("primitive.seed").function(seed=MAX_SEED) == MAX_SEED


def test_seed_input_is_rerolled_by_the_queue_and_string_is_multiline(node):
    seed = node("primitive.seed").input("seed")
    assert seed.control_after_generate and seed.min == 0 and seed.max == MAX_SEED
    assert node("primitive.string").input("value").multiline


@pytest.mark.parametrize(("operation", "a", "b", "expected"), [
    ("add", 7, 3, 10), ("subtract", 7, 3, 4), ("multiply", 7, 3, 21), ("divide", 7, 2, 3),
    ("divide", -7, 2, -4), ("modulo", -7, 3, 2), ("power", 2, 10, 1024), ("min", 7, 3, 3),
    ("max", 7, 3, 7),
])
def test_integer_math(node, operation, a, b, expected):
    assert node("math.int").function(a=a, b=b, operation=operation) == expected


@pytest.mark.parametrize(("operation", "a", "b", "expected"), [
    ("add", 0.5, 0.25, 0.75), ("subtract", 1.0, 0.25, 0.75), ("multiply", 1.5, 2.0, 3.0),
    ("divide", 1.0, 4.0, 0.25), ("modulo", 5.5, 2.0, 1.5), ("power", 9.0, 0.5, 3.0),
    ("power", -2.0, 3.0, -8.0), ("min", 0.1, 0.2, 0.1), ("max", 0.1, 0.2, 0.2),
])
def test_float_math(node, operation, a, b, expected):
    assert node("math.float").function(a=a, b=b, operation=operation) == pytest.approx(expected)


@pytest.mark.parametrize("type_id", ["math.int", "math.float"])
@pytest.mark.parametrize("operation", ["divide", "modulo"])
def test_division_by_zero_is_a_clear_error(node, type_id, operation):
    with pytest.raises(NodeError, match=r"by zero|modulo zero"):
        node(type_id).function(a=5, b=0, operation=operation)


@pytest.mark.parametrize(("type_id", "a", "b", "message"), [
    ("math.int", 2, -1, "negative exponents"),
    ("math.int", 10, 400, "too large"),
    ("math.float", -8.0, 1 / 3, "not a real number"),
    ("math.float", 0.0, -1.0, "division by zero"),
    ("math.float", 10.0, 400.0, "too large"),
])
def test_impossible_powers_are_clear_errors(node, type_id, a, b, message):
    with pytest.raises(NodeError, match=message):
        node(type_id).function(a=a, b=b, operation="power")


def test_compare_and_round(node):
    compare = node("math.compare").function
    assert compare(a=1.0, b=2.0, comparison="a < b") is True
    assert compare(a=2.0, b=2.0, comparison="a != b") is False
    assert compare(a=3, b=2.5, comparison="a >= b") is True
    rounding = node("math.round").function
    assert [rounding(value=-2.5, mode=m) for m in ("nearest", "down", "up", "toward zero")] == \
        [-2, -3, -2, -2]
    assert rounding(value=2.7, mode="nearest") == 3


def test_math_defaults_are_valid_widget_values(node):
    for type_id in ("math.int", "math.float", "math.compare", "math.round"):
        node_type = node(type_id)
        for spec in node_type.inputs:
            assert check_value(spec, spec.default) is None, (type_id, spec.name)


def test_join_text_skips_empty_pieces_and_understands_escaped_newlines(node):
    join = node("text.join").function
    assert join(a="a cat", b="", c="oil painting", d="  ", separator=", ",
                skip_empty=True) == "a cat, oil painting"
    assert join(a="x", b="", c="y", d="", separator="|", skip_empty=False) == "x||y|"
    assert join(a="line 1", b="line 2", c="", d="", separator="\\n",
                skip_empty=True) == "line 1\nline 2"


def test_format_text_fills_placeholders_and_keeps_escaped_braces(node):
    fill = node("text.format").function
    assert fill(template="a photo of {a}, {b} light {{raw}}", a="a fox", b="golden", c="",
                d="") == "a photo of a fox, golden light {raw}"


@pytest.mark.parametrize(("template", "message"), [
    ("{a} and {e}", r"placeholder \{e\}"),
    ("{a.__class__}", r"placeholder \{a.__class__\}"),
    ("{0}", r"placeholder \{0\}"),
    ("{}", r"placeholder \{\}"),
    ("{a:>10}", "format"),
    ("{a", "unmatched brace"),
])
def test_format_text_names_the_bad_placeholder(node, template, message):
    with pytest.raises(NodeError, match=message):
        node("text.format").function(template=template, a="x", b="", c="", d="")
