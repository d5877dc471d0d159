"""Models kept as separate files, as ComfyUI users keep SD3 and Flux: the diffusion model alone
(``models/diffusion_models``, ComfyUI's ``unet``), the text encoders alone
(``models/text_encoders``, ComfyUI's ``clip``)."""

from __future__ import annotations

from typing import Any

from nodestudio.api import CLIP, MODEL, Choice, ModelChoice, NodeContext, Output, node

from ._common import declared_kind, find_model, model_fingerprint

MODEL_NAME_INPUT = ModelChoice("model_name", "diffusion_models",
                               description="File or folder in the diffusion_models folder")
#: The three encoder slots list one folder: the first's kind serves all three.
TEXT_ENCODER_INPUTS = (
    ModelChoice("text_encoder_1", "text_encoders",
                description="A text encoder file (clip_l, clip_g or t5xxl)"),
    ModelChoice("text_encoder_2", "text_encoders", optional=True,
                description="A second one, if the family takes it"),
    ModelChoice("text_encoder_3", "text_encoders", optional=True,
                description="A third one (SD3's T5)"),
)

CATEGORY = "loaders"
#: How the weights are kept in memory; "default" is the device's compute precision.
WEIGHT_DTYPES = ("default", "fp8_e4m3fn", "fp8_e5m2", "bf16", "fp16", "fp32")
#: Families whose text encoders can be loaded from separate files.
TEXT_ENCODER_FAMILIES = ("flux", "sd3")


def _fingerprint_diffusion_model(ctx: Any = None, **values: Any) -> Any:
    name = values.get(MODEL_NAME_INPUT.name, "")
    return [model_fingerprint(declared_kind(MODEL_NAME_INPUT), name, ctx),
            values.get("weight_dtype")]


@node(
    "diffusion.load_diffusion_model",
    display_name="Load Diffusion Model",
    category=CATEGORY,
    description=(
        "Loads a diffusion model alone (an SD3 or Flux transformer) from the diffusion_models "
        "folder (ComfyUI's unet folder too): a single file, also fp8, or a diffusers folder. "
        "Pair it with Load Text Encoders and Load VAE. fp8 keeps the weights in 8 bits and "
        "computes in the device's precision, to fit large models in less memory."
    ),
    inputs=[
        MODEL_NAME_INPUT,
        Choice("weight_dtype", WEIGHT_DTYPES, "default", advanced=True,
               description="Precision the weights are stored in while loaded"),
    ],
    outputs=[Output("model", MODEL)],
    deterministic=False,
    fingerprint=_fingerprint_diffusion_model,
)
def load_diffusion_model(model_name: str, weight_dtype: str, ctx: NodeContext) -> Any:
    from nodestudio.runtime.split_files import load_diffusion_model as load

    path = find_model(ctx, MODEL_NAME_INPUT, model_name)
    model = load(path, ctx.device, weight_dtype=weight_dtype, progress=ctx.progress)
    ctx.logger.info("loaded %s (%s) on %s", path.name, model.family.label, ctx.device)
    return model


def _fingerprint_text_encoders(ctx: Any = None, **values: Any) -> Any:
    names = [values.get(f"text_encoder_{index}") for index in (1, 2, 3)]
    kind = declared_kind(TEXT_ENCODER_INPUTS[0])
    return [[model_fingerprint(kind, name, ctx) for name in names if name],
            values.get("type"), model_fingerprint("tokenizers", "t5", ctx)]


@node(
    "diffusion.load_text_encoders",
    display_name="Load Text Encoders",
    category=CATEGORY,
    description=(
        "Loads one, two or three text encoders from the text_encoders folder (ComfyUI's clip "
        "folder too) for a model family: Flux takes clip_l and t5xxl; SD3 takes clip_l, "
        "clip_g and, optionally, t5xxl. Which file is which is read from the files. A T5 needs "
        "its tokenizer: put tokenizer.json in models/tokenizers/t5."
    ),
    inputs=[
        *TEXT_ENCODER_INPUTS,
        Choice("type", TEXT_ENCODER_FAMILIES, "flux", description="The model family"),
    ],
    outputs=[Output("clip", CLIP, description="The text encoders for Text Encode")],
    deterministic=False,
    fingerprint=_fingerprint_text_encoders,
)
def load_text_encoders(text_encoder_1: str, type: str, ctx: NodeContext,
                       text_encoder_2: str | None = None,
                       text_encoder_3: str | None = None) -> Any:
    from nodestudio.api.errors import ModelNotFoundError
    from nodestudio.runtime.split_files import load_text_encoders as load

    names = [name for name in (text_encoder_1, text_encoder_2, text_encoder_3) if name]
    paths = [find_model(ctx, TEXT_ENCODER_INPUTS[0], name) for name in names]
    try:
        t5_tokenizer: Any = ctx.models.find("tokenizers", "t5")
    except ModelNotFoundError as missing:
        t5_tokenizer = missing  # an error only if a T5 is among the files
    return load(paths, type, ctx.device, t5_tokenizer, progress=ctx.progress)
