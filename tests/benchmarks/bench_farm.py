"""Render-farm throughput: the demo workflow (64×64, few steps) on a local Ray cluster with 1
and 2 CPU workers, against the same jobs run locally in this process.

Reports jobs per second (after the workers are up and have loaded the model: a warm-up job
each) and the overhead per job (farm seconds per job with one worker minus local seconds per
job). Usage: python tests/benchmarks/bench_farm.py [--jobs 16] [--steps 4]

``--first-job [--delay 12]``: instead, a fresh one-worker farm's first job, with the worker's
warm-up off (what a worker did before) and on, side by side: seconds from the farm's start to
the job's first progress event when the job is sent at once, and from sending to its first
progress event when it is sent ``--delay`` seconds after the start (the artist opens a graph
and presses Run while the farm starts).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _graph(session, seed: int, steps: int):
    from nodestudio.paths import resources_dir

    graph = session.load_graph(resources_dir() / "workflows" / "text_to_image.json")
    graph.set_value("sampler", "seed", seed)
    graph.set_value("sampler", "steps", steps)
    return graph


def local_seconds_per_job(session, jobs: int, steps: int) -> float:
    session.run(_graph(session, 10_000, steps))  # warm: imports and the model load
    started = time.perf_counter()
    for seed in range(jobs):
        session.run(_graph(session, seed, steps))
    return (time.perf_counter() - started) / jobs


def farm_seconds_per_job(session, workers: int, jobs: int, steps: int) -> float:
    from nodestudio.app.farm.ray_backend import RayBackend

    backend = RayBackend(output_dir=tempfile.mkdtemp(), session=session, workers=workers)
    try:
        # Warm-up (not timed): until every worker is up and has loaded the model. Affinity
        # keeps a lone model on one worker until the backlog makes another one load it.
        seed = 20_000
        while min((w.jobs_done for w in backend.workers()), default=0) == 0:
            warm = [backend.submit(_graph(session, seed + i, steps)) for i in range(2 * workers)]
            seed += 2 * workers
            warmed = backend.wait_all(warm)
            assert all(r is not None and r.ok for r in warmed), [r and r.error for r in warmed]
        started = time.perf_counter()
        handles = [backend.submit(_graph(session, 30_000 + seed, steps))
                   for seed in range(jobs)]
        results = backend.wait_all(handles)
        elapsed = time.perf_counter() - started
        assert all(r is not None and r.ok for r in results), [r and r.error for r in results]
        return elapsed / jobs
    finally:
        backend.shutdown()


def first_progress_seconds(session, warm: bool, delay: float, steps: int) -> float:
    """Seconds from sending the first job to a new farm ``delay`` s after its start to the
    job's first progress event (from the start itself when ``delay`` is 0)."""
    import threading

    from nodestudio.app.farm.ray_backend import RayBackend

    progressed = threading.Event()
    started = time.perf_counter()
    backend = RayBackend(output_dir=tempfile.mkdtemp(), session=session, workers=1,
                         warm_imports=None if warm else ())
    try:
        backend.subscribe(lambda event: event.kind == "progress" and progressed.set())
        time.sleep(delay)
        sent = time.perf_counter()
        handle = backend.submit(_graph(session, 40_000, steps))
        assert progressed.wait(300), "no progress event"
        seconds = time.perf_counter() - (sent if delay else started)
        result = handle.wait(300)
        assert result is not None and result.ok, result and result.error
        return seconds
    finally:
        backend.shutdown()


def first_job(session, delay: float, steps: int) -> None:
    import ray

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        for label, wait in (("sent at the farm's start", 0.0),
                            (f"sent {delay:g} s after the start", delay)):
            cold = first_progress_seconds(session, False, wait, steps)
            warm = first_progress_seconds(session, True, wait, steps)
            print(f"first job {label}: first progress after {cold:.1f} s without warm-up, "
                  f"{warm:.1f} s with it")
    finally:
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--first-job", action="store_true",
                        help="time a new farm's first job, warm-up off and on")
    parser.add_argument("--delay", type=float, default=12.0)
    args = parser.parse_args()
    import ray

    from nodestudio.app.session import Session

    session = Session(device="cpu", output_dir=tempfile.mkdtemp(),
                      models_dir=tempfile.mkdtemp())
    if args.first_job:
        first_job(session, args.delay, args.steps)
        return
    local = local_seconds_per_job(session, args.jobs, args.steps)
    print(f"local: {local:.3f} s/job ({1 / local:.2f} jobs/s)")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        for workers in (1, 2):
            farm = farm_seconds_per_job(session, workers, args.jobs, args.steps)
            print(f"farm, {workers} worker(s): {farm:.3f} s/job ({1 / farm:.2f} jobs/s)")
            if workers == 1:
                print(f"overhead per job (1 worker vs local): {farm - local:+.3f} s")
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
