"""The protocol a model family implements: what the sampler, the loaders and the nodes ask of it.

A family (SD1, SD2, SDXL, SD3, Flux …) is one module holding one :class:`ModelFamily`
instance. Its class attributes are the declarative table (as ComfyUI's
``supported_models``): its id, what it predicts, its latent format, whether it samples with a
discrete or a flow-matching scheduler, its text encoder slots. Its methods are the few places
where code has to differ: detecting and loading files, turning prompts into conditioning, and
calling the denoiser. Everything else — the sampling loop, stages, inpainting, previews — is
generic and asks the family; no code outside a family's module branches on its name.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import torch

if TYPE_CHECKING:
    from nodestudio.runtime.types import (
        Conditioning,
        ControlNet,
        DiffusionModel,
        TextEncoders,
    )


class FamilyId(str, enum.Enum):
    SD1 = "sd1"
    SD2 = "sd2"
    SDXL = "sdxl"
    SDXL_REFINER = "sdxl_refiner"
    SD3 = "sd3"
    FLUX = "flux"
    WAN = "wan"
    LTXV = "ltxv"
    STABLE_AUDIO = "stable_audio"
    SVD = "svd"

    def __str__(self) -> str:
        return self.value


class Prediction(enum.Enum):
    """What the denoiser outputs."""

    EPSILON = "epsilon"  # the noise
    V = "v_prediction"  # velocity in the variance-preserving parametrisation
    FLOW = "flow"  # flow-matching velocity: noise − clean latent


class Scheduling(enum.Enum):
    """Which scheduler family samples the model (see :mod:`nodestudio.runtime.schedulers`)."""

    DISCRETE = "discrete"  # DDPM-trained timesteps: Euler, DPM++, DDIM …
    FLOW = "flow"  # flow matching: FlowMatchEuler, FlowMatchHeun, DPM++ with flow sigmas …


@dataclass(frozen=True)
class LatentFormat:
    """A released latent space: how latents are scaled and how to preview them."""

    name: str
    channels: int
    scaling_factor: float
    shift_factor: float = 0.0
    #: Least-squares map latent channel → RGB (rows: channels), for fast previews.
    rgb_factors: tuple[tuple[float, float, float], ...] = ()
    rgb_bias: tuple[float, float, float] = (0.0, 0.0, 0.0)
    #: Name prefixes of the TAESD decoders made for this space (``models/vae_approx``).
    taesd_prefixes: tuple[str, ...] = ()
    #: Prefixes that look alike but belong to another space (``taesd`` vs ``taesdxl``).
    taesd_excludes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Geometry:
    """The batch being sampled: images, and their size in pixels and latent cells."""

    batch: int
    height: int
    width: int
    latent_height: int
    latent_width: int
    #: Latent frames of a video latent ([B, C, F, h, w]); 1 for images.
    frames: int = 1


class Guidance(Protocol):
    """How the prompts steer each step: how many halves the batch has, how to combine them."""

    halves: int

    def combine(self, prediction: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class NoGuidance:
    """cfg 1 (or a guidance-distilled model): the positive prompt alone, one model call."""

    halves: int = 1

    def combine(self, prediction: torch.Tensor) -> torch.Tensor:
        return prediction


@dataclass(frozen=True)
class ClassifierFreeGuidance:
    """The batch is [negative, positive]; the result moves ``scale`` times from one to the other."""

    scale: float
    halves: int = 2

    def combine(self, prediction: torch.Tensor) -> torch.Tensor:
        uncond, cond = prediction.chunk(2)
        return uncond + self.scale * (cond - uncond)


@dataclass(frozen=True)
class RescaledGuidance:
    """Classifier-free guidance whose result is pulled back towards the positive prediction's
    spread (Lin et al. 2023, "Common Diffusion Noise Schedules and Sample Steps are Flawed",
    eq. 15/16; ComfyUI's RescaleCFG, diffusers' ``guidance_rescale``).

    Computed as diffusers' ``rescale_noise_cfg``, on the model's own output (noise for ε
    models, v for v models), per image: the guided prediction is scaled to the standard
    deviation of the positive one, and ``multiplier`` of that is mixed with ``1 − multiplier``
    of the plain guided prediction. ComfyUI converts to v first whatever the model predicts;
    for v models the two are the same, for ε models ComfyUI's differs slightly.
    """

    scale: float
    multiplier: float
    halves: int = 2

    def combine(self, prediction: torch.Tensor) -> torch.Tensor:
        uncond, cond = prediction.chunk(2)
        guided = uncond + self.scale * (cond - uncond)
        dims = list(range(1, cond.ndim))
        rescaled = guided * (cond.std(dim=dims, keepdim=True) / guided.std(dim=dims, keepdim=True))
        # The same expression, in the same order, as diffusers' pipelines (bit-for-bit fidelity).
        return self.multiplier * rescaled + (1 - self.multiplier) * guided


@dataclass
class DenoiseRequest:
    """Everything a family needs to prepare its denoiser for one Sampler run."""

    model: DiffusionModel
    positive: Conditioning
    #: None when the guidance has one half (no negative prompt is run).
    negative: Conditioning | None
    geometry: Geometry
    guidance: Guidance
    cfg: float
    dtype: torch.dtype
    device: torch.device
    #: Inpainting: [B, 1, h, w] 0/1 latent-size mask and the masked image's latents, for models
    #: that take them as input (9-channel UNets, Flux Fill); None otherwise.
    latent_mask: torch.Tensor | None = None
    masked_latents: torch.Tensor | None = None
    #: The same mask at pixel size ([B, 1, H, W] 0/1 float32, not yet moved to ``device``), for
    #: models that read it finer than one value per latent cell (Flux Fill: 8 × 8 per cell).
    pixel_mask: torch.Tensor | None = None
    #: Scales latents as the scheduler wants them at a timestep (positive half alone; for
    #: ControlNets in guess mode).
    scale_input: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = field(
        default=lambda latents, timestep: latents
    )
    #: The Sampler's seed, for conditioning that draws noise of its own (unCLIP's image
    #: embedding augmentation, seeded from it as ComfyUI does).
    seed: int = 0
    #: The timestep of the Sampler step a call is for (the call's ``step`` argument), as a
    #: Python float read from a copy made once before the loop: choosing by timestep (Wan
    #: 2.2's expert, area prompts' step windows) then waits for no GPU work. None: read the
    #: call's timestep tensor (a device sync on CUDA).
    timestep_of_step: Callable[[int], float] | None = None
    #: Called once before the first step of a second denoiser (Wan 2.2's low-noise expert):
    #: under offload the experts take turns on the device. None: both are there already.
    expert_turn: Callable[[], None] | None = None


def step_timestep(request_levels: Callable[[int], float] | None, step: int,
                  timestep: torch.Tensor) -> float:
    """The timestep of ``step`` as a float: from the request's CPU copy when there is one."""
    return request_levels(step) if request_levels is not None else float(timestep)


class Denoiser(Protocol):
    """One family's model call, prepared for a run."""

    def __call__(
        self, latents: torch.Tensor, timestep: torch.Tensor, step: int, total: int,
        unscaled: torch.Tensor,
    ) -> torch.Tensor:
        """The prediction for ``latents`` ([halves × B, C, h, w], already scaled for the
        scheduler) at ``timestep``; ``step`` of ``total`` places ControlNet step ranges;
        ``unscaled`` is the positive half before scaling."""
        ...


@dataclass(frozen=True)
class LoadedParts:
    """What a checkpoint file or folder gives: any of the three may be missing."""

    model: DiffusionModel | None
    clip: TextEncoders | None
    vae: Any


class ModelFamily:
    """A model family. Subclasses set the class attributes and implement the methods."""

    id: ClassVar[FamilyId]
    label: ClassVar[str]
    prediction: ClassVar[Prediction]
    scheduling: ClassVar[Scheduling]
    latent: ClassVar[LatentFormat]
    #: Latent cells a transformer folds into one token along each axis (Flux packs 2 × 2).
    patch_size: ClassVar[int] = 1
    #: Text encoder slots, in order, as ComfyUI's loaders name the files' kinds.
    text_encoder_slots: ClassVar[tuple[str, ...]] = ()
    #: Slots a prompt can be encoded without (SD3 runs without T5).
    optional_text_encoders: ClassVar[tuple[str, ...]] = ()
    #: Default tokens of a T5 prompt (the pipelines' ``max_sequence_length``).
    t5_max_length: ClassVar[int] = 0
    #: Video families sample [B, C, F, h, w] latents (a frames axis); image ones [B, C, h, w].
    video: ClassVar[bool] = False

    def __repr__(self) -> str:
        return f"<model family {self.id.value}>"

    # -- detection -------------------------------------------------------------------------

    def matches_pipeline(self, model_index: Mapping[str, Any]) -> bool:
        """Whether a diffusers folder's ``model_index.json`` holds this family."""
        raise NotImplementedError

    def detect_checkpoint(self, shapes: Mapping[str, tuple[int, ...]]) -> bool:
        """Whether an all-in-one single file (original key layout) holds this family."""
        return False

    def detect_diffusion_model(self, shapes: Mapping[str, tuple[int, ...]]) -> bool:
        """Whether a diffusion-model-only file (``models/diffusion_models``) is this family's."""
        return False

    # -- conditioning ----------------------------------------------------------------------

    def encode_prompt(self, clip: TextEncoders, text: str, options: PromptOptions) -> Conditioning:
        raise NotImplementedError

    # -- sampling --------------------------------------------------------------------------

    def guidance(self, model: DiffusionModel, cfg: float) -> Guidance:
        if cfg <= 1.0:
            return NoGuidance()
        # A model handle made by Rescale CFG asks for the rescaled combination (0: plain CFG).
        rescale = model.guidance_rescale
        return RescaledGuidance(cfg, rescale) if rescale > 0 else ClassifierFreeGuidance(cfg)

    def check_conditioning(self, model: DiffusionModel, conditioning: Conditioning,
                           name: str) -> None:
        """Raise a NodeError when a prompt was encoded for another model."""

    def denoiser(self, request: DenoiseRequest) -> Denoiser:
        raise NotImplementedError

    def image_sequence_length(self, geometry: Geometry) -> int:
        """Image tokens the transformer sees (for resolution-dependent shift)."""
        patch = self.patch_size
        return (geometry.latent_height // patch) * (geometry.latent_width // patch)

    def default_sigmas(self, steps: int) -> Any:
        """The sigmas the reference pipeline hands its flow scheduler, or None for its own."""
        return None

    def initial_noise(self, shape: tuple[int, ...], generator: torch.Generator,
                      device: torch.device, dtype: torch.dtype,
                      geometry: Geometry) -> torch.Tensor:
        """The starting noise, drawn as the family's pipeline draws it (SVD: other draws first,
        another axis order)."""
        from diffusers.utils.torch_utils import randn_tensor

        return randn_tensor(shape, generator=generator, device=device, dtype=dtype)

    def pixel_multiple(self, vae_scale_factor: int) -> int:
        """Image sides must be multiples of this many pixels."""
        return vae_scale_factor * self.patch_size

    # -- models ----------------------------------------------------------------------------

    def is_inpainting(self, model: DiffusionModel) -> bool:
        """Whether the denoiser takes mask and masked-image latents as extra input."""
        return False

    def accepts_controlnet(self, controlnet: ControlNet) -> bool:
        return controlnet.family is self

    def lora_state_dict(self, weights: dict[str, torch.Tensor]) -> tuple[dict, dict | None]:
        """A LoRA file's weights in diffusers naming (``<part>.<module>…``) and alphas."""
        raise NotImplementedError

    #: Keys of :meth:`lora_state_dict` → the part of the model they belong to: the denoiser's
    #: prefix, and each text encoder slot's.
    lora_denoiser_prefix: ClassVar[str] = "unet"
    lora_text_prefixes: ClassVar[dict[str, str]] = {}
    #: Substrings of LoRA keys (in any of the formats trainers write) that only this family's
    #: LoRAs have, to say whose a LoRA is when it fits nothing.
    lora_markers: ClassVar[tuple[str, ...]] = ()

    def load_folder(self, path: Path, index: Mapping[str, Any], device: torch.device,
                    progress: Callable[[], None]) -> LoadedParts:
        raise NotImplementedError

    #: A family whose latents the generic loop cannot step (Stable Audio's 1-D audio latents)
    #: defines ``sample(model, positive, negative, latent, settings, mask, on_step,
    #: check_cancelled) -> Latent``; ``runtime.sampling.sample`` hands the run to it.
    sample: ClassVar[Callable[..., Any] | None] = None


@dataclass(frozen=True)
class PromptOptions:
    """The Text Encode node's settings beyond the prompt itself."""

    clip_skip: int = 0
    #: A second prompt for the second text encoder (SDXL's OpenCLIP-G, SD3's/Flux's T5).
    text_2: str = ""
    size: Any = None
    #: Tokens of the T5 prompt; 0 = the family's default.
    t5_max_length: int = 0
    #: Finds the file of a textual inversion embedding a prompt names (``embedding:name``):
    #: name → path, None when missing (the caller reports it); None = such words are text.
    #: A plain callable, so the runtime needs no app code (see nodestudio.runtime.embeddings).
    embeddings: Callable[[str], Path | None] | None = None
