"""SD3 and Flux models between the diffusers key layout and the original (SAI / BFL) one.

Single files of the diffusion transformers come in the layout of the code that trained them:
Stability's MMDiT (``joint_blocks.N.x_block.attn.qkv…``), Black Forest Labs' Flux
(``double_blocks.N.img_attn.qkv…``, ``single_blocks.N.linear1…``) and the LDM autoencoder
(``encoder.down.0.block.0…``). ComfyUI bundles them into one file under fixed prefixes
(:data:`SD3_PREFIXES`, :data:`FLUX_PREFIXES`). diffusers reads those files
(``single_file_utils.convert_*_to_diffusers``); this module writes them, so that tests and tools
can produce files exactly as users have them from any diffusers model, tiny ones included.

Each transformer mapping is a :class:`_Plan` built from the model config: which diffusers module
becomes which original one, which ones are fused (q, k, v — and the MLP input in Flux' single
blocks — concatenated along the output dimension) and which modulation weights store their two
halves the other way round (the original code splits final-norm modulations into (shift, scale),
diffusers into (scale, shift)). The same plan read backwards converts original files to
diffusers for any size: diffusers' own Flux converter assumes the released width (3072) and
cannot read smaller or larger Flux-shaped models.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from nodestudio.runtime import fast_mode, original_layout

DIFFUSION_MODEL_PREFIX = "model.diffusion_model."
CLIP_L_PREFIX = "text_encoders.clip_l.transformer."
CLIP_G_PREFIX = "text_encoders.clip_g.transformer."
T5XXL_PREFIX = "text_encoders.t5xxl.transformer."
#: ComfyUI's all-in-one layouts. SD3 keeps the LDM name of the autoencoder, Flux calls it "vae."
#: (both are in diffusers' LDM_VAE_KEYS).
SD3_PREFIXES = {
    "transformer": DIFFUSION_MODEL_PREFIX,
    "clip_l": CLIP_L_PREFIX,
    "clip_g": CLIP_G_PREFIX,
    "t5xxl": T5XXL_PREFIX,
    "vae": "first_stage_model.",
}
FLUX_PREFIXES = {
    "transformer": DIFFUSION_MODEL_PREFIX,
    "clip_l": CLIP_L_PREFIX,
    "t5xxl": T5XXL_PREFIX,
    "vae": "vae.",
}
#: diffusers' FluxSingleTransformerBlock widens its MLP by this factor (not in the config).
FLUX_MLP_RATIO = 4.0


@dataclass
class _Plan:
    """How the modules of one diffusers model are named in the original layout."""

    #: diffusers module (or full key) → original module (or full key)
    renames: dict[str, str] = field(default_factory=dict)
    #: original module → the diffusers modules concatenated into it, with their output rows
    fused: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    #: original modules whose (shift, scale) halves diffusers stores as (scale, shift)
    swapped: set[str] = field(default_factory=set)


def swap_halves(tensor: torch.Tensor) -> torch.Tensor:
    """(a, b) → (b, a) along dim 0: diffusers' ``swap_scale_shift``, which is its own inverse."""
    first, second = tensor.chunk(2, dim=0)
    return torch.cat([second, first], dim=0)


def _module_and_param(key: str) -> tuple[str, str]:
    module, _, param = key.rpartition(".")
    return module, param


def _apply(
    plan: _Plan, state_dict: Mapping[str, torch.Tensor], what: str
) -> dict[str, torch.Tensor]:
    """diffusers → original along ``plan``; every weight must be named by it."""
    converted: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for key, tensor in state_dict.items():
        module, param = _module_and_param(key)
        if key in plan.renames:
            target = plan.renames[key]
        elif module in plan.renames:
            target = f"{plan.renames[module]}.{param}"
        else:
            continue
        if _module_and_param(target)[0] in plan.swapped:
            tensor = swap_halves(tensor)
        converted[target] = tensor
        used.add(key)
    for target, parts in plan.fused.items():
        for param in ("weight", "bias"):
            keys = [f"{module}.{param}" for module, _ in parts]
            present = [key in state_dict for key in keys]
            if not any(present):
                continue
            if not all(present):
                raise ValueError(f"{what}: {target}.{param} lacks some of {keys}")
            converted[f"{target}.{param}"] = torch.cat([state_dict[key] for key in keys], dim=0)
            used.update(keys)
    left = sorted(set(state_dict) - used)
    if left:
        raise ValueError(f"no original-layout name for {what} weights {left[:5]} ({len(left)})")
    return converted


def _apply_backwards(
    plan: _Plan, state_dict: Mapping[str, torch.Tensor], what: str
) -> dict[str, torch.Tensor]:
    """original → diffusers along ``plan`` (fused weights are split by the plan's row counts)."""
    inverse = {original: diffusers for diffusers, original in plan.renames.items()}
    converted: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for key, tensor in state_dict.items():
        module, param = _module_and_param(key)
        if module in plan.fused:
            parts = plan.fused[module]
            pieces = torch.split(tensor, [rows for _, rows in parts], dim=0)
            for (name, _), piece in zip(parts, pieces, strict=True):
                converted[f"{name}.{param}"] = piece
        elif key in inverse:
            converted[inverse[key]] = tensor
        elif module in inverse:
            if module in plan.swapped:
                tensor = swap_halves(tensor)
            converted[f"{inverse[module]}.{param}"] = tensor
        else:
            continue
        used.add(key)
    left = sorted(set(state_dict) - used)
    if left:
        raise ValueError(f"no diffusers name for {what} weights {left[:5]} ({len(left)})")
    return converted


def _strip(state_dict: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The weights under ``prefix`` without it (a whole-checkpoint file), or all of them."""
    if any(key.startswith(prefix) for key in state_dict):
        return {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
    return dict(state_dict)


# --- SD3 / SD3.5 (Stability's MMDiT) ------------------------------------------------------------


def _sd3_plan(config: Mapping[str, Any]) -> _Plan:
    inner = config["num_attention_heads"] * config["attention_head_dim"]
    layers = config["num_layers"]
    dual = set(config.get("dual_attention_layers") or ())
    plan = _Plan(
        renames={
            "pos_embed.pos_embed": "pos_embed",  # a buffer of (1, max², dim), saved with the model
            "pos_embed.proj": "x_embedder.proj",
            "time_text_embed.timestep_embedder.linear_1": "t_embedder.mlp.0",
            "time_text_embed.timestep_embedder.linear_2": "t_embedder.mlp.2",
            "time_text_embed.text_embedder.linear_1": "y_embedder.mlp.0",
            "time_text_embed.text_embedder.linear_2": "y_embedder.mlp.2",
            "context_embedder": "context_embedder",
            "proj_out": "final_layer.linear",
            "norm_out.linear": "final_layer.adaLN_modulation.1",
        },
        swapped={"final_layer.adaLN_modulation.1"},
    )
    for i in range(layers):
        d = f"transformer_blocks.{i}"
        x, c = f"joint_blocks.{i}.x_block", f"joint_blocks.{i}.context_block"
        plan.fused[f"{x}.attn.qkv"] = [(f"{d}.attn.to_{p}", inner) for p in "qkv"]
        plan.fused[f"{c}.attn.qkv"] = [(f"{d}.attn.add_{p}_proj", inner) for p in "qkv"]
        plan.renames.update({
            f"{d}.attn.norm_q": f"{x}.attn.ln_q",
            f"{d}.attn.norm_k": f"{x}.attn.ln_k",
            f"{d}.attn.norm_added_q": f"{c}.attn.ln_q",
            f"{d}.attn.norm_added_k": f"{c}.attn.ln_k",
            f"{d}.attn.to_out.0": f"{x}.attn.proj",
            f"{d}.norm1.linear": f"{x}.adaLN_modulation.1",
            f"{d}.norm1_context.linear": f"{c}.adaLN_modulation.1",
            f"{d}.ff.net.0.proj": f"{x}.mlp.fc1",
            f"{d}.ff.net.2": f"{x}.mlp.fc2",
        })
        if i == layers - 1:
            # The last block only feeds the image stream: its context side is a pre-only block
            # whose modulation is an (shift, scale) final-norm-style one.
            plan.swapped.add(f"{c}.adaLN_modulation.1")
        else:
            plan.renames.update({
                f"{d}.attn.to_add_out": f"{c}.attn.proj",
                f"{d}.ff_context.net.0.proj": f"{c}.mlp.fc1",
                f"{d}.ff_context.net.2": f"{c}.mlp.fc2",
            })
        if i in dual:  # SD3.5 medium's second self-attention on the image stream (MMDiT-X)
            plan.fused[f"{x}.attn2.qkv"] = [(f"{d}.attn2.to_{p}", inner) for p in "qkv"]
            plan.renames.update({
                f"{d}.attn2.norm_q": f"{x}.attn2.ln_q",
                f"{d}.attn2.norm_k": f"{x}.attn2.ln_k",
                f"{d}.attn2.to_out.0": f"{x}.attn2.proj",
            })
    return plan


def sd3_transformer_to_original(
    state_dict: Mapping[str, torch.Tensor], config: Mapping[str, Any]
) -> dict[str, torch.Tensor]:
    """SD3Transformer2DModel weights → Stability's MMDiT names (``joint_blocks.N…``)."""
    return _apply(_sd3_plan(config), state_dict, "SD3 transformer")


def sd3_transformer_from_original(
    state_dict: Mapping[str, torch.Tensor], config: Mapping[str, Any]
) -> dict[str, torch.Tensor]:
    """MMDiT weights (bare or under ``model.diffusion_model.``) → SD3Transformer2DModel names."""
    weights = _strip(state_dict, DIFFUSION_MODEL_PREFIX)
    return _apply_backwards(_sd3_plan(config), weights, "SD3 transformer")


# --- Flux (Black Forest Labs) -------------------------------------------------------------------


def _flux_plan(config: Mapping[str, Any]) -> _Plan:
    inner = config["num_attention_heads"] * config["attention_head_dim"]
    plan = _Plan(
        renames={
            "time_text_embed.timestep_embedder.linear_1": "time_in.in_layer",
            "time_text_embed.timestep_embedder.linear_2": "time_in.out_layer",
            "time_text_embed.text_embedder.linear_1": "vector_in.in_layer",
            "time_text_embed.text_embedder.linear_2": "vector_in.out_layer",
            "time_text_embed.guidance_embedder.linear_1": "guidance_in.in_layer",
            "time_text_embed.guidance_embedder.linear_2": "guidance_in.out_layer",
            "context_embedder": "txt_in",
            "x_embedder": "img_in",
            "proj_out": "final_layer.linear",
            "norm_out.linear": "final_layer.adaLN_modulation.1",
        },
        swapped={"final_layer.adaLN_modulation.1"},
    )
    for i in range(config["num_layers"]):
        d, o = f"transformer_blocks.{i}", f"double_blocks.{i}"
        plan.fused[f"{o}.img_attn.qkv"] = [(f"{d}.attn.to_{p}", inner) for p in "qkv"]
        plan.fused[f"{o}.txt_attn.qkv"] = [(f"{d}.attn.add_{p}_proj", inner) for p in "qkv"]
        plan.renames.update({
            f"{d}.norm1.linear": f"{o}.img_mod.lin",
            f"{d}.norm1_context.linear": f"{o}.txt_mod.lin",
            # BFL's QK norms are RMSNorms with a "scale", not a "weight"
            f"{d}.attn.norm_q.weight": f"{o}.img_attn.norm.query_norm.scale",
            f"{d}.attn.norm_k.weight": f"{o}.img_attn.norm.key_norm.scale",
            f"{d}.attn.norm_added_q.weight": f"{o}.txt_attn.norm.query_norm.scale",
            f"{d}.attn.norm_added_k.weight": f"{o}.txt_attn.norm.key_norm.scale",
            f"{d}.attn.to_out.0": f"{o}.img_attn.proj",
            f"{d}.attn.to_add_out": f"{o}.txt_attn.proj",
            f"{d}.ff.net.0.proj": f"{o}.img_mlp.0",
            f"{d}.ff.net.2": f"{o}.img_mlp.2",
            f"{d}.ff_context.net.0.proj": f"{o}.txt_mlp.0",
            f"{d}.ff_context.net.2": f"{o}.txt_mlp.2",
        })
    mlp = int(inner * FLUX_MLP_RATIO)
    for i in range(config["num_single_layers"]):
        d, o = f"single_transformer_blocks.{i}", f"single_blocks.{i}"
        # One matrix computes q, k, v and the MLP input of a single-stream block.
        plan.fused[f"{o}.linear1"] = [
            *((f"{d}.attn.to_{p}", inner) for p in "qkv"), (f"{d}.proj_mlp", mlp)
        ]
        plan.renames.update({
            f"{d}.norm.linear": f"{o}.modulation.lin",
            f"{d}.attn.norm_q.weight": f"{o}.norm.query_norm.scale",
            f"{d}.attn.norm_k.weight": f"{o}.norm.key_norm.scale",
            f"{d}.proj_out": f"{o}.linear2",
        })
    return plan


def flux_transformer_to_original(
    state_dict: Mapping[str, torch.Tensor], config: Mapping[str, Any]
) -> dict[str, torch.Tensor]:
    """FluxTransformer2DModel weights → BFL names (``double_blocks.N…``, ``single_blocks.N…``)."""
    return _apply(_flux_plan(config), state_dict, "Flux transformer")


def flux_transformer_from_original(
    state_dict: Mapping[str, torch.Tensor], config: Mapping[str, Any]
) -> dict[str, torch.Tensor]:
    """BFL weights (bare or under ``model.diffusion_model.``) → FluxTransformer2DModel names.

    Unlike diffusers' converter this takes the widths from ``config``, so it reads any size.
    """
    weights = _strip(state_dict, DIFFUSION_MODEL_PREFIX)
    return _apply_backwards(_flux_plan(config), weights, "Flux transformer")


# --- autoencoder, text encoders, whole checkpoints ----------------------------------------------


def vae_to_original(
    state_dict: Mapping[str, torch.Tensor], config: Mapping[str, Any], prefix: str = ""
) -> dict[str, torch.Tensor]:
    """An AutoencoderKL (the 16-channel SD3/Flux one too) → LDM names under ``prefix``.

    The SD3/Flux autoencoders have no quant_conv/post_quant_conv; the SD one's mapping covers
    them, there is just nothing to map.
    """
    converted = original_layout.vae_to_original(state_dict, config)
    return {
        prefix + key.removeprefix(original_layout.VAE_PREFIX): value
        for key, value in converted.items()
    }


def clip_text_to_original(
    state_dict: Mapping[str, torch.Tensor], projection: bool = True
) -> dict[str, torch.Tensor]:
    """A CLIP text encoder as ComfyUI's clip_l/clip_g files keep it: transformers names.

    transformers ≥ 5.6 flattened CLIPTextModel (no ``text_model.`` level); the files, like
    CLIPTextModelWithProjection, keep ``text_model.…``. CLIP-L is stored without its projection
    (``projection=False``): SD3 and Flux pool it unprojected, and clip_l.safetensors' size
    (246,144,152 bytes: 123.06 M fp16 weights and a header) leaves no room for one. CLIP-G keeps
    ``text_projection.weight``: SD3 conditions on the projected pooled output.
    """
    return {
        key if key.startswith(("text_model.", "text_projection")) else "text_model." + key: value
        for key, value in state_dict.items()
        if projection or not key.startswith("text_projection")
    }


def t5_to_original(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A T5EncoderModel's weights with the tied input embedding stored twice, as ComfyUI does.

    ``shared.weight`` and ``encoder.embed_tokens.weight`` are both there: t5xxl_fp16.safetensors
    is 9,787,849,216 bytes, exactly two 32128×4096 fp16 tables plus the encoder, and diffusers'
    single-file T5 loader leaves ``encoder.embed_tokens`` on the meta device without it.
    """
    return dict(state_dict)


def _prefixed(prefix: str, weights: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {prefix + key: value for key, value in weights.items()}


def _materialised(weights: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors refuses tensors that share memory or are not contiguous.
    return {key: value.detach().contiguous().clone() for key, value in weights.items()}


def sd3_checkpoint_to_original(
    transformer: torch.nn.Module,
    vae: torch.nn.Module,
    clip_l: torch.nn.Module,
    clip_g: torch.nn.Module,
    t5: torch.nn.Module | None,
) -> dict[str, torch.Tensor]:
    """A whole SD3/SD3.5 checkpoint in ComfyUI's layout (``sd3_medium_incl_clips_t5xxl…``)."""
    p = SD3_PREFIXES
    weights = _prefixed(
        p["transformer"], sd3_transformer_to_original(fast_mode.plain_state_dict(transformer),
                                                      transformer.config)
    )
    weights.update(vae_to_original(vae.state_dict(), vae.config, p["vae"]))
    weights.update(_prefixed(p["clip_l"], clip_text_to_original(clip_l.state_dict(), False)))
    weights.update(_prefixed(p["clip_g"], clip_text_to_original(clip_g.state_dict())))
    if t5 is not None:  # released both with and without T5
        weights.update(_prefixed(p["t5xxl"], t5_to_original(t5.state_dict())))
    return _materialised(weights)


def flux_checkpoint_to_original(
    transformer: torch.nn.Module,
    vae: torch.nn.Module,
    clip_l: torch.nn.Module,
    t5: torch.nn.Module,
) -> dict[str, torch.Tensor]:
    """A whole Flux checkpoint in ComfyUI's layout (``flux1-dev-fp8.safetensors`` style)."""
    p = FLUX_PREFIXES
    weights = _prefixed(
        p["transformer"], flux_transformer_to_original(fast_mode.plain_state_dict(transformer),
                                                       transformer.config)
    )
    weights.update(vae_to_original(vae.state_dict(), vae.config, p["vae"]))
    weights.update(_prefixed(p["clip_l"], clip_text_to_original(clip_l.state_dict(), False)))
    weights.update(_prefixed(p["t5xxl"], t5_to_original(t5.state_dict())))
    return _materialised(weights)


def stored_as_fp8(
    weights: Mapping[str, torch.Tensor], rest: torch.dtype = torch.bfloat16
) -> dict[str, torch.Tensor]:
    """Weights as fp8 checkpoints keep them: float matrices in float8_e4m3fn, the rest in ``rest``.

    fp8 only pays for the big matrices; biases, norm scales and the like are tiny and lose too
    much in 8 bits, so the popular fp8 files keep them in 16 bits.
    """
    return {
        key: value.to(torch.float8_e4m3fn if value.ndim == 2 else rest).contiguous()
        if value.is_floating_point() else value
        for key, value in weights.items()
    }
