"""Every GPU figure of issue 15 in one run: speed, fast mode, engine overheads, memory modes.

    python tests/benchmarks/gpu_all.py --out /scratch/figures            # CUDA: released shapes
    python tests/benchmarks/gpu_all.py --tiny --device cpu --out /tmp/f  # CPU: tiny models

Models are random weights at the released shapes (bench_models.py; nothing is downloaded),
Euler, built one at a time and deleted after (Flux-dev's folder is ≈ 34 GB). The plan, capped
to stay within a few minutes on an H100 (``--only`` picks models, ``--steps`` overrides):

    model  size   steps  cfg            fast mode  memory budget (modes)
    sd15   512²   20     7              yes        4 GiB  (auto keep offload sequential fp8)
    sdxl   1024²  20     7              yes        8 GiB  (auto keep offload sequential fp8)
    sd3    1024²  8      5              no         —
    flux   1024²  6      1 + guidance   no         12 GiB (auto offload sequential fp8), 3 steps

Per model: graph vs diffusers pipeline it/s (bench_sampler's measurement, in this process),
fast mode it/s and compile time (first fast run minus a warm default run; denoiser and VAE
decoder), the seed-only re-run overhead (run wall time ÷ the Sampler's and VAE Decode's node
time; target ≤ 1.02), the no-op re-run time (target ≤ 30 ms) and each memory mode's it/s and
peak under its budget (SDXL in 8 GB, Flux-dev in 12 GB: enforced with
``torch.cuda.set_per_process_memory_fraction`` and given to the memory manager, so "auto"
chooses for that card; the table says how it placed each model). SD3 and Flux run in bf16. A
mode that does not fit is a figure too (its message is kept). Under a budget the loaders leave
new weights in system memory (``memory_manager.loaded_to``) and each node brings what it uses,
so Flux-dev's 24 GB transformer loads for a 12 GB budget at all (placement is checked on the
CPU by tests/runtime/test_virtual_accelerator.py; this run is its first on a GPU).
Writes figures.json and figures.md under --out (after each model, so a cut-short run keeps
what it measured).
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
    fast: bool = True
    #: GiB for the memory-mode table (None: no table).
    budget_gib: float | None = None
    modes: tuple[str, ...] = ALL_MODES
    #: Steps of each memory-mode run (sequential Flux-dev streams 12 B weights per step).
    mode_steps: int | None = None


GPU_PLAN = (Plan("sd15", 512, 20, budget_gib=4.0), Plan("sdxl", 1024, 20, budget_gib=8.0),
            Plan("sd3", 1024, 8, cfg=5.0, fast=False),
            Plan("flux", 1024, 6, cfg=1.0, fast=False, budget_gib=12.0,
                 modes=("auto", "offload", "sequential", "fp8"), mode_steps=3))
TINY_PLAN = (Plan("tiny", 64, 4, budget_gib=0.002),
             Plan("tiny-sd3", 64, 3, cfg=5.0, fast=False),
             Plan("tiny-flux", 64, 3, cfg=1.0, fast=False, budget_gib=0.0005,
                  modes=("auto", "offload", "sequential", "fp8")))


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
    return {"wall_s": wall, "sampler_decode_s": work, "it/s": speed,
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


def measure_model(root: Path, plan: Plan, options: argparse.Namespace) -> dict[str, Any]:
    from nodestudio.runtime import fast_mode

    _precision(plan.model, options.device)
    steps = options.steps or plan.steps
    checkpoint = build_model(plan.model, root, options.device)
    args = _args(plan.model, plan.size, options.device, steps, options.repeat, plan.cfg)
    figures: dict[str, Any] = {"model": plan.model, "size": plan.size, "steps": steps}
    figures["pipeline_it/s"] = max(run_pipeline(root, checkpoint, args)["it/s"])
    _free_cuda(options.device)
    session = _session_factory(root, options.device)
    graph, ids = make_graph(root / "checkpoints" / checkpoint, checkpoint, args)
    default = session("keep")
    _timed_run(default, graph, ids, options.device)  # load and warm up
    runs = []
    for seed in range(1, options.repeat + 1):
        graph.set_value(ids["sampler"], "seed", seed)
        runs.append(_timed_run(default, graph, ids, options.device))
    best = max(runs, key=lambda run: run["it/s"])
    figures["graph_it/s"] = best["it/s"]
    figures["seed_rerun_overhead"] = min(r["wall_s"] / r["sampler_decode_s"] for r in runs)
    noop = _timed_run(default, graph, ids, options.device)
    figures["noop_rerun_ms"] = noop["wall_s"] * 1000
    figures["noop_nodes_run"] = noop["executed"]
    figures["default_run_s"] = best["wall_s"]
    del default
    _free_cuda(options.device)
    if plan.fast:
        fast = session("keep", fast=True)
        fast_mode.configure(True, cache_dir=root / "torch-compile", backend=options.backend)
        graph.set_value(ids["sampler"], "seed", 100)
        first = _timed_run(fast, graph, ids, options.device)
        figures["compile_s"] = first["wall_s"] - best["wall_s"]
        graph.set_value(ids["sampler"], "seed", 101)
        figures["fast_it/s"] = _timed_run(fast, graph, ids, options.device)["it/s"]
        fast_mode.configure(False)
        del fast
        _free_cuda(options.device)
    if plan.budget_gib is not None:
        if plan.mode_steps:
            graph.set_value(ids["sampler"], "steps", plan.mode_steps)
        figures["memory_modes"] = _memory_modes(session, graph, ids, plan.budget_gib, options,
                                                plan.modes)
    return figures


def _free_cuda(device: str) -> None:
    import gc

    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def _memory_modes(session: Any, graph: Any, ids: dict, budget_gib: float,
                  options: argparse.Namespace, modes: tuple[str, ...] = ALL_MODES
                  ) -> dict[str, Any]:
    """Each mode with a fresh session (a fresh model) under the budget."""
    import torch

    from nodestudio.runtime import memory_manager

    budget = int(budget_gib * GIB)
    cuda = options.device.startswith("cuda")
    if cuda:
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, budget / total))
    table: dict[str, Any] = {}
    for mode in modes:
        _free_cuda(options.device)
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        memory_manager.forget_prepared()
        run_session = session(mode)
        # The memory manager sees the card the budget stands for ("auto" chooses from it).
        memory_manager.configure(mode, budget_bytes=budget)
        try:
            run = _timed_run(run_session, graph, ids, options.device)
            table[mode] = {"it/s": run["it/s"], "peak_gib": _peak_bytes(options.device) / GIB,
                           "run_s": run["wall_s"],
                           "placed": [f"{name} {used} {size / GIB:.2f} GiB" for name, used, size
                                      in memory_manager.prepared_modes()]}
        except Exception as error:  # a mode that does not fit is a figure too
            table[mode] = {"failed": str(error)[:200]}
        finally:
            del run_session
            memory_manager.configure("auto")
    if cuda:
        _free_cuda(options.device)
        torch.cuda.set_per_process_memory_fraction(1.0)
    return table


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# GPU figures ({report['device_name']}, torch {report['torch']}, "
             f"{report['date']})", "",
             "| model | size | graph it/s | pipeline it/s | ratio | fast it/s | compile s | "
             "seed re-run overhead | no-op re-run ms |", "|---|---|---|---|---|---|---|---|---|"]
    for f in report["models"]:
        fast = (f"{f['fast_it/s']:.2f} | {f['compile_s']:.1f}" if "fast_it/s" in f
                else "— | —")
        lines.append(f"| {f['model']} | {f['size']}² | {f['graph_it/s']:.2f} | "
                     f"{f['pipeline_it/s']:.2f} | {f['graph_it/s'] / f['pipeline_it/s']:.3f} | "
                     f"{fast} | {f['seed_rerun_overhead']:.3f} | {f['noop_rerun_ms']:.1f} |")
    lines += ["", "| model | memory mode | it/s | peak GiB | models placed as |",
              "|---|---|---|---|---|"]
    for f in report["models"]:
        for mode, row in f.get("memory_modes", {}).items():
            if "failed" in row:
                lines.append(f"| {f['model']} | {mode} | failed: {row['failed']} | | |")
            else:
                lines.append(f"| {f['model']} | {mode} | {row['it/s']:.2f} | "
                             f"{row['peak_gib']:.3f} | {'; '.join(row.get('placed', []))} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny models (a CPU check)")
    parser.add_argument("--only", nargs="*", default=None, help="models of the plan to run")
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
        "driver": torch.version.cuda if cuda else None, "torch": torch.__version__,
        "date": datetime.date.today().isoformat(), "models": [],
    }
    with tempfile.TemporaryDirectory(prefix="nodestudio-gpu-all-") as temporary:
        root = options.workdir or Path(temporary)
        for plan in TINY_PLAN if options.tiny else GPU_PLAN:
            if options.only and plan.model not in options.only:
                continue
            print(f"measuring {plan.model} {plan.size}²", flush=True)
            started = time.perf_counter()
            report["models"].append(measure_model(root, plan, options))
            report["models"][-1]["measure_s"] = time.perf_counter() - started
            # Written after each model, so a run cut short keeps what it measured.
            (options.out / "figures.json").write_text(json.dumps(report, indent=2) + "\n")
            (options.out / "figures.md").write_text(markdown(report))
            if options.workdir is None:
                shutil.rmtree(root / "checkpoints", ignore_errors=True)  # the disk holds one
    print(markdown(report))


if __name__ == "__main__":
    main()
