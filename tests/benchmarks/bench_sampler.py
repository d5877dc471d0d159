"""Text-to-image through a NodeStudio graph vs the diffusers pipeline on the same model.

    python tests/benchmarks/bench_sampler.py                       # tiny SD model, CPU
    python tests/benchmarks/bench_sampler.py --model sdxl --size 64
    python tests/benchmarks/bench_sampler.py --model tiny-sd3 --size 64 --steps 8
    python tests/benchmarks/bench_sampler.py --device cuda --model sd15 --size 512 --steps 20
    python tests/benchmarks/bench_sampler.py --device cuda --model sdxl --size 1024 --steps 20
    python tests/benchmarks/bench_sampler.py --device cuda --model sd3 --workdir /scratch/bench
    python tests/benchmarks/bench_sampler.py --device cuda --model flux --workdir /scratch/bench

``--model tiny``/``tiny-sdxl``/``tiny-sd3``/``tiny-flux``: the seeded test models
(nodestudio.runtime.tiny, tiny_dit). ``sd15``, ``sdxl``, ``sd3`` (SD3 medium), ``sd35-large``,
``flux`` (FLUX.1-dev), ``flux-schnell``: the released architectures (resources/model_configs)
with seeded random weights — the speed and memory are those of the real models, the pictures
are noise (bench_models.py says how they are made; SD3/Flux in bf16 on CUDA, graph and
pipeline alike). The model folder is built once, in a process of its own, into ``--workdir``
(kept there for the next run; default: a temporary folder). Each variant (graph, pipeline)
runs in its own process, so its peak memory is its own: peak RSS on the CPU, peak allocated
on CUDA.

Reported per variant: denoising speed (it/s over sampling steps 2…n, timed by the Sampler's
progress events and by the pipeline's step callback), the whole generation
(prompt encoding + sampling + decoding, loading excluded) and peak memory; then the ratio of
the graph's speed to the pipeline's. Both use the same scheduler (Euler; Euler flow for
SD3/Flux), seed, size and cfg: SD3 cfg 5 with the negative prompt; Flux cfg 1 (no negative
prompt) with Flux Guidance 3.5 = the pipeline's ``guidance_scale`` (dev only: schnell has no
guidance embedding). The T5 sequence length is the pipelines' default (SD3 256, Flux 512).
Defaults: UNet models 64×64, 20 steps, cfg 7; released SD3/Flux 1024×1024, 20 steps
(flux-schnell 4); the tiny SD3/Flux 64×64, 20 steps.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_models import MODELS, RELEASED_DIT, build_model, family

PROMPT = "a lighthouse on a cliff at sunset, oil painting"
NEGATIVE = "blurry"


def make_graph(folder: Path, checkpoint: str, args: argparse.Namespace) -> tuple[Any, dict]:
    """The text-to-image recipe; for Flux without the negative prompt at cfg 1 (the pipeline
    encodes none then) and, for dev, with Flux Guidance between the prompt and the sampler."""
    from nodestudio.app.recipes import text_to_image

    graph, ids = text_to_image(checkpoint, PROMPT, NEGATIVE, width=args.size, height=args.size,
                               steps=args.steps, cfg=args.cfg, sampler="euler",
                               filename_prefix="bench")
    if family(args.model) == "flux":
        if args.cfg <= 1.0:
            graph.remove_node(ids.pop("negative"))
        if _guidance_embeds(folder):
            ids["guidance"] = "guidance"
            graph.add_node("diffusion.flux_guidance", {"guidance": args.guidance}, id="guidance")
            graph.connect(ids["positive"], "conditioning", "guidance", "conditioning")
            graph.connect("guidance", "conditioning", ids["sampler"], "positive")
    return graph, ids


def _guidance_embeds(folder: Path) -> bool:
    config = json.loads((folder / "transformer" / "config.json").read_text())
    return bool(config.get("guidance_embeds"))


def run_graph(root: Path, checkpoint: str, args: argparse.Namespace) -> dict[str, Any]:
    import nodestudio
    from nodestudio.app.settings import Settings
    from nodestudio.runtime import fast_mode, memory_manager

    # Fast mode compiles in the first (warm-up) run; its it/s is then the compiled model's.
    fast_mode.configure(args.fast, cache_dir=root / "torch-compile")
    memory_manager.configure(args.memory_mode)
    session = nodestudio.Session(device=args.device, models_dir=root, settings=Settings(),
                                 output_dir=root / "output", input_dir=root / "input")
    graph, ids = make_graph(root / "checkpoints" / checkpoint, checkpoint, args)
    speeds, totals = [], []
    for repeat in range(args.repeat + 1):  # the first run loads the model and warms up
        graph.set_value(ids["sampler"], "seed", repeat)
        # A new prompt each time: it is encoded again, as the pipeline does.
        graph.set_value(ids["positive"], "text", f"{PROMPT}, take {repeat}")
        stamps: list[float] = []

        def on_event(event: Any, stamps: list[float] = stamps) -> None:
            if type(event).__name__ == "NodeProgress" and event.node_id == ids["sampler"]:
                if args.device.startswith("cuda"):
                    import torch

                    torch.cuda.synchronize()  # time finished steps, not queued ones
                stamps.append(time.perf_counter())

        _reset_peak(args.device)
        result = session.run(graph, on_event=on_event)
        if repeat == 0:
            continue
        seconds = result.node_seconds
        # Steps 2..n, as for the pipeline: the first step's interval also holds the set-up.
        speeds.append((len(stamps) - 1) / (stamps[-1] - stamps[0]))
        # Loading and writing the PNG are not generation (the pipeline does neither).
        totals.append(sum(v for k, v in seconds.items()
                          if k not in (ids["checkpoint"], ids["save"])))
    return {"it/s": speeds, "generation_s": totals, "peak": _peak(args.device)}


def run_pipeline(root: Path, checkpoint: str, args: argparse.Namespace) -> dict[str, Any]:
    import diffusers
    import torch

    from nodestudio.runtime import families
    from nodestudio.runtime.devices import compute_dtype
    from nodestudio.runtime.schedulers import build_scheduler

    folder = root / "checkpoints" / checkpoint
    index = json.loads((folder / "model_index.json").read_text())
    cls = getattr(diffusers, index["_class_name"])
    options: dict[str, Any] = {
        "StableDiffusionXLPipeline": {"add_watermarker": False},
        "StableDiffusionPipeline": {"safety_checker": None, "requires_safety_checker": False},
    }.get(cls.__name__, {})
    pipeline = cls.from_pretrained(folder, local_files_only=True, **options,
                                   dtype=compute_dtype(args.device)).to(args.device)
    kind = family(args.model)
    scheduler_family = {"sd3": families.SD3, "flux": families.FLUX}.get(kind)
    pipeline.scheduler = build_scheduler("euler", "normal", pipeline.scheduler.config,
                                         family=scheduler_family)
    pipeline.set_progress_bar_config(disable=True)
    # SD3 and the UNets: cfg with the negative prompt. Flux: guidance_scale is its distilled
    # guidance (Flux Guidance); real cfg (true_cfg_scale) only when asked for.
    prompts: dict[str, Any] = {"negative_prompt": NEGATIVE, "guidance_scale": args.cfg}
    if kind == "flux":
        prompts = {"guidance_scale": args.guidance}
        if args.cfg > 1.0:
            prompts.update(negative_prompt=NEGATIVE, true_cfg_scale=args.cfg)
    speeds, totals = [], []
    for repeat in range(args.repeat + 1):
        stamps: list[float] = []

        def on_step(pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any],
                    stamps: list[float] = stamps) -> dict:
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            stamps.append(time.perf_counter())
            return kwargs

        _reset_peak(args.device)
        started = time.perf_counter()
        pipeline(f"{PROMPT}, take {repeat}", **prompts, width=args.size, height=args.size,
                 num_inference_steps=args.steps,
                 generator=torch.Generator("cpu").manual_seed(repeat), output_type="np",
                 callback_on_step_end=on_step)
        total = time.perf_counter() - started
        if repeat == 0:
            continue
        # Steps 2..n: the interval of the first step also holds prompt encoding and set-up.
        speeds.append((len(stamps) - 1) / (stamps[-1] - stamps[0]))
        totals.append(total)
    return {"it/s": speeds, "generation_s": totals, "peak": _peak(args.device)}


def _reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def _peak(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB allocated (CUDA)"
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB RSS"


def _child(args: list[str]) -> dict[str, Any]:
    """Run this script with ``args`` in a process of its own; its last stdout line is JSON."""
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{done.stderr[-6000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _defaults(args: argparse.Namespace) -> None:
    released_dit = args.model in RELEASED_DIT
    if args.size is None:
        args.size = 1024 if released_dit else 64
    if args.steps is None:
        args.steps = 4 if args.model == "flux-schnell" else 20
    if args.cfg is None:
        args.cfg = {"sd3": 5.0, "flux": 1.0}.get(family(args.model), 7.0)
    if family(args.model) != "unet" and args.device.startswith("cuda"):
        # SD3 and Flux in bf16 (fp16 overflows in Flux): the folder, the graph (the Session
        # loads in compute_dtype, which reads this) and the pipeline; children inherit it.
        os.environ["NODESTUDIO_PRECISION"] = "bf16"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="tiny", choices=MODELS)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=None,
                        help="width and height (default 1024 for sd3/sd35-large/flux/"
                             "flux-schnell, else 64)")
    parser.add_argument("--steps", type=int, default=None,
                        help="sampling steps (default 20, flux-schnell 4)")
    parser.add_argument("--cfg", type=float, default=None,
                        help="default 7 (SD1.5/SDXL), 5 (SD3), 1 (Flux)")
    parser.add_argument("--guidance", type=float, default=3.5,
                        help="Flux dev's distilled guidance (Flux Guidance node, pipeline "
                             "guidance_scale)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per process")
    parser.add_argument("--rounds", type=int, default=2,
                        help="graph and pipeline processes alternate this many times (a busy "
                             "machine then slows both alike)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where to build the model, once (default: a temporary folder)")
    parser.add_argument("--layers", type=int, default=None,
                        help="released SD3/Flux cut to this many blocks per transformer and "
                             "text encoder: a CPU check of the released-shape path only")
    parser.add_argument("--fast", action="store_true",
                        help="the graph in fast mode (torch.compile; the warm-up run compiles)")
    parser.add_argument("--memory-mode", default="keep",
                        choices=("auto", "keep", "offload", "sequential", "fp8"))
    parser.add_argument("--variant", choices=["build", "graph", "pipeline"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", help=argparse.SUPPRESS)
    args = parser.parse_args()
    _defaults(args)

    if args.variant == "build":  # a child process: build the model folder, print its name
        print(json.dumps(build_model(args.model, args.workdir, args.device, args.layers)))
        return
    if args.variant:  # a child process: run one variant, print its figures as JSON
        run = run_graph if args.variant == "graph" else run_pipeline
        print(json.dumps(run(args.workdir, args.checkpoint, args)))
        return

    with tempfile.TemporaryDirectory(prefix="nodestudio-bench-") as temporary:
        root = args.workdir or Path(temporary)
        common = [*sys.argv[1:], "--workdir", str(root)]
        started = time.perf_counter()
        checkpoint = _child([*common, "--variant", "build"])
        print(f"model {checkpoint} ready in {root} ({time.perf_counter() - started:.0f} s)",
              flush=True)
        runs: dict[str, list[dict[str, Any]]] = {"graph": [], "pipeline": []}
        for _ in range(args.rounds):
            for variant in runs:
                runs[variant].append(_child([*common, "--variant", variant,
                                             "--checkpoint", checkpoint]))
    figures = {
        variant: {
            "it/s": statistics.median(x for run in done for x in run["it/s"]),
            "generation_s": statistics.median(x for run in done for x in run["generation_s"]),
            "peak": done[-1]["peak"],
        }
        for variant, done in runs.items()
    }
    graph, pipeline = figures["graph"], figures["pipeline"]
    guidance = f", guidance {args.guidance}" if family(args.model) == "flux" else ""
    layers = f" cut to {args.layers} blocks" if args.layers else ""
    mode = ", graph in fast mode" if args.fast else ""
    mode += f", memory mode {args.memory_mode}"
    print(f"{args.model}{layers} {args.size}x{args.size}, {args.steps} steps euler{mode}, "
          f"cfg {args.cfg}{guidance}, device {args.device}, median of {args.rounds} x "
          f"{args.repeat} runs ({platform.machine()}, Python {platform.python_version()})")
    for name, figure in figures.items():
        print(f"  {name:8s} {figure['it/s']:8.2f} it/s   generation {figure['generation_s']:.3f} s"
              f"   peak {figure['peak']}")
    print(f"  ratio    {graph['it/s'] / pipeline['it/s']:.3f} (graph it/s / pipeline it/s), "
          f"generation {graph['generation_s'] / pipeline['generation_s']:.3f}")


if __name__ == "__main__":
    main()
