"""Prompt → CONDITIONING: CLIP skip, long prompts, emphasis, SDXL's two encoders and pooling.

A prompt that fits the tokenizer (``model_max_length`` tokens with start and end) is encoded
exactly as the diffusers pipelines do: ``[start] tokens [end] [pad …]``, last hidden state
through the final LayerNorm (SD1/SD2) or the penultimate hidden state (SDXL, both encoders,
concatenated), pooled embedding from SDXL's second encoder.

Longer prompts are cut into chunks of ``model_max_length - 2`` tokens; each chunk is wrapped in
start/end/padding, encoded on its own, and the embeddings are concatenated along the token axis
(as A1111 and ComfyUI do). The pooled embedding is the first chunk's.

CLIP skip ``n`` (0 = off) uses the hidden state ``n`` layers before the usual one: for SD1/SD2
``hidden_states[-(n + 1)]`` through the final LayerNorm (diffusers' ``clip_skip``; A1111's
"Clip skip" is ``n + 1``), for SDXL ``hidden_states[-(n + 2)]``.

Emphasis (``(word:1.2)``, see :mod:`prompt_weights`) scales each token's embedding by its weight
and then restores the chunk's original mean, so the overall magnitude is unchanged (A1111's
method). A prompt without emphasis is not touched.
"""

from __future__ import annotations

from contextlib import ExitStack

import torch

from nodestudio.runtime import lora
from nodestudio.runtime.devices import ensure_on
from nodestudio.runtime.prompt_weights import is_plain, parse_weighted_prompt
from nodestudio.runtime.types import Conditioning, SizeConditioning, TextEncoder, TextEncoders


def _tokens_with_weights(encoder: TextEncoder, text: str) -> tuple[list[int], list[float]]:
    segments = parse_weighted_prompt(text)
    if is_plain(segments):
        # One piece, tokenized as a whole: a prompt without brackets is read exactly as the
        # pipelines read it.
        segments = [("".join(segment for segment, _ in segments), 1.0)]
    tokens: list[int] = []
    weights: list[float] = []
    for segment, weight in segments:
        ids = encoder.tokenizer(segment, add_special_tokens=False).input_ids
        tokens.extend(ids)
        weights.extend([weight] * len(ids))
    return tokens, weights


def _chunks(
    encoder: TextEncoder, tokens: list[int], weights: list[float], count: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """[chunks, max_length] token ids and weights, each chunk wrapped in start/end/padding."""
    tokenizer = encoder.tokenizer
    length = tokenizer.model_max_length
    body = length - 2
    starts = list(range(0, max(len(tokens), 1), body))
    if count is not None:
        starts += [len(tokens)] * (count - len(starts))  # empty chunks to match another encoder
    rows, row_weights = [], []
    for start in starts:
        piece, piece_weights = tokens[start : start + body], weights[start : start + body]
        padding = length - len(piece) - 2
        rows.append([tokenizer.bos_token_id, *piece, tokenizer.eos_token_id]
                    + [tokenizer.pad_token_id] * padding)
        row_weights.append([1.0, *piece_weights, 1.0] + [1.0] * padding)
    return torch.tensor(rows), torch.tensor(row_weights)


def _final_layer_norm(model: torch.nn.Module) -> torch.nn.Module:
    # transformers ≥ 5.6 flattened CLIPTextModel; CLIPTextModelWithProjection keeps .text_model.
    inner = getattr(model, "text_model", model)
    return inner.final_layer_norm


def _hidden_states(
    encoder: TextEncoder, ids: torch.Tensor, clip_skip: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-chunk hidden states [chunks, tokens, width] and the pooled embedding of chunk 0."""
    model = encoder.model
    output = model(ids, output_hidden_states=True)
    if encoder.penultimate:
        hidden = output.hidden_states[-(clip_skip + 2)]
    elif clip_skip == 0:
        hidden = output[0]  # last_hidden_state, already through the final LayerNorm
    else:
        hidden = _final_layer_norm(model)(output.hidden_states[-(clip_skip + 1)])
    pooled = output[0][:1] if encoder.pooled else None  # text_embeds of CLIPTextModelWithProjection
    return hidden, pooled


def _apply_weights(hidden: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    if bool((weights == 1.0).all()):
        return hidden
    original_mean = hidden.float().mean(dim=(1, 2), keepdim=True)
    weighted = hidden.float() * weights[:, :, None]
    weighted = weighted * (original_mean / weighted.mean(dim=(1, 2), keepdim=True))
    return weighted.to(hidden.dtype)


def check_clip_skip(clip: TextEncoders, clip_skip: int) -> None:
    for encoder in clip.encoders:
        layers = encoder.model.config.num_hidden_layers
        usable = layers - (1 if encoder.penultimate else 0)
        if not 0 <= clip_skip < usable:
            raise ValueError(f"CLIP skip must be between 0 and {usable - 1} for this text encoder")


@torch.inference_mode()
def encode_prompt(
    clip: TextEncoders,
    text: str,
    clip_skip: int = 0,
    text_2: str = "",
    size: SizeConditioning | None = None,
) -> Conditioning:
    """Encode ``text`` (``text_2`` for SDXL's second encoder when given) into a Conditioning."""
    check_clip_skip(clip, clip_skip)
    prompts = [text_2 if index == 1 and text_2 else text for index in range(len(clip.encoders))]
    tokenized = [_tokens_with_weights(e, p) for e, p in zip(clip.encoders, prompts, strict=True)]
    chunk_counts = [
        max(1, -(-len(tokens) // (e.tokenizer.model_max_length - 2)))
        for e, (tokens, _) in zip(clip.encoders, tokenized, strict=True)
    ]
    count = max(chunk_counts)
    embeddings, pooled = [], None
    with ExitStack() as stack:
        for encoder, (tokens, weights) in zip(clip.encoders, tokenized, strict=True):
            model = ensure_on(encoder.model, clip.device)
            stack.enter_context(lora.applied(model, clip.loras))
            ids, chunk_weights = _chunks(encoder, tokens, weights, count)
            hidden, encoder_pooled = _hidden_states(encoder, ids.to(clip.device), clip_skip)
            hidden = _apply_weights(hidden, chunk_weights.to(hidden.device))
            # [chunks, tokens, width] → [1, chunks × tokens, width]
            embeddings.append(hidden.reshape(1, -1, hidden.shape[-1]))
            if encoder_pooled is not None:
                pooled = encoder_pooled
    dtype = clip.encoders[-1].model.dtype
    embeds = torch.cat(embeddings, dim=-1).to(dtype)
    return Conditioning(
        embeds=embeds,
        pooled=pooled.to(dtype) if pooled is not None else None,
        size=size or SizeConditioning(),
        family=clip.family,
    )
