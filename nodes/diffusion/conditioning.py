"""Prompts and ControlNets: Text Encode, Apply ControlNet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nodestudio.api import (
    CLIP,
    CONDITIONING,
    CONTROL_NET,
    IMAGE,
    VAE,
    Float,
    Input,
    Int,
    NodeError,
    Output,
    String,
    node,
)

from ._common import _stat_of

CATEGORY = "conditioning"
_SIZE_HINT = "SDXL only; 0 = the size being generated"
_EMBEDDINGS = "embeddings"


def _embedding_path(models: Any, name: str) -> Path | None:
    """The file in models/embeddings that ``name`` (extension optional) names, or None."""
    from nodestudio.runtime.embeddings import locate_embedding

    return locate_embedding(lambda candidate: models.find(_EMBEDDINGS, candidate), name)


def _embedding_words(*prompts: str) -> list[str]:
    """The words after ``embedding:`` in the prompts, each once, in order."""
    from nodestudio.runtime.prompt_weights import embedding_references

    return list(dict.fromkeys(word for prompt in prompts for word in embedding_references(prompt)))


def _word_path(models: Any, word: str) -> tuple[str, Path | None]:
    """(name, file) of a referenced word, tried as the runtime tries it ("x," then "x")."""
    from nodestudio.runtime.prompt_weights import embedding_name_candidates

    name = word
    for name, _ in embedding_name_candidates(word):
        path = _embedding_path(models, name)
        if path is not None:
            return name, path
    return name, None


def _text_encode_fingerprint(ctx: Any = None, **values: Any) -> Any:
    """A constant for prompts that name no embedding, so they stay cached exactly as before;
    else the identity (path, mtime, size) of each named embedding file, so editing, adding or
    removing one encodes the prompt again. Only prompts typed on the node are seen: a prompt
    linked in from another node is not (the fingerprint gets widget values)."""
    words = _embedding_words(str(values.get("text") or ""), str(values.get("text_2") or ""))
    if not words:
        return "no embeddings"
    if ctx is None:
        raise LookupError("no model folders to resolve embedding names against")
    identities: list[Any] = []
    for word in words:
        _, path = _word_path(ctx.models, word)
        identities.append([word, _stat_of(path) if path is not None else "missing"])
    return identities


class _EmbeddingFinder:
    """PromptOptions.embeddings of one Text Encode run: names → files in models/embeddings.

    Records whether the family asked at all: one that never does (SD3/Flux for now) read the
    prompt without applying its embeddings.
    """

    def __init__(self, models: Any) -> None:
        self._models = models
        self.asked = False

    def __call__(self, name: str) -> Path | None:
        self.asked = True
        return _embedding_path(self._models, name)


def _embedding_folders(models: Any, name: str) -> str:
    """Where embedding ``name`` was looked for, as the locator's not-found error names it."""
    from nodestudio.api.errors import ModelNotFoundError

    try:
        return str(models.find(_EMBEDDINGS, name).parent)  # found, but not an embedding
    except ModelNotFoundError as missing:
        return " or ".join(str(folder) for folder in missing.folders) or "models/embeddings"
    except (NodeError, OSError):
        return "models/embeddings"


def _warn_missing_embeddings(ctx: Any, words: list[str]) -> None:
    """ComfyUI warns about an embedding it cannot find and reads the prompt without it; so do
    we (the runtime leaves such words out), in the run's log."""
    for word in words:
        name, path = _word_path(ctx.models, word)
        if path is None:
            ctx.logger.warning(
                "embedding %r not found in %s: embedding:%s is left out of the prompt "
                "(as ComfyUI does)", name, _embedding_folders(ctx.models, name), name,
            )


@node(
    "diffusion.text_encode",
    display_name="Text Encode (Prompt)",
    category=CATEGORY,
    description=(
        "Turns a prompt into conditioning for the sampler. Long prompts are split into chunks "
        "the text encoder can read. (word:1.2) makes a word count more, [word] less. "
        "CLIP skip 1 uses the text encoder's second-to-last layer (\"Clip skip 2\" in A1111). "
        "embedding:name puts a textual inversion embedding from models/embeddings in the "
        "prompt (SD 1.x, SD 2.x and SDXL). "
        "Among the advanced inputs: a second prompt (SDXL's second encoder, or the T5 of SD3 "
        "and Flux) and SDXL's size conditioning. T5 reads up to the model's own token limit "
        "(256 for SD3, 512 for Flux)."
    ),
    inputs=[
        Input("clip", CLIP),
        String("text", "", multiline=True, description="The prompt"),
        Int("clip_skip", 0, min=0, max=24,
            description="Skip this many last text-encoder layers (0 = use them all)"),
        # SDXL's extras: folded away on the canvas (SD 1.x/2.x ignore them; SDXL works well
        # without them).
        String("text_2", "", multiline=True, advanced=True,
               description="A different prompt for SDXL's second text encoder, or for the "
                           "T5 of SD3 and Flux (empty = the prompt)"),
        Int("original_width", 0, min=0, max=16384, step=8, description=_SIZE_HINT,
            advanced=True),
        Int("original_height", 0, min=0, max=16384, step=8, description=_SIZE_HINT,
            advanced=True),
        Int("crop_left", 0, min=0, max=16384, step=8, description="SDXL only", advanced=True),
        Int("crop_top", 0, min=0, max=16384, step=8, description="SDXL only", advanced=True),
        Int("target_width", 0, min=0, max=16384, step=8, description=_SIZE_HINT,
            advanced=True),
        Int("target_height", 0, min=0, max=16384, step=8, description=_SIZE_HINT,
            advanced=True),
    ],
    outputs=[Output("conditioning", CONDITIONING)],
    # Deterministic but for the embedding files a prompt names: see the fingerprint.
    deterministic=False,
    fingerprint=_text_encode_fingerprint,
)
def text_encode(
    clip: Any, text: str, clip_skip: int, text_2: str,
    original_width: int, original_height: int, crop_left: int, crop_top: int,
    target_width: int, target_height: int, ctx: Any = None,
) -> Any:
    from nodestudio.runtime.families.base import PromptOptions
    from nodestudio.runtime.types import SizeConditioning

    def size(width: int, height: int) -> tuple[int, int] | None:
        if width == 0 and height == 0:
            return None
        if width == 0 or height == 0:
            raise NodeError("set both width and height of an SDXL size, or neither")
        return (height, width)

    conditioning_size = SizeConditioning(
        original_size=size(original_width, original_height),
        crop_top_left=(crop_top, crop_left),
        target_size=size(target_width, target_height),
    )
    words = _embedding_words(text, text_2) if ctx is not None else []
    finder = _EmbeddingFinder(ctx.models) if words else None
    if words:
        _warn_missing_embeddings(ctx, words)
    options = PromptOptions(clip_skip=clip_skip, text_2=text_2, size=conditioning_size,
                            embeddings=finder)
    from nodestudio.runtime import memory_manager

    # The memory policy places the encoders for this node (offload: back to system memory
    # after it, so T5-XXL and the denoiser take turns on a small card).
    try:
        with memory_manager.models_in_use([e.model for e in clip.encoders], clip.device):
            return _encode(clip, text, text_2, options, finder, words, ctx)
    except ValueError as error:
        raise NodeError(str(error)) from None


def _encode(clip: Any, text: str, text_2: str, options: Any, finder: Any, words: list[str],
            ctx: Any) -> Any:
    from dataclasses import replace

    conditioning = clip.family.encode_prompt(clip, text, options)
    if finder is not None and not finder.asked:
        # A family that does not apply embeddings read "embedding:name" as words; as
        # ComfyUI ignores embeddings an encoder cannot take, encode without them.
        from nodestudio.runtime.prompt_weights import remove_embedding_references

        ctx.logger.warning(
            "%s text encoders do not apply textual inversion embeddings here: %s left out "
            "of the prompt", clip.family.label,
            ", ".join(f"embedding:{word}" for word in words),
        )
        options = replace(options, text_2=remove_embedding_references(text_2),
                          embeddings=None)
        conditioning = clip.family.encode_prompt(
            clip, remove_embedding_references(text), options)
    return conditioning


@node(
    "diffusion.apply_controlnet",
    display_name="Apply ControlNet",
    category=CATEGORY,
    description=(
        "Attaches a ControlNet and its hint image (edges, depth, pose …) to the prompts. The "
        "sampler runs every attached ControlNet at each step between start and end percent "
        "and adds up their effects; chain several Apply ControlNet nodes to combine them."
    ),
    inputs=[
        Input("positive", CONDITIONING),
        Input("negative", CONDITIONING),
        Input("control_net", CONTROL_NET),
        Input("image", IMAGE, description="The hint image, resized to the generated size"),
        Input("vae", VAE, optional=True,
              description="SD3 and Flux ControlNets read the hint as latents: their VAE"),
        Float("strength", 1.0, min=0.0, max=10.0, step=0.01),
        Float("start_percent", 0.0, min=0.0, max=1.0, step=0.001,
              description="Fraction of the steps after which the ControlNet starts acting"),
        Float("end_percent", 1.0, min=0.0, max=1.0, step=0.001,
              description="Fraction of the steps after which it stops"),
    ],
    outputs=[Output("positive", CONDITIONING), Output("negative", CONDITIONING)],
)
def apply_controlnet(
    positive: Any, negative: Any, control_net: Any, image: Any, strength: float,
    start_percent: float, end_percent: float, vae: Any = None,
) -> tuple[Any, Any]:
    import numpy as np
    import torch

    from nodestudio.runtime.types import ControlUse

    if start_percent > end_percent:
        raise NodeError("start percent must not be after end percent")
    if strength == 0:
        return positive, negative
    pixels = np.asarray(image, dtype=np.float32)
    if pixels.ndim == 3:
        pixels = pixels[None]
    if pixels.ndim != 4 or pixels.shape[-1] < 3:
        raise NodeError(f"expected an image batch [B, H, W, 3], got shape {pixels.shape}")
    hint = torch.from_numpy(np.ascontiguousarray(pixels[..., :3])).permute(0, 3, 1, 2)
    use = ControlUse(control_net, hint.contiguous(), strength, start_percent, end_percent, vae)
    return positive.with_control(use), negative.with_control(use)
