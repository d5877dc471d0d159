"""Small fake node types that count their executions: the engine's test bench."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from nodestudio.api import (
    FLOAT,
    STRING,
    Choice,
    Float,
    Input,
    Int,
    NodeError,
    NodePack,
    NodeRegistry,
    Output,
    String,
    node,
)


@dataclass
class Bench:
    """A registry of fake nodes plus what they did."""

    registry: NodeRegistry
    runs: Counter[str] = field(default_factory=Counter)
    sunk: list[Any] = field(default_factory=list)
    #: Set to let a test observe that the slow node has started.
    slow_started: threading.Event = field(default_factory=threading.Event)


def make_bench() -> Bench:
    bench = Bench(NodeRegistry())
    runs = bench.runs

    @node("test.number", category="test", inputs=[Float("value", 1.0, min=-100, max=100)],
          outputs=[Output("value", FLOAT)])
    def number(value: float) -> float:
        runs["test.number"] += 1
        return value

    @node("test.add", category="test", inputs=[Input("a", FLOAT), Input("b", FLOAT)],
          outputs=[Output("sum", FLOAT)])
    def add(a: float, b: float) -> float:
        runs["test.add"] += 1
        return a + b

    @node("test.scale", category="test",
          inputs=[Input("x", FLOAT), Float("factor", 2.0, min=0, max=10)],
          outputs=[Output("x", FLOAT)], legacy_ids=["test.old_scale"])
    def scale(x: float, factor: float) -> float:
        runs["test.scale"] += 1
        return x * factor

    @node("test.sink", category="test", inputs=[Input("x", FLOAT)], output_node=True)
    def sink(x: float) -> None:
        runs["test.sink"] += 1
        bench.sunk.append(x)

    @node("test.fail", category="test", inputs=[Input("x", FLOAT), String("message", "boom")],
          outputs=[Output("x", FLOAT)])
    def fail(x: float, message: str) -> float:
        runs["test.fail"] += 1
        if message:
            raise NodeError(message)
        return x

    @node("test.slow", category="test", inputs=[Input("x", FLOAT), Int("steps", 5, min=1)],
          outputs=[Output("x", FLOAT)])
    def slow(x: float, steps: int, ctx: Any) -> float:
        runs["test.slow"] += 1
        bench.slow_started.set()
        for step in range(steps):
            ctx.check_cancelled()
            threading.Event().wait(0.01)
            ctx.progress(step + 1, steps)
        return x

    @node("test.text", category="test", inputs=[String("text", "hi")],
          outputs=[Output("text", STRING)])
    def text(text: str) -> str:
        runs["test.text"] += 1
        return text

    @node("test.pick", category="test", inputs=[Choice("mode", ["a", "b", "c"])],
          outputs=[Output("value", FLOAT)], version=2,
          migrate=lambda version, values: {"mode": values.get("old_mode", "a")})
    def pick(mode: str) -> float:
        runs["test.pick"] += 1
        return {"a": 1.0, "b": 2.0, "c": 3.0}[mode]

    bench.registry.add_pack(NodePack("test", [number, add, scale, sink, fail, slow, text, pick]))
    return bench


def chain(bench: Bench, value: float = 3.0) -> tuple[Any, dict[str, str]]:
    """number -> scale -> sink, plus an independent number2 -> sink2 branch."""
    from nodestudio.graph import Graph

    graph = Graph()
    ids = {
        "number": graph.add_node("test.number", {"value": value}).id,
        "scale": graph.add_node("test.scale", {"factor": 2.0}).id,
        "sink": graph.add_node("test.sink").id,
        "number2": graph.add_node("test.number", {"value": 5.0}).id,
        "sink2": graph.add_node("test.sink").id,
    }
    graph.connect(ids["number"], "value", ids["scale"], "x")
    graph.connect(ids["scale"], "x", ids["sink"], "x")
    graph.connect(ids["number2"], "value", ids["sink2"], "x")
    return graph, ids
