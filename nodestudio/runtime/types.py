"""The values that flow along MODEL, CLIP, VAE, CONTROL_NET, CONDITIONING and LATENT links.

Small typed handles around diffusers/transformers objects. The executor caches them and sizes
them itself (tensors by bytes, modules by weights, dataclasses recursively); handles that hold
models move them to the CPU when the cache is over its VRAM budget (``offload_to_cpu``) or
drops them (``on_cache_evict``: another handle may share the module), and every user moves
them back with :func:`~nodestudio.runtime.devices.ensure_on` before running them.

Handles are never mutated once made: a node that "changes" a model (Load LoRA, Apply ControlNet)
returns a new handle, so a cached upstream value stays valid for every other branch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import torch

from nodestudio.runtime import devices

if TYPE_CHECKING:
    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
    from transformers import CLIPTokenizer, PreTrainedModel

    from nodestudio.runtime.lora import LoraAdapter


@dataclass(frozen=True, eq=False)
class LoraUse:
    """One LoRA applied at a strength (the adapter lives inside the shared model)."""

    adapter: LoraAdapter
    strength: float

    def cache_nbytes(self) -> int:
        # The adapter's weights are counted with the model that holds them.
        return 0


@dataclass(frozen=True, eq=False)
class DiffusionModel:
    """MODEL: the denoiser and the scheduler config it was trained with."""

    unet: UNet2DConditionModel
    scheduler_config: Mapping[str, Any]
    #: Architecture: "sd1" (one CLIP encoder; any width but SD2's), "sd2" or "sdxl".
    family: str
    #: Channels of the latent space (the VAE's, not the UNet's 9 for inpainting models).
    latent_channels: int
    #: Pixels per latent cell along each axis (2 ** number of VAE downsamplings).
    vae_scale_factor: int
    device: torch.device
    source: str = ""
    loras: tuple[LoraUse, ...] = ()
    #: Whose latent space the model works in: "sd" (SD1/SD2's VAE), "sdxl", or "unknown" —
    #: previews pick their latent→RGB map and TAESD by it.
    latent_format: str = "unknown"

    @property
    def dtype(self) -> torch.dtype:
        return devices.module_dtype(self.unet)

    @property
    def is_inpainting(self) -> bool:
        return self.unet.config.in_channels == 2 * self.latent_channels + 1

    @property
    def uses_size_conditioning(self) -> bool:
        return self.unet.config.addition_embed_type == "text_time"

    def with_loras(self, loras: tuple[LoraUse, ...]) -> DiffusionModel:
        return replace(self, loras=loras)

    def offload_to_cpu(self) -> None:
        devices.offload_to_cpu(self.unet)

    on_cache_evict = offload_to_cpu


@dataclass(frozen=True, eq=False)
class TextEncoder:
    """One CLIP text encoder with its tokenizer."""

    model: PreTrainedModel
    tokenizer: CLIPTokenizer
    #: SDXL's encoders (and every encoder of a "penultimate" family) feed the UNet with the
    #: second-to-last hidden state; SD1/SD2 with the last one, through the final LayerNorm.
    penultimate: bool = False
    #: Whether this encoder provides the pooled (projected) embedding (SDXL's second).
    pooled: bool = False


@dataclass(frozen=True, eq=False)
class TextEncoders:
    """CLIP: the text encoder(s) of a checkpoint."""

    encoders: tuple[TextEncoder, ...]
    family: str
    device: torch.device
    source: str = ""
    loras: tuple[LoraUse, ...] = ()

    def with_loras(self, loras: tuple[LoraUse, ...]) -> TextEncoders:
        return replace(self, loras=loras)

    def offload_to_cpu(self) -> None:
        for encoder in self.encoders:
            devices.offload_to_cpu(encoder.model)

    on_cache_evict = offload_to_cpu


@dataclass(frozen=True, eq=False)
class Vae:
    """VAE: pixels ↔ latents."""

    model: AutoencoderKL
    device: torch.device
    source: str = ""

    @property
    def config(self) -> Any:
        return self.model.config

    @property
    def scale_factor(self) -> int:
        return 2 ** (len(self.model.config.block_out_channels) - 1)

    @property
    def latent_channels(self) -> int:
        return int(self.model.config.latent_channels)

    def offload_to_cpu(self) -> None:
        devices.offload_to_cpu(self.model)

    on_cache_evict = offload_to_cpu


@dataclass(frozen=True, eq=False)
class ControlNet:
    """CONTROL_NET: a ControlNet model."""

    model: ControlNetModel
    family: str
    device: torch.device
    source: str = ""

    def offload_to_cpu(self) -> None:
        devices.offload_to_cpu(self.model)

    on_cache_evict = offload_to_cpu


@dataclass(frozen=True, eq=False)
class ControlUse:
    """A ControlNet applied to a conditioning: its hint image, strength and step range."""

    controlnet: ControlNet
    #: Hint images, float32 [B, 3, H, W] in [0, 1] on the CPU (resized at sampling time).
    image: torch.Tensor
    strength: float
    start: float
    end: float


@dataclass(frozen=True)
class SizeConditioning:
    """SDXL's micro-conditioning; ``None`` sizes mean "the size being generated"."""

    original_size: tuple[int, int] | None = None  # (height, width)
    crop_top_left: tuple[int, int] = (0, 0)  # (top, left)
    target_size: tuple[int, int] | None = None  # (height, width)


@dataclass(frozen=True, eq=False)
class Conditioning:
    """CONDITIONING: an encoded prompt, and the ControlNets applied to it."""

    #: [1, tokens, width] prompt embedding (all encoders concatenated along ``width``).
    embeds: torch.Tensor
    #: [1, width] pooled embedding (SDXL), else None.
    pooled: torch.Tensor | None = None
    size: SizeConditioning = field(default_factory=SizeConditioning)
    controls: tuple[ControlUse, ...] = ()

    def with_control(self, control: ControlUse) -> Conditioning:
        return replace(self, controls=(*self.controls, control))


@dataclass(frozen=True, eq=False)
class Latent:
    """LATENT: a batch of latents, already multiplied by the VAE's scaling factor."""

    #: [B, C, H / f, W / f]
    samples: torch.Tensor
    #: Pixels per latent cell (f).
    scale_factor: int
    #: Made by Empty Latent: sampling starts from pure noise (text-to-image).
    is_empty: bool = False
    #: [B, 1, H, W] area to repaint (1) in pixels, set by VAE Encode given a mask.
    noise_mask: torch.Tensor | None = None
    #: Latents of the image with the masked area blanked, for 9-channel inpainting UNets.
    masked_image_latents: torch.Tensor | None = None
    #: Set by a masked Sampler that returns leftover noise: the clean latent it held the
    #: unmasked area to, so that a later stage adding no noise keeps holding it (that area's
    #: noise is recovered from ``samples``, which then hold ``x0 + σ·ε``, see runtime.stages).
    original_samples: torch.Tensor | None = None

    @property
    def batch_size(self) -> int:
        return int(self.samples.shape[0])

    @property
    def pixel_size(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        rows, columns = self.samples.shape[-2:]
        return (rows * self.scale_factor, columns * self.scale_factor)
