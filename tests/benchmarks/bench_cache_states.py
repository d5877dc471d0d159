"""Stale marks on the canvas: cache states of a 1000-node graph, computed on the UI thread
after each burst of edits (target: <= 50 ms on the 2-core dev machine, so a debounced
recomputation never stalls the editor).

    python tests/benchmarks/bench_cache_states.py [--nodes 1000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_plan import build_graph

from nodestudio.app.session import Session
from nodestudio.app.settings import Settings
from nodestudio.ui.run.cache_watch import preview_environment


def time_states(session: Session, graph, repeat: int) -> tuple[list[float], dict[str, str]]:
    from nodestudio.engine.status import cache_states

    times, states = [], {}
    for _ in range(repeat):
        started = time.perf_counter()
        states = cache_states(graph, session.registry, session.cache,
                              preview_environment(session))
        times.append((time.perf_counter() - started) * 1000)
    return times, states


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    session = Session(settings=Settings(device="cpu"))
    graph = build_graph(args.nodes)
    print(f"{platform.node()} {platform.processor() or platform.machine()}, "
          f"{len(graph)} nodes, {len(graph.links)} links")
    for label in ("empty cache", "after a run"):
        if label == "after a run":
            session.run(graph, outputs=[n.id for n in graph if n.type == "math.round"])
        times, states = time_states(session, graph, args.repeat)
        cached = sum(1 for state in states.values() if state == "cached")
        print(f"cache states, {label} ({cached} cached): median "
              f"{statistics.median(times):.1f} ms, min {min(times):.1f} ms, "
              f"max {max(times):.1f} ms over {args.repeat} runs")


if __name__ == "__main__":
    main()
