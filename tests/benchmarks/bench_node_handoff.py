"""Cost of running many tiny nodes: a 200-node chain of Float Math, run cold (nothing cached).

Measures what the executor adds per node (the hand-over to the node thread that lets Cancel
abandon a node that does not stop). Usage: python tests/benchmarks/bench_node_handoff.py
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from nodestudio.api.registry import NodeRegistry
from nodestudio.app.packs import create_registry
from nodestudio.engine import Executor, OutputCache
from nodestudio.engine.node_thread import NodeThread
from nodestudio.graph import Graph

NODES = 200
REPEATS = 15


def chain_graph(count: int, start: float) -> tuple[Graph, str]:
    graph = Graph()
    previous = graph.add_node("math.float", {"a": start, "b": 1.0, "operation": "add"})
    for _ in range(count - 1):
        node = graph.add_node("math.float", {"b": 1.0, "operation": "add"})
        graph.connect(previous.id, "result", node.id, "a")
        previous = node
    return graph, previous.id


def measure(registry: NodeRegistry) -> list[float]:
    times = []
    for repeat in range(REPEATS):
        graph, last = chain_graph(NODES, float(repeat))
        executor = Executor(registry, OutputCache())
        started = time.perf_counter()
        result = executor.run(graph, outputs=[last])
        times.append(time.perf_counter() - started)
        assert result.ok and len(result.executed) == NODES, result.failed
    return times


def _direct(self: NodeThread, function: Any, kwargs: dict[str, Any], cancel: Any) -> Any:
    return function(**kwargs)  # what the executor did before the hand-over existed


def main() -> None:
    registry = create_registry(user_packs_dir=None)
    handed_over = measure(registry)
    original = NodeThread.call
    NodeThread.call = _direct  # type: ignore[method-assign]
    try:
        direct = measure(registry)
    finally:
        NodeThread.call = original  # type: ignore[method-assign]
    for name, times in (("node thread", handed_over), ("direct call", direct)):
        print(f"{name}: {NODES} nodes, cold run: median {statistics.median(times) * 1000:.1f} "
              f"ms, min {min(times) * 1000:.1f} ms ({REPEATS} runs)")


if __name__ == "__main__":
    main()
