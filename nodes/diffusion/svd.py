"""Stable Video Diffusion (image → video), as ComfyUI's nodes: Image Only Checkpoint Loader,
SVD img2vid Conditioning, Video Linear CFG Guidance. The Sampler samples it as any model.

No torch here: the pack must import cheaply (nodestudio.runtime.families.svd does the work).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nodestudio.api import (
    CLIP_VISION,
    CONDITIONING,
    IMAGE,
    LATENT,
    MODEL,
    VAE,
    Float,
    Input,
    Int,
    ModelChoice,
    NodeContext,
    NodeError,
    Output,
    node,
)

from ._common import find_model, fingerprint_for

CKPT_NAME_INPUT = ModelChoice("ckpt_name", "checkpoints",
                              description="Stable Video Diffusion folder in models/checkpoints")


@node(
    "diffusion.image_only_checkpoint_loader",
    display_name="Image Only Checkpoint Loader (img2vid)",
    category="loaders/video",
    description=(
        "Loads a Stable Video Diffusion model (a diffusers StableVideoDiffusionPipeline folder "
        "in the checkpoints folder): the video model, its CLIP vision image encoder and its "
        "temporal VAE."
    ),
    inputs=[CKPT_NAME_INPUT],
    outputs=[Output("model", MODEL), Output("clip_vision", CLIP_VISION), Output("vae", VAE)],
    deterministic=False,
    fingerprint=fingerprint_for(CKPT_NAME_INPUT),
)
def image_only_checkpoint_loader(ckpt_name: str, ctx: NodeContext) -> tuple[Any, Any, Any]:
    from nodestudio.runtime.families.svd import load_svd_folder
    from nodestudio.runtime.model_configs import read_json

    path = find_model(ctx, CKPT_NAME_INPUT, ckpt_name)
    index = path / "model_index.json"
    if not path.is_dir() or not index.is_file() or "image_encoder" not in read_json(index):
        raise NodeError(f"{path.name} is not a Stable Video Diffusion folder: put the diffusers "
                        "stable-video-diffusion folder (with image_encoder/, unet/, vae/) in "
                        "models/checkpoints")
    done = iter(range(1, 4))
    # Three parts (UNet, VAE, image encoder): the progress bar moves as each one loads.
    return load_svd_folder(path, ctx.device, lambda: ctx.progress(next(done), 3))


@node(
    "diffusion.svd_img2vid_conditioning",
    display_name="SVD img2vid Conditioning",
    category="conditioning/video_models",
    description=(
        "Turns a start image into Stable Video Diffusion's conditioning: the CLIP image "
        "embedding and the image itself (encoded by the VAE at sampling time, with "
        "augmentation noise from the Sampler's seed), plus the empty video latent. Motion "
        "bucket: more motion with higher values; augmentation: how freely the video departs "
        "from the image."
    ),
    inputs=[
        Input("clip_vision", CLIP_VISION),
        Input("init_image", IMAGE),
        Input("vae", VAE),
        Int("width", 1024, min=16, max=8192, step=8),
        Int("height", 576, min=16, max=8192, step=8),
        Int("video_frames", 14, min=1, max=4096),
        Int("motion_bucket_id", 127, min=1, max=1023),
        Int("fps", 6, min=1, max=1024),
        Float("augmentation_level", 0.0, min=0.0, max=10.0, step=0.01),
    ],
    outputs=[Output("positive", CONDITIONING), Output("negative", CONDITIONING),
             Output("latent", LATENT)],
)
def svd_img2vid_conditioning(clip_vision: Any, init_image: np.ndarray, vae: Any, width: int,
                             height: int, video_frames: int, motion_bucket_id: int, fps: int,
                             augmentation_level: float) -> tuple[Any, Any, Any]:
    import torch
    import torch.nn.functional as F

    from nodestudio.runtime.families.svd import FAMILY, KEY, SvdImage, clip_embedding
    from nodestudio.runtime.types import Conditioning, Latent

    if init_image.ndim != 4 or init_image.shape[0] < 1:
        raise NodeError("init_image must be an image (connect Load Image)")
    factor = vae.scale_factor
    width, height = width // factor * factor, height // factor * factor
    picture = torch.from_numpy(np.ascontiguousarray(init_image[:1, ..., :3])).permute(0, 3, 1, 2)
    picture = picture.float()
    with torch.inference_mode():
        embeds = clip_embedding(clip_vision, picture).float().cpu()
    if tuple(picture.shape[-2:]) != (height, width):
        picture = F.interpolate(picture, size=(height, width), mode="bilinear",
                                antialias=True, align_corners=False).clamp(0, 1)
    image = SvdImage(picture * 2.0 - 1.0, vae, augmentation_level, fps, motion_bucket_id)
    positive = Conditioning(embeds=embeds, family=FAMILY, extra={KEY: image})
    negative = Conditioning(embeds=torch.zeros_like(embeds), family=FAMILY,
                            extra={KEY: SvdImage(image.pixels, vae, augmentation_level, fps,
                                                 motion_bucket_id, zero=True)})
    shape = (1, vae.latent_channels, video_frames, height // factor, width // factor)
    return positive, negative, Latent(samples=torch.zeros(shape), scale_factor=factor,
                                      is_empty=True)


@node(
    "diffusion.video_linear_cfg_guidance",
    display_name="Video Linear CFG Guidance",
    category="sampling/video_models",
    description=(
        "Guidance that rises over the video's frames: min_cfg on the first frame, the "
        "Sampler's cfg on the last (Stable Video Diffusion's min/max guidance scale)."
    ),
    inputs=[Input("model", MODEL), Float("min_cfg", 1.0, min=0.0, max=100.0, step=0.5)],
    outputs=[Output("model", MODEL)],
)
def video_linear_cfg_guidance(model: Any, min_cfg: float) -> Any:
    from dataclasses import replace

    if not model.family.video:
        raise NodeError(f"Video Linear CFG Guidance is for video models; this is a "
                        f"{model.family.label} model")
    return replace(model, video_min_cfg=min_cfg)
