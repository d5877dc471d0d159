"""Tiny, seeded Wan and LTX-Video models for tests: real diffusers classes at toy sizes.

``build_tiny_video_models(root)`` writes two diffusers folders under ``root/checkpoints`` —
``tiny-wan`` (``WanPipeline``: ``WanTransformer3DModel``, ``AutoencoderKLWan``, a UMT5
encoder, the releases' UniPC scheduler with ``flow_shift``) and ``tiny-ltxv``
(``LTXPipeline``: ``LTXVideoTransformer3DModel``, ``AutoencoderKLLTXVideo`` with 8× spatial
and temporal compression, T5, the release's dynamically shifted FlowMatchEuler config) — so
graphs load them as a user's models and the fidelity tests load the pipelines from the same
folders. Weights are random but seeded; tokenizers are the in-memory tiny T5 (Unigram) one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nodestudio.runtime.tiny import _seeded
from nodestudio.runtime.tiny_dit import T5_WIDTH, t5_vocab_size, tiny_t5, tiny_t5_tokenizer

#: Wan 2.1's released scheduler (UniPC on flow sigmas, shift 3 for 480p).
WAN_SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000, "prediction_type": "flow_prediction", "use_flow_sigmas": True,
    "flow_shift": 3.0, "solver_order": 2, "solver_type": "bh2", "predict_x0": True,
    "lower_order_final": True, "timestep_spacing": "linspace", "final_sigmas_type": "zero",
}
#: LTX-Video 0.9's released FlowMatchEuler config (shift by video sequence length).
LTXV_SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000, "shift": 1.0, "use_dynamic_shifting": True,
    "base_shift": 0.95, "max_shift": 2.05, "base_image_seq_len": 1024,
    "max_image_seq_len": 4096,
}
_UMT5, _WAN_VAE, _WAN, _LTX_VAE, _LTX, _T5 = 31, 32, 33, 34, 35, 36
_WAN_I2V, _WAN_CLIP_VISION = 37, 38
_WAN22_LOW_NOISE = 39
#: Wan 2.2 T2V A14B's released boundary_ratio (the high-noise expert runs t ≥ 875).
WAN22_BOUNDARY_RATIO = 0.875


def tiny_umt5(seed: int, vocab_size: int) -> torch.nn.Module:
    """A UMT5-shaped encoder (per-layer relative attention) over the tiny tokenizer."""
    from transformers import UMT5Config, UMT5EncoderModel

    config = UMT5Config(vocab_size=vocab_size, d_model=T5_WIDTH, d_kv=16, num_heads=4, d_ff=64,
                        num_layers=2, feed_forward_proj="gated-gelu",
                        relative_attention_num_buckets=32, relative_attention_max_distance=128,
                        dropout_rate=0.0, is_encoder_decoder=False, use_cache=False,
                        tie_word_embeddings=False, pad_token_id=0, eos_token_id=1)
    with _seeded(seed):
        return UMT5EncoderModel(config).eval()


def tiny_wan_components(seed: int = 0) -> dict[str, Any]:
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanTransformer3DModel

    tokenizer = tiny_t5_tokenizer()
    with _seeded(seed + _WAN_VAE):
        vae = AutoencoderKLWan(base_dim=8, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                               temperal_downsample=[False, True, True]).eval()
    with _seeded(seed + _WAN):
        transformer = WanTransformer3DModel(
            patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16,
            out_channels=16, text_dim=T5_WIDTH, freq_dim=256, ffn_dim=32, num_layers=2,
            cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
        ).eval()
    return {"transformer": transformer, "vae": vae,
            "text_encoder": tiny_umt5(seed + _UMT5, t5_vocab_size(tokenizer)),
            "tokenizer": tokenizer,
            "scheduler": UniPCMultistepScheduler.from_config(WAN_SCHEDULER_CONFIG)}


def tiny_ltxv_components(seed: int = 0) -> dict[str, Any]:
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXVideoTransformer3DModel,
    )

    tokenizer = tiny_t5_tokenizer()
    scaling = (True, True, True, False)  # 8× spatial and temporal, as the releases
    with _seeded(seed + _LTX_VAE):
        vae = AutoencoderKLLTXVideo(
            in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8, 8),
            decoder_block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
            decoder_layers_per_block=(1, 1, 1, 1, 1), spatio_temporal_scaling=scaling,
            decoder_spatio_temporal_scaling=scaling,
            decoder_inject_noise=(False, False, False, False, False),
            upsample_residual=(False, False, False, False), upsample_factor=(1, 1, 1, 1),
            timestep_conditioning=False, patch_size=1, patch_size_t=1, encoder_causal=True,
            decoder_causal=False,
        ).eval()
        # Released VAEs normalise with non-trivial statistics: exercise them.
        vae.latents_mean.copy_(torch.randn(8) * 0.1)
        vae.latents_std.copy_(torch.rand(8) + 0.5)
    with _seeded(seed + _LTX):
        transformer = LTXVideoTransformer3DModel(
            in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=4,
            attention_head_dim=8, cross_attention_dim=32, num_layers=2,
            caption_channels=T5_WIDTH,
        ).eval()
    return {"transformer": transformer, "vae": vae,
            "text_encoder": tiny_t5(seed + _T5, t5_vocab_size(tokenizer)),
            "tokenizer": tokenizer,
            "scheduler": FlowMatchEulerDiscreteScheduler.from_config(LTXV_SCHEDULER_CONFIG)}


@dataclass(frozen=True)
class TinyVideoModels:
    root: Path
    wan_folder: str = "tiny-wan"
    wan_i2v_folder: str = "tiny-wan-i2v"
    #: The I2V folder's image encoder with a projection, as a models/clip_vision file.
    wan_clip_vision: str = "tiny-wan-clip-vision.safetensors"
    ltxv_folder: str = "tiny-ltxv"
    #: Wan 2.2 A14B: two experts (transformer, transformer_2) and boundary_ratio.
    wan22_a14b_folder: str = "tiny-wan22-a14b"

    def checkpoint(self, name: str) -> Path:
        return self.root / "checkpoints" / name


def build_tiny_video_models(root: Path, seed: int = 0,
                            which: tuple[str, ...] = ("wan", "ltxv")) -> TinyVideoModels:
    """Write the tiny Wan and/or LTX-Video diffusers folders under ``root/checkpoints``
    (``which`` picks them, so a test builds only what it runs)."""
    import diffusers

    models = TinyVideoModels(root)
    if "wan" in which:
        diffusers.WanPipeline(**tiny_wan_components(seed)).save_pretrained(
            models.checkpoint(models.wan_folder))
    if "wan_i2v" in which:
        build_tiny_wan_i2v(models, seed)
    if "wan22_a14b" in which:
        diffusers.WanPipeline(**tiny_wan22_a14b_components(seed)).save_pretrained(
            models.checkpoint(models.wan22_a14b_folder))
    if "ltxv" in which:
        diffusers.LTXPipeline(**tiny_ltxv_components(seed)).save_pretrained(
            models.checkpoint(models.ltxv_folder))
    return models


def tiny_wan_i2v_components(seed: int = 0) -> tuple[dict[str, Any], Any]:
    """A ``WanImageToVideoPipeline``'s parts (Wan 2.1 I2V: 16 + 4 mask + 16 image-latent input
    channels, image cross-attention over CLIP vision states) and the image encoder with its
    projection, as models/clip_vision holds it (clip_vision_h is the folder's encoder)."""
    from diffusers import WanTransformer3DModel
    from transformers import CLIPImageProcessor, CLIPVisionModel

    from nodestudio.runtime.tiny_unclip import tiny_clip_vision

    parts = tiny_wan_components(seed)
    with_projection = tiny_clip_vision(seed + _WAN_CLIP_VISION)
    encoder = CLIPVisionModel(with_projection.config)
    # The same tower: the folder's encoder is the clip_vision file without its projection.
    encoder.load_state_dict(with_projection.vision_model.state_dict())
    with _seeded(seed + _WAN_I2V):
        parts["transformer"] = WanTransformer3DModel(
            patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=36,
            out_channels=16, text_dim=T5_WIDTH, freq_dim=256, ffn_dim=32, num_layers=2,
            cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
            image_dim=with_projection.config.hidden_size, added_kv_proj_dim=24,
        ).eval()
    size = with_projection.config.image_size
    parts["image_encoder"] = encoder.eval()
    parts["image_processor"] = CLIPImageProcessor(
        size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    return parts, with_projection


def build_tiny_wan_i2v(models: TinyVideoModels, seed: int = 0) -> None:
    """Write the tiny I2V folder and its models/clip_vision file."""
    import diffusers

    from nodestudio.runtime.tiny_unclip import save_clip_vision

    parts, with_projection = tiny_wan_i2v_components(seed)
    diffusers.WanImageToVideoPipeline(**parts).save_pretrained(
        models.checkpoint(models.wan_i2v_folder))
    save_clip_vision(with_projection, models.root / "clip_vision" / models.wan_clip_vision)


def tiny_wan22_a14b_components(seed: int = 0) -> dict[str, Any]:
    """A two-expert ``WanPipeline`` (Wan 2.2 A14B's layout): the tiny Wan's transformer as the
    high-noise expert, a differently seeded one of the same shape as ``transformer_2``."""
    from diffusers import WanTransformer3DModel

    parts = tiny_wan_components(seed)
    with _seeded(seed + _WAN22_LOW_NOISE):
        parts["transformer_2"] = WanTransformer3DModel.from_config(
            parts["transformer"].config).eval()
    parts["boundary_ratio"] = WAN22_BOUNDARY_RATIO
    return parts
