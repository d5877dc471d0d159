"""Measure how well the exported demo model follows prompts and control images.

    python -m tools.demo_model.evaluate [--models resources/models] [--count 48] [--steps 20]
    python -m tools.demo_model.evaluate --what outlines --count 24   # per outline style

Generates with diffusers' own StableDiffusionPipeline / StableDiffusionControlNetPipeline on
the exported folders (offline), then reads every image back with tools.demo_model.metrics.
Prompts name the held-out colour+shape and colour+position pairs that no training caption
named together. Only generates and measures; never trains.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nodestudio.demo import world
from tools.demo_model import metrics
from tools.demo_model.export import CHECKPOINT_NAME, CONTROLNET_NAME, make_scheduler

IMAGE_SIZE = world.IMAGE_SIZE


@dataclass(frozen=True)
class Settings:
    steps: int = 20
    guidance: float = 3.0
    scheduler: str | None = None  # None: the scheduler saved with the model
    batch: int = 16


def load_pipeline(models_dir: Path, scheduler: str | None = None) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from diffusers import StableDiffusionPipeline

    pipeline = StableDiffusionPipeline.from_pretrained(str(models_dir / CHECKPOINT_NAME))
    if scheduler:
        pipeline.scheduler = make_scheduler(scheduler)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def load_controlnet_pipeline(models_dir: Path, scheduler: str | None = None) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from diffusers import ControlNetModel, StableDiffusionControlNetPipeline

    base = load_pipeline(models_dir, scheduler)
    controlnet = ControlNetModel.from_pretrained(str(models_dir / CONTROLNET_NAME))
    pipeline = StableDiffusionControlNetPipeline(
        **{name: getattr(base, name) for name in
           ("vae", "text_encoder", "tokenizer", "unet", "scheduler")},
        controlnet=controlnet,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def _generators(seeds: list[int]) -> list[Any]:
    import torch

    return [torch.Generator("cpu").manual_seed(seed) for seed in seeds]


def generate(pipeline: Any, prompts: list[str], seeds: list[int], settings: Settings,
             control: list[np.ndarray] | None = None) -> np.ndarray:
    """uint8 images [N, H, W, 3], generated in batches."""
    from PIL import Image

    images = []
    for begin in range(0, len(prompts), settings.batch):
        end = begin + settings.batch
        extra: dict[str, Any] = {}
        if control is not None:
            extra["image"] = [Image.fromarray(edges).convert("RGB") for edges in control[begin:end]]
        result = pipeline(
            prompts[begin:end],
            height=IMAGE_SIZE,
            width=IMAGE_SIZE,
            num_inference_steps=settings.steps,
            guidance_scale=settings.guidance,
            generator=_generators(seeds[begin:end]),
            output_type="np",
            **extra,
        )
        images.append(np.clip(np.rint(result.images * 255), 0, 255).astype(np.uint8))
    return np.concatenate(images)


def text_adherence(pipeline: Any, count: int, settings: Settings, seed: int = 0,
                   held_out: bool = True) -> tuple[metrics.Adherence, np.ndarray, list[str]]:
    """Generate `count` images from full captions and score each named attribute."""
    if held_out:
        pairs = world.held_out_prompts(count, seed)
    else:
        rng = random.Random(seed)
        scenes = [world.sample_scene(rng) for _ in range(count)]
        pairs = [(world.caption(scene.attributes()), scene) for scene in scenes]
    prompts = [prompt for prompt, _ in pairs]
    images = generate(pipeline, prompts, [seed * 100_000 + index for index in range(count)],
                      settings)
    adherence = metrics.Adherence()
    for image, (_, scene) in zip(images, pairs, strict=True):
        adherence.add(metrics.read_image(image), scene.attributes())
    return adherence, images, prompts


def control_adherence(pipeline: Any, count: int, settings: Settings, seed: int = 0
                      ) -> tuple[metrics.Adherence, np.ndarray, list[str], list[np.ndarray]]:
    """Canny edges of held-out scenes steer the shape; the prompt names colour and background.

    The IoU compares each generated object's mask with the region the control edges enclose.
    """
    pairs = world.held_out_prompts(count, seed + 1)
    edges = [world.canny_edges(world.render(scene)) for _, scene in pairs]
    named = [{"colour": scene.colour, "background": scene.background} for _, scene in pairs]
    prompts = [world.caption(attributes) for attributes in named]
    images = generate(pipeline, prompts, [seed * 100_000 + index for index in range(count)],
                      settings, control=edges)
    adherence = metrics.Adherence()
    for image, (_, scene), control in zip(images, pairs, edges, strict=True):
        reading = metrics.read_image(image)
        adherence.add(reading, {"colour": scene.colour, "shape": scene.shape,
                                "position": scene.position})
        adherence.ious.append(metrics.iou(reading.mask, metrics.control_region(control)))
    return adherence, images, prompts, edges


def outline_scenes(count: int, seed: int = 0) -> list[world.Scene]:
    """Held-out outlines: scenes at continuous places and sizes anywhere in the frame, from a
    random stream no training batch draws from."""
    from tools.demo_model import outlines

    return [outlines.sample_free_scene(random.Random(f"evaluate-outlines:{seed}:{index}"))
            for index in range(count)]


def outline_prompt(scene: world.Scene) -> str:
    """What a user types beside an outline: colour, shape and background, never the place or
    the size (those must come from the control)."""
    return world.caption({"colour": scene.colour, "shape": scene.shape,
                          "background": scene.background})


def outline_adherence(pipeline: Any, count: int, settings: Settings, seed: int = 0,
                      styles: tuple[str, ...] | None = None,
                      ) -> tuple[dict[str, metrics.Adherence], dict[str, np.ndarray],
                                 dict[str, list[np.ndarray]]]:
    """The same `count` held-out scenes drawn in every outline style; per style, the IoU of
    each generated object's mask with the region the outline encloses, and whether colour,
    background (as prompted) and position (the third holding that region) come out right."""
    from tools.demo_model import outlines

    scenes = outline_scenes(count, seed)
    prompts = [outline_prompt(scene) for scene in scenes]
    results: dict[str, metrics.Adherence] = {}
    images: dict[str, np.ndarray] = {}
    controls: dict[str, list[np.ndarray]] = {}
    for style in styles or outlines.STYLES:
        drawn = [outlines.draw(scene, style, random.Random(f"{style}:{seed}:{index}"))
                 for index, scene in enumerate(scenes)]
        controls[style] = [control.edges for control in drawn]
        images[style] = generate(pipeline, prompts, [seed * 100_000 + index
                                                     for index in range(count)],
                                 settings, control=controls[style])
        adherence = metrics.Adherence()
        for image, scene, control in zip(images[style], scenes, drawn, strict=True):
            reading = metrics.read_image(image)
            adherence.add(reading, {"colour": scene.colour, "background": scene.background,
                                    "shape": scene.shape,
                                    "position": metrics.classify_position(control.region)})
            adherence.ious.append(metrics.iou(reading.mask, control.region))
        results[style] = adherence
    return results, images, controls


def outline_report(results: dict[str, metrics.Adherence]) -> dict[str, Any]:
    """Per style: mean and worst IoU, colour/position/background/shape rates; and overall."""
    report: dict[str, Any] = {}
    for style, adherence in results.items():
        report[style] = adherence.summary() | {
            "worst_iou": round(float(np.min(adherence.ious)), 4),
            "per_shape": adherence.shape_rates()}
    every = [value for adherence in results.values() for value in adherence.ious]
    report["all"] = {"mean_iou": round(float(np.mean(every)), 4),
                     "worst_style_mean_iou": round(min(r.mean_iou() for r in results.values()), 4),
                     "worst_iou": round(float(np.min(every)), 4)}
    return report


def contact_sheet(images: np.ndarray, columns: int = 8, scale: int = 2) -> np.ndarray:
    rows = -(-len(images) // columns)
    height, width = images.shape[1:3]
    sheet = np.full((rows * height, columns * width, 3), 255, np.uint8)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        sheet[row * height:(row + 1) * height, column * width:(column + 1) * width] = image
    return sheet.repeat(scale, axis=0).repeat(scale, axis=1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.demo_model.evaluate",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, default=None)
    parser.add_argument("--count", type=int, default=48)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--guidance", type=float, default=3.0)
    parser.add_argument("--scheduler", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--what", default="heldout,controlnet",
                        help="comma list of heldout, seen, controlnet, outlines (held-out "
                        "outlines anywhere, per style: --count images per style)")
    parser.add_argument("--sheets", type=Path, default=None, help="folder for contact sheets")
    args = parser.parse_args(argv)
    import torch
    from PIL import Image

    torch.set_num_threads(max(1, torch.get_num_threads()))
    if args.models is None:
        from nodestudio.paths import demo_models_dir

        args.models = demo_models_dir()
    settings = Settings(steps=args.steps, guidance=args.guidance, scheduler=args.scheduler)
    report: dict[str, Any] = {"settings": settings.__dict__, "count": args.count}
    what = args.what.split(",")
    for kind in ("heldout", "seen"):
        if kind not in what:
            continue
        started = time.perf_counter()
        pipeline = load_pipeline(args.models, args.scheduler)
        adherence, images, _ = text_adherence(pipeline, args.count, settings, args.seed,
                                              held_out=kind == "heldout")
        report[kind] = adherence.summary() | {"per_shape": adherence.shape_rates(),
                                               "seconds": round(time.perf_counter() - started, 1)}
        if args.sheets:
            args.sheets.mkdir(parents=True, exist_ok=True)
            Image.fromarray(contact_sheet(images)).save(args.sheets / f"{kind}.png")
    if "outlines" in what and (args.models / CONTROLNET_NAME).exists():
        started = time.perf_counter()
        pipeline = load_controlnet_pipeline(args.models, args.scheduler)
        results, style_images, controls = outline_adherence(pipeline, args.count, settings,
                                                            args.seed)
        report["outlines"] = outline_report(results) | {
            "seconds": round(time.perf_counter() - started, 1)}
        if args.sheets:
            args.sheets.mkdir(parents=True, exist_ok=True)
            for style, generated in style_images.items():
                edges = np.stack([np.repeat(e[..., None], 3, axis=-1) for e in controls[style]])
                Image.fromarray(contact_sheet(np.concatenate([edges[:8], generated[:8]]))).save(
                    args.sheets / f"outlines_{style}.png")
    if "controlnet" in what and (args.models / CONTROLNET_NAME).exists():
        started = time.perf_counter()
        pipeline = load_controlnet_pipeline(args.models, args.scheduler)
        adherence, images, _, edges = control_adherence(pipeline, args.count, settings, args.seed)
        report["controlnet"] = adherence.summary() | {
            "per_shape": adherence.shape_rates(),
            "seconds": round(time.perf_counter() - started, 1)}
        if args.sheets:
            edge_images = np.stack([np.repeat(e[..., None], 3, axis=-1) for e in edges])
            Image.fromarray(contact_sheet(np.concatenate([edge_images[:8], images[:8]]))).save(
                args.sheets / "controlnet.png")
    print(json.dumps(report, indent=2), flush=True)


if __name__ == "__main__":
    main()
