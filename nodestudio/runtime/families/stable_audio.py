"""Stable Audio Open: text → stereo audio with a diffusion transformer over 1-D latents.

A ``StableAudioDiTModel`` denoises ``[B, 64, frames]`` latents of an Oobleck autoencoder (one
frame per 2048 samples at 44.1 kHz), conditioned on T5 states and on two "seconds" numbers
(where the clip starts and how long it is) that a projection model turns into tokens. Sampled
with CosineDPMSolverMultistep (v-prediction, SDE noise) and classifier-free guidance, as
``StableAudioPipeline`` does, step for step.

The Sampler's generic loop is for image latents (``[B, C, h, w]``, image-to-image, masks,
stages); audio latents have one axis and the pipeline only generates from noise, so the family
runs its own loop (:meth:`StableAudio.sample`), the pipeline's. The projection model travels
with the transformer (:class:`StableAudioModel`) so that prompts keep the raw T5 states and are
projected by the model they are sampled with.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from nodestudio.api.errors import NodeError
from nodestudio.runtime.devices import compute_dtype, ensure_on
from nodestudio.runtime.families.base import (
    FamilyId,
    LatentFormat,
    LoadedParts,
    ModelFamily,
    Prediction,
    PromptOptions,
    Scheduling,
)
from nodestudio.runtime.memory_manager import loaded_to
from nodestudio.runtime.types import (
    Conditioning,
    DiffusionModel,
    Latent,
    TextEncoder,
    TextEncoders,
    Vae,
)

STABLE_AUDIO_LATENT = LatentFormat(name="stable_audio", channels=64, scaling_factor=1.0)
#: Stable Audio Open 1.0's numbers, for Empty Audio Latent without a VAE (ComfyUI's too).
RELEASED_SAMPLE_RATE, RELEASED_HOP, RELEASED_CHANNELS = 44100, 2048, 64


class StableAudioModel(torch.nn.Module):
    """The MODEL of a Stable Audio folder: the DiT and the projection of prompts and seconds."""

    def __init__(self, transformer: torch.nn.Module, projection: torch.nn.Module,
                 sample_rate: int) -> None:
        super().__init__()
        self.transformer = transformer
        self.projection = projection
        #: The VAE's sampling rate: seconds ↔ latent frames (with the VAE's hop).
        self.sample_rate = sample_rate

    @property
    def config(self) -> Any:
        return self.transformer.config


def seconds_of(conditioning: Conditioning) -> tuple[float, float | None]:
    """(seconds_start, seconds_total) set on a prompt by Conditioning (Stable Audio)."""
    extra = conditioning.extra
    total = extra.get("seconds_total")
    return float(extra.get("seconds_start", 0.0)), None if total is None else float(total)


def with_seconds(conditioning: Conditioning, start: float, total: float) -> Conditioning:
    """The prompt with the clip's start and length, on every entry (ComfyUI's node)."""
    return conditioning.map_entries(lambda entry: replace(
        entry, extra={**entry.extra, "seconds_start": float(start),
                      "seconds_total": float(total)}))


class StableAudio(ModelFamily):
    id = FamilyId.STABLE_AUDIO
    label = "Stable Audio"
    prediction = Prediction.V
    scheduling = Scheduling.DISCRETE
    latent = STABLE_AUDIO_LATENT
    text_encoder_slots = ("t5",)
    folder_encoders = (("text_encoder", "t5", "T5EncoderModel"),)

    def matches_pipeline(self, model_index: Mapping[str, Any]) -> bool:
        return model_index.get("_class_name") == "StableAudioPipeline"

    def check_conditioning(self, model: DiffusionModel, conditioning: Conditioning,
                           name: str) -> None:
        if conditioning.family is not self:
            raise NodeError(f"the {name} prompt was not encoded with a Stable Audio text encoder: "
                            "encode it with the CLIP output of the Stable Audio checkpoint")

    # -- loading ---------------------------------------------------------------------------

    def load_folder(self, path: Path, index: Mapping[str, Any], device: torch.device,
                    progress: Callable[[], None]) -> LoadedParts:
        from diffusers import AutoencoderOobleck, StableAudioDiTModel
        from diffusers.pipelines.stable_audio import StableAudioProjectionModel
        from transformers import T5EncoderModel

        from nodestudio.runtime.families.transformer import folder_tokenizer
        from nodestudio.runtime.model_configs import read_json

        for component in ("transformer", "projection_model", "vae", "text_encoder", "scheduler"):
            if not (path / component).is_dir():
                raise NodeError(f"{path.name} is a Stable Audio folder without its {component}: "
                                f"put the {component} folder of the release in {path}")
        dtype = compute_dtype(device)
        common = {"torch_dtype": dtype, "local_files_only": True}
        transformer = StableAudioDiTModel.from_pretrained(path, subfolder="transformer", **common)
        projection = StableAudioProjectionModel.from_pretrained(
            path, subfolder="projection_model", **common)
        progress()
        # The Oobleck decoder runs in float32: its snake activations overflow in fp16.
        vae = AutoencoderOobleck.from_pretrained(path, subfolder="vae", local_files_only=True)
        progress()
        t5 = T5EncoderModel.from_pretrained(path, subfolder="text_encoder", **common)
        tokenizer = folder_tokenizer(path / "tokenizer", "t5")
        progress()
        model = DiffusionModel(
            denoiser=loaded_to(StableAudioModel(
                transformer, projection, int(vae.config.sampling_rate)), device),
            scheduler_config=dict(read_json(path / "scheduler" / "scheduler_config.json")),
            family=self, latent_channels=int(transformer.config.in_channels),
            vae_scale_factor=int(vae.hop_length), device=device, source=str(path),
            latent_format=self.latent.name,
        )
        clip = TextEncoders((TextEncoder(loaded_to(t5, device), tokenizer, slot="t5"),), self,
                            device, str(path))
        return LoadedParts(model, clip, Vae(loaded_to(vae, device), device, str(path)))

    # -- prompts ---------------------------------------------------------------------------

    @torch.inference_mode()
    def encode_prompt(self, clip: TextEncoders, text: str, options: PromptOptions) -> Conditioning:
        """T5's states and attention mask, as ``StableAudioPipeline.encode_prompt`` makes them
        before the projection (which the model applies, see the module's docstring)."""
        from nodestudio.runtime import lora

        encoder = clip.slot("t5")
        if encoder is None:
            raise NodeError("Stable Audio needs its T5 text encoder: load the Stable Audio "
                            "checkpoint folder and use its CLIP output")
        model = ensure_on(encoder.model, clip.device)
        tokens = encoder.tokenizer(text, padding="max_length", truncation=True,
                                   max_length=encoder.tokenizer.model_max_length,
                                   return_tensors="pt")
        ids = tokens.input_ids.to(clip.device)
        mask = tokens.attention_mask.to(clip.device)
        with lora.applied(model, clip.loras):
            states = model(ids, attention_mask=mask)[0]
        return Conditioning(embeds=states, family=self, extra={"attention_mask": mask})

    # -- sampling --------------------------------------------------------------------------

    def _states(self, model: StableAudioModel, conditioning: Conditioning,
                seconds: tuple[float, float], device: torch.device,
                dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """(cross-attention tokens, global state) of one prompt: the projected T5 states
        (masked), then the start and total seconds tokens, as the pipeline concatenates them."""
        projection = model.projection
        mask = conditioning.extra["attention_mask"].to(device)
        states = conditioning.embeds.to(device, dtype)
        width = projection.config.text_encoder_dim
        if states.shape[-1] != width:
            raise NodeError(f"the prompt's T5 states are {states.shape[-1]} wide but this Stable "
                            f"Audio model reads {width}: encode it with this model's encoder")
        text = projection(text_hidden_states=states).text_hidden_states
        text = text * mask.unsqueeze(-1).to(text.dtype)
        # The pipeline multiplies by the mask twice (a no-op the second time for a 0/1 mask).
        text = text * mask.unsqueeze(-1).to(text.dtype)
        out = projection(start_seconds=torch.tensor([seconds[0]], device=device),
                         end_seconds=torch.tensor([seconds[1]], device=device))
        start, end = out.seconds_start_hidden_states, out.seconds_end_hidden_states
        tokens = torch.cat([text, start.to(text.dtype), end.to(text.dtype)], dim=1)
        return tokens, torch.cat([start, end], dim=2).to(text.dtype)

    def _seconds(self, model: DiffusionModel, positive: Conditioning,
                 latent: Latent) -> tuple[float, float]:
        """The clip's (start, end) in seconds; the end defaults to the latent's length."""
        length = latent.samples.shape[-1] * model.vae_scale_factor / _sample_rate(model)
        start, total = seconds_of(positive)
        end = length if total is None else total
        config = model.denoiser.projection.config
        if end < start:
            raise NodeError(f"seconds_total ({end}) is before seconds_start ({start}): "
                            "raise seconds_total")
        for value in (start, end):
            if not config.min_value <= value <= config.max_value:
                raise NodeError(f"seconds {value} is outside what this Stable Audio model knows "
                                f"({config.min_value}–{config.max_value} s)")
        if end - start > length + 1e-6:
            raise NodeError(f"the clip asks for {end - start:g} s but the latent holds "
                            f"{length:g} s: make Empty Audio Latent longer")
        return start, end

    @torch.inference_mode()
    def sample(self, model: DiffusionModel, positive: Conditioning, negative: Conditioning,
               latent: Latent, settings: Any, mask: Any,
               on_step: Callable[[int, int, torch.Tensor], None] | None,
               check_cancelled: Callable[[], None] | None) -> Latent:
        """``StableAudioPipeline.__call__``'s loop (its own scheduler, whatever the Sampler's
        sampler and schedule say)."""
        from diffusers import CosineDPMSolverMultistepScheduler
        from diffusers.models.embeddings import get_1d_rotary_pos_embed
        from diffusers.utils.torch_utils import randn_tensor

        _check_audio_request(latent, settings, mask)
        device, dtype = model.device, model.dtype
        net = ensure_on(model.denoiser, device)
        seconds = self._seconds(model, positive, latent)
        halves = [negative, positive] if settings.cfg > 1.0 else [positive]
        for conditioning, name in zip(halves, ("negative", "positive")[-len(halves):],
                                      strict=True):
            self.check_conditioning(model, conditioning, name)
        batch = latent.batch_size
        states = [self._states(net, c, seconds, device, dtype) for c in halves]
        tokens = torch.cat([s[0].repeat(batch, 1, 1) for s in states])
        global_states = torch.cat([s[1].repeat(batch, 1, 1) for s in states])

        scheduler = CosineDPMSolverMultistepScheduler.from_config(model.scheduler_config)
        scheduler.set_timesteps(settings.steps, device=device)
        generator = torch.Generator("cpu").manual_seed(settings.seed)
        shape = (batch, model.latent_channels, latent.samples.shape[-1])
        latents = randn_tensor(shape, generator=generator, device=device, dtype=dtype)
        latents = latents * scheduler.init_noise_sigma
        step_kwargs = {"generator": generator} if "generator" in inspect.signature(
            scheduler.step).parameters else {}
        rotary = get_1d_rotary_pos_embed(net.config.attention_head_dim // 2,
                                         latents.shape[2] + global_states.shape[1],
                                         use_real=True, repeat_interleave_real=False)
        timesteps = scheduler.timesteps
        for i, t in enumerate(timesteps):
            if check_cancelled is not None:
                check_cancelled()
            model_input = scheduler.scale_model_input(torch.cat([latents] * len(halves)), t)
            prediction = net.transformer(
                model_input, t.unsqueeze(0), encoder_hidden_states=tokens,
                global_hidden_states=global_states, rotary_embedding=rotary,
                return_dict=False)[0]
            if len(halves) == 2:
                uncond, cond = prediction.chunk(2)
                prediction = uncond + settings.cfg * (cond - uncond)
            latents = scheduler.step(prediction, t, latents, **step_kwargs).prev_sample
            if on_step is not None:
                # Previews read image latents: the clip is shown as a one-row strip.
                on_step(i + 1, len(timesteps), latents[:, :, None, :])
        return Latent(samples=latents, scale_factor=latent.scale_factor,
                      audio_seconds=seconds)


@torch.inference_mode()
def decode_audio(vae: Vae, latent: Latent) -> Any:
    """AUDIO of an audio latent: the VAE's waveform, cut to the seconds the prompt asked for
    (``int(seconds × rate)`` samples, as the pipeline cuts); a batch is joined in time."""
    import numpy as np

    from nodestudio.api.media import Audio

    model = ensure_on(vae.model, vae.device)
    if latent.samples.shape[1] != vae.latent_channels:
        raise NodeError(f"the latent has {latent.samples.shape[1]} channels but this VAE "
                        f"decodes {vae.latent_channels}: use the model's own VAE")
    samples = latent.samples.to(vae.device, model.dtype)
    waveform = model.decode(samples).sample.float()
    rate = int(model.config.sampling_rate)
    if latent.audio_seconds is not None:
        start, end = latent.audio_seconds
        waveform = waveform[:, :, int(start * rate):int(end * rate)]
    clips = [clip for clip in waveform.cpu().numpy()]
    return Audio(np.concatenate(clips, axis=-1), rate)


def _sample_rate(model: DiffusionModel) -> int:
    """The model's audio sample rate (its VAE's)."""
    return int(getattr(model.denoiser, "sample_rate", 0) or RELEASED_SAMPLE_RATE)


def _check_audio_request(latent: Latent, settings: Any, mask: Any) -> None:
    if latent.samples.ndim != 3:
        raise NodeError("Stable Audio samples audio latents: start from Empty Audio Latent")
    if mask is not None or latent.noise_mask is not None:
        raise NodeError("Stable Audio cannot inpaint: disconnect the mask")
    if settings.denoise < 1.0 or not settings.add_noise or settings.start_step > 0 \
            or settings.leftover_noise:
        raise NodeError("Stable Audio generates from noise only: set denoise to 1 and leave "
                        "the advanced step settings at their defaults")


FAMILY = StableAudio()
