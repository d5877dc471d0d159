"""Empty Video Latent: the blank [B, C, F, h, w] latent text-to-video models start from.

One node for every video model: Wan and LTX-Video (causal video VAEs: ``temporal × k + 1``
frames) and SD 1.5 with a motion module (AnimateDiff: an image VAE, one latent frame per frame,
any count up to what the motion module's position embeddings cover). It also answers to the
id of the former "Empty AnimateDiff Latent" (``legacy_ids``), whose inputs were the same, so
saved graphs open with this node in its place.
"""

from __future__ import annotations

from typing import Any

from nodestudio.api import LATENT, MODEL, VAE, Input, Int, NodeError, Output, node


def video_latent_shape(channels: int, spatial: int, temporal: int, multiple: int, width: int,
                       height: int, length: int, batch_size: int) -> tuple[int, ...]:
    """[B, C, F, h, w] of a video of ``length`` frames; the frame count must be
    ``temporal × k + 1`` (the causal VAEs encode the first frame on its own)."""
    if temporal <= 1:
        raise NodeError("this is an image model: use Empty Latent Image, or connect a video "
                        "model (Wan, LTX-Video, or an SD 1.5 model through Apply AnimateDiff)")
    if (length - 1) % temporal:
        below = (length - 1) // temporal * temporal + 1
        raise NodeError(f"this model makes videos of {temporal}k + 1 frames: set length to "
                        f"{below} or {below + temporal} instead of {length}")
    if width < multiple or height < multiple:
        raise NodeError(f"the video must be at least {multiple} × {multiple} pixels for this "
                        "model")
    rows = height // multiple * multiple // spatial
    columns = width // multiple * multiple // spatial
    return (batch_size, channels, (length - 1) // temporal + 1, rows, columns)


def motion_latent_shape(model: Any, width: int, height: int, length: int,
                        batch_size: int) -> tuple[int, ...] | None:
    """[B, C, F, h, w] for an AnimateDiff model (no temporal compression), or None when
    ``model`` has no motion module."""
    from nodestudio.runtime.animatediff import is_motion_model, max_frames

    if not is_motion_model(model):
        return None
    limit = max_frames(model)
    if length > limit:
        raise NodeError(f"this motion module makes at most {limit} frames: set length to "
                        f"{limit} or fewer")
    factor = model.vae_scale_factor
    if width < factor or height < factor:
        raise NodeError(f"the video must be at least {factor} × {factor} pixels for this model")
    return (batch_size, model.latent_channels, length, height // factor, width // factor)


@node(
    "diffusion.empty_video_latent",
    display_name="Empty Video Latent",
    category="latent/video",
    description=(
        "A blank latent to generate videos from (text to video). Connect the model or the VAE: "
        "they decide the channels and how many pixels and frames each latent cell stands for "
        "(Wan: 4k + 1 frames, LTX-Video: 8k + 1, AnimateDiff: any count up to the motion "
        "module's limit; connect the model from Apply AnimateDiff). Sizes are rounded down to "
        "the model's grid."
    ),
    legacy_ids=("diffusion.empty_animatediff_latent",),
    inputs=[
        Input("model", MODEL, optional=True),
        Input("vae", VAE, optional=True),
        Int("width", 832, min=16, max=8192, step=16),
        Int("height", 480, min=16, max=8192, step=16),
        Int("length", 81, min=1, max=1025, step=4, description="Frames (4k + 1 for Wan, 8k + 1 "
            "for LTX-Video, 16 or 32 for AnimateDiff)"),
        Int("batch_size", 1, min=1, max=16, description="How many videos to generate at once"),
    ],
    outputs=[Output("latent", LATENT)],
)
def empty_video_latent(model: Any = None, vae: Any = None, width: int = 832, height: int = 480,
                       length: int = 81, batch_size: int = 1) -> Any:
    import torch

    from nodestudio.runtime.types import Latent

    if model is not None and (motion := motion_latent_shape(model, width, height, length,
                                                            batch_size)) is not None:
        return Latent(samples=torch.zeros(motion, device=model.device),
                      scale_factor=model.vae_scale_factor, is_empty=True)
    if model is not None:
        channels, spatial, device = model.latent_channels, model.vae_scale_factor, model.device
        temporal = model.vae_temporal_factor
        multiple = model.family.pixel_multiple(spatial)
    elif vae is not None:
        channels, spatial, device = vae.latent_channels, vae.scale_factor, vae.device
        temporal, multiple = vae.temporal_factor, vae.scale_factor
    else:
        raise NodeError("connect the model or the VAE: the latent's shape depends on them")
    shape = video_latent_shape(channels, spatial, temporal, multiple, width, height, length,
                               batch_size)
    return Latent(samples=torch.zeros(shape, device=device), scale_factor=spatial,
                  is_empty=True)
