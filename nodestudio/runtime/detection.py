"""Which model family a single-file checkpoint holds, read from its keys, shapes and metadata.

Families: ``sd1`` (SD 1.x: OpenAI CLIP ViT-L text encoder, 768-wide cross-attention), ``sd2``
(SD 2.x: OpenCLIP ViT-H, 1024-wide), ``sdxl`` (SDXL base: two text encoders, size conditioning).

Prediction type (epsilon or v): SD 2.x 768 models predict v, the 512 "base" models epsilon, and
the two have identical shapes. In order, the first answer wins:

1. an explicit marker: a ``v_pred`` key in the state dict (written by ComfyUI), the safetensors
   metadata ``modelspec.prediction_type``, or ``parameterization: "v"`` in an A1111-style
   ``<checkpoint>.yaml`` beside the file;
2. for SD 2.x (not inpainting) a weight statistic: v models were fine-tuned long enough that the
   LayerNorm bias ``output_blocks.11.1.transformer_blocks.0.norm1.bias`` has a standard deviation
   above 0.09, epsilon models stay below (the heuristic ComfyUI uses; it holds for the released
   2.0/2.1 checkpoints);
3. otherwise epsilon.
A v model is built with the SD 2.1 768 config (``upcast_attention``, DDIM with v_prediction),
an epsilon SD2 with the 2.1-base config. A ``ztsnr`` key switches on zero-terminal-SNR betas.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from nodestudio.runtime.families.base import FamilyId
from nodestudio.runtime.original_layout import CONTROLNET_PREFIX, UNET_PREFIX

SD1, SD2, SDXL = FamilyId.SD1, FamilyId.SD2, FamilyId.SDXL
SDXL_REFINER = FamilyId.SDXL_REFINER
SD2_V_STATISTIC_KEY = UNET_PREFIX + "output_blocks.11.1.transformer_blocks.0.norm1.bias"
SD2_V_THRESHOLD = 0.09
_REFINER = ("this file has SDXL's two text encoders but not its size embedding: an SDXL "
            "variant NodeStudio cannot run")
_ATTN2_KEY = "input_blocks.{}.1.transformer_blocks.0.attn2.to_k.weight"


class NotACheckpointError(ValueError):
    """The file is a model, but not a whole checkpoint (a VAE, a ControlNet, a LoRA …)."""


@dataclass(frozen=True)
class CheckpointKind:
    family: FamilyId
    #: Folder under resources/model_configs with this checkpoint's architecture.
    config_name: str
    in_channels: int
    prediction_type: str
    zero_terminal_snr: bool = False
    #: The prediction type was declared (marker key, metadata, sidecar yaml), not inferred.
    prediction_declared: bool = False


@dataclass(frozen=True)
class ControlNetKind:
    family: FamilyId
    config_name: str
    original_layout: bool
    #: Config values that differ from the shipped config (smaller SDXL ControlNets).
    overrides: Mapping[str, object]


Shapes = Mapping[str, tuple[int, ...]]


def _what_else(shapes: Shapes) -> str:
    keys = shapes.keys()
    if any(k.startswith(CONTROLNET_PREFIX) or k.startswith("controlnet_") for k in keys):
        return "a ControlNet: put it in the controlnet folder and use Load ControlNet"
    if {"body.0.block1.weight", "body.0.body.0.block1.weight",
            "adapter.body.0.resnets.0.block1.weight"} & keys:
        return "a T2I-Adapter: put it in the controlnet folder and use Load ControlNet"
    if any("lora_" in k or ".lora" in k for k in keys):
        return "a LoRA: put it in the loras folder and use Load LoRA"
    if any(k.startswith(("encoder.down", "decoder.up", "first_stage_model.")) for k in keys):
        return "a VAE: put it in the vae folder and use Load VAE"
    if "conv_in.weight" in shapes and any(k.startswith("down_blocks.") for k in keys):
        return "a bare diffusers UNet without text encoder and VAE"
    return "not a Stable Diffusion checkpoint"


def _explicit_prediction(
    shapes: Shapes, metadata: Mapping[str, str], sidecar_yaml: Path | None
) -> str | None:
    if "v_pred" in shapes:
        return "v_prediction"
    declared = (metadata.get("modelspec.prediction_type") or "").lower()
    if declared in ("v", "v_prediction", "v-prediction"):
        return "v_prediction"
    if declared in ("epsilon", "eps"):
        return "epsilon"
    if sidecar_yaml is not None and sidecar_yaml.is_file():
        text = sidecar_yaml.read_text(encoding="utf-8", errors="replace")
        match = re.search(r"parameterization:\s*[\"']?(\w+)", text)
        if match:
            return "v_prediction" if match.group(1) == "v" else "epsilon"
    return None


def detect_checkpoint(
    shapes: Shapes,
    tensor: Callable[[str], torch.Tensor],
    metadata: Mapping[str, str] | None = None,
    sidecar_yaml: Path | None = None,
) -> CheckpointKind:
    """Classify a checkpoint from its key → shape map (``tensor(key)`` loads one weight)."""
    metadata = metadata or {}
    keys = shapes.keys()
    conv_in = shapes.get(UNET_PREFIX + "input_blocks.0.0.weight")
    if conv_in is None:
        raise NotACheckpointError(f"this file is {_what_else(shapes)}")
    in_channels = conv_in[1]
    explicit = _explicit_prediction(shapes, metadata, sidecar_yaml)
    zero_snr = "ztsnr" in shapes

    if any(k.startswith("conditioner.embedders.1.") for k in keys):
        if UNET_PREFIX + "label_emb.0.0.weight" not in shapes:
            raise NotACheckpointError(_REFINER)
        return CheckpointKind(SDXL, "sdxl", in_channels, explicit or "epsilon", zero_snr,
                              explicit is not None)

    if any(k.startswith("conditioner.embedders.0.model.") for k in keys):
        # One OpenCLIP-bigG encoder and no SDXL label embedding: the SDXL refiner.
        return CheckpointKind(SDXL_REFINER, "sdxl_refiner", in_channels,
                              explicit or "epsilon", zero_snr, explicit is not None)

    context = shapes.get(UNET_PREFIX + _ATTN2_KEY.format(1))
    is_sd2 = any(k.startswith("cond_stage_model.model.") for k in keys) or (
        not any(k.startswith("cond_stage_model.transformer.") for k in keys)
        and context is not None
        and context[1] == 1024
    )
    if not is_sd2:
        return CheckpointKind(SD1, "sd15", in_channels, explicit or "epsilon", zero_snr,
                              explicit is not None)

    prediction = explicit
    if prediction is None and UNET_PREFIX + "label_emb.0.0.weight" in shapes:
        prediction = "v_prediction"  # SD 2.1 unCLIP (image-embedding labels): a 768 v model
    if prediction is None and in_channels == 4 and SD2_V_STATISTIC_KEY in shapes:
        statistic = torch.std(tensor(SD2_V_STATISTIC_KEY).float(), unbiased=False).item()
        prediction = "v_prediction" if statistic > SD2_V_THRESHOLD else "epsilon"
    prediction = prediction or "epsilon"
    config = "sd2" if prediction == "v_prediction" else "sd2_base"
    return CheckpointKind(SD2, config, in_channels, prediction, zero_snr, explicit is not None)


def _count_transformer_depths(shapes: Shapes, prefix: str, levels: int) -> list[int]:
    depths = []
    for level in range(levels):
        pattern = re.compile(rf"{re.escape(prefix)}down_blocks\.{level}\.attentions\.0\."
                             r"transformer_blocks\.(\d+)\.")
        found = {int(m.group(1)) for k in shapes if (m := pattern.match(k))}
        depths.append(max(found) + 1 if found else 1)
    return depths


def detect_controlnet(shapes: Shapes) -> ControlNetKind:
    """Classify a ControlNet file (original ``control_model.*`` layout or diffusers layout)."""
    keys = shapes.keys()
    if any(k.startswith(CONTROLNET_PREFIX) for k in keys):
        original = True
        context_key = CONTROLNET_PREFIX + _ATTN2_KEY.format(1)
        is_xl = CONTROLNET_PREFIX + "label_emb.0.0.weight" in shapes
        if is_xl:
            context_key = CONTROLNET_PREFIX + _ATTN2_KEY.format(4)
    elif "controlnet_cond_embedding.conv_in.weight" in shapes:
        original = False
        is_xl = "add_embedding.linear_1.weight" in shapes
        context_key = (
            "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight"
            if is_xl
            else "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight"
        )
    else:
        raise NotACheckpointError(f"this file is {_what_else(shapes)}")
    context = shapes.get(context_key)
    if is_xl:
        overrides: dict[str, object] = {}
        if not original:
            # Smaller SDXL ControlNets ("mid", "small") keep fewer transformer blocks per level.
            overrides["transformer_layers_per_block"] = _count_transformer_depths(shapes, "", 3)
        return ControlNetKind(SDXL, "controlnet_sdxl", original, overrides)
    if context is not None and context[1] == 1024:
        raise NotACheckpointError(
            "SD 2.x ControlNets in a single file are not supported: use its diffusers folder"
        )
    return ControlNetKind(SD1, "controlnet_sd15", original, {})
