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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import torch

from nodestudio.runtime import devices

if TYPE_CHECKING:
    from diffusers import AutoencoderKL
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from nodestudio.runtime.families.base import ModelFamily
    from nodestudio.runtime.lora import LoraAdapter
    from nodestudio.runtime.unclip import ImagePrompt


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
    """MODEL: the denoiser (a UNet or a diffusion transformer), its family and the scheduler
    config it was trained with."""

    denoiser: torch.nn.Module
    scheduler_config: Mapping[str, Any]
    #: The family module that knows how to call the denoiser (detected from the files).
    family: ModelFamily
    #: Channels of the latent space (the VAE's, not the UNet's 9 for inpainting models).
    latent_channels: int
    #: Pixels per latent cell along each axis (2 ** number of VAE downsamplings).
    vae_scale_factor: int
    device: torch.device
    source: str = ""
    loras: tuple[LoraUse, ...] = ()
    #: Whose latent space the model works in: a family's latent format name ("sd", "sdxl",
    #: "sd3", "flux") or "unknown" — previews pick their latent→RGB map and TAESD by it.
    latent_format: str = "unknown"
    #: Rescale CFG's multiplier: classifier-free guidance pulled back towards the positive
    #: prediction's spread (0 = plain CFG; see families.base.RescaledGuidance).
    guidance_rescale: float = 0.0
    #: Hypernetworks (Load Hypernetwork) applied, in order, to the attention contexts while the
    #: UNet runs (nodestudio.runtime.hypernetwork.HypernetworkUse); the module is not changed.
    hypernetworks: tuple[Any, ...] = ()
    #: Frames per latent frame of a video model's VAE (1 for image models).
    vae_temporal_factor: int = 1
    #: Video Linear CFG Guidance: the first frame's cfg, rising to the Sampler's on the last
    #: (SVD's min_guidance_scale); None = the same cfg for every frame.
    video_min_cfg: float | None = None
    #: A Wan image-to-video folder's own CLIP vision encoder (runtime.wan_i2v
    #: FolderImageEncoder), used when WanImageToVideo gets no CLIP Vision Encode output.
    image_encoder: Any = None
    #: Wan 2.2 A14B's low-noise expert (the folder's transformer_2): it denoises the steps whose
    #: timestep is below ``expert_boundary``; ``denoiser`` is the high-noise expert.
    low_noise_denoiser: torch.nn.Module | None = None
    #: boundary_ratio × num_train_timesteps (WanPipeline's boundary_timestep), or None.
    expert_boundary: float | None = None
    #: The low-noise expert's cfg (WanPipeline's guidance_scale_2); None = the Sampler's cfg.
    low_noise_cfg: float | None = None

    @property
    def dtype(self) -> torch.dtype:
        return devices.module_dtype(self.denoiser)

    @property
    def is_inpainting(self) -> bool:
        """Whether the denoiser takes the mask and the masked image as extra input channels."""
        return self.family.is_inpainting(self)

    # The sampler's name for it: models that take the inpainting input need it from VAE Encode.
    takes_inpainting_input = is_inpainting

    def with_loras(self, loras: tuple[LoraUse, ...]) -> DiffusionModel:
        return replace(self, loras=loras)

    def with_scheduler_config(self, changes: Mapping[str, Any]) -> DiffusionModel:
        """The same model sampled with other schedule settings (Model Sampling nodes)."""
        return replace(self, scheduler_config={**self.scheduler_config, **changes})

    def offload_to_cpu(self) -> None:
        devices.offload_to_cpu(self.denoiser)
        if self.low_noise_denoiser is not None:
            devices.offload_to_cpu(self.low_noise_denoiser)

    on_cache_evict = offload_to_cpu


@dataclass(frozen=True, eq=False)
class TextEncoder:
    """One text encoder (CLIP or T5) with its tokenizer."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    #: SDXL's encoders (and every encoder of a "penultimate" family) feed the UNet with the
    #: second-to-last hidden state; SD1/SD2 with the last one, through the final LayerNorm.
    penultimate: bool = False
    #: Whether this encoder provides the pooled (projected) embedding (SDXL's second).
    pooled: bool = False
    #: Which of its family's encoder slots it fills: "clip_l", "clip_g", "clip_h", "t5".
    slot: str = "clip_l"


@dataclass(frozen=True, eq=False)
class TextEncoders:
    """CLIP: the text encoder(s) of a checkpoint, or loaded for a family from separate files."""

    encoders: tuple[TextEncoder, ...]
    family: ModelFamily
    device: torch.device
    source: str = ""
    loras: tuple[LoraUse, ...] = ()

    def with_loras(self, loras: tuple[LoraUse, ...]) -> TextEncoders:
        return replace(self, loras=loras)

    def slot(self, name: str) -> TextEncoder | None:
        """The encoder filling slot ``name``, or None."""
        return next((encoder for encoder in self.encoders if encoder.slot == name), None)

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
        # Video VAEs (Wan, LTX-Video) say their compression; image VAEs halve per block.
        if hasattr(self.model, "hop_length"):  # audio VAEs (Oobleck): samples per frame
            return int(self.model.hop_length)
        if self.temporal_factor > 1:
            return int(self.model.spatial_compression_ratio)
        return 2 ** (len(self.model.config.block_out_channels) - 1)

    @property
    def temporal_factor(self) -> int:
        """Frames per latent frame (1 for image VAEs; 4 for Wan's, 8 for LTX-Video's)."""
        return int(getattr(self.model, "temporal_compression_ratio", None)
                   or getattr(self.model.config, "scale_factor_temporal", None) or 1)

    @property
    def latent_channels(self) -> int:
        config = self.model.config
        # Wan's VAE calls its latent channels z_dim, Stable Audio's Oobleck its decoder input.
        return int(getattr(config, "latent_channels", None) or getattr(config, "z_dim", None)
                   or config.decoder_input_channels)

    def offload_to_cpu(self) -> None:
        devices.offload_to_cpu(self.model)

    on_cache_evict = offload_to_cpu


@dataclass(frozen=True, eq=False)
class ControlNet:
    """CONTROL_NET: a ControlNet model, for the family whose denoiser it was made from."""

    model: torch.nn.Module
    family: ModelFamily
    device: torch.device
    source: str = ""
    #: "controlnet", or "t2i_adapter" for a T2I-Adapter (a diffusers ``T2IAdapter``) that
    #: Load ControlNet loaded as ComfyUI does: the sampler adds its features inside the UNet.
    kind: str = "controlnet"

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
    #: Transformer ControlNets (SD3, Flux) read the hint as latents: the VAE to encode it.
    vae: Vae | None = None


@dataclass(frozen=True)
class SizeConditioning:
    """SDXL's micro-conditioning; ``None`` sizes mean "the size being generated"."""

    original_size: tuple[int, int] | None = None  # (height, width)
    crop_top_left: tuple[int, int] = (0, 0)  # (top, left)
    target_size: tuple[int, int] | None = None  # (height, width)


@dataclass(frozen=True)
class PromptArea:
    """The rectangle a prompt acts on: pixels (Conditioning Set Area, floored to whole latent
    cells when sampling) or fractions of the image (… Percentage)."""

    height: float
    width: float
    top: float
    left: float
    fractional: bool = False

    def cells(self, rows: int, columns: int, scale_factor: int) -> tuple[int, int, int, int]:
        """(height, width, top, left) in latent cells of a ``rows`` × ``columns`` latent, as
        ComfyUI resolves it (at least one cell high and wide)."""
        if self.fractional:
            return (max(1, round(self.height * rows)), max(1, round(self.width * columns)),
                    round(self.top * rows), round(self.left * columns))
        return (int(self.height) // scale_factor, int(self.width) // scale_factor,
                int(self.top) // scale_factor, int(self.left) // scale_factor)


@dataclass(frozen=True, eq=False)
class Conditioning:
    """CONDITIONING: an encoded prompt, and the ControlNets applied to it."""

    #: [1, tokens, width] prompt embedding (all encoders concatenated along ``width``).
    embeds: torch.Tensor
    #: [1, width] pooled embedding (SDXL, SD3, Flux), else None.
    pooled: torch.Tensor | None = None
    size: SizeConditioning = field(default_factory=SizeConditioning)
    controls: tuple[ControlUse, ...] = ()
    #: Distilled guidance (Flux dev's guidance embedding), set by Flux Guidance; None = the
    #: family's default.
    guidance: float | None = None
    #: The family whose text encoders made it (None for conditioning built by hand).
    family: ModelFamily | None = None
    #: What only the family reads (SD3: its T5 states kept apart from the CLIP ones).
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: GLIGEN's grounded phrases (GLIGEN Textbox Apply), in the order they were added
    #: (nodestudio.runtime.gligen.GligenPhrase).
    gligen: tuple[Any, ...] = ()

    # -- area composition (ComfyUI's Conditioning Set Area / Set Mask / Set Timestep Range) --
    #: Where this prompt acts; None = the whole image.
    area: PromptArea | None = None
    #: [B, H, W] or [H, W] float mask of where it acts (resized to the latent when sampling).
    mask: torch.Tensor | None = None
    mask_strength: float = 1.0
    #: Run the prompt only on the bounding box of its mask (Set Mask's "mask bounds").
    area_from_mask_bounds: bool = False
    #: Weight of this prompt against the others where their areas overlap.
    strength: float = 1.0
    #: (start, end) fractions of the denoising during which the prompt acts; None = all of it.
    step_range: tuple[float, float] | None = None
    #: Conditioning Combine: the other prompts sampled together with this one, each on its own
    #: area and steps (flat: every member has ``combined == ()``).
    combined: tuple[Conditioning, ...] = ()
    #: unCLIP Conditioning's image prompts (SD 2.1 unCLIP's class labels, SDXL revision's
    #: pooled embedding: see nodestudio.runtime.unclip).
    image_prompts: tuple[ImagePrompt, ...] = ()

    def entries(self) -> tuple[Conditioning, ...]:
        """Every prompt of a combined conditioning, this one first (ComfyUI's list)."""
        if not self.combined:
            return (self,)
        return (replace(self, combined=()), *self.combined)

    def combined_with(self, other: Conditioning) -> Conditioning:
        """Conditioning Combine: both prompts' entries, in order."""
        return replace(self, combined=(*self.combined, *other.entries()))

    def map_entries(self, change: Callable[[Conditioning], Conditioning]) -> Conditioning:
        """``change`` applied to every entry, as ComfyUI's conditioning nodes loop over theirs."""
        first, *rest = [change(entry) for entry in self.entries()]
        return replace(first, combined=tuple(rest)) if rest else first

    @property
    def is_composed(self) -> bool:
        """Whether sampling needs area composition for it (more than one entry, an area, a mask
        or a step range); a single plain prompt takes the pipelines' own path."""
        return len(self.entries()) > 1 or any(
            entry.area is not None or entry.mask is not None or entry.step_range is not None
            for entry in self.entries())

    def with_control(self, control: ControlUse) -> Conditioning:
        return self.map_entries(lambda entry: replace(entry, controls=(*entry.controls, control)))

    def with_guidance(self, guidance: float) -> Conditioning:
        return self.map_entries(lambda entry: replace(entry, guidance=guidance))


@dataclass(frozen=True, eq=False)
class Latent:
    """LATENT: a batch of latents, already multiplied by the VAE's scaling factor."""

    #: [B, C, H / f, W / f]; video latents [B, C, F, H / f, W / f] (F latent frames).
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
    #: Which latents of a larger batch these are (Latent from Batch), as ComfyUI's
    #: ``batch_index``: the Sampler's "comfyui" mode draws their noise as for that batch.
    batch_index: tuple[int, ...] | None = None
    #: Audio latents [B, C, frames] (Stable Audio): the (start, end) seconds the prompt asked
    #: for, which VAE Decode Audio keeps of the decoded clip; None = all of it.
    audio_seconds: tuple[float, float] | None = None

    @property
    def batch_size(self) -> int:
        return int(self.samples.shape[0])

    @property
    def pixel_size(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        rows, columns = self.samples.shape[-2:]
        return (rows * self.scale_factor, columns * self.scale_factor)
