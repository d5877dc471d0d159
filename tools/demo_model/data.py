"""Training data for the demo model: rendered batches, cached latents, tokenized captions.

Every random draw is keyed by (seed, step), so a stage resumed from its checkpoint sees
exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nodestudio.demo import world

if TYPE_CHECKING:
    import torch
    from transformers import CLIPTokenizer


def step_rng(seed: int, step: int, stream: str) -> random.Random:
    """An independent, reproducible random stream for one training step."""
    return random.Random(f"{seed}:{stream}:{step}")


def render_batch(rng: random.Random, count: int) -> tuple[np.ndarray, list[world.Scene]]:
    """`count` random scenes rendered as uint8 [N, H, W, 3]."""
    scenes = [world.sample_scene(rng) for _ in range(count)]
    return np.stack([world.render(scene) for scene in scenes]), scenes


def render_crowded_batch(
    rng: random.Random, count: int, max_shapes: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """For the VAE: 1..max_shapes overlapping shapes per image, and where any shape is.

    One small shape covers a few percent of the image, so a VAE trained on single-shape
    images spends hundreds of steps learning only backgrounds; more shapes per image give
    it more edges and colours per step. Returns uint8 images [N, H, W, 3] and float32
    coverage [N, H, W].
    """
    images, coverages = [], []
    for _ in range(count):
        background = rng.choice(tuple(world.BACKGROUNDS))
        pixels = np.empty((world.IMAGE_SIZE, world.IMAGE_SIZE, 3), np.float32)
        pixels[:] = world.BACKGROUNDS[background]
        covered = np.zeros((world.IMAGE_SIZE, world.IMAGE_SIZE), np.float32)
        for _ in range(rng.randint(1, max_shapes)):
            scene = world.sample_scene(rng, background=background)
            alpha = world.coverage(scene)
            colour = np.asarray(world.COLOURS[scene.colour], np.float32)
            pixels = pixels * (1 - alpha[..., None]) + colour * alpha[..., None]
            covered = np.maximum(covered, alpha)
        images.append(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))
        coverages.append(covered)
    return np.stack(images), np.stack(coverages)


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> float [N, 3, H, W] in [-1, 1], the VAE's input range."""
    import torch

    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def edges_to_control(edges: np.ndarray) -> torch.Tensor:
    """uint8 edge maps [N, H, W] -> float [N, 3, H, W] in [0, 1], as the ControlNet pipeline
    feeds a control image (grayscale edges repeated over RGB)."""
    import torch

    control = torch.from_numpy(edges).float().div(255.0)
    return control[:, None].expand(-1, 3, -1, -1).contiguous()


class CaptionTokens:
    """Tokenizes captions the way StableDiffusionPipeline does (padded to max length)."""

    def __init__(self, tokenizer: CLIPTokenizer) -> None:
        self.tokenizer = tokenizer
        self._ids = lru_cache(maxsize=None)(self._encode)

    def _encode(self, text: str) -> tuple[int, ...]:
        encoded = self.tokenizer(
            text,
            padding="max_length",
            max_length=self.tokenizer.model_max_length,
            truncation=True,
        )
        return tuple(encoded.input_ids)

    def __call__(self, captions: list[str]) -> torch.Tensor:
        import torch

        return torch.tensor([self._ids(text) for text in captions], dtype=torch.long)


def training_captions(
    attributes: list[dict[str, str]], rng: random.Random, empty_probability: float,
    always: list[tuple[str, ...]] | None = None,
) -> list[str]:
    """Shortened captions; some are empty so the model also learns the unconditional case
    that classifier-free guidance subtracts. `always[i]` names the attributes caption i
    must keep (see world.training_caption)."""
    always = always or [()] * len(attributes)
    return [
        "" if rng.random() < empty_probability else world.training_caption(attrs, rng, keep)
        for attrs, keep in zip(attributes, always, strict=True)
    ]


@dataclass
class LatentCache:
    """A fixed dataset encoded once by the trained VAE: latents, attributes, canny edges."""

    latents: np.ndarray  # float16 [N, 4, h, w], already multiplied by the scaling factor
    attributes: dict[str, np.ndarray]
    edges: np.ndarray  # uint8 [N, H, W]
    scaling_factor: float

    def __len__(self) -> int:
        return len(self.latents)

    def attributes_at(self, indices: np.ndarray) -> list[dict[str, str]]:
        return [world.attributes_from_arrays(self.attributes, int(i)) for i in indices]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "latents.npy", self.latents)
        np.save(folder / "edges.npy", self.edges)
        np.savez(folder / "attributes.npz", **self.attributes)
        (folder / "meta.json").write_text(
            json.dumps({"scaling_factor": self.scaling_factor, "count": len(self)}, indent=2)
        )

    @classmethod
    def load(cls, folder: Path) -> LatentCache:
        meta = json.loads((folder / "meta.json").read_text())
        with np.load(folder / "attributes.npz") as stored:
            attributes = {name: stored[name] for name in stored.files}
        return cls(
            latents=np.load(folder / "latents.npy", mmap_mode="r"),
            attributes=attributes,
            edges=np.load(folder / "edges.npy", mmap_mode="r"),
            scaling_factor=float(meta["scaling_factor"]),
        )
