"""SDXL: CLIP ViT-L + OpenCLIP ViT-bigG (penultimate layers, concatenated), the second's pooled
embedding and size micro-conditioning, its own 4-channel latent scaling (0.13025)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from nodestudio.runtime.families.base import FamilyId, LatentFormat
from nodestudio.runtime.families.unet import UNetFamily

SDXL_LATENT = LatentFormat(
    name="sdxl",
    channels=4,
    scaling_factor=0.13025,
    rgb_factors=(
        (0.3651, 0.4232, 0.4341),
        (-0.2533, -0.0042, 0.1068),
        (0.1076, 0.1111, -0.0362),
        (-0.3165, -0.2492, -0.2188),
    ),
    rgb_bias=(0.1084, -0.0175, -0.0011),
    taesd_prefixes=("taesdxl",),
)


class SDXL(UNetFamily):
    id = FamilyId.SDXL
    label = "SDXL"
    lora_text_prefixes: ClassVar[dict[str, str]] = {
        "clip_l": "text_encoder", "clip_g": "text_encoder_2"}
    latent = SDXL_LATENT
    text_encoder_slots = ("clip_l", "clip_g")
    penultimate = True
    pooled_slot = "clip_g"

    def matches_unet(self, unet_config: Any, encoder_count: int) -> bool:
        return encoder_count == 2 or unet_config.addition_embed_type == "text_time"

    def lora_state_dict(self, weights: dict[str, torch.Tensor]) -> tuple[dict, dict | None]:
        from diffusers.loaders import StableDiffusionXLLoraLoaderMixin

        return StableDiffusionXLLoraLoaderMixin.lora_state_dict(weights)


FAMILY = SDXL()
