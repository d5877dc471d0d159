"""Validate + plan of a 1000-node graph (target: <= 50 ms on the 2-core dev machine).

    python tests/benchmarks/bench_plan.py [--nodes 1000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

from nodestudio.app.packs import create_registry
from nodestudio.engine import Executor
from nodestudio.graph import Graph


def build_graph(node_count: int) -> Graph:
    """Ten chains of float math nodes, each ending in an output node, plus cross links."""
    graph = Graph()
    chains = 10
    per_chain = node_count // chains - 2
    for chain in range(chains):
        previous = graph.add_node("primitive.float", {"value": float(chain)})
        for index in range(per_chain):
            node = graph.add_node("math.float", {"b": 1.0 + index % 7, "operation": "add"},
                                  pos=(index * 220.0, chain * 160.0))
            graph.connect(previous.id, "value" if index == 0 else "result", node.id, "a")
            previous = node
        sink = graph.add_node("math.round", {"mode": "nearest"})
        graph.connect(previous.id, "result", sink.id, "value")
    return graph


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    registry = create_registry(entry_points=False)
    graph = build_graph(args.nodes)
    outputs = [n.id for n in graph if n.type == "math.round"]
    executor = Executor(registry)
    times = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        plan = executor.prepare(graph, outputs=outputs)
        times.append((time.perf_counter() - started) * 1000)
    print(f"{platform.node()} {platform.processor() or platform.machine()}, "
          f"{len(graph)} nodes, {len(graph.links)} links, {len(plan.to_run)} to run")
    print(f"validate + plan: median {statistics.median(times):.1f} ms, "
          f"min {min(times):.1f} ms, max {max(times):.1f} ms over {args.repeat} runs")


if __name__ == "__main__":
    main()
