"""Wan 2.1 / 2.2 text to video: ``WanTransformer3DModel`` (flow matching, 2 × 2 spatial
patches), the causal 3-D ``AutoencoderKLWan`` (8× spatial, 4× temporal: 4k + 1 frames),
one UMT5 encoder.

Prompts are encoded as ``WanPipeline._get_t5_prompt_embeds``: the prompt cleaned
(``prompt_clean``), padded to ``max_sequence_length`` (512) with the attention mask given to
UMT5, and the states past the prompt's own tokens set to zero. The transformer gets ``t`` as is
(0–1000), one per video, or one per token for Wan 2.2's ``expand_timesteps`` (TI2V 5B).
Classifier-free guidance combines the prompt and the negative one (the pipeline's default
negative prompt is empty) as the pipeline does. The releases' UniPC scheduler with
``flow_shift`` is sampled with the Sampler's flow samplers at the same shift.

Wan 2.1 image to video (``WanImageToVideoPipeline`` folders, image encoder included) is the same
family: WanImageToVideo's condition (mask + image latents, CLIP vision states) goes into the
denoiser as ``runtime/wan_i2v.py`` describes.

Wan 2.2 A14B folders hold two experts (``transformer`` for high noise, ``transformer_2`` for
low noise) and ``boundary_ratio``: as in ``WanPipeline``, a step whose timestep is at or above
``boundary_ratio × num_train_timesteps`` runs the first, any later one the second, with the
low-noise expert's own cfg (``guidance_scale_2``: Wan 2.2 Expert Guidance sets it, otherwise
the Sampler's cfg, the pipeline's default).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from nodestudio.api.errors import NodeError
from nodestudio.runtime.devices import ensure_on
from nodestudio.runtime.families.base import (
    ClassifierFreeGuidance,
    DenoiseRequest,
    FamilyId,
    LatentFormat,
    LoadedParts,
    PromptOptions,
    RescaledGuidance,
    step_timestep,
)
from nodestudio.runtime.families.video import VideoFamily, batched, encoder_of
from nodestudio.runtime.memory_manager import loaded_to
from nodestudio.runtime.types import Conditioning, DiffusionModel, TextEncoders
from nodestudio.runtime.wan_i2v import condition_inputs

#: Wan 2.1's latent space: 16 channels normalised per channel by the VAE's statistics.
WAN_LATENT = LatentFormat(name="wan21", channels=16, scaling_factor=1.0)


@dataclass
class ExpertGuidance:
    """Wan 2.2 A14B's guidance: the high-noise expert's cfg or the low-noise one's, whichever
    expert ran the step (the denoiser sets ``low_noise`` before the Sampler combines)."""

    high: Any
    low: Any
    low_noise: bool = False
    halves: int = 2

    def combine(self, prediction: torch.Tensor) -> torch.Tensor:
        return (self.low if self.low_noise else self.high).combine(prediction)


@dataclass
class WanDenoiser:
    transformer: torch.nn.Module
    embeds: torch.Tensor  # [halves × B, tokens, width]
    #: Wan 2.2 TI2V: one timestep per token ([B, tokens]) instead of one per video.
    expand_timesteps: bool
    #: Wan 2.1 I2V (runtime.wan_i2v): mask + image latents concatenated to the latents, and
    #: the start image's CLIP vision states for the image cross-attention.
    concat: torch.Tensor | None = None
    image_states: torch.Tensor | None = None
    #: Wan 2.2 A14B: the low-noise expert, the timestep below which it runs, and the guidance
    #: told which expert ran.
    low_noise: torch.nn.Module | None = None
    boundary: float | None = None
    guidance: Any = None
    #: Called before the low-noise expert's first step (offload: the experts take turns).
    turn: Callable[[], None] | None = None
    #: The request's ``timestep_of_step`` (no device sync to pick the expert).
    timestep_of_step: Callable[[int], float] | None = None

    def expert(self, timestep: torch.Tensor, step: int = 0) -> torch.nn.Module:
        """The transformer for this step, picked as WanPipeline picks it."""
        low = self.low_noise is not None and self.boundary is not None \
            and step_timestep(self.timestep_of_step, step, timestep) < self.boundary
        if isinstance(self.guidance, ExpertGuidance):
            self.guidance.low_noise = low
        if not low or self.low_noise is None:
            return self.transformer
        if self.turn is not None:
            turn, self.turn = self.turn, None
            turn()
        return self.low_noise

    def __call__(self, latents: torch.Tensor, timestep: torch.Tensor, step: int, total: int,
                 unscaled: torch.Tensor) -> torch.Tensor:
        FAMILY.check_video(latents)
        if self.expand_timesteps:
            _, patch_h, patch_w = self.transformer.config.patch_size
            frames, rows, columns = latents.shape[2:]
            tokens = frames * -(-rows // patch_h) * -(-columns // patch_w)
            timesteps = timestep.reshape(1, 1).expand(latents.shape[0], tokens)
        else:
            timesteps = timestep.expand(latents.shape[0])
        hidden = latents.to(self.embeds.dtype)
        if self.concat is not None:
            hidden = torch.cat([hidden, self.concat], dim=1)
        return self.expert(timestep, step)(
            hidden_states=hidden, timestep=timesteps, encoder_hidden_states=self.embeds,
            encoder_hidden_states_image=self.image_states, return_dict=False,
        )[0]


class Wan(VideoFamily):
    id = FamilyId.WAN
    label = "Wan"
    latent = WAN_LATENT
    patch_size = 2
    text_encoder_slots = ("umt5",)
    encoder_slot = "umt5"
    t5_max_length = 512
    pipeline_classes = ("WanPipeline", "WanImageToVideoPipeline")
    transformer_class = "WanTransformer3DModel"
    vae_class = "AutoencoderKLWan"
    encoder_class = "UMT5EncoderModel"
    #: model_index.json settings of the folder that the denoiser needs, by source path.
    _expand: ClassVar[dict[str, bool]] = {}

    def check_folder(self, path: Any, index: Any) -> None:
        if index.get("boundary_ratio") is not None and not (
                (index.get("transformer_2") or [None])[0] and (path / "transformer_2").is_dir()):
            raise NodeError(f"{path.name} sets boundary_ratio but lacks its transformer_2 "
                            "folder (the low-noise expert): copy the whole Wan 2.2 folder into "
                            f"{path.parent}")
        self._expand[str(path)] = bool(index.get("expand_timesteps", False))

    def guidance(self, model: DiffusionModel, cfg: float) -> Any:
        if model.low_noise_denoiser is None or cfg <= 1.0:
            # The pipeline guides (both experts) only when guidance_scale > 1.
            return super().guidance(model, cfg)

        def scaled(scale: float) -> Any:
            rescale = model.guidance_rescale
            return RescaledGuidance(scale, rescale) if rescale > 0 else \
                ClassifierFreeGuidance(scale)

        low = cfg if model.low_noise_cfg is None else model.low_noise_cfg
        return ExpertGuidance(scaled(cfg), scaled(low))

    def load_folder(self, path: Any, index: Any, device: torch.device,
                    progress: Callable[[], None]) -> LoadedParts:
        from dataclasses import replace

        from nodestudio.runtime.wan_i2v import load_folder_image_encoder

        parts = super().load_folder(path, index, device, progress)
        if parts.model is not None and index.get("boundary_ratio") is not None:
            parts = replace(parts, model=self._with_low_noise_expert(parts.model, path, index,
                                                                     device))
        if parts.model is None or (index.get("image_encoder") or [None])[0] is None:
            return parts
        # Image to video: the folder's encoder makes the CLIP states when no CLIP Vision
        # Encode output is connected (the pipeline's own encode_image).
        encoder = load_folder_image_encoder(path, device)
        return replace(parts, model=replace(parts.model, image_encoder=encoder))

    def _with_low_noise_expert(self, model: DiffusionModel, path: Any, index: Any,
                               device: torch.device) -> DiffusionModel:
        """Wan 2.2 A14B: the folder's transformer_2 and the boundary timestep beside the
        high-noise transformer (a folder without boundary_ratio runs its first expert alone,
        as WanPipeline does, so its transformer_2 is not loaded)."""
        from dataclasses import replace

        import diffusers

        from nodestudio.runtime.checkpoints import variant_of

        folder = path / "transformer_2"
        expert = diffusers.WanTransformer3DModel.from_pretrained(
            path, subfolder="transformer_2", torch_dtype=model.dtype, local_files_only=True,
            variant=variant_of(folder))
        trained = int(model.scheduler_config.get("num_train_timesteps", 1000))
        boundary = float(index["boundary_ratio"]) * trained
        return replace(model, low_noise_denoiser=loaded_to(expert, device),
                       expert_boundary=boundary)

    @torch.inference_mode()
    def encode_prompt(self, clip: TextEncoders, text: str, options: PromptOptions) -> Conditioning:
        from diffusers.pipelines.wan.pipeline_wan import prompt_clean

        from nodestudio.runtime import lora

        encoder = encoder_of(clip, self)
        length = options.t5_max_length or self.t5_max_length
        tokens = encoder.tokenizer([prompt_clean(text)], padding="max_length",
                                   max_length=length, truncation=True,
                                   add_special_tokens=True, return_attention_mask=True,
                                   return_tensors="pt")
        model = ensure_on(encoder.model, clip.device)
        mask = tokens.attention_mask.to(clip.device)
        with lora.applied(model, clip.loras):
            states = model(tokens.input_ids.to(clip.device), mask).last_hidden_state
        # Past the prompt's own tokens the pipeline hands the transformer zeros.
        kept = int(mask.gt(0).sum())
        states = states.clone()
        states[:, kept:] = 0
        return Conditioning(embeds=states, family=self)

    def denoiser(self, request: DenoiseRequest) -> WanDenoiser:
        transformer = ensure_on(request.model.denoiser, request.device)
        halves = [request.positive] if request.negative is None else [request.negative,
                                                                       request.positive]
        width = transformer.config.text_dim
        for name, conditioning in zip(("negative", "positive")[-len(halves):], halves,
                                      strict=True):
            if conditioning.embeds.shape[-1] != width:
                raise NodeError(f"the {name} prompt's embeddings are "
                                f"{conditioning.embeds.shape[-1]} wide, this Wan model reads "
                                f"{width}: encode it with this model's text encoder")
        longest = max(c.embeds.shape[1] for c in halves)
        embeds = [torch.nn.functional.pad(c.embeds, (0, 0, 0, longest - c.embeds.shape[1]))
                  for c in halves]
        dtype = next(transformer.parameters()).dtype
        embeds = batched(embeds, request.geometry.batch).to(request.device, dtype)
        expand = self._expand.get(request.model.source, False)
        names = ("negative", "positive")[-len(halves):]
        geometry = request.geometry
        concat, states = condition_inputs(
            transformer, halves, names, request.model.image_encoder,
            (geometry.batch, self.latent.channels, geometry.frames, geometry.latent_height,
             geometry.latent_width), geometry.batch, request.device, dtype)
        low_noise = request.model.low_noise_denoiser
        if low_noise is not None and request.expert_turn is None:
            low_noise = ensure_on(low_noise, request.device)
        return WanDenoiser(transformer, embeds, expand, concat, states, low_noise,
                           request.model.expert_boundary, request.guidance,
                           request.expert_turn, request.timestep_of_step)


FAMILY = Wan()
