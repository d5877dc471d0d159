"""Loaders: checkpoints (MODEL, CLIP, VAE), VAEs, ControlNets and LoRAs from the models folder."""

from __future__ import annotations

from typing import Any

from nodestudio.api import (
    CLIP,
    CONTROL_NET,
    MODEL,
    VAE,
    Float,
    Input,
    ModelChoice,
    NodeContext,
    Output,
    node,
)

from ._common import find_model, fingerprint_for, t5_tokenizer

CATEGORY = "loaders"


CHECKPOINT_INPUT = ModelChoice("checkpoint", "checkpoints", default="nodestudio-shapes",
                               description="Checkpoint name in the checkpoints folder, or an "
                                           "absolute path")


@node(
    "diffusion.load_checkpoint",
    display_name="Load Checkpoint",
    category=CATEGORY,
    description=(
        "Loads a checkpoint (SD 1.x, SD 2.x, SDXL, SD3/3.5 or Flux) from the checkpoints "
        "folder, or from an absolute path: a diffusers folder or a single .safetensors file. "
        "Gives the denoising model, the text encoder(s) and the VAE separately. Single files "
        "with a T5 need its tokenizer in models/tokenizers/t5."
    ),
    inputs=[
        CHECKPOINT_INPUT,
    ],
    outputs=[
        Output("model", MODEL, description="The denoiser and its scheduler settings"),
        Output("clip", CLIP, description="The text encoder(s) for Text Encode"),
        Output("vae", VAE, description="Turns latents into pixels and back"),
    ],
    deterministic=False,
    fingerprint=fingerprint_for(CHECKPOINT_INPUT),
)
def load_checkpoint(checkpoint: str, ctx: NodeContext) -> tuple[Any, Any, Any]:
    from nodestudio.runtime.checkpoints import describe
    from nodestudio.runtime.checkpoints import load_checkpoint as load

    path = find_model(ctx, CHECKPOINT_INPUT, checkpoint)
    loaded = load(path, ctx.device, progress=ctx.progress, t5_tokenizer=t5_tokenizer(ctx))
    ctx.logger.info("loaded %s on %s: %s", path.name, ctx.device, describe(loaded))
    return loaded.model, loaded.clip, loaded.vae


VAE_NAME_INPUT = ModelChoice("vae_name", "vae", description="VAE name in the vae folder")


@node(
    "diffusion.load_vae",
    display_name="Load VAE",
    category=CATEGORY,
    description=(
        "Loads a VAE from the vae folder (diffusers folder or single file) to use instead of "
        "the checkpoint's own. Single files with \"xl\" in their name are taken as SDXL VAEs."
    ),
    inputs=[VAE_NAME_INPUT],
    outputs=[Output("vae", VAE)],
    deterministic=False,
    fingerprint=fingerprint_for(VAE_NAME_INPUT),
)
def load_vae(vae_name: str, ctx: NodeContext) -> Any:
    from nodestudio.runtime.checkpoints import load_vae as load

    return load(find_model(ctx, VAE_NAME_INPUT, vae_name), ctx.device, progress=ctx.progress)


CONTROL_NET_INPUT = ModelChoice("control_net", "controlnet", default="nodestudio-shapes-canny",
                                description="ControlNet name in the controlnet folder")


@node(
    "diffusion.load_controlnet",
    display_name="Load ControlNet",
    category=CATEGORY,
    description=(
        "Loads a ControlNet (for SD 1.5 or SDXL) from the controlnet folder: a diffusers "
        "folder or a single file. Use it with Apply ControlNet."
    ),
    inputs=[
        CONTROL_NET_INPUT,
    ],
    outputs=[Output("control_net", CONTROL_NET)],
    deterministic=False,
    fingerprint=fingerprint_for(CONTROL_NET_INPUT),
)
def load_controlnet(control_net: str, ctx: NodeContext) -> Any:
    from nodestudio.runtime.checkpoints import load_controlnet as load

    path = find_model(ctx, CONTROL_NET_INPUT, control_net)
    return load(path, ctx.device, progress=ctx.progress)


LORA_INPUT = ModelChoice("lora", "loras", description="LoRA name in the loras folder")


@node(
    "diffusion.load_lora",
    display_name="Load LoRA",
    category=CATEGORY,
    description=(
        "Adds a LoRA from the loras folder to the model and the text encoder (diffusers, "
        "kohya and A1111 formats). The incoming model is not changed: other branches of the "
        "graph keep using it without the LoRA. Strength 0 leaves that part untouched; chain "
        "several Load LoRA nodes to combine LoRAs."
    ),
    inputs=[
        Input("model", MODEL),
        Input("clip", CLIP),
        LORA_INPUT,
        Float("strength_model", 1.0, min=-10.0, max=10.0, step=0.05,
              description="How strongly the LoRA changes the denoising model"),
        Float("strength_clip", 1.0, min=-10.0, max=10.0, step=0.05,
              description="How strongly the LoRA changes the text encoder"),
    ],
    outputs=[Output("model", MODEL), Output("clip", CLIP)],
    deterministic=False,
    fingerprint=fingerprint_for(LORA_INPUT),
)
def load_lora(
    model: Any, clip: Any, lora: str, strength_model: float, strength_clip: float,
    ctx: NodeContext,
) -> tuple[Any, Any]:
    from nodestudio.runtime.lora import load_lora as add_lora

    if strength_model == 0 and strength_clip == 0:
        return model, clip
    path = find_model(ctx, LORA_INPUT, lora)
    return add_lora(model, clip, path, strength_model, strength_clip, progress=ctx.progress)
