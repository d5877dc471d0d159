"""Every GPU figure of issue 15 in one device call: speed, fast mode, overheads, memory modes.

    bash tests/benchmarks/gpu_wheels.sh      # here: the wheels the device image lacks, in .whl
    run(command="bash tests/benchmarks/gpu_run.sh", carry=[".whl"], timeout_s=590)  # there
    python tests/benchmarks/gpu_all.py --tiny --device cpu --out /tmp/f    # CPU: tiny models

Models are random weights at the released shapes (bench_models.py; nothing is downloaded),
Euler, each built when a task first needs it and deleted after its last (Flux-dev's folder is
≈ 34 GB). The plan:

    model  size   steps  cfg            memory budget
    sd15   512²   20     7              4 GiB
    sdxl   1024²  20     7              8 GiB
    sd3    1024²  8      5              —
    flux   1024²  6      1 + guidance   12 GiB, 3 steps a mode

Tasks run in the order of what the issue's acceptance needs most (GPU_TASKS): SD1.5 and SDXL
"speed" (graph vs diffusers pipeline it/s, bench_sampler's measurement in this process; the
seed-only re-run overhead = run wall time ÷ the Sampler's and VAE Decode's node time, target
≤ 1.02, beside the engine's own overhead = wall time ÷ the time of every node that ran, Save
Image's PNG included; the no-op re-run, target ≤ 30 ms) and "fast" (fast mode it/s, targets
≥ 110 and ≥ 23, with fused attention projections, or without them when that fails; compile
time = first fast run − a warm default run, denoiser and VAE decoder), then "memory" runs
(one mode each, fresh session and model, under the budget: enforced with
``torch.cuda.set_per_process_memory_fraction`` and given to the memory manager, so "auto"
chooses for that card; the table says how it placed each model; a mode that does not fit is a
figure too), SDXL's and Flux-dev's first, then the Flux and SD3 speeds and the rest. A task
starts only while its rough H100 estimate fits in what is left of --budget-s (540 s: one call
of the device's 10-minute limit); the rest are listed as skipped, and ``--tasks`` runs them in
a later call (``--tasks flux sd3 sdxl.memory``). A task that raises is recorded with its error
and the next one runs. SD3 and Flux run in bf16, the UNets in fp16. Under a budget the loaders
leave new weights in system memory (``memory_manager.loaded_to``) and each node brings what it
uses, so Flux-dev's 24 GB transformer loads for a 12 GB budget at all (placement is checked on
the CPU by tests/runtime/test_virtual_accelerator.py; this run is its first on a GPU).
Writes figures.json and figures.md under --out after each task, so a run cut short keeps what
it measured.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_models import build_model
from bench_sampler import make_graph, run_pipeline

GIB = 2**30
ALL_MODES = ("auto", "keep", "offload", "sequential", "fp8")


@dataclass(frozen=True)
class Plan:
    model: str
    size: int
    steps: int
    #: cfg of the graph and the pipeline (Flux: 1, its guidance is Flux Guidance's 3.5).
    cfg: float = 7.0
    #: GiB of the memory-mode runs.
    budget_gib: float | None = None
    #: Steps of each memory-mode run (sequential Flux-dev streams 12 B weights per step).
    mode_steps: int | None = None


@dataclass(frozen=True)
class Task:
    """One measurement: ``kind`` is "speed" (graph vs pipeline, re-run overheads), "fast"
    (fast mode, compile time) or "memory" (one memory mode under the plan's budget)."""

    kind: str
    plan: Plan
    mode: str = ""
    #: Rough seconds on an H100 (model building and loading included): a task starts only
    #: when this much of --budget-s is left, so one call ends inside the device's limit.
    estimate_s: float = 60.0

    @property
    def name(self) -> str:
        return f"{self.plan.model}.{self.kind}" + (f".{self.mode}" if self.mode else "")


SD15 = Plan("sd15", 512, 20, budget_gib=4.0)
SDXL = Plan("sdxl", 1024, 20, budget_gib=8.0)
SD3 = Plan("sd3", 1024, 8, cfg=5.0)
FLUX = Plan("flux", 1024, 6, cfg=1.0, budget_gib=12.0, mode_steps=3)
#: In the order of what issue 15's acceptance needs most: SD1.5 and SDXL speed and fast mode,
#: SDXL in 8 GB and Flux-dev in 12 GB, then the DiT speeds and the remaining modes.
GPU_TASKS = (
    Task("speed", SD15, estimate_s=40), Task("fast", SD15, estimate_s=150),
    Task("speed", SDXL, estimate_s=90), Task("fast", SDXL, estimate_s=240),
    Task("memory", SDXL, "auto", estimate_s=30), Task("memory", FLUX, "auto", estimate_s=150),
    Task("memory", FLUX, "fp8", estimate_s=45), Task("memory", SDXL, "offload", estimate_s=30),
    Task("memory", FLUX, "offload", estimate_s=45),
    Task("memory", SDXL, "sequential", estimate_s=60), Task("memory", SDXL, "fp8", estimate_s=30),
    Task("memory", FLUX, "sequential", estimate_s=90), Task("speed", FLUX, estimate_s=90),
    Task("speed", SD3, estimate_s=120), Task("memory", SDXL, "keep", estimate_s=30),
    *(Task("memory", SD15, mode, estimate_s=20) for mode in ALL_MODES),
)
TINY = Plan("tiny", 64, 4, budget_gib=0.002)
TINY_FLUX = Plan("tiny-flux", 64, 3, cfg=1.0, budget_gib=0.0005)
TINY_TASKS = (
    Task("speed", TINY), Task("fast", TINY),
    *(Task("memory", TINY, mode) for mode in ALL_MODES),
    Task("speed", Plan("tiny-sd3", 64, 3, cfg=5.0)), Task("speed", TINY_FLUX),
    *(Task("memory", TINY_FLUX, mode) for mode in ("auto", "offload", "sequential", "fp8")),
)


def _args(model: str, size: int, device: str, steps: int, repeat: int,
          cfg: float = 7.0) -> argparse.Namespace:
    return argparse.Namespace(model=model, size=size, steps=steps, cfg=cfg, guidance=3.5,
                              device=device, repeat=repeat)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def _peak_bytes(device: str) -> int:
    import resource

    if device.startswith("cuda"):
        import torch

        return int(torch.cuda.max_memory_allocated())
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _timed_run(session: Any, graph: Any, ids: dict, device: str) -> dict[str, float]:
    stamps: list[float] = []

    def on_event(event: Any) -> None:
        if type(event).__name__ == "NodeProgress" and event.node_id == ids["sampler"]:
            _sync(device)
            stamps.append(time.perf_counter())

    started = time.perf_counter()
    result = session.run(graph, on_event=on_event)
    _sync(device)
    wall = time.perf_counter() - started
    seconds = result.node_seconds
    work = seconds.get(ids["sampler"], 0.0) + seconds.get(ids["decode"], 0.0)
    speed = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
    # Every node that ran (Save Image's PNG too): wall ÷ this is the engine's own overhead.
    return {"wall_s": wall, "sampler_decode_s": work, "nodes_s": sum(seconds.values()),
            "save_s": seconds.get(ids.get("save", ""), 0.0), "it/s": speed,
            "executed": len(result.executed)}


def _session_factory(root: Path, device: str) -> Any:
    """Sessions with a memory mode and fast mode: the Session applies its settings to the
    process's policies when it is made (so a policy set before it would be overwritten)."""
    import nodestudio
    from nodestudio.app.settings import Settings

    def session(memory_mode: str = "keep", fast: bool = False) -> Any:
        return nodestudio.Session(device=device, models_dir=root,
                                  settings=Settings(memory_mode=memory_mode, fast=fast),
                                  output_dir=root / "output", input_dir=root / "input")

    return session


def _precision(model: str, device: str) -> None:
    """SD3 and Flux in bf16 on CUDA (fp16 overflows in Flux), the UNets in fp16."""
    import os

    from bench_models import family

    if family(model) != "unet" and device.startswith("cuda"):
        os.environ["NODESTUDIO_PRECISION"] = "bf16"
    else:
        os.environ.pop("NODESTUDIO_PRECISION", None)


class Measurements:
    """The tasks' shared state: each model built once (and deleted when no later task needs
    it), its graph, and the figures so far (``report["models"][model]``)."""

    def __init__(self, root: Path, options: argparse.Namespace, report: dict[str, Any]) -> None:
        self.root = root
        self.options = options
        self.report = report
        self.session = _session_factory(root, options.device)
        self.built: dict[str, tuple[Any, dict]] = {}
        self.checkpoints: dict[str, str] = {}

    def figures(self, plan: Plan) -> dict[str, Any]:
        models = self.report["models"]
        if plan.model not in models:
            models[plan.model] = {"model": plan.model, "size": plan.size,
                                  "steps": self.options.steps or plan.steps}
        return models[plan.model]

    def graph(self, plan: Plan) -> tuple[str, Any, dict]:
        _precision(plan.model, self.options.device)
        checkpoint = build_model(plan.model, self.root, self.options.device)
        self.checkpoints[plan.model] = checkpoint
        if plan.model not in self.built:
            self.built[plan.model] = make_graph(self.root / "checkpoints" / checkpoint,
                                                checkpoint, self.args(plan))
        graph, ids = self.built[plan.model]
        graph.set_value(ids["sampler"], "steps", self.options.steps or plan.steps)
        return checkpoint, graph, ids

    def args(self, plan: Plan) -> argparse.Namespace:
        return _args(plan.model, plan.size, self.options.device,
                     self.options.steps or plan.steps, self.options.repeat, plan.cfg)

    def forget(self, model: str) -> None:
        """Delete a built model no later task needs (the disk holds one Flux-dev)."""
        self.built.pop(model, None)
        checkpoint = self.checkpoints.pop(model, None)
        if self.options.workdir is None and checkpoint is not None:
            shutil.rmtree(self.root / "checkpoints" / checkpoint, ignore_errors=True)

    def speed(self, plan: Plan) -> None:
        """Graph vs pipeline it/s, the seed-only and no-op re-run overheads."""
        checkpoint, graph, ids = self.graph(plan)
        figures = self.figures(plan)
        device = self.options.device
        figures["pipeline_it/s"] = max(run_pipeline(self.root, checkpoint, self.args(plan))["it/s"])
        _free_cuda(device)
        default = self.session("keep")
        _timed_run(default, graph, ids, device)  # load and warm up
        runs = []
        for seed in range(1, self.options.repeat + 1):
            graph.set_value(ids["sampler"], "seed", seed)
            runs.append(_timed_run(default, graph, ids, device))
        best = max(runs, key=lambda run: run["it/s"])
        figures["graph_it/s"] = best["it/s"]
        figures["seed_rerun_overhead"] = min(r["wall_s"] / r["sampler_decode_s"] for r in runs)
        figures["engine_overhead"] = min(r["wall_s"] / r["nodes_s"] for r in runs)
        figures["save_s"] = min(r["save_s"] for r in runs)
        noop = _timed_run(default, graph, ids, device)
        figures["noop_rerun_ms"] = noop["wall_s"] * 1000
        figures["noop_nodes_run"] = noop["executed"]
        figures["default_run_s"] = best["wall_s"]
        del default
        _free_cuda(device)

    def fast(self, plan: Plan) -> None:
        """Fast mode's it/s; compile time = first fast run − a warm default run. Fused
        attention projections first; without them if that fails (the error is kept)."""
        import torch

        from nodestudio.runtime import fast_mode

        _checkpoint, graph, ids = self.graph(plan)
        figures = self.figures(plan)
        device = self.options.device
        if "default_run_s" not in figures:  # the speed task did not run in this call
            default = self.session("keep")
            _timed_run(default, graph, ids, device)
            graph.set_value(ids["sampler"], "seed", 99)
            figures["default_run_s"] = _timed_run(default, graph, ids, device)["wall_s"]
            del default
            _free_cuda(device)
        fast = self.session("keep", fast=True)
        try:
            try:
                self._fast_runs(fast, graph, ids, figures, fuse=True)
            except Exception as error:  # its first GPU run: keep the figures without fusion
                figures["fast_fused_error"] = f"{type(error).__name__}: {error}"[:300]
                del fast
                torch.compiler.reset()
                _free_cuda(device)
                fast = self.session("keep", fast=True)
                self._fast_runs(fast, graph, ids, figures, fuse=False)
        finally:
            fast_mode.configure(False)
            del fast
            # Compiled code and CUDA graph pools hold the model's weights: freed before the
            # memory-mode runs measure what their budget leaves.
            torch.compiler.reset()
            _free_cuda(device)

    def _fast_runs(self, fast: Any, graph: Any, ids: dict, figures: dict[str, Any],
                   fuse: bool) -> None:
        from nodestudio.runtime import fast_mode

        fast_mode.configure(True, cache_dir=self.root / "torch-compile",
                            backend=self.options.backend, fuse=fuse)
        device = self.options.device
        graph.set_value(ids["sampler"], "seed", 100)
        first = _timed_run(fast, graph, ids, device)
        figures["compile_s"] = first["wall_s"] - figures["default_run_s"]
        speeds = []
        for seed in (101, 102):
            graph.set_value(ids["sampler"], "seed", seed)
            speeds.append(_timed_run(fast, graph, ids, device)["it/s"])
        figures["fast_it/s"] = max(speeds)
        figures["fast_fused_qkv"] = fuse

    def memory(self, plan: Plan, mode: str) -> None:
        """One memory mode with a fresh session (a fresh model) under the plan's budget."""
        _checkpoint, graph, ids = self.graph(plan)
        if plan.mode_steps:
            graph.set_value(ids["sampler"], "steps", plan.mode_steps)
        table = self.figures(plan).setdefault("memory_modes", {})
        table[mode] = _memory_mode(self.session, graph, ids, plan.budget_gib or 0.0,
                                   self.options.device, mode)


def _free_cuda(device: str) -> None:
    import gc

    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def _memory_mode(session: Any, graph: Any, ids: dict, budget_gib: float, device: str,
                 mode: str) -> dict[str, Any]:
    """One mode's figures; a streamed run (sequential blocks copied on a side stream) that
    fails is measured again with the copies in line, and both say so."""
    figures = _memory_attempt(session, graph, ids, budget_gib, device, mode, streams=True)
    streamed = any(" sequential " in placed for placed in figures.get("placed", []))
    if "failed" in figures and device.startswith("cuda") and mode in ("auto", "sequential"):
        retry = _memory_attempt(session, graph, ids, budget_gib, device, mode, streams=False)
        return {**retry, "streams": False, "streams_failed": figures["failed"]}
    return {**figures, "streams": streamed and device.startswith("cuda")}


def _memory_attempt(session: Any, graph: Any, ids: dict, budget_gib: float, device: str,
                    mode: str, streams: bool) -> dict[str, Any]:
    import torch

    from nodestudio.runtime import memory_manager

    budget = int(budget_gib * GIB)
    cuda = device.startswith("cuda")
    _free_cuda(device)
    if cuda:
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, budget / total))
        torch.cuda.reset_peak_memory_stats()
    memory_manager.forget_prepared()
    run_session = session(mode)
    # The memory manager sees the card the budget stands for ("auto" chooses from it).
    memory_manager.configure(mode, budget_bytes=budget, streams=streams)
    try:
        run = _timed_run(run_session, graph, ids, device)
        return {"it/s": run["it/s"], "peak_gib": _peak_bytes(device) / GIB,
                "run_s": run["wall_s"],
                "placed": [f"{name} {used} {size / GIB:.2f} GiB"
                           for name, used, size in memory_manager.prepared_modes()]}
    except Exception as error:  # a mode that does not fit is a figure too
        return {"failed": str(error)[:200]}
    finally:
        del run_session
        memory_manager.configure("auto")
        _free_cuda(device)
        if cuda:
            torch.cuda.set_per_process_memory_fraction(1.0)


def run_tasks(tasks: tuple[Task, ...], measurements: Measurements, budget_s: float,
              write: Any) -> None:
    """Each task in order while its estimate fits in what is left of ``budget_s``; a task
    that raises is recorded (its error and the traceback's end) and the next one runs."""
    import traceback

    started = time.perf_counter()
    report = measurements.report
    for index, task in enumerate(tasks):
        left = budget_s - (time.perf_counter() - started)
        if left < task.estimate_s:
            report["skipped"].append(f"{task.name} (needs ~{task.estimate_s:.0f} s, "
                                     f"{max(left, 0):.0f} s left)")
            continue
        print(f"{task.name} ({left:.0f} s left)", flush=True)
        task_started = time.perf_counter()
        try:
            if task.kind == "memory":
                measurements.memory(task.plan, task.mode)
            else:
                getattr(measurements, task.kind)(task.plan)
        except Exception as error:
            report["errors"][task.name] = (f"{type(error).__name__}: {error}"[:300] + "\n"
                                           + "".join(traceback.format_exc()[-1500:]))
            print(f"{task.name} failed: {error}", flush=True)
        report["seconds"][task.name] = round(time.perf_counter() - task_started, 1)
        if all(later.plan.model != task.plan.model for later in tasks[index + 1:]):
            measurements.forget(task.plan.model)
        write()


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# GPU figures ({report['device_name']}, driver {report['driver']}, CUDA "
             f"{report['cuda']}, torch {report['torch']}, {report['date']})", "",
             "| model | size | graph it/s | pipeline it/s | ratio | fast it/s | compile s | "
             "seed re-run overhead | engine overhead | Save Image s | no-op re-run ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]

    def cell(figures: dict[str, Any], key: str, digits: int = 2) -> str:
        return f"{figures[key]:.{digits}f}" if key in figures else "—"

    for f in report["models"].values():
        ratio = (f"{f['graph_it/s'] / f['pipeline_it/s']:.3f}"
                 if "graph_it/s" in f and f.get("pipeline_it/s") else "—")
        fast = cell(f, "fast_it/s") + (" (unfused)" if f.get("fast_fused_qkv") is False else "")
        lines.append(f"| {f['model']} | {f['size']}² | {cell(f, 'graph_it/s')} | "
                     f"{cell(f, 'pipeline_it/s')} | {ratio} | {fast} | "
                     f"{cell(f, 'compile_s', 1)} | {cell(f, 'seed_rerun_overhead', 3)} | "
                     f"{cell(f, 'engine_overhead', 3)} | {cell(f, 'save_s', 3)} | "
                     f"{cell(f, 'noop_rerun_ms', 1)} |")
    lines += ["", "| model | memory mode | it/s | peak GiB | models placed as |",
              "|---|---|---|---|---|"]
    for f in report["models"].values():
        for mode, row in f.get("memory_modes", {}).items():
            if "failed" in row:
                lines.append(f"| {f['model']} | {mode} | failed: {row['failed']} | | |")
            else:
                placed = "; ".join(row.get("placed", []))
                if row.get("streams"):
                    placed += " (blocks copied on a side stream)"
                if "streams_failed" in row:
                    placed += f" (copies in line: streamed failed: {row['streams_failed']})"
                lines.append(f"| {f['model']} | {mode} | {row['it/s']:.2f} | "
                             f"{row['peak_gib']:.3f} | {placed} |")
    for name, error in report["errors"].items():
        lines += ["", f"**{name} failed:** `{error.splitlines()[0]}`"]
    if report["skipped"]:
        lines += ["", "Skipped for time: " + ", ".join(report["skipped"])]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny models (a CPU check)")
    parser.add_argument("--tasks", nargs="*", default=None,
                        help="run only these tasks or models (sd15, sdxl.fast, flux.memory, "
                             "sdxl.memory.auto ...), in the plan's order")
    parser.add_argument("--budget-s", type=float, default=540.0,
                        help="start no task whose estimate exceeds what is left of this")
    parser.add_argument("--steps", type=int, default=None, help="override the plan's steps")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--backend", default=None,
                        help="torch.compile backend for fast mode (default: inductor on CUDA, "
                             "eager on the CPU, where inductor's C++ build takes minutes)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the built models here for the next run (else deleted)")
    options = parser.parse_args()
    if options.backend is None:
        options.backend = "inductor" if options.device.startswith("cuda") else "eager"
    import datetime

    import torch

    options.out.mkdir(parents=True, exist_ok=True)
    cuda = options.device.startswith("cuda")
    report: dict[str, Any] = {
        "device_name": torch.cuda.get_device_name(0) if cuda else platform.processor() or "cpu",
        "driver": _driver_version() if cuda else None,
        "cuda": torch.version.cuda if cuda else None, "torch": torch.__version__,
        "date": datetime.date.today().isoformat(), "models": {}, "errors": {}, "skipped": [],
        "seconds": {},
    }
    tasks = tuple(task for task in (TINY_TASKS if options.tiny else GPU_TASKS)
                  if options.tasks is None or any(
                      task.name == wanted or task.name.startswith(wanted + ".")
                      for wanted in options.tasks))

    def write() -> None:  # after each task, so a run cut short keeps what it measured
        (options.out / "figures.json").write_text(json.dumps(report, indent=2) + "\n")
        (options.out / "figures.md").write_text(markdown(report))

    with tempfile.TemporaryDirectory(prefix="nodestudio-gpu-all-") as temporary:
        root = options.workdir or Path(temporary)
        run_tasks(tasks, Measurements(root, options, report), options.budget_s, write)
    write()
    print(markdown(report))


def _driver_version() -> str | None:
    import subprocess

    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=30).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


if __name__ == "__main__":
    main()
