"""The SDXL refiner: a UNet on SDXL's latent space read by OpenCLIP-bigG alone, whose
micro-conditioning is original size, crop and an **aesthetic score** instead of the target
size (``StableDiffusionXLImg2ImgPipeline`` with ``requires_aesthetics_score``). It refines
(image to image, or a second stage) what SDXL base made."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from nodestudio.runtime.families.base import FamilyId
from nodestudio.runtime.families.sdxl import SDXL_LATENT
from nodestudio.runtime.families.unet import UNetFamily
from nodestudio.runtime.types import Conditioning

#: The pipeline's aesthetic scores when none is given: 6 for the prompt, 2.5 for the negative.
DEFAULT_AESTHETIC_SCORE = 6.0
DEFAULT_NEGATIVE_AESTHETIC_SCORE = 2.5


class SDXLRefiner(UNetFamily):
    id = FamilyId.SDXL_REFINER
    label = "SDXL refiner"
    latent = SDXL_LATENT
    text_encoder_slots = ("clip_g",)
    penultimate = True
    pooled_slot = "clip_g"
    lora_text_prefixes: ClassVar[dict[str, str]] = {"clip_g": "text_encoder_2"}

    def matches_unet(self, unet_config: Any, encoder_count: int) -> bool:
        # SDXL base reads two encoders and six size numbers; the refiner one encoder (the
        # cross-attention width is OpenCLIP-bigG's) and five numbers.
        if unet_config.addition_embed_type != "text_time":
            return False
        numbers = (unet_config.projection_class_embeddings_input_dim
                   - unet_config.cross_attention_dim) / unet_config.addition_time_embed_dim
        return numbers == 5

    def time_ids(self, conditioning: Conditioning, sized: Conditioning, height: int,
                 width: int) -> list[float]:
        size = sized.size
        original = size.original_size or (height, width)
        score = conditioning.extra.get("aesthetic_score", DEFAULT_AESTHETIC_SCORE)
        return [*original, *size.crop_top_left, float(score)]

    def lora_state_dict(self, weights: dict[str, torch.Tensor]) -> tuple[dict, dict | None]:
        from diffusers.loaders import StableDiffusionXLLoraLoaderMixin

        return StableDiffusionXLLoraLoaderMixin.lora_state_dict(weights)


FAMILY = SDXLRefiner()
