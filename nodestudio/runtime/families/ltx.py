"""LTX-Video: ``LTXVideoTransformer3DModel`` (flow matching on patch tokens), the
``AutoencoderKLLTXVideo`` (32× spatial, 8× temporal in the releases: 8k + 1 frames; its
latents normalised by buffers ``latents_mean``/``latents_std`` and a scaling factor), one T5.

Prompts are encoded as ``LTXPipeline._get_t5_prompt_embeds``: T5 over the prompt padded to
128 tokens (no attention mask for T5 itself); the mask goes to the transformer as
``encoder_attention_mask``. The latents are sampled unpacked ([B, C, F, h, w]); the denoiser
packs them into tokens, calls the transformer with the frame/row/column counts and the RoPE
interpolation scale ``(temporal compression / frame rate, spatial, spatial)`` and unpacks its
output. Sigmas are ``linspace(1, 1/steps, steps)`` shifted by the video sequence length, as in
the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from nodestudio.api.errors import NodeError
from nodestudio.runtime.devices import ensure_on
from nodestudio.runtime.families.base import DenoiseRequest, FamilyId, LatentFormat, PromptOptions
from nodestudio.runtime.families.video import VideoFamily, batched, encoder_of
from nodestudio.runtime.types import Conditioning, TextEncoders

#: LTX-Video's latent space: 128 channels (the tiny test models use fewer).
LTXV_LATENT = LatentFormat(name="ltxv", channels=128, scaling_factor=1.0)
#: The pipeline's default frame rate (its RoPE scale depends on it).
DEFAULT_FRAME_RATE = 25.0


def pack(latents: torch.Tensor, patch: int, patch_t: int) -> torch.Tensor:
    """[B, C, F, H, W] → [B, tokens, C × patch_t × patch²] (``LTXPipeline._pack_latents``)."""
    batch, channels, frames, rows, columns = latents.shape
    latents = latents.reshape(batch, channels, frames // patch_t, patch_t, rows // patch, patch,
                              columns // patch, patch)
    return latents.permute(0, 2, 4, 6, 1, 3, 5, 7).flatten(4, 7).flatten(1, 3)


def unpack(tokens: torch.Tensor, frames: int, rows: int, columns: int, patch: int,
           patch_t: int) -> torch.Tensor:
    """The inverse of :func:`pack` (``LTXPipeline._unpack_latents``); sizes in patches."""
    batch = tokens.size(0)
    latents = tokens.reshape(batch, frames, rows, columns, -1, patch_t, patch, patch)
    return latents.permute(0, 4, 1, 5, 2, 6, 3, 7).flatten(6, 7).flatten(4, 5).flatten(2, 3)


@dataclass
class LtxDenoiser:
    transformer: torch.nn.Module
    embeds: torch.Tensor  # [halves × B, tokens, width]
    mask: torch.Tensor  # [halves × B, tokens] bool
    rope_scale: tuple[float, float, float]

    def __call__(self, latents: torch.Tensor, timestep: torch.Tensor, step: int, total: int,
                 unscaled: torch.Tensor) -> torch.Tensor:
        FAMILY.check_video(latents)
        config = self.transformer.config
        patch, patch_t = config.patch_size, config.patch_size_t
        frames, rows, columns = latents.shape[2:]
        frames, rows, columns = frames // patch_t, rows // patch, columns // patch
        tokens = pack(latents, patch, patch_t).to(self.embeds.dtype)
        prediction = self.transformer(
            hidden_states=tokens, encoder_hidden_states=self.embeds,
            timestep=timestep.expand(latents.shape[0]), encoder_attention_mask=self.mask,
            num_frames=frames, height=rows, width=columns,
            rope_interpolation_scale=self.rope_scale, return_dict=False,
        )[0].float()
        return unpack(prediction, frames, rows, columns, patch, patch_t).to(latents.dtype)


class LTXVideo(VideoFamily):
    id = FamilyId.LTXV
    label = "LTX-Video"
    latent = LTXV_LATENT
    patch_size = 1
    text_encoder_slots = ("t5",)
    encoder_slot = "t5"
    t5_max_length = 128
    pipeline_classes = ("LTXPipeline",)
    transformer_class = "LTXVideoTransformer3DModel"
    vae_class = "AutoencoderKLLTXVideo"
    encoder_class = "T5EncoderModel"

    def default_sigmas(self, steps: int) -> np.ndarray:
        return np.linspace(1.0, 1 / steps, steps)

    @torch.inference_mode()
    def encode_prompt(self, clip: TextEncoders, text: str, options: PromptOptions) -> Conditioning:
        from nodestudio.runtime import lora

        encoder = encoder_of(clip, self)
        length = options.t5_max_length or self.t5_max_length
        tokens = encoder.tokenizer([text], padding="max_length", max_length=length,
                                   truncation=True, add_special_tokens=True, return_tensors="pt")
        model = ensure_on(encoder.model, clip.device)
        with lora.applied(model, clip.loras):
            states = model(tokens.input_ids.to(clip.device))[0]
        return Conditioning(embeds=states, family=self,
                            extra={"attention_mask": tokens.attention_mask.bool()})

    def denoiser(self, request: DenoiseRequest) -> LtxDenoiser:
        transformer = ensure_on(request.model.denoiser, request.device)
        halves = [request.positive] if request.negative is None else [request.negative,
                                                                       request.positive]
        width = transformer.config.caption_channels
        embeds, masks = [], []
        for conditioning in halves:
            if conditioning.embeds.shape[-1] != width:
                raise NodeError(f"a prompt's embeddings are {conditioning.embeds.shape[-1]} "
                                f"wide, this LTX-Video model reads {width}: encode it with "
                                "this model's text encoder")
            embeds.append(conditioning.embeds)
            mask = conditioning.extra.get("attention_mask")
            masks.append(mask if mask is not None else torch.ones(conditioning.embeds.shape[:2],
                                                                  dtype=torch.bool))
        longest = max(e.shape[1] for e in embeds)
        embeds = [F.pad(e, (0, 0, 0, longest - e.shape[1])) for e in embeds]
        masks = [F.pad(m, (0, longest - m.shape[1])) for m in masks]
        batch = request.geometry.batch
        dtype = next(transformer.parameters()).dtype
        model = request.model
        rope = (model.vae_temporal_factor / _frame_rate(request), float(model.vae_scale_factor),
                float(model.vae_scale_factor))
        return LtxDenoiser(transformer, batched(embeds, batch).to(request.device, dtype),
                           batched(masks, batch).to(request.device), rope)


def _frame_rate(request: DenoiseRequest) -> float:
    # LTXV Conditioning (ComfyUI) may set the frame rate on the prompt; else the pipeline's.
    return float(request.positive.extra.get("frame_rate", DEFAULT_FRAME_RATE))


FAMILY = LTXVideo()
