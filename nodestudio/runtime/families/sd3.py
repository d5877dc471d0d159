"""Stable Diffusion 3 / 3.5 (medium and large): an MMDiT (``SD3Transformer2DModel``) trained with
flow matching, three text encoders (CLIP-L, OpenCLIP-bigG, T5-XXL; T5 optional), a 16-channel
VAE with a shift factor, FlowMatchEuler with a fixed shift (3.0).

Prompts are encoded as ``StableDiffusion3Pipeline.encode_prompt``: both CLIPs' penultimate
hidden states concatenated along the width and zero-padded to T5's width, T5's states (or zeros
of ``max_sequence_length`` tokens without T5) appended along the tokens, the two pooled
(projected) embeddings concatenated. The denoiser gets ``t`` as is (0–1000).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from nodestudio.api.errors import NodeError
from nodestudio.runtime.devices import ensure_on
from nodestudio.runtime.families.base import (
    DenoiseRequest,
    FamilyId,
    LatentFormat,
    PromptOptions,
)
from nodestudio.runtime.families.transformer import (
    TransformerControl,
    TransformerFamily,
    clip_outputs,
    collect_controls,
    hint_latents,
    t5_embeds,
)
from nodestudio.runtime.types import Conditioning, TextEncoders

_PREFIX = "model.diffusion_model."

# ComfyUI's SD3 latent_rgb_factors (latent_formats.SD3), a least-squares fit over 16 channels.
SD3_LATENT = LatentFormat(
    name="sd3",
    channels=16,
    scaling_factor=1.5305,
    shift_factor=0.0609,
    rgb_factors=(
        (-0.0922, -0.0175, 0.0749), (0.0311, 0.0633, 0.0954), (0.1994, 0.0927, 0.0458),
        (0.0856, 0.0339, 0.0902), (0.0587, 0.0272, -0.0496), (-0.0006, 0.1104, 0.0309),
        (0.0978, 0.0306, 0.0427), (-0.0042, 0.1038, 0.1358), (-0.0194, 0.0020, 0.0669),
        (-0.0488, 0.0130, -0.0268), (0.0922, 0.0988, 0.0951), (-0.0278, 0.0524, -0.0542),
        (0.0332, 0.0456, 0.0895), (-0.0069, -0.0030, -0.0810), (-0.0596, -0.0465, -0.0293),
        (-0.1448, -0.1463, -0.1189),
    ),
    rgb_bias=(0.2394, 0.2135, 0.1925),
    taesd_prefixes=("taesd3",),
)


@dataclass
class SD3Denoiser:
    transformer: torch.nn.Module
    embeds: torch.Tensor  # [halves × B, tokens, width]
    pooled: torch.Tensor  # [halves × B, width]
    controls: list[TransformerControl]
    #: Per ControlNet: its (prompt states or None, pooled projections) as the pipeline feeds it.
    control_inputs: list[tuple[torch.Tensor | None, torch.Tensor]]
    #: Per ControlNet: [halves × B, 1, 1, 1] factors for one applied to one prompt only.
    half_masks: list[torch.Tensor | None]

    def _control_samples(self, latents: torch.Tensor, timestep: torch.Tensor, step: int,
                         total: int) -> list[torch.Tensor] | None:
        summed = None
        for control, (context, pooled), half_mask in zip(
                self.controls, self.control_inputs, self.half_masks, strict=True):
            scale = control.scale(step, total)
            if scale == 0.0:
                continue  # zero residuals leave the transformer's result as it is
            samples = control.model(
                hidden_states=latents, timestep=timestep, encoder_hidden_states=context,
                pooled_projections=pooled, controlnet_cond=control.hint,
                conditioning_scale=scale, return_dict=False,
            )[0]
            if half_mask is not None:
                samples = [sample * half_mask.to(sample.dtype) for sample in samples]
            summed = list(samples) if summed is None else [
                before + now for before, now in zip(summed, samples, strict=True)]
        return summed

    def __call__(self, latents: torch.Tensor, timestep: torch.Tensor, step: int, total: int,
                 unscaled: torch.Tensor) -> torch.Tensor:
        timesteps = timestep.expand(latents.shape[0])
        return self.transformer(
            hidden_states=latents, timestep=timesteps, encoder_hidden_states=self.embeds,
            pooled_projections=self.pooled,
            block_controlnet_hidden_states=self._control_samples(latents, timesteps, step,
                                                                 total),
            return_dict=False,
        )[0]


class SD3(TransformerFamily):
    id = FamilyId.SD3
    label = "SD3"
    latent = SD3_LATENT
    patch_size = 2
    text_encoder_slots = ("clip_l", "clip_g", "t5")
    optional_text_encoders = ("t5",)
    t5_max_length = 256
    pipeline_classes = ("StableDiffusion3Pipeline", "StableDiffusion3Img2ImgPipeline",
                        "StableDiffusion3InpaintPipeline")
    transformer_class = "SD3Transformer2DModel"
    folder_encoders = (
        ("text_encoder", "clip_l", "CLIPTextModelWithProjection"),
        ("text_encoder_2", "clip_g", "CLIPTextModelWithProjection"),
        ("text_encoder_3", "t5", "T5EncoderModel"),
    )
    lora_denoiser_prefix = "transformer"
    lora_text_prefixes: ClassVar[dict[str, str]] = {
        "clip_l": "text_encoder", "clip_g": "text_encoder_2"}
    lora_markers = ("joint_blocks", "context_block")
    #: ComfyUI's all-in-one SD3 files: every part under its own prefix.
    checkpoint_prefixes: ClassVar[dict[str, str]] = {
        "transformer": _PREFIX, "clip_l": "text_encoders.clip_l.transformer.",
        "clip_g": "text_encoders.clip_g.transformer.", "t5": "text_encoders.t5xxl.transformer.",
        "vae": "first_stage_model.",
    }

    def detect_checkpoint(self, shapes: Any) -> bool:
        return "model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight" in shapes

    def detect_diffusion_model(self, shapes: Any) -> bool:
        return ("joint_blocks.0.x_block.attn.qkv.weight" in shapes
                or "model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight" in shapes
                or ("pos_embed.proj.weight" in shapes
                    and "transformer_blocks.0.attn.add_q_proj.weight" in shapes))

    def lora_state_dict(self, weights: dict[str, torch.Tensor]) -> tuple[dict, dict | None]:
        from diffusers.loaders import SD3LoraLoaderMixin

        return SD3LoraLoaderMixin.lora_state_dict(weights), None

    def released_config(self, shapes: Any) -> str:
        bare = {key.removeprefix(_PREFIX) for key in shapes}
        if "joint_blocks.0.x_block.attn2.qkv.weight" in bare:
            return "sd35_medium"  # MMDiT-X: dual attention in the first blocks
        if "joint_blocks.0.x_block.attn.ln_q.weight" in bare:
            return "sd35_large"
        return "sd3_medium"

    def transformer_from_original(self, weights: Any, config: Any) -> dict[str, torch.Tensor]:
        from diffusers.loaders.single_file_utils import (
            convert_sd3_transformer_checkpoint_to_diffusers,
        )

        # diffusers' converter pops from the dict it is given: hand it a shallow copy.
        return convert_sd3_transformer_checkpoint_to_diffusers(dict(weights))

    def encode_prompt(self, clip: TextEncoders, text: str, options: PromptOptions) -> Conditioning:
        layer = -(options.clip_skip + 2)  # the penultimate layer, as the pipeline
        hidden_l, pooled_l = clip_outputs(clip, "clip_l", text, layer)
        hidden_g, pooled_g = clip_outputs(clip, "clip_g", text, layer)
        t5_text = options.text_2 or text
        length = options.t5_max_length or self.t5_max_length
        t5 = t5_embeds(clip, t5_text, length)
        dtype = clip.encoders[0].model.dtype
        return Conditioning(
            embeds=torch.cat([hidden_l, hidden_g], dim=-1).to(dtype),
            pooled=torch.cat([pooled_l, pooled_g], dim=-1).to(dtype),
            family=self,
            extra={"t5": t5, "t5_length": length},
        )

    def _joint_embeds(self, transformer: torch.nn.Module, conditioning: Conditioning,
                      name: str) -> torch.Tensor:
        width = transformer.config.joint_attention_dim
        clip = conditioning.embeds
        if clip.shape[-1] > width:
            raise NodeError(f"the {name} prompt's CLIP embeddings ({clip.shape[-1]} wide) do not "
                            f"fit this SD3 model ({width}): use its own text encoders")
        t5 = conditioning.extra.get("t5")
        if t5 is None:
            # Without T5 the pipeline hands the transformer zeros in its place.
            t5 = torch.zeros((1, conditioning.extra.get("t5_length", self.t5_max_length), width),
                             dtype=clip.dtype, device=clip.device)
        elif t5.shape[-1] != width:
            raise NodeError(f"the {name} prompt's T5 embeddings ({t5.shape[-1]} wide) do not fit "
                            f"this SD3 model ({width}): use its own T5")
        clip = F.pad(clip, (0, width - clip.shape[-1]))
        return torch.cat([clip, t5.to(clip.device, clip.dtype)], dim=-2)

    def denoiser(self, request: DenoiseRequest) -> SD3Denoiser:
        transformer = ensure_on(request.model.denoiser, request.device)
        halves = [request.positive] if request.negative is None else [request.negative,
                                                                       request.positive]
        batch = request.geometry.batch
        embeds = [self._joint_embeds(transformer, c, "prompt") for c in halves]
        embeds = _common_length(embeds)
        embeds = torch.cat([e.repeat(batch, 1, 1) for e in embeds]).to(request.device,
                                                                         request.dtype)
        pooled = torch.cat([c.pooled.repeat(batch, 1) for c in halves])
        if pooled.shape[-1] != transformer.config.pooled_projection_dim:
            raise NodeError("the prompts were encoded with the text encoders of another SD3 model")
        pooled = pooled.to(request.device, request.dtype)
        controls, inputs, masks = [], [], []
        for use, on_positive, on_negative in collect_controls(self, request):
            model = ensure_on(use.controlnet.model, request.device)
            config = model.config
            # InstantX's SD3 ControlNets were trained on unshifted latents and zero pooled
            # input; the SD3.5 large ones read no prompt states (as the pipeline feeds them).
            zeros = bool(getattr(config, "force_zeros_for_pooled_projection", False))
            hint = hint_latents(use, request.geometry, request.device, request.dtype, self,
                                apply_shift=not zeros)
            controls.append(TransformerControl(use, model, torch.cat([hint] * len(halves)),
                                               on_positive, on_negative))
            inputs.append((embeds if config.joint_attention_dim is not None else None,
                           torch.zeros_like(pooled) if zeros else pooled))
            masks.append(None if len(halves) == 1 or (on_positive and on_negative) else
                         torch.tensor([float(on_negative)] * batch + [float(on_positive)] * batch,
                                      device=request.device).view(-1, 1, 1, 1))
        return SD3Denoiser(transformer, embeds, pooled, controls, inputs, masks)


def _common_length(embeds: list[torch.Tensor]) -> list[torch.Tensor]:
    """Pad T5 sequences of different lengths (prompts with other token limits) with zeros."""
    longest = max(e.shape[1] for e in embeds)
    return [F.pad(e, (0, 0, 0, longest - e.shape[1])) for e in embeds]


FAMILY = SD3()
