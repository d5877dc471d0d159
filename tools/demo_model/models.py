"""Architectures of the demo model: standard diffusers/transformers classes, sized tiny.

Everything here is an ordinary Stable Diffusion 1.x layout, so NodeStudio's normal nodes
(and diffusers' own pipelines) run it: a CLIP text encoder, a UNet2DConditionModel with
cross-attention on the text, an AutoencoderKL with a 4× downsampling factor (64×64 images,
16×16×4 latents), and a ControlNetModel copied from the UNet whose conditioning embedding
downsamples the control image by the same factor 4.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

LATENT_CHANNELS = 4
VAE_FACTOR = 4
# The noise schedule the UNet is trained with; the shipped scheduler must use the same one.
# A cosine schedule reaches (almost) zero signal at the last step, so the layout has to come
# from the prompt instead of leaking from the starting noise; with that, epsilon prediction
# is ill-posed at the last steps, hence v-prediction.
TRAIN_TIMESTEPS = 1000
BETA_SCHEDULE = "squaredcos_cap_v2"
PREDICTION_TYPE = "v_prediction"


@dataclass(frozen=True)
class Sizes:
    """The knobs that set the model's cost; defaults are the shipped model's."""

    vae_channels: tuple[int, ...] = (16, 32, 32)
    vae_groups: int = 8
    text_hidden: int = 64
    text_layers: int = 3
    text_heads: int = 4
    unet_channels: tuple[int, ...] = (32, 64, 128)
    unet_layers_per_block: int = 1
    unet_head_dim: int = 32
    # Cross-attention on the text at the full 16×16 latent resolution too (as SD 1.x has it).
    unet_full_resolution_attention: bool = False
    controlnet_embedding_channels: tuple[int, ...] = (16, 32, 64)


def make_vae(sizes: Sizes = Sizes()) -> AutoencoderKL:
    from diffusers import AutoencoderKL

    levels = len(sizes.vae_channels)
    if 2 ** (levels - 1) != VAE_FACTOR:
        raise ValueError(f"{levels} VAE levels do not downsample by {VAE_FACTOR}")
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * levels,
        up_block_types=("UpDecoderBlock2D",) * levels,
        block_out_channels=sizes.vae_channels,
        layers_per_block=1,
        latent_channels=LATENT_CHANNELS,
        norm_num_groups=sizes.vae_groups,
        sample_size=64,
        # Flat shapes need no global attention, and without it the VAE is a pure conv net.
        mid_block_add_attention=False,
    )


def make_text_encoder(tokenizer: CLIPTokenizer, sizes: Sizes = Sizes()) -> CLIPTextModel:
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=sizes.text_hidden,
        intermediate_size=sizes.text_hidden * 4,
        projection_dim=sizes.text_hidden,
        num_hidden_layers=sizes.text_layers,
        num_attention_heads=sizes.text_heads,
        max_position_embeddings=tokenizer.model_max_length,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return CLIPTextModel(config)


def make_unet(sizes: Sizes = Sizes()) -> UNet2DConditionModel:
    from diffusers import UNet2DConditionModel

    levels = len(sizes.unet_channels)
    # By default full resolution (16×16 latents) is conv only and cross-attention on the text
    # happens at the coarser levels and in the middle block, where it is cheap; the
    # outline of a small object (a circle's or a square's) is decided at full resolution,
    # hence the option.
    full = sizes.unet_full_resolution_attention
    down = ("CrossAttnDownBlock2D" if full else "DownBlock2D",) + (
        ("CrossAttnDownBlock2D",) * (levels - 1))
    up = ("CrossAttnUpBlock2D",) * (levels - 1) + ("CrossAttnUpBlock2D" if full else "UpBlock2D",)
    return UNet2DConditionModel(
        sample_size=64 // VAE_FACTOR,
        in_channels=LATENT_CHANNELS,
        out_channels=LATENT_CHANNELS,
        down_block_types=down,
        up_block_types=up,
        block_out_channels=sizes.unet_channels,
        layers_per_block=sizes.unet_layers_per_block,
        cross_attention_dim=sizes.text_hidden,
        attention_head_dim=sizes.unet_head_dim,
        norm_num_groups=32,
    )


def make_controlnet(unet: UNet2DConditionModel, sizes: Sizes = Sizes()) -> ControlNetModel:
    """A ControlNet initialised from the UNet's encoder (zero convs make it start as a no-op)."""
    from diffusers import ControlNetModel

    channels = sizes.controlnet_embedding_channels
    if 2 ** (len(channels) - 1) != VAE_FACTOR:
        raise ValueError(f"the conditioning embedding must downsample by {VAE_FACTOR}")
    return ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=channels)


def parameter_count(module: object) -> int:
    return sum(parameter.numel() for parameter in module.parameters())  # type: ignore[attr-defined]
