"""Writing diffusers models in the original Stable Diffusion (LDM / SGM) key layout.

Single-file checkpoints as artists find them (``model.safetensors`` from A1111/ComfyUI days)
use the key names of the original CompVis/Stability code: ``model.diffusion_model.input_blocks…``
for the UNet, ``first_stage_model.encoder.down…`` for the VAE, ``cond_stage_model.transformer…``
(SD1) or ``conditioner.embedders.N…`` (SDXL) for the text encoders, ``control_model…`` for
ControlNets. diffusers reads that layout (``from_single_file``); this module writes it, so that
tests, benchmarks and tools can produce such files from a diffusers model. The mapping is derived
from the model configs, so it works for the real architectures and for tiny test models alike.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch

from nodestudio.runtime import fast_mode

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CONTROLNET_PREFIX = "control_model."
SD1_TEXT_PREFIX = "cond_stage_model.transformer."
SD2_TEXT_PREFIX = "cond_stage_model.model."
SDXL_TEXT_PREFIXES = ("conditioner.embedders.0.transformer.", "conditioner.embedders.1.model.")
#: The SDXL refiner's only text encoder (OpenCLIP-bigG).
SDXL_REFINER_TEXT_PREFIX = "conditioner.embedders.0.model."

_RESNET_NAMES = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
_VAE_RESNET_NAMES = {"conv_shortcut": "nin_shortcut"}
_VAE_ATTENTION_NAMES = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
}


def _replace_head(key: str, old: str, new: str) -> str | None:
    """``key`` with the prefix ``old.`` replaced by ``new.``, or None when it does not start so."""
    if key.startswith(old + "."):
        return new + key[len(old) :]
    return None


def _rename_inner(rest: str, names: Mapping[str, str]) -> str:
    for old, new in names.items():
        if rest.startswith(old + "."):
            return new + rest[len(old) :]
    return rest


def _block_prefixes(config: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, str]]]:
    """(diffusers prefix, original prefix, inner renames) for every UNet-style block."""
    per_level = config["layers_per_block"]
    levels = len(config["block_out_channels"])
    for level in range(levels):
        for layer in range(per_level):
            index = 1 + level * (per_level + 1) + layer
            yield f"down_blocks.{level}.resnets.{layer}", f"input_blocks.{index}.0", _RESNET_NAMES
            yield f"down_blocks.{level}.attentions.{layer}", f"input_blocks.{index}.1", {}
        if level < levels - 1:
            index = 1 + level * (per_level + 1) + per_level
            yield f"down_blocks.{level}.downsamplers.0.conv", f"input_blocks.{index}.0.op", {}
    yield "mid_block.resnets.0", "middle_block.0", _RESNET_NAMES
    yield "mid_block.attentions.0", "middle_block.1", {}
    yield "mid_block.resnets.1", "middle_block.2", _RESNET_NAMES


def _up_block_prefixes(
    config: Mapping[str, Any], state_dict: Mapping[str, torch.Tensor]
) -> Iterator[tuple[str, str, Mapping[str, str]]]:
    per_level = config["layers_per_block"] + 1
    for level in range(len(config["block_out_channels"])):
        has_attention = any(k.startswith(f"up_blocks.{level}.attentions.") for k in state_dict)
        for layer in range(per_level):
            index = level * per_level + layer
            yield f"up_blocks.{level}.resnets.{layer}", f"output_blocks.{index}.0", _RESNET_NAMES
            yield f"up_blocks.{level}.attentions.{layer}", f"output_blocks.{index}.1", {}
        last = level * per_level + per_level - 1
        position = 2 if has_attention else 1
        yield f"up_blocks.{level}.upsamplers.0.conv", f"output_blocks.{last}.{position}.conv", {}


_UNET_FIXED = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "add_embedding.linear_1": "label_emb.0.0",
    "add_embedding.linear_2": "label_emb.0.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}


def _convert_with(
    state_dict: Mapping[str, torch.Tensor],
    rules: list[tuple[str, str, Mapping[str, str]]],
    what: str,
) -> dict[str, torch.Tensor]:
    converted: dict[str, torch.Tensor] = {}
    for key, tensor in state_dict.items():
        for old, new, inner in rules:
            rest = _replace_head(key, old, "")
            if rest is not None:
                converted[new + "." + _rename_inner(rest.lstrip("."), inner)] = tensor
                break
        else:
            raise ValueError(f"no original-layout name for {what} weight {key!r}")
    return converted


def unet_to_original(
    state_dict: Mapping[str, torch.Tensor], config: Mapping[str, Any]
) -> dict[str, torch.Tensor]:
    """UNet2DConditionModel weights → ``input_blocks/middle_block/output_blocks`` names."""
    rules = [(old, new, {}) for old, new in _UNET_FIXED.items()]
    rules += list(_block_prefixes(config)) + list(_up_block_prefixes(config, state_dict))
    return _convert_with(state_dict, rules, "UNet")


def controlnet_to_original(
    state_dict: Mapping[str, torch.Tensor], config: Mapping[str, Any]
) -> dict[str, torch.Tensor]:
    """ControlNetModel weights → the ``control_model.*`` layout of the original ControlNet."""
    blocks = len(config["conditioning_embedding_out_channels"]) - 1
    rules = [(old, new, {}) for old, new in _UNET_FIXED.items() if old != "conv_out"]
    rules += [r for r in _block_prefixes(config)]
    rules += [
        ("controlnet_cond_embedding.conv_in", "input_hint_block.0", {}),
        # The original hint network interleaves SiLUs, so its convolutions sit at even indices;
        # the last convolution is always index 14 (3 downsamplings in every released ControlNet).
        ("controlnet_cond_embedding.conv_out", "input_hint_block.14", {}),
        ("controlnet_mid_block", "middle_block_out.0", {}),
    ]
    rules += [
        (f"controlnet_cond_embedding.blocks.{i}", f"input_hint_block.{2 * (i + 1)}", {})
        for i in range(2 * blocks)
    ]
    rules += [
        (f"controlnet_down_blocks.{i}", f"zero_convs.{i}.0", {})
        for i in range(len([k for k in state_dict if k.startswith("controlnet_down_blocks.")]))
    ]
    converted = _convert_with(state_dict, rules, "ControlNet")
    return {CONTROLNET_PREFIX + key: tensor for key, tensor in converted.items()}


def vae_to_original(
    state_dict: Mapping[str, torch.Tensor], config: Mapping[str, Any]
) -> dict[str, torch.Tensor]:
    """AutoencoderKL weights → ``encoder.down…/decoder.up…`` names (1×1 convs for attention)."""
    levels = len(config["block_out_channels"])
    rules: list[tuple[str, str, Mapping[str, str]]] = [
        ("encoder.conv_norm_out", "encoder.norm_out", {}),
        ("decoder.conv_norm_out", "decoder.norm_out", {}),
    ]
    for part in ("encoder", "decoder"):
        rules += [
            (f"{part}.mid_block.resnets.0", f"{part}.mid.block_1", _VAE_RESNET_NAMES),
            (f"{part}.mid_block.resnets.1", f"{part}.mid.block_2", _VAE_RESNET_NAMES),
            (f"{part}.mid_block.attentions.0", f"{part}.mid.attn_1", _VAE_ATTENTION_NAMES),
        ]
    for level in range(levels):
        up = levels - 1 - level  # the original decoder numbers its levels from the bottom up
        rules += [
            (f"encoder.down_blocks.{level}.resnets", f"encoder.down.{level}.block", {}),
            (f"encoder.down_blocks.{level}.downsamplers.0", f"encoder.down.{level}.downsample", {}),
            (f"decoder.up_blocks.{level}.resnets", f"decoder.up.{up}.block", {}),
            (f"decoder.up_blocks.{level}.upsamplers.0", f"decoder.up.{up}.upsample", {}),
        ]
    for name in ("encoder.conv_in", "encoder.conv_out", "decoder.conv_in", "decoder.conv_out",
                 "quant_conv", "post_quant_conv"):
        rules.append((name, name, {}))
    converted: dict[str, torch.Tensor] = {}
    for key, tensor in _convert_with(state_dict, rules, "VAE").items():
        # resnets: "block.0.conv_shortcut" → "block.0.nin_shortcut"
        key = key.replace(".conv_shortcut.", ".nin_shortcut.")
        if ".mid.attn_1." in key and key.endswith(".weight") and tensor.ndim == 2:
            tensor = tensor[:, :, None, None]  # the original attention uses 1×1 convolutions
        converted[VAE_PREFIX + key] = tensor
    return converted


def clip_to_original(
    state_dict: Mapping[str, torch.Tensor], prefix: str
) -> dict[str, torch.Tensor]:
    """An OpenAI-CLIP text encoder (transformers layout) under ``prefix`` + ``text_model.…``."""
    converted = {}
    for key, tensor in state_dict.items():
        if key.startswith("text_projection"):
            continue  # SD1/SDXL's first encoder is used without its projection
        name = key if key.startswith("text_model.") else "text_model." + key
        converted[prefix + name] = tensor
    return converted


def open_clip_to_original(
    state_dict: Mapping[str, torch.Tensor], prefix: str
) -> dict[str, torch.Tensor]:
    """A transformers CLIPTextModel(WithProjection) → OpenCLIP names (fused q/k/v projections)."""
    flat = {k.removeprefix("text_model."): v for k, v in state_dict.items()}
    converted: dict[str, torch.Tensor] = {
        prefix + "token_embedding.weight": flat["embeddings.token_embedding.weight"],
        prefix + "positional_embedding": flat["embeddings.position_embedding.weight"],
        prefix + "ln_final.weight": flat["final_layer_norm.weight"],
        prefix + "ln_final.bias": flat["final_layer_norm.bias"],
    }
    if "text_projection.weight" in flat:
        # transformers keeps the projection as a Linear (out × in), OpenCLIP as a matrix (in × out).
        converted[prefix + "text_projection"] = flat["text_projection.weight"].T.contiguous()
    layer_names = {
        "self_attn.out_proj": "attn.out_proj",
        "layer_norm1": "ln_1",
        "layer_norm2": "ln_2",
        "mlp.fc1": "mlp.c_fc",
        "mlp.fc2": "mlp.c_proj",
    }
    layers = sorted({int(k.split(".")[2]) for k in flat if k.startswith("encoder.layers.")})
    for layer in layers:
        source = f"encoder.layers.{layer}."
        target = f"{prefix}transformer.resblocks.{layer}."
        for kind in ("weight", "bias"):
            converted[target + f"attn.in_proj_{kind}"] = torch.cat(
                [flat[source + f"self_attn.{p}_proj.{kind}"] for p in ("q", "k", "v")]
            )
            for old, new in layer_names.items():
                converted[target + f"{new}.{kind}"] = flat[source + f"{old}.{kind}"]
    return converted


def checkpoint_to_original(
    unet: torch.nn.Module,
    vae: torch.nn.Module,
    text_encoders: list[torch.nn.Module],
    open_clip_text: bool = False,
    refiner: bool = False,
) -> dict[str, torch.Tensor]:
    """A whole SD1.x/SD2.x (one text encoder) or SDXL (two) checkpoint in the original layout.

    ``open_clip_text`` writes a single text encoder the SD2 way (OpenCLIP names); ``refiner``
    writes it the SDXL refiner's way.
    """
    weights: dict[str, torch.Tensor] = {}
    unet_weights = unet_to_original(fast_mode.plain_state_dict(unet), unet.config)
    weights.update({UNET_PREFIX + key: value for key, value in unet_weights.items()})
    weights.update(vae_to_original(vae.state_dict(), vae.config))
    if len(text_encoders) == 1 and refiner:
        weights.update(open_clip_to_original(text_encoders[0].state_dict(),
                                             SDXL_REFINER_TEXT_PREFIX))
    elif len(text_encoders) == 1 and open_clip_text:
        weights.update(open_clip_to_original(text_encoders[0].state_dict(), SD2_TEXT_PREFIX))
    elif len(text_encoders) == 1:
        weights.update(clip_to_original(text_encoders[0].state_dict(), SD1_TEXT_PREFIX))
    elif len(text_encoders) == 2:
        weights.update(clip_to_original(text_encoders[0].state_dict(), SDXL_TEXT_PREFIXES[0]))
        weights.update(open_clip_to_original(text_encoders[1].state_dict(), SDXL_TEXT_PREFIXES[1]))
    else:
        raise ValueError(f"expected one or two text encoders, got {len(text_encoders)}")
    # safetensors refuses tensors that share memory or are not contiguous.
    return {key: value.detach().contiguous().clone() for key, value in weights.items()}
