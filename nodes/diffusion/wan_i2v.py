"""Wan 2.1 image → video, as ComfyUI's WanImageToVideo (comfy_extras/nodes_wan.py).

Load Checkpoint reads a diffusers WanImageToVideoPipeline folder; this node adds the start
image (VAE-encoded, behind the known-frame mask) and its CLIP vision states to both prompts
and gives the empty video latent. The Sampler samples it as any Wan model.

No torch here: the pack must import cheaply (nodestudio.runtime.wan_i2v does the work).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nodestudio.api import (
    CLIP_VISION_OUTPUT,
    CONDITIONING,
    IMAGE,
    LATENT,
    VAE,
    Input,
    Int,
    NodeError,
    Output,
    node,
)


@node(
    "diffusion.wan_image_to_video",
    display_name="WanImageToVideo",
    category="conditioning/video_models",
    description=(
        "Makes a Wan image-to-video model start from an image: the start image (encoded by the "
        "VAE; the frames after it are left for the model to make) and its CLIP vision output "
        "are added to both prompts, and the empty video latent comes out. Without "
        "clip_vision_output the model folder's own image encoder reads the start image."
    ),
    inputs=[
        Input("positive", CONDITIONING),
        Input("negative", CONDITIONING),
        Input("vae", VAE),
        Int("width", 832, min=16, max=8192, step=16),
        Int("height", 480, min=16, max=8192, step=16),
        Int("length", 81, min=1, max=8192, step=4, description="Frames (4k + 1)"),
        Int("batch_size", 1, min=1, max=4096),
        Input("clip_vision_output", CLIP_VISION_OUTPUT, optional=True,
              description="CLIP Vision Encode of the start image (penultimate layer is used)"),
        Input("start_image", IMAGE, optional=True,
              description="The first frame(s) of the video"),
    ],
    outputs=[Output("positive", CONDITIONING), Output("negative", CONDITIONING),
             Output("latent", LATENT)],
)
def wan_image_to_video(positive: Any, negative: Any, vae: Any, width: int, height: int,
                       length: int, batch_size: int, clip_vision_output: Any = None,
                       start_image: np.ndarray | None = None) -> tuple[Any, Any, Any]:
    from dataclasses import replace

    import torch

    from nodestudio.runtime.types import Latent
    from nodestudio.runtime.wan_i2v import (
        KEY,
        MASK_CHANNELS,
        WanImageCondition,
        encode_known_frames,
    )

    temporal, spatial = vae.temporal_factor, vae.scale_factor
    if temporal <= 1:
        raise NodeError("WanImageToVideo needs a video VAE (connect the Wan model's VAE)")
    width, height = width // spatial * spatial, height // spatial * spatial
    frames = (length - 1) // temporal + 1
    shape = (frames, height // spatial, width // spatial)
    if start_image is not None:
        if start_image.ndim != 4 or start_image.shape[0] < 1:
            raise NodeError("start_image must be an image batch (connect Load Image)")
        concat = encode_known_frames(vae, start_image, length, width, height)
    else:
        # No start image: zeros and an all-unknown mask, as ComfyUI gives such a model.
        concat = torch.zeros(1, MASK_CHANNELS + vae.latent_channels, *shape)
    states = None if clip_vision_output is None else clip_vision_output.penultimate_hidden_states
    condition = WanImageCondition(
        concat, None if states is None else states[:1],
        None if start_image is None else np.asarray(start_image[0, ..., :3], np.float32))

    def added(entry: Any) -> Any:
        return replace(entry, extra={**entry.extra, KEY: condition})

    latent = Latent(samples=torch.zeros(batch_size, vae.latent_channels, *shape),
                    scale_factor=spatial, is_empty=True)
    return positive.map_entries(added), negative.map_entries(added), latent
