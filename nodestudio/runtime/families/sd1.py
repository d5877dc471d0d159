"""Stable Diffusion 1.x: one OpenAI CLIP ViT-L encoder (768-wide), a 4-channel 8× VAE."""

from __future__ import annotations

from typing import ClassVar

from nodestudio.runtime.families.base import FamilyId, LatentFormat
from nodestudio.runtime.families.unet import UNetFamily

#: The SD 1.x/2.x VAE's latent space; the RGB map is the published least-squares fit.
SD_LATENT = LatentFormat(
    name="sd",
    channels=4,
    scaling_factor=0.18215,
    rgb_factors=(
        (0.3512, 0.2297, 0.3227),
        (0.3250, 0.4974, 0.2350),
        (-0.2829, 0.1762, 0.2721),
        (-0.2120, -0.2616, -0.7177),
    ),
    taesd_prefixes=("taesd",),
    taesd_excludes=("taesdxl", "taesd3", "taesdf", "taef1"),
)


class SD1(UNetFamily):
    id = FamilyId.SD1
    label = "SD 1.x"
    lora_text_prefixes: ClassVar[dict[str, str]] = {"clip_l": "text_encoder"}
    latent = SD_LATENT


FAMILY = SD1()
