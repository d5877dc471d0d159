"""Stable Diffusion 2.x: one OpenCLIP ViT-H encoder (1024-wide, "!" padding), epsilon (512
"base") or v-prediction (768) — the checkpoint's scheduler config says which."""

from __future__ import annotations

from typing import Any, ClassVar

from nodestudio.runtime.families.base import FamilyId
from nodestudio.runtime.families.sd1 import SD_LATENT
from nodestudio.runtime.families.unet import UNetFamily


class SD2(UNetFamily):
    id = FamilyId.SD2
    label = "SD 2.x"
    lora_text_prefixes: ClassVar[dict[str, str]] = {"clip_h": "text_encoder"}
    latent = SD_LATENT
    text_encoder_slots = ("clip_h",)

    def matches_unet(self, unet_config: Any, encoder_count: int) -> bool:
        return unet_config.cross_attention_dim == 1024  # OpenCLIP ViT-H's width


FAMILY = SD2()
