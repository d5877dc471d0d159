"""Nodes that misbehave (exit the process, return the wrong type): the node itself is blamed."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest

from nodestudio.api import (
    FLOAT,
    IMAGE,
    MASK,
    STRING,
    Input,
    NodePack,
    NodeRegistry,
    Output,
    String,
    node,
)
from nodestudio.engine import Executor
from nodestudio.graph import Graph


class _Odd(BaseException):
    """A BaseException that is neither SystemExit nor KeyboardInterrupt (as GeneratorExit)."""


@node("hostile.exit", inputs=[String("how", "exit")], outputs=[Output("x", FLOAT)])
def exits(how: str) -> float:
    if how == "exit":
        sys.exit(3)
    if how == "interrupt":
        raise KeyboardInterrupt
    raise _Odd("strange")


@node("hostile.value", outputs=[Output("x", FLOAT)])
def value() -> float:
    return 1.0


@node("hostile.sink", inputs=[Input("x", FLOAT)], output_node=True)
def sink(x: float) -> None:
    assert isinstance(x, float)


@node("hostile.wrong_image", display_name="Wrong Image", inputs=[String("give", "text")],
      outputs=[Output("image", IMAGE), Output("mask", MASK)])
def wrong_image(give: str) -> Any:
    image = np.zeros((1, 4, 4, 3), np.float32)
    mask = np.zeros((1, 4, 4), np.float32)
    if give == "text":
        return "not a picture", mask
    if give == "none":
        return image, None
    if give == "flat":
        return image, np.zeros((4, 4), np.float32)
    return image, mask


@node("hostile.take_image", inputs=[Input("image", IMAGE)], outputs=[Output("text", STRING)])
def take_image(image: Any) -> str:
    return str(image.shape)  # raises on a str: the node the user would wrongly blame


@pytest.fixture
def registry() -> NodeRegistry:
    registry = NodeRegistry()
    registry.add_pack(NodePack("hostile", [exits, value, sink, wrong_image, take_image]))
    return registry


def _exit_graph(how: str) -> tuple[Graph, str, str]:
    graph = Graph()
    bad = graph.add_node("hostile.exit", {"how": how})
    graph.connect(bad.id, "x", graph.add_node("hostile.sink").id, "x")
    good = graph.add_node("hostile.value")
    graph.connect(good.id, "x", graph.add_node("hostile.sink").id, "x")
    return graph, bad.id, good.id


def test_sys_exit_in_a_node_is_that_nodes_failure(registry):
    graph, bad, good = _exit_graph("exit")
    result = Executor(registry).run(graph)  # before the fix: SystemExit(3) left the run
    assert result.status == "failed"
    assert result.failed == {bad: "the node called sys.exit(3), which would have closed "
                                  "NodeStudio; it was stopped and counted as failed"}
    assert good in result.executed  # the independent branch still ran


def test_other_base_exceptions_fail_the_node_but_ctrl_c_still_stops(registry):
    graph, bad, _ = _exit_graph("odd")
    result = Executor(registry).run(graph)
    assert result.failed == {bad: "_Odd: strange"}
    graph, _, _ = _exit_graph("interrupt")
    with pytest.raises(KeyboardInterrupt):
        Executor(registry).run(graph)


@pytest.mark.parametrize(("give", "output", "said"), [
    ("text", "image", "it returned a str ('not a picture'), but IMAGE needs a numpy array"),
    ("none", "mask", "it returned None, but MASK needs a numpy array [batch, height, width]"),
    ("flat", "mask", "it returned an array of shape [4, 4], but MASK needs"),
])
def test_a_wrong_output_is_blamed_on_the_node_that_returned_it(registry, give, output, said):
    graph = Graph()
    maker = graph.add_node("hostile.wrong_image", {"give": give})
    user = graph.add_node("hostile.take_image")
    graph.connect(maker.id, "image", user.id, "image")
    result = Executor(registry).run(graph, outputs=[user.id])
    assert list(result.failed) == [maker.id]  # not the node downstream
    message = result.failed[maker.id]
    assert message.startswith(f"wrong value for output {output!r}: {said}")
    assert message.endswith("a bug in the code of Wrong Image (pack 'hostile')")
    assert not result.outputs.get(maker.id)  # nothing wrong was cached or handed on


def test_right_outputs_pass_and_checks_follow_the_socket_type():
    from nodestudio.engine.output_check import output_problem

    assert output_problem(IMAGE, np.zeros((1, 2, 2, 3), np.float32)) is None
    assert output_problem("INT", 3) is None and output_problem("INT", np.int64(3)) is None
    assert "needs a whole number" in output_problem("INT", True)
    assert output_problem("FLOAT", 2) is None and "needs a number" in output_problem("FLOAT", "2")
    assert output_problem("BOOLEAN", "yes") is not None
    assert output_problem("*", None) is None  # ANY carries anything
    assert output_problem("MODEL", object()) is None  # only present, for models and packs' types
    assert output_problem("ACME_THING", None) == "it returned None, but ACME_THING needs a value"
