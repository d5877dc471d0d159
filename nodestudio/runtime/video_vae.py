"""VAE Decode for video latents ([B, C, F, h, w]): the frames as an IMAGE batch.

Video VAEs (Wan's ``AutoencoderKLWan``, LTX-Video's ``AutoencoderKLLTXVideo`` …) normalise
their latents per channel: Wan lists the statistics in its config, LTX-Video keeps them as
buffers and adds a scaling factor. Decoding undoes ``(z − mean) × scaling / std`` as the
pipelines do, runs the causal 3-D decoder and returns the frames of every video one after
the other (``[B × F, H, W, 3]`` float32 in 0–1), so per-image nodes work per frame and
Create Video turns them into a VIDEO.

Decoding a long video takes a while, so it reports progress: decoders that step through the
latent frames one at a time (Wan's, whose ``forward`` takes a ``feat_cache``) tick per latent
frame, others once per call; a forward hook on the decoder counts the calls, so the
decode itself stays the pipeline's.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch

from nodestudio.api.errors import NodeError
from nodestudio.runtime.devices import ensure_on, module_dtype
from nodestudio.runtime.types import Latent, Vae


def _statistics(model: torch.nn.Module, like: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor] | None:
    """[1, C, 1, 1, 1] latent mean and std, from the config (Wan) or buffers (LTX-Video)."""
    config = model.config
    mean, std = getattr(config, "latents_mean", None), getattr(config, "latents_std", None)
    if mean is None or std is None:
        mean, std = getattr(model, "latents_mean", None), getattr(model, "latents_std", None)
    if mean is None or std is None:
        return None
    shape = (1, -1, 1, 1, 1)
    return (torch.as_tensor(mean).view(shape).to(like.device, like.dtype),
            torch.as_tensor(std).view(shape).to(like.device, like.dtype))


def from_latent_space(model: torch.nn.Module, latents: torch.Tensor) -> torch.Tensor:
    """Sampled latents → what the decoder reads (the pipelines' denormalisation)."""
    scaling = float(getattr(model.config, "scaling_factor", None) or 1.0)
    statistics = _statistics(model, latents)
    if statistics is None:
        return latents / scaling
    mean, std = statistics
    return latents * std / scaling + mean


#: Reports decoding progress: (parts done, parts in all).
Progress = Callable[[int, int], None]


@contextmanager
def _decoder_progress(model: torch.nn.Module, frames: int,
                      progress: Progress | None) -> Iterator[None]:
    """Calls ``progress`` after each call of ``model.decoder`` (see the module docstring)."""
    decoder = getattr(model, "decoder", None)
    if progress is None or not isinstance(decoder, torch.nn.Module):
        yield
        return
    per_frame = "feat_cache" in inspect.signature(decoder.forward).parameters
    total = frames if per_frame else 1
    done = [0]

    def tick(*_: object) -> None:
        done[0] += 1
        progress(min(done[0], total), total)

    progress(0, total)
    handle = decoder.register_forward_hook(tick)
    try:
        yield
    finally:
        handle.remove()


@torch.inference_mode()
def decode_video(vae: Vae, latent: Latent, progress: Progress | None = None) -> np.ndarray:
    """[B, C, F, h, w] LATENT → IMAGE frames [B × F', H, W, 3]; ``progress`` hears how far
    the decoder is (the window's progress bar during long decodes)."""
    if vae.temporal_factor <= 1:
        raise NodeError("this latent is a video but the VAE decodes single images: decode it "
                        "with the VAE of the video model that made it")
    model = ensure_on(vae.model, vae.device)
    latents = latent.samples.to(device=vae.device, dtype=module_dtype(model))
    latents = from_latent_space(model, latents)
    with _decoder_progress(model, latents.shape[2], progress):
        if "temb" in inspect.signature(model.decode).parameters and getattr(
                model.config, "timestep_conditioning", False):
            # LTX-Video 0.9.1+ decoders take the decode timestep; the pipeline's default is 0
            # (with a noise scale of 0, so no noise is mixed in).
            timestep = torch.zeros(latents.shape[0], device=latents.device,
                                   dtype=latents.dtype)
            video = model.decode(latents, timestep, return_dict=False)[0]
        else:
            video = model.decode(latents, return_dict=False)[0]
    video = (video / 2 + 0.5).clamp(0, 1)  # [B, 3, F, H, W]
    frames = video.permute(0, 2, 3, 4, 1).flatten(0, 1)
    return frames.cpu().float().numpy()
