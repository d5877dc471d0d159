"""Tiny, seeded unCLIP models for tests: a CLIP vision encoder and an SD 2.1-unCLIP-shaped
checkpoint, built from config (no downloads) and written as the files the loaders read.

- ``clip_vision/tiny-clip-vision.safetensors``: a ``CLIPVisionModelWithProjection`` in
  transformers' key layout, as ComfyUI's models/clip_vision files are; ``tiny-clip-vision-
  open-clip.safetensors`` the same weights in OpenCLIP's layout (``visual.…``).
- ``checkpoints/tiny-unclip.safetensors``: an SD 2.x-style checkpoint in the original layout
  (OpenCLIP text encoder) whose UNet takes unCLIP's ``class_labels`` (``label_emb``) and which
  carries its image encoder under ``embedder.model.visual.``, as the released SD 2.1 unCLIP
  files do.

The tiny sizes match no released model, so the files carry their configs in their metadata
(see :mod:`nodestudio.runtime.tiny`).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodestudio.runtime import original_layout
from nodestudio.runtime.clip_vision import EMBEDDED_CONFIG_NAME, to_open_clip
from nodestudio.runtime.model_configs import EMBEDDED_CONFIG_KEY
from nodestudio.runtime.tiny import (
    _folder_configs,
    _seeded,
    _text_encoder_config,
    save_sd_folder,
    tiny_vae,
)
from nodestudio.runtime.tokenizers import OPEN_CLIP_PAD_TOKEN, clip_tokenizer

#: The tiny image embedding's width (the unCLIP UNet's labels are twice as wide).
EMBED_DIM = 16
#: The SD 2.1 unCLIP scheduler: DDIM-trained, v-prediction.
UNCLIP_SCHEDULER: dict[str, Any] = {
    "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000, "prediction_type": "v_prediction", "steps_offset": 1,
    "timestep_spacing": "leading", "clip_sample": False, "set_alpha_to_one": False,
}


def tiny_clip_vision(seed: int = 0, projection: int = EMBED_DIM):
    """A CLIPVisionModelWithProjection: 32 × 32 input, 8-pixel patches, 3 layers."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    config = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                              num_attention_heads=4, image_size=32, patch_size=8,
                              projection_dim=projection, hidden_act="gelu")
    with _seeded(seed):
        return CLIPVisionModelWithProjection(config).eval()


def _vision_config(model: Any) -> dict[str, Any]:
    keys = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
            "image_size", "patch_size", "projection_dim", "hidden_act", "num_channels",
            "layer_norm_eps")
    return {key: getattr(model.config, key) for key in keys}


def save_clip_vision(model: Any, path: Path, open_clip: bool = False) -> Path:
    """Write ``model`` as a models/clip_vision file (transformers or OpenCLIP layout)."""
    from safetensors.torch import save_file

    weights = {k: v for k, v in model.state_dict().items() if not k.endswith("position_ids")}
    if open_clip:
        weights = to_open_clip(weights, "visual.")
    metadata = {EMBEDDED_CONFIG_KEY: json.dumps({EMBEDDED_CONFIG_NAME: _vision_config(model)})}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous().clone() for k, v in weights.items()}, str(path),
              metadata=metadata)
    return path


def tiny_unclip_components(seed: int = 0, embed_dim: int = EMBED_DIM) -> dict[str, Any]:
    """UNet (class labels of 2 × ``embed_dim``), OpenCLIP-style text encoder, VAE, tokenizer,
    scheduler and the image encoder of an SD 2.1-unCLIP-shaped model."""
    from diffusers import DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel

    with _seeded(seed):
        unet = UNet2DConditionModel(
            sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 64),
            layers_per_block=2, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
            attention_head_dim=8, norm_num_groups=32, class_embed_type="projection",
            projection_class_embeddings_input_dim=2 * embed_dim,
        )
    with _seeded(seed + 1):
        text_encoder = CLIPTextModel(_text_encoder_config(32, 3, "gelu"))
    return {
        "unet": unet,
        "vae": tiny_vae(seed + 2),
        "text_encoder": text_encoder,
        "tokenizer": clip_tokenizer(pad_token=OPEN_CLIP_PAD_TOKEN),
        "scheduler": DDIMScheduler.from_config(UNCLIP_SCHEDULER),
        "image_encoder": tiny_clip_vision(seed + 3, embed_dim),
    }


def save_unclip_checkpoint(components: dict[str, Any], path: Path) -> Path:
    """One original-layout file: UNet (``label_emb`` for its class embedding), VAE, OpenCLIP
    text encoder (SD 2.x), image encoder under ``embedder.model.visual.``."""
    from safetensors.torch import save_file

    unet = components["unet"]
    # The original layout names unCLIP's label embedding as SDXL's: label_emb.0.0 / .0.2.
    unet_weights = {key.replace("class_embedding.", "add_embedding."): value
                    for key, value in unet.state_dict().items()}
    weights = {original_layout.UNET_PREFIX + key: value for key, value in
               original_layout.unet_to_original(unet_weights, unet.config).items()}
    weights.update(original_layout.vae_to_original(components["vae"].state_dict(),
                                                   components["vae"].config))
    weights.update(original_layout.open_clip_to_original(
        components["text_encoder"].state_dict(), original_layout.SD2_TEXT_PREFIX))
    vision = components["image_encoder"]
    weights.update(to_open_clip(vision.state_dict(), "embedder.model.visual."))
    folder_parts = {k: v for k, v in components.items() if k != "image_encoder"}
    with tempfile.TemporaryDirectory(prefix="tiny-unclip-") as temporary:
        configs = _folder_configs(save_sd_folder(folder_parts, Path(temporary) / "unclip"))
    configs[EMBEDDED_CONFIG_NAME] = _vision_config(vision)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous().clone() for k, v in weights.items()}, str(path),
              metadata={EMBEDDED_CONFIG_KEY: json.dumps(configs)})
    return path


@dataclass(frozen=True)
class TinyUnclipModels:
    """Where :func:`build_tiny_unclip_models` put the files (a ComfyUI-style models root)."""

    root: Path
    clip_vision: str = "tiny-clip-vision.safetensors"
    clip_vision_open_clip: str = "tiny-clip-vision-open-clip.safetensors"
    checkpoint: str = "tiny-unclip.safetensors"


def build_tiny_unclip_models(root: Path, seed: int = 0) -> TinyUnclipModels:
    models = TinyUnclipModels(root)
    vision = tiny_clip_vision(seed)
    save_clip_vision(vision, root / "clip_vision" / models.clip_vision)
    save_clip_vision(vision, root / "clip_vision" / models.clip_vision_open_clip, open_clip=True)
    save_unclip_checkpoint(tiny_unclip_components(seed + 10),
                           root / "checkpoints" / models.checkpoint)
    return models
