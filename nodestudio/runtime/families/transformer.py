"""What the diffusion-transformer families (SD3, Flux) share: loading their diffusers folders,
encoding prompts with CLIP and T5 as their pipelines do, and the flow-matching declarations.

Each family module keeps what is its own: which encoders it reads and how it concatenates
them, how the transformer is called, its latent format and shift.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from nodestudio.api.errors import NodeError
from nodestudio.runtime.control import keep_fraction
from nodestudio.runtime.devices import compute_dtype, ensure_on
from nodestudio.runtime.families.base import (
    Geometry,
    LoadedParts,
    ModelFamily,
    Prediction,
    Scheduling,
)
from nodestudio.runtime.memory_manager import loaded_to
from nodestudio.runtime.types import (
    Conditioning,
    ControlUse,
    DiffusionModel,
    TextEncoder,
    TextEncoders,
    Vae,
)


class TokenizerMissingError(NodeError):
    """A text encoder came without its tokenizer; the message names the folder to fill."""


class TransformerFamily(ModelFamily):
    """Base of the flow-matching diffusion-transformer families."""

    prediction = Prediction.FLOW
    scheduling = Scheduling.FLOW
    #: The diffusers pipeline class names of this family's folders.
    pipeline_classes: ClassVar[tuple[str, ...]] = ()
    #: diffusers model class of the denoiser (``transformer/``).
    transformer_class: ClassVar[str]
    #: model_index component → (slot, transformers class) of the text encoders, in order.
    folder_encoders: ClassVar[tuple[tuple[str, str, str], ...]] = ()
    #: Key prefixes of the parts of an all-in-one file: "transformer", "vae" and each slot.
    checkpoint_prefixes: ClassVar[dict[str, str]] = {}

    def matches_pipeline(self, model_index: Mapping[str, Any]) -> bool:
        return model_index.get("_class_name") in self.pipeline_classes

    def released_config(self, shapes: Mapping[str, tuple[int, ...]]) -> str:
        """The folder under resources/model_configs with the released architecture these
        weights (original layout) have."""
        raise NotImplementedError

    def transformer_from_original(self, weights: Mapping[str, torch.Tensor],
                                  config: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """Original-layout weights (bare or under ``model.diffusion_model.``) in diffusers
        names."""
        raise NotImplementedError

    def default_scheduler_config(self, transformer_config: Any) -> dict[str, Any]:
        """The scheduler config of a diffusion model that came without one."""
        return {"shift": 3.0, "num_train_timesteps": 1000}

    def check_conditioning(self, model: DiffusionModel, conditioning: Conditioning,
                           name: str) -> None:
        if conditioning.family is not None and conditioning.family is not self:
            raise NodeError(
                f"the {name} prompt was encoded with {conditioning.family.label} text encoders, "
                f"but this is a {self.label} model: encode it with the CLIP output of a "
                f"{self.label} checkpoint, or Load Text Encoders set to {self.id.value}"
            )

    def load_folder(self, path: Path, index: Mapping[str, Any], device: torch.device,
                    progress: Callable[[], None]) -> LoadedParts:
        import diffusers
        import transformers
        from diffusers import AutoencoderKL

        from nodestudio.runtime.checkpoints import variant_of

        dtype = compute_dtype(device)
        transformer_class = getattr(diffusers, self.transformer_class)
        transformer = transformer_class.from_pretrained(
            path, subfolder="transformer", torch_dtype=dtype, local_files_only=True,
            variant=variant_of(path / "transformer"),
        )
        progress()
        vae = AutoencoderKL.from_pretrained(
            path, subfolder="vae", torch_dtype=dtype, local_files_only=True,
            variant=variant_of(path / "vae"),
        )
        progress()
        encoders = []
        for component, slot, class_name in self.folder_encoders:
            if not (index.get(component) or [None])[0]:
                continue  # SD3 may ship without T5 (its pipeline allows text_encoder_3=None)
            model = getattr(transformers, class_name).from_pretrained(
                path, subfolder=component, torch_dtype=dtype, local_files_only=True,
                variant=variant_of(path / component),
            )
            tokenizer_folder = path / component.replace("text_encoder", "tokenizer")
            encoders.append(TextEncoder(loaded_to(model, device), folder_tokenizer(
                tokenizer_folder, slot), slot=slot, pooled=slot.startswith("clip")))
            progress()
        from nodestudio.runtime.model_configs import read_json

        scheduler_config = read_json(path / "scheduler" / "scheduler_config.json")
        return self.assemble(transformer, scheduler_config, vae, tuple(encoders), device,
                             str(path))

    def assemble(self, transformer: torch.nn.Module, scheduler_config: Mapping[str, Any],
                 vae_model: Any, encoders: tuple[TextEncoder, ...], device: torch.device,
                 source: str) -> LoadedParts:
        from nodestudio.runtime.checkpoints import latent_format_of

        vae = Vae(loaded_to(vae_model, device), device, source) if vae_model is not None else None
        model = None
        if transformer is not None:
            model = DiffusionModel(
                denoiser=loaded_to(transformer, device),
                scheduler_config=dict(scheduler_config),
                family=self,
                latent_channels=vae.latent_channels if vae is not None else self.latent.channels,
                vae_scale_factor=vae.scale_factor if vae is not None else 8,
                device=device,
                source=source,
                latent_format=latent_format_of(vae.config) if vae is not None else self.latent.name,
            )
        clip = TextEncoders(encoders, self, device, source) if encoders else None
        return LoadedParts(model, clip, vae)


def folder_tokenizer(folder: Path, slot: str) -> Any:
    """The tokenizer a diffusers folder ships for an encoder slot."""
    if slot == "t5":
        from transformers import T5TokenizerFast

        if not (folder / "tokenizer.json").is_file():
            raise TokenizerMissingError(
                f"the T5 tokenizer is missing: put its tokenizer.json in {folder} "
                "(NodeStudio cannot read spiece.model without sentencepiece)"
            )
        return T5TokenizerFast.from_pretrained(folder, local_files_only=True)
    from transformers import CLIPTokenizer

    if folder.is_dir():
        return CLIPTokenizer.from_pretrained(folder, local_files_only=True)
    return clip_tokenizer_for(slot)


def clip_tokenizer_for(slot: str) -> Any:
    """CLIP's tokenizer, built offline; OpenCLIP's bigG pads with "!", OpenAI's L with the end."""
    from nodestudio.runtime.tokenizers import END_TOKEN, OPEN_CLIP_PAD_TOKEN, clip_tokenizer

    return clip_tokenizer(OPEN_CLIP_PAD_TOKEN if slot == "clip_g" else END_TOKEN)


def tokenize_padded(encoder: TextEncoder, text: str, length: int) -> torch.Tensor:
    """Token ids padded (and cut) to ``length``, as the SD3 and Flux pipelines tokenize."""
    return encoder.tokenizer(text, padding="max_length", max_length=length, truncation=True,
                             return_tensors="pt").input_ids


@torch.inference_mode()
def t5_embeds(clip: TextEncoders, text: str, length: int) -> torch.Tensor | None:
    """[1, length, width] T5 hidden states, or None when the CLIP output has no T5."""
    encoder = clip.slot("t5")
    if encoder is None:
        return None
    from nodestudio.runtime import lora

    model = ensure_on(encoder.model, clip.device)
    ids = tokenize_padded(encoder, text, length).to(clip.device)
    with lora.applied(model, clip.loras):
        return model(ids)[0]


@torch.inference_mode()
def clip_outputs(clip: TextEncoders, slot: str, text: str, hidden_layer: int | None
                 ) -> tuple[torch.Tensor | None, torch.Tensor]:
    """(hidden states of layer ``hidden_layer`` or None, pooled embedding) of a CLIP slot.

    The pooled embedding is the projected one of a CLIPTextModelWithProjection (SD3) or the
    pooler output of a CLIPTextModel (Flux): ``output[0]`` / ``pooler_output``.
    """
    encoder = clip.slot(slot)
    if encoder is None:
        raise NodeError(f"the {clip.family.label} text encoders lack {slot}: load it with "
                        "Load Text Encoders")
    from nodestudio.runtime import lora

    model = ensure_on(encoder.model, clip.device)
    ids = tokenize_padded(encoder, text, encoder.tokenizer.model_max_length).to(clip.device)
    with lora.applied(model, clip.loras):
        output = model(ids, output_hidden_states=hidden_layer is not None)
    pooled = output.text_embeds if hasattr(output, "text_embeds") else output.pooler_output
    hidden = output.hidden_states[hidden_layer] if hidden_layer is not None else None
    return hidden, pooled


@dataclass
class TransformerControl:
    """A ControlNet applied to the prompts, ready for a transformer family's denoiser."""

    use: ControlUse
    model: torch.nn.Module
    #: The hint as the ControlNet reads it (latents, or pixels for hint-block ControlNets).
    hint: torch.Tensor
    on_positive: bool
    on_negative: bool

    def scale(self, step: int, total: int) -> float:
        """Its strength at ``step`` of ``total`` (0 outside its start/end range)."""
        return self.use.strength * keep_fraction(step, total, self.use.start, self.use.end)


def hint_pixels(use: ControlUse, geometry: Geometry, device: torch.device,
                dtype: torch.dtype) -> torch.Tensor:
    """[B, 3, H, W] hint in [-1, 1] at the generated size, one per image of the batch."""
    image = use.image.to(torch.float32)
    if tuple(image.shape[-2:]) != (geometry.height, geometry.width):
        image = F.interpolate(image, size=(geometry.height, geometry.width))
    if image.shape[0] == 1:
        image = image.repeat_interleave(geometry.batch, dim=0)
    elif image.shape[0] != geometry.batch:
        raise NodeError(f"the ControlNet hint has {image.shape[0]} images but "
                        f"{geometry.batch} are generated; use one hint image or one per latent")
    return (image * 2 - 1).to(device=device, dtype=dtype)


@torch.inference_mode()
def hint_latents(use: ControlUse, geometry: Geometry, device: torch.device, dtype: torch.dtype,
                 family: ModelFamily, apply_shift: bool = True) -> torch.Tensor:
    """The hint encoded by the VAE given to Apply ControlNet: the posterior's mode (as VAE
    Encode takes it), scaled into the model's latent space."""
    if use.vae is None:
        raise NodeError(f"{family.label} ControlNets read their hint as latents: connect the "
                        "VAE to Apply ControlNet's vae input")
    vae_model = ensure_on(use.vae.model, use.vae.device)
    if use.vae.latent_channels != family.latent.channels:
        raise NodeError(f"the VAE given to Apply ControlNet makes {use.vae.latent_channels}-"
                        f"channel latents; {family.label} needs its own "
                        f"{family.latent.channels}-channel VAE")
    pixels = hint_pixels(use, geometry, use.vae.device, vae_model.dtype)
    moments = vae_model.encode(pixels).latent_dist.mode()
    shift = float(vae_model.config.shift_factor or 0.0) if apply_shift else 0.0
    latents = (moments - shift) * vae_model.config.scaling_factor
    return latents.to(device=device, dtype=dtype)


def collect_controls(family: ModelFamily, request: Any) -> list[tuple[ControlUse, bool, bool]]:
    """The ControlNets on the prompts (each once, in order), checked to be the family's."""
    from nodestudio.runtime.control import collect

    found = collect(request.positive, request.negative)
    for use, _, _ in found:
        if not family.accepts_controlnet(use.controlnet):
            raise NodeError(
                f"ControlNet {Path(use.controlnet.source).name or ''} is for "
                f"{use.controlnet.family.label}; this model is {family.label}"
            )
    return found
