"""VAE Encode / Decode between IMAGE (numpy [B, H, W, 3] in [0, 1]) and LATENT.

Decode follows the pipelines: ``latents / scaling_factor`` (or ``latents × std / scaling +
mean`` for VAEs with latent statistics), ``vae.decode``, ``(x / 2 + 0.5).clamp(0, 1)``.
Half-precision VAEs that declare ``force_upcast`` (SDXL's) were loaded in fp32 and decode in
fp32. Tiled decoding (diffusers' ``tiled_decode``: overlapping tiles blended at their seams)
keeps memory bounded for large images.

Encode takes the posterior **mode** (its mean), not a sample: a cached LATENT must not depend on
a random draw, and the same image must give the same latent. (The img2img/inpaint pipelines
sample the posterior with the generator; fidelity tests therefore hand them our latents.)
Images whose sides are not multiples of the VAE's factor are centre-cropped to the nearest
smaller multiple. Given a mask, Encode also stores the mask and the latents of the image with
the masked area blanked (grey), which 9-channel inpainting models need.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F

from nodestudio.api.errors import NodeError
from nodestudio.runtime import fast_mode, memory_manager
from nodestudio.runtime.devices import module_dtype
from nodestudio.runtime.memory_manager import HEADROOM
from nodestudio.runtime.types import Latent, Vae


def _statistics(vae: Vae, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Per-channel latent mean and std of VAEs that declare them (else None)."""
    config = vae.config
    mean, std = getattr(config, "latents_mean", None), getattr(config, "latents_std", None)
    if mean is None or std is None:
        return None
    shape = (1, len(mean), 1, 1)
    return (torch.tensor(mean, device=like.device, dtype=like.dtype).view(shape),
            torch.tensor(std, device=like.device, dtype=like.dtype).view(shape))


def _shift(vae: Vae) -> float:
    # SD3's and Flux's VAEs centre their latents (shift_factor); SD's have none.
    return float(getattr(vae.config, "shift_factor", None) or 0.0)


def _to_latent_space(vae: Vae, moments: torch.Tensor) -> torch.Tensor:
    statistics = _statistics(vae, moments)
    if statistics is not None:
        mean, std = statistics
        return (moments - mean) * vae.config.scaling_factor / std
    shift = _shift(vae)
    if shift:
        return (moments - shift) * vae.config.scaling_factor
    return moments * vae.config.scaling_factor


def _from_latent_space(vae: Vae, latents: torch.Tensor) -> torch.Tensor:
    statistics = _statistics(vae, latents)
    if statistics is not None:
        mean, std = statistics
        return latents * std / vae.config.scaling_factor + mean
    shift = _shift(vae)
    if shift:
        return latents / vae.config.scaling_factor + shift
    return latents / vae.config.scaling_factor


@contextmanager
def _tile_size(model: torch.nn.Module, tile: int, factor: int) -> Iterator[None]:
    """Temporarily set the VAE's tile size (the module is shared: restore it afterwards)."""
    saved = (model.tile_sample_min_size, model.tile_latent_min_size)
    model.tile_sample_min_size = tile
    model.tile_latent_min_size = tile // factor
    try:
        yield
    finally:
        model.tile_sample_min_size, model.tile_latent_min_size = saved


def _families_with(channels: int) -> str:
    """Which families' latents have ``channels`` channels, for messages ("SD3, Flux")."""
    from nodestudio.runtime.families import FAMILIES

    # An image latent is never a video family's, whatever its channels.
    names = [family.label for family in reversed(FAMILIES)
             if family.latent.channels == channels and not family.video]
    return ", ".join(names) or "unknown"


@torch.inference_mode()
def decode(vae: Vae, latent: Latent, tiled: bool = False, tile_size: int = 512,
           progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """LATENT → IMAGE; ``progress`` (a node's ``ctx.progress``) hears how far a video's
    decode is (per frame chunk), so the window's bar moves during long decodes."""
    channels = latent.samples.shape[1]
    if channels != vae.latent_channels:
        raise NodeError(
            f"the latent has {channels} channels ({_families_with(channels)} latents), this "
            f"VAE makes {vae.latent_channels} ({_families_with(vae.latent_channels)}): decode "
            "with the VAE of the model that made the latent"
        )
    if latent.samples.ndim == 5 and vae.temporal_factor <= 1:
        from nodestudio.runtime.animatediff import decode_frames

        # AnimateDiff, SVD: frame by frame, as the pipelines
        return decode_frames(vae, latent, progress=progress)
    if latent.samples.ndim == 5:
        from nodestudio.runtime.video_vae import decode_video

        return decode_video(vae, latent, progress)  # a video: its frames, one image each
    # The memory policy places the VAE for this node (offload: back to system memory after);
    # fast mode compiles its decoder once, reused by every later decode of the same size.
    with memory_manager.models_in_use([vae.model], vae.device, HEADROOM) as (mode,):
        model = vae.model
        fast_mode.prepare_vae(model, vae.device, mode, tiled)
        latents = latent.samples.to(device=vae.device, dtype=module_dtype(model))
        latents = _from_latent_space(vae, latents)
        if tiled:
            with _tile_size(model, tile_size, vae.scale_factor):
                image = model.tiled_decode(latents, return_dict=False)[0]
        else:
            image = model.decode(latents, return_dict=False)[0]
        image = (image / 2 + 0.5).clamp(0, 1)
        return image.cpu().permute(0, 2, 3, 1).float().numpy()


def _crop_to_multiple(pixels: torch.Tensor, factor: int) -> torch.Tensor:
    height, width = pixels.shape[-2:]
    new_height, new_width = height - height % factor, width - width % factor
    if new_height == 0 or new_width == 0:
        raise NodeError(f"the image is smaller than the VAE's {factor}-pixel grid")
    top, left = (height - new_height) // 2, (width - new_width) // 2
    return pixels[..., top : top + new_height, left : left + new_width]


def _image_tensor(image: np.ndarray) -> torch.Tensor:
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] not in (3, 4):
        raise NodeError(f"expected an image batch [B, H, W, 3], got shape {tuple(array.shape)}")
    return torch.from_numpy(np.ascontiguousarray(array[..., :3])).permute(0, 3, 1, 2)


def mask_tensor(mask: np.ndarray) -> torch.Tensor:
    """MASK (numpy [B, H, W] or [H, W]) → float32 [B, 1, H, W]."""
    array = np.asarray(mask, dtype=np.float32)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3:
        raise NodeError(f"expected a mask batch [B, H, W], got shape {tuple(array.shape)}")
    return torch.from_numpy(np.ascontiguousarray(array))[:, None]


@torch.inference_mode()
def _encode_pixels(vae: Vae, pixels: torch.Tensor) -> torch.Tensor:
    with memory_manager.models_in_use([vae.model], vae.device, HEADROOM):
        model = vae.model
        scaled = (pixels * 2 - 1).to(device=vae.device, dtype=module_dtype(model))
        moments = model.encode(scaled).latent_dist.mode()
        return _to_latent_space(vae, moments)


def encode(vae: Vae, image: np.ndarray, mask: np.ndarray | None = None) -> Latent:
    """IMAGE (+ optional MASK, 1 = repaint) → LATENT."""
    pixels = _crop_to_multiple(_image_tensor(image), vae.scale_factor)
    latents = _encode_pixels(vae, pixels)
    noise_mask = masked = None
    if mask is not None:
        mask_pixels = mask_tensor(mask)
        if tuple(mask_pixels.shape[-2:]) != tuple(pixels.shape[-2:]):
            mask_pixels = F.interpolate(mask_pixels, size=tuple(pixels.shape[-2:]))
        if mask_pixels.shape[0] not in (1, pixels.shape[0]):
            raise NodeError(
                f"the mask has {mask_pixels.shape[0]} images and the image {pixels.shape[0]}"
            )
        # As the inpaint pipeline: masked pixels become 0 in [-1, 1] (grey) before encoding.
        keep = (mask_pixels < 0.5).to(pixels.dtype)
        masked = _encode_pixels(vae, pixels * keep + 0.5 * (1 - keep))
        noise_mask = mask_pixels
    return Latent(
        samples=latents,
        scale_factor=vae.scale_factor,
        noise_mask=noise_mask,
        masked_image_latents=masked,
    )
