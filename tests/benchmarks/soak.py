"""Soak the headless session on the demo model: memory over many runs, no-op re-runs, cancels.

    OMP_NUM_THREADS=1 python tests/benchmarks/soak.py [--runs 200] [--noop 50] [--cancels 20]
                                                      [--json soak.json]

Run by hand, never in CI. One ``Session`` on the CPU (a fresh NODESTUDIO_HOME, so no user
settings or packs take part) runs resources/workflows/text_to_image.json on the embedded demo
model ``nodestudio-shapes`` and measures three things a long editing session relies on:

1. ``--runs`` runs that change only the sampler's seed. RSS is read after each run; the slope
   (KB per run, least squares) is fitted over the second half, so the first runs' one-off
   allocations (model load, allocator warm-up) do not count as a leak.
2. ``--noop`` re-runs with nothing changed: everything must come from the cache; time per re-run
   (median, p95).
3. ``--cancels`` runs cancelled from another thread at a random moment inside the sampler (after
   a random step, a random fraction of a step later); time from cancel() to run() returning
   (median, max). Every run cancelled while the sampler ran must report "cancelled" and the run
   after each cancel must finish — otherwise the script exits non-zero. A cancel that a busy
   machine delays past the sampler's end is a miss: counted, retried, not timed.

Prints a table; ``--json PATH`` also writes every figure and the raw samples.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / "resources" / "workflows" / "text_to_image.json"
SAMPLER = "sampler"


def rss_bytes() -> int:
    """Resident set size now (not the peak: a leak shows as growth of the current value)."""
    with open("/proc/self/statm") as statm:  # Linux; the soak is run on the dev machines
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def slope_kb_per_run(values: list[int]) -> float:
    """Least-squares slope of ``values`` (bytes) against the run index, in KB per run."""
    n = len(values)
    if n < 2:
        return 0.0
    mean_x = (n - 1) / 2
    mean_y = sum(values) / n
    covariance = sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values))
    variance = sum((i - mean_x) ** 2 for i in range(n))
    return covariance / variance / 1024


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation: with few samples it reports a real sample)."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


def make_session(home: Path) -> Any:
    os.environ["NODESTUDIO_HOME"] = str(home)  # read by Settings.load inside Session
    from nodestudio.app.session import Session

    return Session(device="cpu", output_dir=home / "output", input_dir=home / "input")


def seed_runs(session: Any, graph: Any, runs: int) -> dict[str, Any]:
    """``runs`` runs changing only the seed; RSS after each."""
    rss: list[int] = []
    seconds: list[float] = []
    for index in range(runs):
        graph.set_value(SAMPLER, "seed", 1000 + index)
        began = time.perf_counter()
        result = session.run(graph)
        seconds.append(time.perf_counter() - began)
        if SAMPLER not in result.executed:
            raise SystemExit(f"seed run {index}: the sampler did not run ({result.executed})")
        rss.append(rss_bytes())
    second_half = rss[len(rss) // 2:]
    return {"runs": runs, "rss_first_mb": rss[0] / 2**20, "rss_last_mb": rss[-1] / 2**20,
            "slope_kb_per_run": slope_kb_per_run(second_half),
            "run_median_ms": statistics.median(seconds) * 1000, "rss_bytes": rss}


def noop_runs(session: Any, graph: Any, runs: int) -> dict[str, Any]:
    """Re-runs with nothing changed: nothing may execute; time per re-run."""
    times: list[float] = []
    for index in range(runs):
        began = time.perf_counter()
        result = session.run(graph)
        times.append((time.perf_counter() - began) * 1000)
        if result.executed:
            raise SystemExit(f"no-op re-run {index} executed {result.executed}")
    return {"runs": runs, "median_ms": statistics.median(times),
            "p95_ms": percentile(times, 0.95), "samples_ms": times}


def cancel_once(session: Any, graph: Any, rng: random.Random) -> float | None:
    """One run cancelled at a random moment inside the sampler; ms from cancel to return, or
    None when the sampler had already finished when cancel() was called (a miss, not a bug)."""
    from nodestudio.app.session import RunCancelledError
    from nodestudio.engine.cancel import CancelToken
    from nodestudio.engine.events import NodeFinished, NodeProgress

    token = CancelToken()
    reached = threading.Event()  # the sampler has finished the randomly chosen step
    sampler_done = threading.Event()
    step_times: list[float] = []
    chosen: list[int] = []
    cancel: dict[str, Any] = {}

    def on_event(event: object) -> None:
        if isinstance(event, NodeProgress) and event.node_id == SAMPLER:
            step_times.append(time.perf_counter())
            if not chosen:  # the step after which to cancel: never the last one
                chosen.append(rng.randint(1, max(1, event.total - 1)))
            if event.done >= chosen[0]:
                reached.set()
        elif isinstance(event, NodeFinished) and event.node_id == SAMPLER:
            sampler_done.set()
            reached.set()

    def canceller() -> None:
        reached.wait()
        # A random point within the next step (the load on a shared machine varies, so the
        # step length is measured in this run, not beforehand).
        step = (step_times[-1] - step_times[0]) / max(1, len(step_times) - 1)
        time.sleep(rng.uniform(0.0, 0.9) * step)
        cancel["inside"] = not sampler_done.is_set()
        cancel["at"] = time.perf_counter()
        token.cancel()

    thread = threading.Thread(target=canceller, daemon=True)
    thread.start()
    try:
        result = session.run(graph, on_event=on_event, cancel=token)
    except RunCancelledError as error:
        result = error.result
    returned = time.perf_counter()
    reached.set()  # a run that failed before sampling must not leave the thread waiting
    thread.join()
    if not cancel.get("inside"):
        return None
    if result.status != "cancelled":
        raise SystemExit(f"a run cancelled inside the sampler reported {result.status!r}")
    return (returned - cancel["at"]) * 1000


def cancel_runs(session: Any, graph: Any, count: int, seed: int) -> dict[str, Any]:
    """``count`` cancels inside the sampler, each followed by a run (new seed) that must
    finish; cancels that missed the sampler are retried and counted."""
    rng = random.Random(seed)
    latencies: list[float] = []
    missed = 0
    attempt = 0
    while len(latencies) < count:
        if missed > count:
            raise SystemExit(f"{missed} cancels missed the sampler; the machine is too busy")
        graph.set_value(SAMPLER, "seed", 6_000_000 + 2 * attempt)
        latency = cancel_once(session, graph, rng)
        if latency is None:
            missed += 1
        else:
            latencies.append(latency)
        graph.set_value(SAMPLER, "seed", 6_000_001 + 2 * attempt)
        after = session.run(graph)
        if after.status != "finished" or SAMPLER not in after.executed:
            raise SystemExit(f"the run after cancel {attempt} did not finish: {after.status}")
        attempt += 1
    return {"cancels": count, "cancelled": count, "next_run_finished": attempt,
            "runs_after_cancel": attempt, "missed": missed,
            "median_ms": statistics.median(latencies), "max_ms": max(latencies),
            "samples_ms": latencies}


def table(figures: dict[str, Any]) -> str:
    seed, noop, cancel = figures["seed_runs"], figures["noop_runs"], figures["cancels"]
    rows = [
        ("seed-only runs", f"{seed['runs']}",
         f"RSS {seed['rss_first_mb']:.0f} → {seed['rss_last_mb']:.0f} MB, slope "
         f"{seed['slope_kb_per_run']:+.1f} KB/run (2nd half); run {seed['run_median_ms']:.0f} ms"),
        ("no-op re-runs", f"{noop['runs']}",
         f"median {noop['median_ms']:.2f} ms, p95 {noop['p95_ms']:.2f} ms, 0 nodes executed"),
        ("cancels in sampler", f"{cancel['cancels']}",
         f"{cancel['cancelled']}/{cancel['cancels']} cancelled ({cancel['missed']} missed the "
         f"sampler, retried), next run finished {cancel['next_run_finished']}/"
         f"{cancel['runs_after_cancel']}; cancel → return median "
         f"{cancel['median_ms']:.1f} ms, max {cancel['max_ms']:.1f} ms"),
    ]
    width = max(len(name) for name, _, _ in rows)
    return "\n".join(f"{name:<{width}}  {count:>5}  {text}" for name, count, text in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="seed-only runs")
    parser.add_argument("--noop", type=int, default=50, help="no-op re-runs")
    parser.add_argument("--cancels", type=int, default=20, help="cancels inside the sampler")
    parser.add_argument("--seed", type=int, default=1, help="seed for the cancel moments")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.runs < 2 or args.noop < 1 or args.cancels < 1:
        parser.error("--runs needs at least 2, --noop and --cancels at least 1")
    with tempfile.TemporaryDirectory() as home:
        session = make_session(Path(home))
        graph = session.load_graph(WORKFLOW)
        started = time.perf_counter()
        figures: dict[str, Any] = {
            "machine": f"{platform.node()} · {os.cpu_count()} CPUs · Python "
                       f"{platform.python_version()} · OMP_NUM_THREADS="
                       f"{os.environ.get('OMP_NUM_THREADS', 'unset')}",
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "load_before": os.getloadavg()[0],
            "seed_runs": seed_runs(session, graph, args.runs),
        }
        figures["noop_runs"] = noop_runs(session, graph, args.noop)
        figures["cancels"] = cancel_runs(session, graph, args.cancels, args.seed)
        figures["seconds"] = time.perf_counter() - started
        figures["load_after"] = os.getloadavg()[0]
    print(f"{figures['machine']} · {figures['date']} · load {figures['load_before']:.2f}"
          f" → {figures['load_after']:.2f} · {figures['seconds']:.0f} s")
    print(table(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
