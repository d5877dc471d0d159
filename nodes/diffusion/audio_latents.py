"""Audio latents (Stable Audio Open): Empty Audio Latent, Conditioning (Stable Audio) and VAE
Decode Audio, as ComfyUI's EmptyLatentAudio, ConditioningStableAudio and VAEDecodeAudio."""

from __future__ import annotations

from typing import Any

from nodestudio.api import (
    AUDIO,
    CONDITIONING,
    LATENT,
    MODEL,
    VAE,
    Float,
    Input,
    Int,
    NodeError,
    Output,
    node,
)

CATEGORY = "latent/audio"


def _audio_shape(model: Any, vae: Any) -> tuple[int, int, int, Any]:
    """(latent channels, samples per latent frame, sample rate, device) of the connected model
    or VAE; Stable Audio Open 1.0's numbers when neither is connected (as ComfyUI)."""
    from nodestudio.runtime.families import stable_audio

    if vae is not None:
        if not hasattr(vae.model, "hop_length"):
            raise NodeError("this VAE is an image VAE: connect the audio model's VAE "
                            "(a Stable Audio checkpoint's)")
        return (vae.latent_channels, int(vae.model.hop_length),
                int(vae.config.sampling_rate), vae.device)
    if model is not None:
        if model.family is not stable_audio.FAMILY:
            raise NodeError(f"this is a {model.family.label} model, not an audio model: "
                            "connect a Stable Audio checkpoint's model")
        return (model.latent_channels, model.vae_scale_factor,
                int(model.denoiser.sample_rate), model.device)
    return (stable_audio.RELEASED_CHANNELS, stable_audio.RELEASED_HOP,
            stable_audio.RELEASED_SAMPLE_RATE, "cpu")


@node(
    "diffusion.empty_audio_latent",
    display_name="Empty Audio Latent",
    category=CATEGORY,
    description=(
        "A silent latent to generate sound from (Stable Audio). Its length is the clip's "
        "duration in latent frames (an even number of them); connect the model or its VAE so "
        "the channels and frames fit it (without either: Stable Audio Open 1.0's 64 channels, "
        "2048 samples per frame at 44.1 kHz)."
    ),
    inputs=[
        Input("model", MODEL, optional=True),
        Input("vae", VAE, optional=True),
        Float("seconds", 47.6, min=0.1, max=1000.0, step=0.1,
              description="How long the clip is"),
        Int("batch_size", 1, min=1, max=64, description="How many clips to generate at once"),
    ],
    outputs=[Output("latent", LATENT)],
)
def empty_audio_latent(model: Any = None, vae: Any = None, seconds: float = 47.6,
                       batch_size: int = 1) -> Any:
    import torch

    from nodestudio.runtime.types import Latent

    channels, hop, rate, device = _audio_shape(model, vae)
    # ComfyUI's EmptyLatentAudio rounds the frames to an even count.
    frames = round(seconds * rate / hop / 2) * 2
    if frames < 2:
        raise NodeError(f"{seconds} s is shorter than two latent frames ({2 * hop / rate:g} s) "
                        "of this model: make the clip longer")
    samples = torch.zeros((batch_size, channels, frames), device=device)
    return Latent(samples=samples, scale_factor=hop, is_empty=True)


@node(
    "diffusion.conditioning_stable_audio",
    display_name="Conditioning (Stable Audio)",
    category="conditioning",
    description=(
        "Tells Stable Audio where the clip starts in a longer piece and how long it is; the "
        "model shapes the sound to that length (what is decoded is cut to it). Set on both "
        "prompts, as the pipeline does."
    ),
    inputs=[
        Input("positive", CONDITIONING),
        Input("negative", CONDITIONING),
        Float("seconds_start", 0.0, min=0.0, max=1000.0, step=0.1),
        Float("seconds_total", 47.0, min=0.0, max=1000.0, step=0.1),
    ],
    outputs=[Output("positive", CONDITIONING), Output("negative", CONDITIONING)],
)
def conditioning_stable_audio(positive: Any, negative: Any, seconds_start: float = 0.0,
                              seconds_total: float = 47.0) -> tuple[Any, Any]:
    from nodestudio.runtime.families.stable_audio import with_seconds

    if seconds_total < seconds_start:
        raise NodeError(f"seconds_total ({seconds_total}) is before seconds_start "
                        f"({seconds_start}): raise seconds_total")
    return (with_seconds(positive, seconds_start, seconds_total),
            with_seconds(negative, seconds_start, seconds_total))


@node(
    "diffusion.vae_decode_audio",
    display_name="VAE Decode Audio",
    category=CATEGORY,
    description=(
        "Turns an audio latent into sound with the model's VAE, kept to the span the prompt "
        "asked for (Conditioning (Stable Audio)'s start and total). A batch of clips is "
        "joined one after another."
    ),
    inputs=[Input("latent", LATENT), Input("vae", VAE)],
    outputs=[Output("audio", AUDIO)],
)
def vae_decode_audio(latent: Any, vae: Any) -> Any:
    from nodestudio.runtime.families.stable_audio import decode_audio

    if latent.samples.ndim != 3:
        raise NodeError("this is an image latent: VAE Decode Audio decodes audio latents "
                        "(Empty Audio Latent → Sampler)")
    if not hasattr(vae.model, "hop_length"):
        raise NodeError("this VAE is an image VAE: connect the audio model's VAE")
    return decode_audio(vae, latent)
