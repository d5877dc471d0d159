"""CLIP vision encoders: image prompts for unCLIP models and SDXL "revision".

Files come as ComfyUI keeps them in ``models/clip_vision``: transformers'
``CLIPVisionModelWithProjection`` key layout (``vision_model.…`` + ``visual_projection.weight``),
or OpenCLIP's (``visual.…``, and ``embedder.model.visual.…`` inside SD 2.1 unCLIP
checkpoints), converted here. The architecture is read from the tensor shapes (released
models) or from a config the file carries in its metadata (tiny test models). The model is
transformers' own, so encoding is its forward pass.

Encoding follows ComfyUI's ``clip_preprocess``: the shorter side scaled to the model's input
size (bicubic, antialiased) and the middle cut out ("center"), or the whole picture squashed
to a square ("none"); rounded to 8 bits; normalised with CLIP's mean and deviation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nodestudio.api.errors import NodeError
from nodestudio.runtime import devices, memory_manager
from nodestudio.runtime.memory_manager import loaded_to

#: OpenAI CLIP's pixel statistics (every released CLIP vision model uses them).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
#: Where OpenCLIP vision towers sit in the files people have (first match wins).
OPEN_CLIP_PREFIXES = ("embedder.model.visual.", "visual.")
#: The metadata entry (inside the embedded diffusers configs) with a file's own config.
EMBEDDED_CONFIG_NAME = "image_encoder"
_TRANSFORMERS_MARKER = "vision_model.embeddings.patch_embedding.weight"
#: Attention heads of the released widths (the head count is not in any tensor's shape):
#: OpenAI ViT-B/L (768, 1024), OpenCLIP ViT-H (1280), ViT-bigG (1664).
_HEADS = {768: 12, 1024: 16, 1280: 16, 1664: 16}
#: OpenAI's towers were trained with quick GELU, OpenCLIP's with the exact one.
_QUICK_GELU_WIDTHS = (768, 1024)


class ClipVisionError(NodeError):
    """A file that is not a CLIP vision model NodeStudio can read; the message says why."""


@dataclass(frozen=True, eq=False)
class ClipVision:
    """CLIP_VISION: a CLIP image encoder with its projection."""

    model: Any  # transformers.CLIPVisionModelWithProjection
    device: torch.device
    source: str = ""

    @property
    def image_size(self) -> int:
        return int(self.model.config.image_size)

    @property
    def embed_dim(self) -> int:
        return int(self.model.config.projection_dim)

    def offload_to_cpu(self) -> None:
        devices.offload_to_cpu(self.model)

    on_cache_evict = offload_to_cpu


@dataclass(frozen=True, eq=False)
class ClipVisionOutput:
    """CLIP_VISION_OUTPUT: encoded images (float32, on the CPU), as ComfyUI's output holds."""

    #: [B, projection] projected image embeddings (what unCLIP and revision read).
    image_embeds: torch.Tensor
    #: [B, tokens, width] the last layer's states (before the final LayerNorm).
    last_hidden_state: torch.Tensor
    #: [B, tokens, width] the second-to-last layer's states.
    penultimate_hidden_states: torch.Tensor


# -- key layouts --------------------------------------------------------------------------------


_OPEN_CLIP_LAYER_NAMES = {
    "ln_1": "layer_norm1", "ln_2": "layer_norm2", "attn.out_proj": "self_attn.out_proj",
    "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2",
}
_OPEN_CLIP_TOP_NAMES = {
    "conv1.weight": "embeddings.patch_embedding.weight",
    "class_embedding": "embeddings.class_embedding",
    "positional_embedding": "embeddings.position_embedding.weight",
    "ln_pre.weight": "pre_layrnorm.weight", "ln_pre.bias": "pre_layrnorm.bias",
    "ln_post.weight": "post_layernorm.weight", "ln_post.bias": "post_layernorm.bias",
}
_RESBLOCK = re.compile(r"transformer\.resblocks\.(\d+)\.(.+)")


def from_open_clip(weights: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """An OpenCLIP vision tower under ``prefix`` in transformers' names: q/k/v split from the
    fused ``in_proj``, the projection matrix (in × out) turned into a Linear weight."""
    converted: dict[str, torch.Tensor] = {}
    for key, tensor in weights.items():
        if not key.startswith(prefix):
            continue
        name = key[len(prefix):]
        if name == "proj":
            converted["visual_projection.weight"] = tensor.T.contiguous()
        elif name in _OPEN_CLIP_TOP_NAMES:
            converted["vision_model." + _OPEN_CLIP_TOP_NAMES[name]] = tensor
        elif match := _RESBLOCK.fullmatch(name):
            layer, rest = match.groups()
            target = f"vision_model.encoder.layers.{layer}."
            if rest.startswith("attn.in_proj_"):
                kind = rest.removeprefix("attn.in_proj_")
                for projection, part in zip("qkv", tensor.chunk(3), strict=True):
                    converted[f"{target}self_attn.{projection}_proj.{kind}"] = part.contiguous()
                continue
            module, _, kind = rest.rpartition(".")
            if module not in _OPEN_CLIP_LAYER_NAMES:
                raise ClipVisionError(f"unexpected OpenCLIP vision weight {key!r}")
            converted[f"{target}{_OPEN_CLIP_LAYER_NAMES[module]}.{kind}"] = tensor
        # Other entries (OpenCLIP's attention-pool variants) have no CLIP counterpart.
    return converted


def to_open_clip(state_dict: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """transformers' CLIPVisionModelWithProjection weights in OpenCLIP's names under ``prefix``
    (as unCLIP checkpoints store their image encoder): the inverse of :func:`from_open_clip`."""
    top = {ours: theirs for theirs, ours in _OPEN_CLIP_TOP_NAMES.items()}
    layer_names = {ours: theirs for theirs, ours in _OPEN_CLIP_LAYER_NAMES.items()}
    converted: dict[str, torch.Tensor] = {}
    fused: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for key, tensor in state_dict.items():
        if key == "visual_projection.weight":
            converted[prefix + "proj"] = tensor.T.contiguous()
            continue
        name = key.removeprefix("vision_model.")
        if name in top:
            converted[prefix + top[name]] = tensor
            continue
        match = re.fullmatch(r"encoder\.layers\.(\d+)\.(.+)\.(weight|bias)", name)
        if match is None:
            continue  # position_ids and the like: buffers, not weights
        layer, module, kind = match.groups()
        target = f"{prefix}transformer.resblocks.{layer}."
        if module in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"):
            fused.setdefault((target, kind), {})[module[10]] = tensor
        else:
            converted[f"{target}{layer_names[module]}.{kind}"] = tensor
    for (target, kind), parts in fused.items():
        converted[f"{target}attn.in_proj_{kind}"] = torch.cat([parts[p] for p in "qkv"])
    return converted


def vision_weights(weights: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
    """The CLIP vision weights of a file in transformers' names, or None when it has none."""
    if _TRANSFORMERS_MARKER in weights:
        return {k: v for k, v in weights.items()
                if k.startswith("vision_model.") or k == "visual_projection.weight"}
    for prefix in OPEN_CLIP_PREFIXES:
        if prefix + "conv1.weight" in weights:
            return from_open_clip(weights, prefix)
    return None


# -- configs ------------------------------------------------------------------------------------


def vision_config_from_shapes(shapes: Mapping[str, tuple[int, ...]]) -> dict[str, Any]:
    """``CLIPVisionConfig`` values of a released CLIP vision tower, from its tensor shapes."""
    patch = shapes["vision_model.embeddings.patch_embedding.weight"]
    width, channels, patch_size = patch[0], patch[1], patch[2]
    positions = shapes["vision_model.embeddings.position_embedding.weight"][0]
    side = math.isqrt(positions - 1)
    if side * side != positions - 1:
        raise ClipVisionError(f"{positions} position embeddings are not a square of patches")
    if width not in _HEADS:
        raise ClipVisionError(
            f"a CLIP vision model {width} wide is not one of the released sizes "
            f"({', '.join(map(str, _HEADS))}): its attention heads cannot be told")
    layers = {int(m.group(1)) for key in shapes
              if (m := re.match(r"vision_model\.encoder\.layers\.(\d+)\.", key))}
    return {
        "hidden_size": width,
        "num_channels": channels,
        "patch_size": patch_size,
        "image_size": side * patch_size,
        "num_hidden_layers": len(layers),
        "num_attention_heads": _HEADS[width],
        "intermediate_size": shapes["vision_model.encoder.layers.0.mlp.fc1.weight"][0],
        "projection_dim": shapes["visual_projection.weight"][0],
        "hidden_act": "quick_gelu" if width in _QUICK_GELU_WIDTHS else "gelu",
        "layer_norm_eps": 1e-5,
    }


# -- loading ------------------------------------------------------------------------------------


def clip_vision_from_weights(weights: Mapping[str, torch.Tensor], metadata: Mapping[str, str],
                             device: str | torch.device, source: str) -> ClipVision:
    """A CLIP vision model from a file's weights (any layout above); ``source`` names the file
    in messages."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from nodestudio.runtime.model_configs import embedded_configs

    name = Path(source).name
    vision = vision_weights(weights)
    if vision is None or "visual_projection.weight" not in vision:
        raise ClipVisionError(
            f"{name} is not a CLIP vision model (no vision_model.* / visual.* weights with a "
            "projection): put CLIP vision files in models/clip_vision")
    shapes = {key: tuple(tensor.shape) for key, tensor in vision.items()}
    embedded = (embedded_configs(metadata) or {}).get(EMBEDDED_CONFIG_NAME)
    values = embedded if embedded is not None else vision_config_from_shapes(shapes)
    config = CLIPVisionConfig(**{k: v for k, v in values.items() if not k.startswith("_")})
    target = devices.torch_device(device)
    try:
        model = CLIPVisionModelWithProjection.from_pretrained(
            None, config=config, state_dict=dict(vision),
            torch_dtype=devices.compute_dtype(target))
    except (RuntimeError, ValueError, KeyError) as error:
        raise ClipVisionError(f"could not load CLIP vision model {name}: {error}") from None
    return ClipVision(loaded_to(model, target), target, source)


def _read_vision_part(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The weights of ``path`` that may belong to a vision tower, and its metadata: from a
    safetensors file only those (an unCLIP checkpoint's UNet is never read twice)."""
    from nodestudio.runtime.checkpoints import read_state_dict
    from nodestudio.runtime.model_files import explained

    if path.suffix != ".safetensors":
        return read_state_dict(path, "CLIP vision")
    from safetensors import safe_open

    wanted = ("vision_model.", "visual_projection.", *OPEN_CLIP_PREFIXES)
    # A damaged file: one sentence naming it, not safetensors' own text (model_files).
    with explained(path, "CLIP vision"), safe_open(str(path), framework="pt") as handle:
        metadata = dict(handle.metadata() or {})
        weights = {key: handle.get_tensor(key) for key in handle.keys()  # noqa: SIM118 (not iterable)
                   if key.startswith(wanted)}
    return weights, metadata


def load_clip_vision(path: Path, device: str | torch.device) -> ClipVision:
    """A CLIP vision model from a single file (a models/clip_vision file, or an unCLIP
    checkpoint's image encoder)."""
    from nodestudio.runtime.checkpoints import quiet_loading_bars

    quiet_loading_bars()
    if path.is_dir():
        raise ClipVisionError(f"{path.name} is a folder: CLIP vision models are single files")
    try:
        weights, metadata = _read_vision_part(path)
    except OSError as error:
        raise ClipVisionError(f"could not read {path.name}: {error}") from None
    return clip_vision_from_weights(weights, metadata, device, str(path))


# -- encoding -----------------------------------------------------------------------------------


def preprocess(image: np.ndarray, size: int, crop: bool) -> torch.Tensor:
    """[B, H, W, 3] 0–1 pixels → [B, 3, size, size] normalised CLIP input (see the module)."""
    pixels = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).movedim(-1, 1)
    height, width = pixels.shape[-2:]
    if (height, width) != (size, size):
        if crop:
            scale = size / min(height, width)
            resized = (round(scale * height), round(scale * width))
        else:
            resized = (size, size)
        pixels = F.interpolate(pixels, size=resized, mode="bicubic", antialias=True)
        top, left = (pixels.shape[2] - size) // 2, (pixels.shape[3] - size) // 2
        pixels = pixels[:, :, top:top + size, left:left + size]
    # The model saw 8-bit pictures: round as a saved image would be.
    pixels = torch.clip(pixels * 255.0, 0, 255).round() / 255.0
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return (pixels - mean) / std


def encode_image(clip_vision: ClipVision, image: np.ndarray, crop: bool = True) -> ClipVisionOutput:
    """Encode an IMAGE batch with ``clip_vision`` (ComfyUI's CLIPVisionEncode)."""
    if image.ndim != 4 or image.shape[-1] != 3:
        raise NodeError(f"expected an RGB image batch [B, H, W, 3], got shape {image.shape}")
    model = clip_vision.model
    pixels = preprocess(image, clip_vision.image_size, crop)
    dtype = devices.module_dtype(model)
    # Held as the memory mode says for this node (offload: back to system memory after it).
    with memory_manager.models_in_use([model], clip_vision.device), torch.inference_mode():
        output = model(pixel_values=pixels.to(clip_vision.device, dtype),
                       output_hidden_states=True)
    return ClipVisionOutput(
        image_embeds=output.image_embeds.float().cpu(),
        last_hidden_state=output.last_hidden_state.float().cpu(),
        penultimate_hidden_states=output.hidden_states[-2].float().cpu(),
    )
