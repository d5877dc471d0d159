"""Wan 2.1 image → video conditioning, as ``WanImageToVideoPipeline`` builds it.

WanImageToVideo (the node) makes one :class:`WanImageCondition` for both prompts: the video's
known frames (the start image, then mid-grey = 0 in −1…1, as the pipeline's zeros) encoded by
the VAE (the distribution's mode, normalised with the VAE's per-channel statistics) behind
four mask channels (the pipeline's: the first frame counted four times, so each latent frame
has one channel per pixel frame it holds; 1 = known), and the start image's CLIP vision
states (the penultimate layer). The Wan family's denoiser concatenates the condition to the
latents on the channel axis and hands the states to the transformer's image cross-attention.

Without a CLIP Vision Encode output the states come from the model folder's own image encoder
and image processor, exactly as the pipeline's ``encode_image`` makes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nodestudio.api.errors import NodeError
from nodestudio.runtime.devices import compute_dtype, ensure_on, module_dtype
from nodestudio.runtime.memory_manager import loaded_to

#: Conditioning.extra key of the image-to-video condition.
KEY = "wan_i2v"
#: Mask channels: the latent frame's pixel frames (the VAE's temporal compression).
MASK_CHANNELS = 4


@dataclass(frozen=True, eq=False)
class WanImageCondition:
    """What WanImageToVideo adds to both prompts (float32, on the CPU)."""

    #: [1, 4 + C, F, h, w]: mask channels, then the normalised latents of the known frames.
    concat: torch.Tensor
    #: [1, tokens, width]: the start image's penultimate CLIP vision states, or None.
    clip_states: torch.Tensor | None
    #: [H, W, 3] 0–1: the start image as given, for the model's own image encoder; or None.
    start_image: np.ndarray | None


@dataclass(frozen=True, eq=False)
class FolderImageEncoder:
    """A WanImageToVideoPipeline folder's image encoder (CLIPVisionModel) and processor."""

    model: Any
    processor: Any


def load_folder_image_encoder(path: Path, device: torch.device) -> FolderImageEncoder:
    from transformers import CLIPImageProcessor, CLIPVisionModel

    from nodestudio.runtime.checkpoints import variant_of

    for component in ("image_encoder", "image_processor"):
        if not (path / component).is_dir():
            raise NodeError(f"{path.name} lacks its {component} folder: copy the whole "
                            f"diffusers Wan image-to-video folder into {path.parent}")
    model: Any = CLIPVisionModel.from_pretrained(
        path, subfolder="image_encoder", torch_dtype=compute_dtype(device),
        local_files_only=True, variant=variant_of(path / "image_encoder"))
    processor = CLIPImageProcessor.from_pretrained(path, subfolder="image_processor",
                                                   local_files_only=True)
    return FolderImageEncoder(loaded_to(model, device), processor)


@torch.inference_mode()
def folder_clip_states(encoder: FolderImageEncoder, image: np.ndarray,
                       device: torch.device) -> torch.Tensor:
    """[1, tokens, width]: the pipeline's ``encode_image`` of a 0–1 [H, W, 3] picture (it is
    handed a PIL image, so the picture goes through 8 bits as a loaded file does)."""
    from PIL import Image

    picture = Image.fromarray(np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8))
    model = ensure_on(encoder.model, device)
    pixels = encoder.processor(images=picture, return_tensors="pt").pixel_values
    states = model(pixel_values=pixels.to(device, module_dtype(model)),
                   output_hidden_states=True).hidden_states[-2]
    return states.float().cpu()


def known_frames_mask(known: int, latent_frames: int, rows: int, columns: int) -> torch.Tensor:
    """[1, 4, F, h, w]: 1 where a pixel frame is given (``known`` ≥ 1 frames from the start),
    in the pipeline's layout (the first frame stands for the first latent frame's four)."""
    mask = torch.zeros(MASK_CHANNELS * latent_frames)
    mask[:known + MASK_CHANNELS - 1] = 1.0
    mask = mask.view(latent_frames, MASK_CHANNELS).transpose(0, 1)
    return mask.view(1, MASK_CHANNELS, latent_frames, 1, 1).expand(
        1, MASK_CHANNELS, latent_frames, rows, columns).contiguous()


@torch.inference_mode()
def encode_known_frames(vae: Any, frames: np.ndarray, length: int, width: int,
                        height: int) -> torch.Tensor:
    """[1, 4 + C, F, h, w]: ``frames`` ([N, H, W, 3] 0–1, resized to the video) then grey for
    the rest of ``length`` frames, VAE-encoded and normalised, behind the mask channels."""
    pixels = torch.from_numpy(np.ascontiguousarray(frames[:length, ..., :3])).float()
    pixels = pixels.permute(0, 3, 1, 2)
    if tuple(pixels.shape[-2:]) != (height, width):
        pixels = F.interpolate(pixels, size=(height, width), mode="bilinear", antialias=True,
                               align_corners=False).clamp(0, 1)
    known = pixels.shape[0]
    video = torch.zeros(1, 3, length, height, width)
    video[0, :, :known] = pixels.permute(1, 0, 2, 3) * 2.0 - 1.0
    model: Any = ensure_on(vae.model, vae.device)
    latents = model.encode(video.to(vae.device, module_dtype(model))).latent_dist.mode()
    latents = latents.float()
    config = model.config
    shape = (1, int(config.z_dim), 1, 1, 1)
    mean = torch.tensor(config.latents_mean).view(shape).to(latents)
    std = torch.tensor(config.latents_std).view(shape).to(latents)
    latents = ((latents - mean) / std).cpu()
    mask = known_frames_mask(known, *latents.shape[2:])
    return torch.cat([mask, latents], dim=1)


def _states_of(condition: WanImageCondition, encoder: FolderImageEncoder | None,
               device: torch.device, name: str) -> torch.Tensor:
    if condition.clip_states is not None:
        return condition.clip_states
    if condition.start_image is not None and encoder is not None:
        return folder_clip_states(encoder, condition.start_image, device)
    raise NodeError(f"this Wan image-to-video model needs the start image's CLIP vision "
                    f"output in the {name} conditioning: connect CLIP Vision Encode to "
                    "WanImageToVideo's clip_vision_output, or give it a start_image")


def condition_inputs(transformer: Any, halves: list[Any], names: tuple[str, ...],
                     encoder: FolderImageEncoder | None, latent_shape: tuple[int, ...],
                     batch: int, device: torch.device,
                     dtype: torch.dtype) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The denoiser's extra inputs ([halves × B, …] concat and CLIP states), or None where the
    transformer takes none (a text-to-video model ignores WanImageToVideo, as ComfyUI's)."""
    extra_channels = transformer.config.in_channels - latent_shape[1]
    wants_states = transformer.config.image_dim is not None
    if extra_channels == 0 and not wants_states:
        return None, None
    conditions = []
    for name, half in zip(names, halves, strict=True):
        condition = half.extra.get(KEY)
        if condition is None:
            raise NodeError(f"the {name} input of a Wan image-to-video model must come from "
                            "WanImageToVideo (it carries the start image)")
        conditions.append(condition)
    concat = None
    if extra_channels:
        first = conditions[0].concat
        if first.shape[1] != extra_channels or tuple(first.shape[2:]) != latent_shape[2:]:
            raise NodeError("the latent and WanImageToVideo's conditioning differ in size: "
                            "use the latent WanImageToVideo gives")
        concat = torch.cat([c.concat.repeat(batch, 1, 1, 1, 1) for c in conditions])
        concat = concat.to(device, dtype)
    states = None
    if wants_states:
        states = torch.cat([_states_of(c, encoder, device, name).repeat(batch, 1, 1)
                            for c, name in zip(conditions, names, strict=True)])
        states = states.to(device, dtype)
    return concat, states
