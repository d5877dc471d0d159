"""Tiny, seeded video models on the UNet built from config (AnimateDiff, Stable Video Diffusion),
for tests and benchmarks: the real architectures at toy sizes, nothing downloaded.

:func:`build_tiny_motion_models` fills a models root: a tiny SD 1.5 folder (``checkpoints/``),
its LoRA (``loras/``), a MotionAdapter for it as a diffusers folder and as a single file in the
released (guoyww) key layout (``animatediff_models/``), and, with ``"svd"``, a tiny
StableVideoDiffusionPipeline folder (``checkpoints/``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nodestudio.runtime.tiny import _seeded, save_sd_folder, save_tiny_lora, tiny_sd_components

#: diffusers' MotionAdapter names → the released motion modules' (inverse of the loader's map).
_RELEASED_NAMES = (
    (".attn1", ".attention_blocks.0"), (".attn2", ".attention_blocks.1"),
    (".norm1", ".norms.0"), (".norm2", ".norms.1"), (".norm3", ".ff_norm"),
    (".pos_embed.pe", ".pos_encoder.pe"),
)


def tiny_motion_adapter(seed: int = 0) -> Any:
    """A MotionAdapter for :func:`nodestudio.runtime.tiny.tiny_sd_components`' UNet."""
    from diffusers import MotionAdapter

    with _seeded(seed):
        adapter = MotionAdapter(
            block_out_channels=(32, 64), motion_layers_per_block=2,
            motion_num_attention_heads=8, motion_norm_num_groups=32,
            motion_max_seq_length=32, use_motion_mid_block=True,
        )
        # The released modules' output projections start at zero; random ones make the motion
        # layers visibly matter in tests.
        for name, parameter in adapter.named_parameters():
            if name.endswith("proj_out.weight"):
                parameter.data.normal_(0.0, 0.05)
    return adapter.eval()


def save_released_motion_module(adapter: Any, path: Path) -> Path:
    """``adapter`` as one .safetensors in the released motion modules' key layout."""
    import re

    from safetensors.torch import save_file

    weights = {}
    for key, value in adapter.state_dict().items():
        # diffusers drops "temporal_transformer." from the released names; put it back.
        key = re.sub(r"(motion_modules\.\d+)\.", r"\1.temporal_transformer.", key)
        for new, old in _RELEASED_NAMES:
            key = key.replace(new, old)
        weights[key] = value.contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(path))
    return path


def tiny_svd_components(seed: int = 0) -> dict[str, Any]:
    """The parts of a StableVideoDiffusionPipeline at toy sizes (EDM/v-prediction Euler)."""
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    with _seeded(seed):
        unet = UNetSpatioTemporalConditionModel(
            sample_size=8, in_channels=8, out_channels=4, block_out_channels=(32, 64),
            down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
            up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
            cross_attention_dim=32, num_attention_heads=(2, 4), layers_per_block=1,
            addition_time_embed_dim=8, projection_class_embeddings_input_dim=24,
        )
    with _seeded(seed + 1):
        vae = AutoencoderKLTemporalDecoder(
            in_channels=3, out_channels=3, block_out_channels=(32, 32, 32, 32),
            down_block_types=("DownEncoderBlock2D",) * 4, layers_per_block=1,
            latent_channels=4, sample_size=64,
        )
    with _seeded(seed + 2):
        encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
            hidden_size=32, projection_dim=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=37, image_size=224, patch_size=32,
        ))
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        interpolation_type="linear", num_train_timesteps=1000, prediction_type="v_prediction",
        sigma_max=700.0, sigma_min=0.002, steps_offset=1, timestep_spacing="leading",
        timestep_type="continuous", use_karras_sigmas=True,
    )
    processor = CLIPImageProcessor(crop_size=32, size={"shortest_edge": 32})
    return {"unet": unet, "vae": vae, "image_encoder": encoder.eval(), "scheduler": scheduler,
            "feature_extractor": processor}


@dataclass(frozen=True)
class TinyMotionModels:
    root: Path
    sd_folder: str = "tiny-sd"
    lora_file: str = "tiny-lora.safetensors"
    motion_folder: str = "tiny-motion"
    motion_file: str = "tiny-motion.safetensors"
    svd_folder: str = "tiny-svd"


def build_tiny_motion_models(root: Path, seed: int = 0,
                             which: tuple[str, ...] = ("animatediff", "svd")) -> TinyMotionModels:
    """Fill ``root`` with the tiny video models of ``which`` (ComfyUI folder layout)."""
    models = TinyMotionModels(root)
    if "animatediff" in which:
        sd_folder = save_sd_folder(tiny_sd_components(seed), root / "checkpoints" /
                                   models.sd_folder)
        save_tiny_lora(sd_folder, root / "loras" / models.lora_file, seed + 30)
        adapter = tiny_motion_adapter(seed + 40)
        adapter.save_pretrained(root / "animatediff_models" / models.motion_folder)
        save_released_motion_module(adapter, root / "animatediff_models" / models.motion_file)
    if "svd" in which:
        from diffusers import StableVideoDiffusionPipeline

        with torch.inference_mode(False):
            pipeline = StableVideoDiffusionPipeline(**tiny_svd_components(seed + 50))
        pipeline.save_pretrained(root / "checkpoints" / models.svd_folder)
    return models
