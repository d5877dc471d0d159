"""Fit the demo model's latent→RGB preview map (run by hand; prints the factors to paste).

    python tests/benchmarks/fit_demo_preview.py [--images 192] [--mean-weight 16]

The live preview maps each latent cell (as the denoiser sees it: already multiplied by the
VAE's scaling factor) to a colour with one affine map, ``rgb = latent @ factors + bias``, in
[-1, 1]. This fits that map by least squares against what the demo VAE itself decodes: for
each latent, the decoded picture averaged over the 4×4 pixels of each cell. The latents are
what previews show: latents the shipped model samples from random full captions of its world
(every colour, shape, position and background). The tiny VAE's latent space is far from
linear (the best per-cell fit is off by about 0.1 of the range), so each image's mean colour
is added as a heavily weighted extra row (``--mean-weight`` × the image's cells): the preview
then gets the picture's colours right (background and shape) where a plain per-cell fit had
grey backgrounds tinted by 0.15. Scenes encoded by the VAE (``--scenes``) can be added, but
their latents are not distributed like sampled ones and make the fit worse.

It prints the fit's errors on a quarter of the images held out, then the factors fitted on
all of them, for ``nodestudio/runtime/families/shapes_latent.py``.
"""

from __future__ import annotations

import argparse
import random

import numpy as np
import torch


def _cells(vae: torch.nn.Module, latents: torch.Tensor, scaling: float) -> tuple[np.ndarray,
                                                                                  np.ndarray]:
    """(latent cells [N, C], decoded colour per cell [N, 3] in [-1, 1])."""
    with torch.inference_mode():
        decoded = vae.decode(latents / scaling).sample.clamp(-1, 1)
        pooled = torch.nn.functional.avg_pool2d(decoded, kernel_size=vae_factor(vae))
    channels = latents.shape[1]
    return (latents.permute(0, 2, 3, 1).reshape(-1, channels).numpy(),
            pooled.permute(0, 2, 3, 1).reshape(-1, 3).numpy())


def vae_factor(vae: torch.nn.Module) -> int:
    return 2 ** (len(vae.config.block_out_channels) - 1)


def encoded_scenes(vae: torch.nn.Module, count: int, scaling: float) -> torch.Tensor:
    from tools.demo_model import data

    rng = random.Random(0)
    single, _ = data.render_batch(rng, count // 2)
    crowded, _ = data.render_crowded_batch(rng, count - count // 2)
    pictures = data.images_to_tensor(np.concatenate([single, crowded]))
    with torch.inference_mode():
        return vae.encode(pictures).latent_dist.mean * scaling


def sampled_latents(folder: str, count: int, steps: int = 12) -> torch.Tensor:
    """Scaled latents, as the sampler leaves them, for ``count`` random full captions."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    from nodestudio.demo import world

    pipeline = StableDiffusionPipeline.from_pretrained(
        folder, safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipeline.scheduler = DDIMScheduler.from_config(pipeline.scheduler.config)
    pipeline.set_progress_bar_config(disable=True)
    rng = random.Random(5)
    prompts = [world.caption(world.sample_scene(rng).attributes()) for _ in range(count)]
    batches = []
    for begin in range(0, count, 48):
        batches.append(pipeline(
            prompts[begin:begin + 48], height=64, width=64, num_inference_steps=steps,
            guidance_scale=3.0, generator=torch.Generator("cpu").manual_seed(begin),
            output_type="latent").images)
    return torch.cat(batches)


def fit(cells: np.ndarray, colours: np.ndarray, mean_weight: float) -> np.ndarray:
    """[channels + 1, 3]: the factors, then the bias, fitted to cells and image means."""
    per_image = cells.shape[0] // CELLS_PER_IMAGE
    design = _affine(cells)
    target = colours
    if mean_weight:
        # An image's mean row weighs mean_weight × the image's cells (least squares weights
        # rows by the square of their scale).
        scale = np.sqrt(mean_weight * CELLS_PER_IMAGE)
        design = np.concatenate([design, _affine(_means(cells, per_image)) * scale])
        target = np.concatenate([target, _means(colours, per_image) * scale])
    solution, *_ = np.linalg.lstsq(design, target, rcond=None)
    return solution


def report(solution: np.ndarray, cells: np.ndarray, colours: np.ndarray, tag: str) -> None:
    """Errors on a 0–1 scale, as previews show colours."""
    predicted = _affine(cells) @ solution
    images = cells.shape[0] // CELLS_PER_IMAGE
    means = np.abs(_means(predicted, images) - _means(colours, images)) / 2
    print(f"{tag}: per cell {np.abs(predicted - colours).mean() / 2:.4f}, image mean colour "
          f"{means.mean():.4f} (worst image {means.mean(axis=1).max():.4f})")


#: 16 × 16 latent cells in a 64 × 64 demo image.
CELLS_PER_IMAGE = 256


def _affine(x: np.ndarray) -> np.ndarray:
    return np.concatenate([x, np.ones((len(x), 1))], axis=1)


def _means(x: np.ndarray, images: int) -> np.ndarray:
    return x.reshape(images, -1, x.shape[1]).mean(axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=192, help="latents to sample")
    parser.add_argument("--scenes", type=int, default=0, help="encoded scenes to add")
    parser.add_argument("--mean-weight", type=float, default=16.0)
    args = parser.parse_args()
    from diffusers import AutoencoderKL

    from nodestudio.paths import demo_models_dir

    folder = str(demo_models_dir() / "nodestudio-shapes")
    vae = AutoencoderKL.from_pretrained(folder, subfolder="vae").eval()
    scaling = float(vae.config.scaling_factor)
    cells, colours = _cells(vae, sampled_latents(folder, args.images), scaling)
    cells, colours = cells.astype(np.float64), colours.astype(np.float64)
    held = (args.images // 4) * CELLS_PER_IMAGE
    extra_cells, extra_colours = np.empty((0, cells.shape[1])), np.empty((0, 3))
    if args.scenes:
        extra_cells, extra_colours = _cells(vae, encoded_scenes(vae, args.scenes, scaling),
                                            scaling)
    train = (np.concatenate([cells[held:], extra_cells]),
             np.concatenate([colours[held:], extra_colours]))
    report(fit(*train, args.mean_weight), cells[:held], colours[:held], "held-out quarter")
    solution = fit(np.concatenate([cells, extra_cells]),
                   np.concatenate([colours, extra_colours]), args.mean_weight)
    report(solution, cells, colours, "all images")
    print("rgb_factors=(")
    for row in solution[:-1]:
        print("    (" + ", ".join(f"{value:.4f}" for value in row) + "),")
    print("),")
    print("rgb_bias=(" + ", ".join(f"{value:.4f}" for value in solution[-1]) + "),")


if __name__ == "__main__":
    main()
