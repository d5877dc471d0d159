from __future__ import annotations

import pytest

from nodestudio.api import (
    FLOAT,
    IMAGE,
    INT,
    MAX_SEED,
    Boolean,
    Choice,
    Float,
    Input,
    InputSpec,
    Int,
    NodePack,
    NodeRegistry,
    Output,
    SchemaError,
    Seed,
    SocketTypes,
    String,
    check_value,
    coerce_value,
    node,
)


def test_node_decorator_builds_a_schema_from_a_function():
    @node("acme.add", category="math", inputs=[Float("a"), Float("b", 1.0)],
          outputs=[Output("sum", FLOAT)])
    def add(a: float, b: float) -> float:
        """Adds two numbers."""
        return a + b

    assert add.id == "acme.add"
    assert add.display_name == "Add"
    assert add.description == "Adds two numbers."
    assert [spec.name for spec in add.inputs] == ["a", "b"]
    assert add.default_values() == {"a": 0.0, "b": 1.0}
    assert not add.wants_context
    assert add.function(a=2, b=3) == 5
    schema = add.to_json()
    assert schema["inputs"][1] == {"name": "b", "type": "FLOAT", "default": 1.0}


def test_context_parameter_is_detected():
    @node("acme.ctx", inputs=[Int("n")])
    def with_context(n: int, ctx: object) -> None:
        return None

    assert with_context.wants_context


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        (lambda: node("bad id", inputs=[])(lambda: None), "without spaces"),
        (lambda: node("a.b", version=0)(lambda: None), "positive integer"),
        (lambda: node("a.b", inputs=[Int("x"), Int("x")])(lambda x: None), "duplicate input"),
        (lambda: node("a.b", inputs=[Int("x")])(lambda y: None), "no parameter for inputs"),
        (lambda: node("a.b", inputs=[Int("x", 5, max=3)])(lambda x: None), "above the maximum"),
        (lambda: node("a.b", inputs=[Int("ctx")])(lambda ctx: None), "reserved"),
        (lambda: node("a.b", inputs=[InputSpec("x", IMAGE, widget=False, advanced=True)])(
            lambda x: None), "cannot be advanced"),
    ],
)
def test_inconsistent_declarations_fail_at_definition(declare, message):
    with pytest.raises(SchemaError, match=message):
        declare()


def test_check_value_covers_types_ranges_and_choices():
    assert check_value(Int("n", min=0, max=10), 5) is None
    assert "whole number" in check_value(Int("n"), 1.5)
    assert "whole number" in check_value(Int("n"), True)
    assert "below the minimum" in check_value(Int("n", min=0), -1)
    assert "above the maximum" in check_value(Float("f", max=1.0), 2.0)
    assert "finite" in check_value(Float("f"), float("nan"))
    assert "text" in check_value(String("s"), 3)
    assert "not one of" in check_value(Choice("c", ["a", "b"]), "z")
    assert check_value(Seed(), MAX_SEED) is None


def test_coerce_value_understands_typed_text():
    assert coerce_value(Int("n"), "12") == 12
    assert coerce_value(Float("f"), "0.5") == 0.5
    assert coerce_value(Float("f"), 2) == 2.0
    assert coerce_value(Choice("c", [1, 2]), "2") == 2
    assert coerce_value(Int("n"), "twelve") == "twelve"  # left for validation to report


def test_seed_has_control_after_generate_and_widget():
    spec = Seed()
    assert spec.control_after_generate and spec.has_widget and spec.type == INT


def test_link_only_inputs_are_required_unless_optional():
    assert Input("image", IMAGE).required
    assert not Input("mask", "MASK", optional=True).required
    assert not Int("n").required


def test_socket_compatibility_rules():
    sockets = SocketTypes()
    assert sockets.compatible("IMAGE", "IMAGE")
    assert not sockets.compatible("IMAGE", "LATENT")
    assert sockets.compatible("INT", "FLOAT")
    assert not sockets.compatible("FLOAT", "INT")
    assert sockets.compatible("*", "LATENT") and sockets.compatible("MODEL", "*")
    assert sockets.get("IMAGE").color.startswith("#")
    assert sockets.get("UNKNOWN_THING").name == "UNKNOWN_THING"


def test_registry_resolves_legacy_ids_and_refuses_duplicates():
    @node("acme.new", legacy_ids=["acme.old"])
    def new() -> None:
        return None

    registry = NodeRegistry()
    registry.add_pack(NodePack("acme", [new]))
    assert registry.get("acme.old") is registry.get("acme.new")
    assert registry.resolve_id("acme.old") == "acme.new"
    assert registry.get("acme.new").pack == "acme"
    with pytest.raises(ValueError, match="redefines"):
        registry.add_pack(NodePack("again", [new]))
    assert len(registry) == 1


def test_advanced_inputs_are_flagged_in_the_schema_and_change_nothing_else():
    @node("acme.stage", inputs=[Int("steps", 20), Int("start", 0, advanced=True),
                                Boolean("noise", True, advanced=True),
                                String("extra", "", multiline=True, advanced=True),
                                Float("strength", 1.0, advanced=True),
                                Choice("mode", ["a", "b"], advanced=True),
                                Seed("seed", advanced=True)])
    def stage(**values: object) -> None:
        return None

    flags = {spec.name: spec.advanced for spec in stage.inputs}
    assert flags == {"steps": False, "start": True, "noise": True, "extra": True,
                     "strength": True, "mode": True, "seed": True}
    inputs = {entry["name"]: entry for entry in stage.to_json()["inputs"]}
    assert "advanced" not in inputs["steps"]
    assert inputs["start"] == {"name": "start", "type": "INT", "default": 0, "advanced": True}
    assert all(inputs[name]["advanced"] is True for name in flags if name != "steps")
    # Defaults, widgets and requiredness are those of the same input without the flag.
    assert stage.default_values() == {"steps": 20, "start": 0, "noise": True, "extra": "",
                                      "strength": 1.0, "mode": "a", "seed": 0}
    assert all(spec.has_widget and not spec.required for spec in stage.inputs)
