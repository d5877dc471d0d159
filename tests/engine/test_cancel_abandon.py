"""Cancel abandons a node that does not stop: the run ends, the late result is thrown away."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from nodestudio.api import FLOAT, Cancelled, Float, Input, NodePack, NodeRegistry, Output, node
from nodestudio.engine import CancelToken, Executor
from nodestudio.engine.node_thread import ABANDONED_MESSAGE, CANCEL_GRACE_SECONDS
from nodestudio.graph import Graph


class Stubborn:
    """A node that sleeps up to 30 s and never looks at Cancel, plus what it did."""

    def __init__(self) -> None:
        self.runs: Counter[str] = Counter()
        self.started = threading.Event()
        self.release = threading.Event()  # lets the test end the 30 s early, at teardown
        self.returned = threading.Event()
        self.registry = NodeRegistry()

        @node("stubborn.sleep", inputs=[Float("x", 1.0)], outputs=[Output("x", FLOAT)])
        def sleep(x: float, ctx: Any) -> float:
            self.runs["sleep"] += 1
            self.started.set()
            self.release.wait(30.0)  # ignores ctx.check_cancelled on purpose
            with contextlib.suppress(Cancelled):  # stubborn: it returns its value anyway
                ctx.progress(1, 1)  # late progress: must not reach a finished run's listener
            self.returned.set()
            return x * 2

        @node("stubborn.sink", inputs=[Input("x", FLOAT)], output_node=True)
        def sink(x: float) -> None:
            self.runs["sink"] += 1

        self.registry.add_pack(NodePack("stubborn", [sleep, sink]))

    def graph(self) -> tuple[Graph, str]:
        graph = Graph()
        sleeper = graph.add_node("stubborn.sleep", {"x": 3.0})
        sink = graph.add_node("stubborn.sink")
        graph.connect(sleeper.id, "x", sink.id, "x")
        return graph, sleeper.id


@pytest.fixture
def stubborn() -> Iterator[Stubborn]:
    bench = Stubborn()
    yield bench
    bench.release.set()  # end the abandoned thread's sleep so it does not outlive the test


def _cancel_when_started(bench: Stubborn, cancel: CancelToken) -> None:
    def cancel_soon() -> None:
        assert bench.started.wait(10)
        cancel.cancel()

    threading.Thread(target=cancel_soon, daemon=True).start()


def test_a_node_ignoring_cancel_is_abandoned_after_the_grace_period(stubborn):
    graph, sleeper = stubborn.graph()
    cancel, events = CancelToken(), []
    _cancel_when_started(stubborn, cancel)
    started = time.monotonic()
    result = Executor(stubborn.registry).run(graph, cancel=cancel, on_event=events.append)
    elapsed = time.monotonic() - started
    # Before the fix the run waited the node's whole 30 s.
    assert elapsed < CANCEL_GRACE_SECONDS + 1.0
    assert result.status == "cancelled"
    assert result.abandoned == [sleeper]
    assert result.failed == {sleeper: ABANDONED_MESSAGE}
    assert ABANDONED_MESSAGE == ("did not stop after Cancel; its work is abandoned and its "
                                 "result discarded")
    failed = [e for e in events if e.kind == "node_failed"]
    assert [(e.node_id, e.message) for e in failed] == [(sleeper, ABANDONED_MESSAGE)]
    assert stubborn.runs["sink"] == 0
    assert events[-1].kind == "run_cancelled"


def test_the_late_result_is_discarded_and_never_cached(stubborn):
    graph, sleeper = stubborn.graph()
    executor = Executor(stubborn.registry)
    cancel, events = CancelToken(), []
    _cancel_when_started(stubborn, cancel)
    executor.run(graph, cancel=cancel, on_event=events.append)
    seen = len(events)
    stubborn.release.set()  # now the abandoned node returns its value
    assert stubborn.returned.wait(10)
    time.sleep(0.2)
    assert len(events) == seen  # its late progress went nowhere
    assert len(executor.cache) == 0
    again = executor.run(graph)  # nothing of the abandoned call was kept: it runs again
    assert again.ok
    assert sleeper in again.executed
    assert stubborn.runs["sleep"] == 2
    assert again.outputs[sleeper] == {"x": 6.0}


def test_a_node_that_honours_cancel_is_not_abandoned(stubborn):
    registry = stubborn.registry

    @node("stubborn.polite", inputs=[Float("x", 1.0)], outputs=[Output("x", FLOAT)])
    def polite(x: float, ctx: Any) -> float:
        stubborn.started.set()
        while True:
            ctx.check_cancelled()
            time.sleep(0.01)

    registry.add_pack(NodePack("polite", [polite]))
    graph = Graph()
    graph.connect(graph.add_node("stubborn.polite").id, "x",
                  graph.add_node("stubborn.sink").id, "x")
    cancel = CancelToken()
    _cancel_when_started(stubborn, cancel)
    started = time.monotonic()
    result = Executor(registry).run(graph, cancel=cancel)
    assert time.monotonic() - started < CANCEL_GRACE_SECONDS  # no grace wait needed
    assert result.status == "cancelled"
    assert result.abandoned == [] and result.failed == {}
