"""Text-to-image through a NodeStudio graph vs the diffusers pipeline on the same model.

    python tests/benchmarks/bench_sampler.py                       # tiny SD model, CPU
    python tests/benchmarks/bench_sampler.py --model sdxl --size 64
    python tests/benchmarks/bench_sampler.py --device cuda --model sd15 --size 512 --steps 20
    python tests/benchmarks/bench_sampler.py --device cuda --model sdxl --size 1024 --steps 20

``--model tiny``/``tiny-sdxl``: the seeded test models (nodestudio.runtime.tiny). ``sd15`` and
``sdxl``: the released architectures (resources/model_configs) with random weights — the speed
is that of the real models, the pictures are noise. Each variant (graph, pipeline) runs in its
own process, so its peak memory is its own: peak RSS on the CPU, peak allocated on CUDA.

Reported per variant: denoising speed (it/s over sampling steps 2…n, timed by the Sampler's
progress events and by the pipeline's step callback), the whole generation
(prompt encoding + sampling + decoding, loading excluded) and peak memory; then the ratio of
the graph's speed to the pipeline's. Both use the same scheduler (Euler), seed, size and cfg.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROMPT = "a lighthouse on a cliff at sunset, oil painting"
NEGATIVE = "blurry"


def build_model(kind: str, root: Path, device: str) -> tuple[Path, str]:
    """A models root holding the checkpoint folder to benchmark; returns (root, name)."""
    from nodestudio.runtime import tiny

    if kind in ("tiny", "tiny-sdxl"):
        models = tiny.build_tiny_models(root)
        return root, models.sd_folder if kind == "tiny" else models.sdxl_folder
    return root, build_random_release(kind, root / "checkpoints" / kind, device)


def build_random_release(kind: str, folder: Path, device: str) -> str:
    """The released SD1.5 / SDXL architecture with random weights, saved as a diffusers folder."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from nodestudio.paths import resources_dir
    from nodestudio.runtime.tiny import save_sd_folder, save_sdxl_folder
    from nodestudio.runtime.tokenizers import OPEN_CLIP_PAD_TOKEN, clip_tokenizer

    if (folder / "model_index.json").is_file():
        return kind
    configs = resources_dir() / "model_configs" / ("sdxl" if kind == "sdxl" else "sd15")
    dtype = torch.float16 if device.startswith("cuda") else torch.float32

    def config(part: str) -> dict[str, Any]:
        name = "scheduler_config.json" if part == "scheduler" else "config.json"
        return json.loads((configs / part / name).read_text())

    torch.manual_seed(0)
    parts: dict[str, Any] = {
        "unet": UNet2DConditionModel.from_config(config("unet")).to(dtype),
        "vae": AutoencoderKL.from_config(config("vae")).to(dtype),
        "text_encoder": CLIPTextModel(CLIPTextConfig.from_dict(config("text_encoder"))).to(dtype),
        "tokenizer": clip_tokenizer(),
        "scheduler": EulerDiscreteScheduler.from_config(config("scheduler")),
    }
    if kind == "sdxl":
        parts["text_encoder_2"] = CLIPTextModelWithProjection(
            CLIPTextConfig.from_dict(config("text_encoder_2"))).to(dtype)
        parts["tokenizer_2"] = clip_tokenizer(pad_token=OPEN_CLIP_PAD_TOKEN)
        save_sdxl_folder(parts, folder)
    else:
        save_sd_folder(parts, folder)
    return kind


def run_graph(root: Path, checkpoint: str, args: argparse.Namespace) -> dict[str, Any]:
    import nodestudio
    from nodestudio.app.recipes import text_to_image
    from nodestudio.app.settings import Settings

    session = nodestudio.Session(device=args.device, models_dir=root, settings=Settings(),
                                 output_dir=root / "output", input_dir=root / "input")
    graph, ids = text_to_image(checkpoint, PROMPT, NEGATIVE, width=args.size, height=args.size,
                               steps=args.steps, cfg=args.cfg, sampler="euler",
                               filename_prefix="bench")
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
    import torch
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    from nodestudio.runtime.devices import compute_dtype
    from nodestudio.runtime.schedulers import build_scheduler

    folder = root / "checkpoints" / checkpoint
    index = json.loads((folder / "model_index.json").read_text())
    xl = index["_class_name"] == "StableDiffusionXLPipeline"
    cls = StableDiffusionXLPipeline if xl else StableDiffusionPipeline
    options = {"add_watermarker": False} if xl else {"safety_checker": None,
                                                      "requires_safety_checker": False}
    pipeline = cls.from_pretrained(folder, local_files_only=True, **options,
                                   torch_dtype=compute_dtype(args.device)).to(args.device)
    pipeline.scheduler = build_scheduler("euler", "normal", pipeline.scheduler.config)
    pipeline.set_progress_bar_config(disable=True)
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
        pipeline(f"{PROMPT}, take {repeat}", negative_prompt=NEGATIVE, width=args.size,
                 height=args.size, num_inference_steps=args.steps, guidance_scale=args.cfg,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="tiny", choices=["tiny", "tiny-sdxl", "sd15", "sdxl"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--cfg", type=float, default=7.0)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per process")
    parser.add_argument("--rounds", type=int, default=2,
                        help="graph and pipeline processes alternate this many times (a busy "
                             "machine then slows both alike)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where to build the model (default: a temporary folder)")
    parser.add_argument("--variant", choices=["graph", "pipeline"], help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.variant:  # a child process: run one variant, print its figures as JSON
        run = run_graph if args.variant == "graph" else run_pipeline
        print(json.dumps(run(args.workdir, args.checkpoint, args)))
        return

    with tempfile.TemporaryDirectory(prefix="nodestudio-bench-") as temporary:
        root = args.workdir or Path(temporary)
        root, checkpoint = build_model(args.model, root, args.device)
        runs: dict[str, list[dict[str, Any]]] = {"graph": [], "pipeline": []}
        for _ in range(args.rounds):
            for variant in runs:
                command = [sys.executable, __file__, *sys.argv[1:], "--variant", variant,
                           "--workdir", str(root), "--checkpoint", checkpoint]
                done = subprocess.run(command, capture_output=True, text=True, check=True)
                runs[variant].append(json.loads(done.stdout.strip().splitlines()[-1]))
    figures = {
        variant: {
            "it/s": statistics.median(x for run in done for x in run["it/s"]),
            "generation_s": statistics.median(x for run in done for x in run["generation_s"]),
            "peak": done[-1]["peak"],
        }
        for variant, done in runs.items()
    }
    graph, pipeline = figures["graph"], figures["pipeline"]
    print(f"{args.model} {args.size}x{args.size}, {args.steps} steps euler, cfg {args.cfg}, "
          f"device {args.device}, median of {args.rounds} x {args.repeat} runs "
          f"({platform.machine()}, Python {platform.python_version()})")
    for name, figure in figures.items():
        print(f"  {name:8s} {figure['it/s']:8.2f} it/s   generation {figure['generation_s']:.3f} s"
              f"   peak {figure['peak']}")
    print(f"  ratio    {graph['it/s'] / pipeline['it/s']:.3f} (graph it/s / pipeline it/s), "
          f"generation {graph['generation_s'] / pipeline['generation_s']:.3f}")


if __name__ == "__main__":
    main()
