"""Flux.1 (dev, schnell, Fill): a rectified-flow transformer (``FluxTransformer2DModel``) with
CLIP-L (pooled) + T5-XXL, a 16-channel VAE with a shift factor, latents packed 2 × 2 into
tokens, resolution-dependent shift, and guidance distilled into an embedding (dev).

As ``FluxPipeline``: the CLIP's ``pooler_output`` and T5's last hidden state (``max_sequence_
length`` 512) are the prompt; the sampler's noise is drawn unpacked and packed for the
transformer (packing is a permutation, so the scheduler steps on unpacked latents give the
same numbers); sigmas are ``linspace(1, 1/steps, steps)`` shifted by ``mu`` from the image's
token count; the transformer gets ``t / 1000`` and, for dev, the guidance of Flux Guidance
(3.5 when none is set). cfg above 1 with a negative prompt is the pipeline's "true CFG": a
second transformer call per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from nodestudio.api.errors import NodeError
from nodestudio.runtime.devices import ensure_on
from nodestudio.runtime.families.base import (
    DenoiseRequest,
    FamilyId,
    Geometry,
    LatentFormat,
    PromptOptions,
)
from nodestudio.runtime.families.transformer import (
    TransformerControl,
    TransformerFamily,
    clip_outputs,
    collect_controls,
    hint_latents,
    hint_pixels,
    t5_embeds,
)
from nodestudio.runtime.types import Conditioning, DiffusionModel, TextEncoders

#: The released transformer's width (24 heads × 128), which diffusers' converter assumes.
_RELEASED_WIDTH = 3072
#: Flux dev's default distilled guidance (the pipeline's ``guidance_scale``).
DEFAULT_GUIDANCE = 3.5

# ComfyUI's Flux latent_rgb_factors (latent_formats.Flux).
FLUX_LATENT = LatentFormat(
    name="flux",
    channels=16,
    scaling_factor=0.3611,
    shift_factor=0.1159,
    rgb_factors=(
        (-0.0346, 0.0244, 0.0681), (0.0034, 0.0210, 0.0687), (0.0275, -0.0668, -0.0433),
        (-0.0174, 0.0160, 0.0617), (0.0859, 0.0721, 0.0329), (0.0004, 0.0383, 0.0115),
        (0.0405, 0.0861, 0.0915), (-0.0236, -0.0185, -0.0259), (-0.0245, 0.0250, 0.1180),
        (0.1008, 0.0755, -0.0421), (-0.0515, 0.0201, 0.0011), (0.0428, -0.0012, -0.0036),
        (0.0817, 0.0765, 0.0749), (-0.1264, -0.0522, -0.1103), (-0.0280, -0.0881, -0.0499),
        (-0.1262, -0.0982, -0.0778),
    ),
    rgb_bias=(-0.0329, -0.0718, -0.0851),
    taesd_prefixes=("taef1",),
)


def pack(latents: torch.Tensor) -> torch.Tensor:
    """[B, C, h, w] → [B, (h/2)(w/2), 4C]: each 2 × 2 patch of latent cells becomes a token."""
    batch, channels, rows, columns = latents.shape
    patches = latents.view(batch, channels, rows // 2, 2, columns // 2, 2)
    return patches.permute(0, 2, 4, 1, 3, 5).reshape(batch, (rows // 2) * (columns // 2),
                                                      channels * 4)


def unpack(tokens: torch.Tensor, rows: int, columns: int) -> torch.Tensor:
    """The inverse of :func:`pack` for a latent of ``rows`` × ``columns`` cells."""
    batch, _, width = tokens.shape
    patches = tokens.view(batch, rows // 2, columns // 2, width // 4, 2, 2)
    return patches.permute(0, 3, 1, 4, 2, 5).reshape(batch, width // 4, rows, columns)


def image_ids(rows: int, columns: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The rotary position ids of the image tokens: (0, row, column) per 2 × 2 patch."""
    ids = torch.zeros(rows // 2, columns // 2, 3)
    ids[..., 1] = torch.arange(rows // 2)[:, None]
    ids[..., 2] = torch.arange(columns // 2)[None, :]
    return ids.reshape(-1, 3).to(device=device, dtype=dtype)


@dataclass
class FluxDenoiser:
    transformer: torch.nn.Module
    #: One (embeds, pooled) per half of the batch, each batch-expanded.
    prompts: list[tuple[torch.Tensor, torch.Tensor]]
    text_ids: torch.Tensor
    image_ids: torch.Tensor
    guidance: torch.Tensor | None
    #: Packed mask + masked-image latents (Flux Fill), or None.
    fill: torch.Tensor | None
    controls: list[TransformerControl]

    def _control_samples(self, tokens: torch.Tensor, time: torch.Tensor, step: int,
                         total: int) -> list[tuple[TransformerControl, Any, Any]]:
        """Each active ControlNet's (double, single) block samples, computed as
        FluxControlNetPipeline does: once per step, on the positive prompt."""
        embeds, pooled = self.prompts[-1]
        found = []
        for control in self.controls:
            scale = control.scale(step, total)
            if scale == 0.0:
                continue
            guidance = self.guidance if control.model.config.guidance_embeds else None
            if control.model.config.guidance_embeds and guidance is None:
                guidance = torch.full([tokens.shape[0]], DEFAULT_GUIDANCE, device=tokens.device)
            double, single = control.model(
                hidden_states=tokens, controlnet_cond=control.hint, controlnet_mode=None,
                conditioning_scale=scale, timestep=time, guidance=guidance,
                pooled_projections=pooled, encoder_hidden_states=embeds, txt_ids=self.text_ids,
                img_ids=self.image_ids, return_dict=False,
            )
            found.append((control, double, single))
        return found

    def __call__(self, latents: torch.Tensor, timestep: torch.Tensor, step: int, total: int,
                 unscaled: torch.Tensor) -> torch.Tensor:
        rows, columns = latents.shape[-2:]
        halves = latents.chunk(len(self.prompts))
        time = timestep.expand(halves[0].shape[0]).to(latents.dtype) / 1000
        tokens = [pack(half) for half in halves]
        samples = self._control_samples(tokens[-1], time, step, total)
        outputs = []
        for index, (half_tokens, (embeds, pooled)) in enumerate(zip(tokens, self.prompts,
                                                                     strict=True)):
            positive = index == len(self.prompts) - 1
            double, single, repeat = _summed(samples, positive)
            if self.fill is not None:
                half_tokens = torch.cat([half_tokens, self.fill], dim=2)
            output = self.transformer(
                hidden_states=half_tokens, timestep=time, guidance=self.guidance,
                pooled_projections=pooled, encoder_hidden_states=embeds, txt_ids=self.text_ids,
                img_ids=self.image_ids, controlnet_block_samples=double,
                controlnet_single_block_samples=single, controlnet_blocks_repeat=repeat,
                return_dict=False,
            )[0]
            outputs.append(unpack(output, rows, columns))
        return torch.cat(outputs)


def _summed(samples: list[tuple[TransformerControl, Any, Any]], positive: bool
            ) -> tuple[Any, Any, bool]:
    """The block samples of the ControlNets attached to this half, summed (as
    FluxMultiControlNetModel does), and whether they repeat over the blocks (XLabs')."""
    double = single = None
    repeat = False
    for control, control_double, control_single in samples:
        if not (control.on_positive if positive else control.on_negative):
            continue
        repeat = repeat or control.model.input_hint_block is not None
        double = _add(double, control_double)
        single = _add(single, control_single)
    return double, single, repeat


def _add(total: list[torch.Tensor] | None, more: Any) -> list[torch.Tensor] | None:
    if more is None:
        return total
    return list(more) if total is None else [a + b for a, b in zip(total, more, strict=True)]


class Flux(TransformerFamily):
    id = FamilyId.FLUX
    label = "Flux"
    latent = FLUX_LATENT
    patch_size = 2
    text_encoder_slots = ("clip_l", "t5")
    t5_max_length = 512
    pipeline_classes = ("FluxPipeline", "FluxImg2ImgPipeline", "FluxInpaintPipeline",
                        "FluxFillPipeline", "FluxControlNetPipeline")
    transformer_class = "FluxTransformer2DModel"
    folder_encoders = (
        ("text_encoder", "clip_l", "CLIPTextModel"),
        ("text_encoder_2", "t5", "T5EncoderModel"),
    )
    lora_denoiser_prefix = "transformer"
    lora_text_prefixes: ClassVar[dict[str, str]] = {"clip_l": "text_encoder"}
    lora_markers = ("single_transformer_blocks", "double_blocks", "single_blocks")
    #: ComfyUI's all-in-one Flux files (its VAE under "vae.").
    checkpoint_prefixes: ClassVar[dict[str, str]] = {
        "transformer": "model.diffusion_model.", "clip_l": "text_encoders.clip_l.transformer.",
        "t5": "text_encoders.t5xxl.transformer.", "vae": "vae.",
    }

    def detect_checkpoint(self, shapes: Any) -> bool:
        return "model.diffusion_model.double_blocks.0.img_attn.qkv.weight" in shapes

    def detect_diffusion_model(self, shapes: Any) -> bool:
        return ("double_blocks.0.img_attn.qkv.weight" in shapes
                or self.detect_checkpoint(shapes)
                or "single_transformer_blocks.0.proj_out.weight" in shapes)

    def lora_state_dict(self, weights: dict[str, torch.Tensor]) -> tuple[dict, dict | None]:
        from diffusers.loaders import FluxLoraLoaderMixin

        # Reads the diffusers, kohya, XLabs and BFL formats into diffusers names.
        state_dict, alphas = FluxLoraLoaderMixin.lora_state_dict(weights, return_alphas=True)
        return state_dict, alphas or None

    def released_config(self, shapes: Any) -> str:
        bare = {key.removeprefix("model.diffusion_model.") for key in shapes}
        return "flux_dev" if "guidance_in.in_layer.weight" in bare else "flux_schnell"

    def transformer_from_original(self, weights: Any, config: Any) -> dict[str, torch.Tensor]:
        inner = config["num_attention_heads"] * config["attention_head_dim"]
        if inner == _RELEASED_WIDTH:
            from diffusers.loaders.single_file_utils import (
                convert_flux_transformer_checkpoint_to_diffusers,
            )

            return convert_flux_transformer_checkpoint_to_diffusers(dict(weights))
        # diffusers' converter assumes the released width; other sizes (distilled or test
        # models) take the same mapping derived from the config.
        from nodestudio.runtime.original_layout_dit import flux_transformer_from_original

        return flux_transformer_from_original(weights, config)

    def default_scheduler_config(self, transformer_config: Any) -> dict[str, Any]:
        if transformer_config.guidance_embeds:  # dev: shift by resolution
            return {"shift": 3.0, "use_dynamic_shifting": True, "base_shift": 0.5,
                    "max_shift": 1.15, "base_image_seq_len": 256, "max_image_seq_len": 4096}
        return {"shift": 1.0, "use_dynamic_shifting": False}  # schnell

    def is_inpainting(self, model: DiffusionModel) -> bool:
        # Flux Fill: the packed latent, the packed masked image and the packed 8 × 8 mask.
        return model.denoiser.config.in_channels > 4 * model.latent_channels

    def default_sigmas(self, steps: int) -> Any:
        return np.linspace(1.0, 1 / steps, steps)

    def encode_prompt(self, clip: TextEncoders, text: str, options: PromptOptions) -> Conditioning:
        _, pooled = clip_outputs(clip, "clip_l", text, None)
        length = options.t5_max_length or self.t5_max_length
        t5 = t5_embeds(clip, options.text_2 or text, length)
        if t5 is None:
            raise NodeError("Flux needs a T5 text encoder: load it with Load Text Encoders "
                            "(clip_l and t5xxl, type flux)")
        return Conditioning(embeds=t5, pooled=pooled.to(t5.dtype), family=self)

    def check_conditioning(self, model: DiffusionModel, conditioning: Conditioning,
                           name: str) -> None:
        super().check_conditioning(model, conditioning, name)
        config = model.denoiser.config
        if (conditioning.embeds.shape[-1] != config.joint_attention_dim
                or conditioning.pooled is None
                or conditioning.pooled.shape[-1] != config.pooled_projection_dim):
            raise NodeError(f"the {name} prompt was encoded with the text encoders of another "
                            "Flux model")

    def denoiser(self, request: DenoiseRequest) -> FluxDenoiser:
        model, device, dtype = request.model, request.device, request.dtype
        transformer = ensure_on(model.denoiser, device)
        batch = request.geometry.batch
        halves = [request.positive] if request.negative is None else [request.negative,
                                                                       request.positive]
        prompts = [(c.embeds.repeat(batch, 1, 1).to(device, dtype),
                    c.pooled.repeat(batch, 1).to(device, dtype)) for c in halves]
        if len({embeds.shape for embeds, _ in prompts}) > 1:
            raise NodeError("with cfg above 1, Flux needs both prompts encoded with the same T5 "
                            "token limit")
        guidance = None
        if transformer.config.guidance_embeds:
            value = request.positive.guidance
            guidance = torch.full([batch], DEFAULT_GUIDANCE if value is None else value,
                                  device=device, dtype=torch.float32)
        geometry = request.geometry
        text_ids = torch.zeros(prompts[0][0].shape[1], 3, device=device, dtype=dtype)
        ids = image_ids(geometry.latent_height, geometry.latent_width, device, dtype)
        controls = [TransformerControl(use, ensure_on(use.controlnet.model, device),
                                       self._hint(use, request), on_positive, on_negative)
                    for use, on_positive, on_negative in collect_controls(self, request)]
        return FluxDenoiser(transformer, prompts, text_ids, ids, guidance,
                            self._fill_input(request), controls)

    def _hint(self, use: Any, request: DenoiseRequest) -> torch.Tensor:
        """InstantX-style ControlNets read packed hint latents; XLabs' (with an input hint
        block) read the pixels in [-1, 1]."""
        if use.controlnet.model.input_hint_block is not None:
            return hint_pixels(use, request.geometry, request.device, request.dtype)
        return pack(hint_latents(use, request.geometry, request.device, request.dtype, self))

    def _fill_input(self, request: DenoiseRequest) -> torch.Tensor | None:
        """Flux Fill's extra channels: packed masked-image latents, then the packed mask
        folded from pixels (8 × 8 per latent cell) as FluxFillPipeline prepares them."""
        if request.masked_latents is None:
            return None
        if request.pixel_mask is None:
            # The fold needs every pixel: a latent-size mask would lose the edges inside cells.
            raise NodeError("Flux Fill needs the mask at pixel size: connect it to VAE Encode")
        geometry, device, dtype = request.geometry, request.device, request.dtype
        batch, rows, columns = geometry.batch, geometry.latent_height, geometry.latent_width
        factor = geometry.height // rows
        mask = request.pixel_mask.to(device=device, dtype=dtype)[:, 0]
        # FluxFillPipeline.prepare_mask_latents: the factor × factor pixels over each latent
        # cell become that cell's channels (pixel row by row), then pack like any latent.
        mask = mask.reshape(batch, rows, factor, columns, factor).permute(0, 2, 4, 1, 3)
        mask = mask.reshape(batch, factor * factor, rows, columns)
        fill = torch.cat([pack(request.masked_latents.to(device=device, dtype=dtype)),
                          pack(mask)], dim=2)
        # Fill's x_embedder reads latents + masked latents + mask; another factor or latent
        # width would fail deep in the transformer, so say what does not fit here.
        expected = request.model.denoiser.config.in_channels
        if 4 * request.model.latent_channels + fill.shape[-1] != expected:
            raise NodeError(f"this Flux Fill model reads {expected} channels per token, but "
                            f"its VAE's {factor}× latents give "
                            f"{4 * request.model.latent_channels + fill.shape[-1]}")
        return fill

    def image_sequence_length(self, geometry: Geometry) -> int:
        return (geometry.latent_height // 2) * (geometry.latent_width // 2)


FAMILY = Flux()
