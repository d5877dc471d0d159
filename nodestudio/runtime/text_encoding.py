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

Textual inversion embeddings (``embedding:name``, see :mod:`embeddings`), when the caller passes
a resolver: an embedding's n vectors take n token positions of the sequence, in place of token
embeddings at the text encoder's input. They count toward chunks like tokens, and emphasis
weights them like words. A name the resolver does not find is left out of the prompt (as
ComfyUI does; the resolver reports it). Prompts that name no embedding are encoded exactly as
without this.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import torch

from nodestudio.runtime import lora
from nodestudio.runtime.devices import ensure_on
from nodestudio.runtime.embeddings import EmbeddingLookup, EmbeddingResolver
from nodestudio.runtime.prompt_weights import (
    is_plain,
    mentions_embeddings,
    parse_weighted_prompt,
    split_embedding_references,
)
from nodestudio.runtime.types import Conditioning, SizeConditioning, TextEncoder, TextEncoders

#: The token id an embedding vector's position carries into the model: any id works (its
#: embedding is replaced), but it must not look like the end token, which places the pooled
#: output (at the first end token, or at the largest id in legacy CLIP configs).
_EMBEDDING_PLACEHOLDER_ID = 0


@dataclass
class _Tokens:
    """A prompt as one encoder reads it: token ids, their weights, and the embedding vectors
    that replace some of them (None where the token's own embedding is used)."""

    ids: list[int] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    vectors: list[torch.Tensor | None] = field(default_factory=list)

    def add_text(self, encoder: TextEncoder, text: str, weight: float) -> None:
        if not text:
            return
        # verbose=False: the tokenizer would warn that a long prompt exceeds the encoder's 77
        # tokens, but prompts are encoded in chunks of that size (see encode_prompt).
        ids = encoder.tokenizer(text, add_special_tokens=False, verbose=False).input_ids
        self.ids.extend(ids)
        self.weights.extend([weight] * len(ids))
        self.vectors.extend([None] * len(ids))

    def add_vectors(self, vectors: torch.Tensor, weight: float) -> None:
        self.ids.extend([_EMBEDDING_PLACEHOLDER_ID] * len(vectors))
        self.weights.extend([weight] * len(vectors))
        self.vectors.extend(vectors)


def _tokens_with_weights(
    encoder: TextEncoder, text: str, lookup: EmbeddingLookup | None = None, index: int = 0
) -> _Tokens:
    """``text`` tokenized for ``encoder`` (number ``index`` of its CLIP); embeddings named in
    it are looked up in ``lookup`` (None: ``embedding:`` is plain text)."""
    segments = parse_weighted_prompt(text)
    if is_plain(segments):
        # One piece, tokenized as a whole: a prompt without brackets is read exactly as the
        # pipelines read it.
        segments = [("".join(segment for segment, _ in segments), 1.0)]
    tokens = _Tokens()
    for segment, weight in segments:
        if lookup is None:
            tokens.add_text(encoder, segment, weight)
            continue
        # Text around the references is tokenized piece by piece; the pieces break at
        # whitespace, where CLIP's tokenizer breaks words anyway.
        pieces = split_embedding_references(segment)
        for position, piece in enumerate(pieces):
            if position % 2 == 0:
                tokens.add_text(encoder, piece, weight)
                continue
            reference = lookup.reference(piece)
            vectors = reference.per_encoder[index]
            if vectors is not None:
                tokens.add_vectors(vectors, weight)
            tokens.add_text(encoder, reference.leftover, weight)
    return tokens


def _chunks(
    encoder: TextEncoder, tokens: _Tokens, count: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """[chunks, max_length] token ids and weights, each chunk wrapped in start/end/padding;
    with embedding vectors in the prompt also the [chunks, max_length] mask of their positions
    and the [positions, width] vectors in the mask's (row-major) order, else None and None."""
    tokenizer = encoder.tokenizer
    length = tokenizer.model_max_length
    body = length - 2
    starts = list(range(0, max(len(tokens.ids), 1), body))
    if count is not None:
        starts += [len(tokens.ids)] * (count - len(starts))  # empty chunks to match another
    rows, row_weights, row_masks = [], [], []
    for start in starts:
        piece = tokens.ids[start : start + body]
        piece_weights = tokens.weights[start : start + body]
        piece_vectors = tokens.vectors[start : start + body]
        padding = length - len(piece) - 2
        rows.append([tokenizer.bos_token_id, *piece, tokenizer.eos_token_id]
                    + [tokenizer.pad_token_id] * padding)
        row_weights.append([1.0, *piece_weights, 1.0] + [1.0] * padding)
        row_masks.append([False, *(v is not None for v in piece_vectors), False]
                         + [False] * padding)
    vectors = [vector for vector in tokens.vectors if vector is not None]
    if not vectors:
        return torch.tensor(rows), torch.tensor(row_weights), None, None
    return (torch.tensor(rows), torch.tensor(row_weights), torch.tensor(row_masks),
            torch.stack(vectors))


@contextmanager
def _embeddings_inserted(model: torch.nn.Module, mask: torch.Tensor | None,
                         vectors: torch.Tensor | None) -> Iterator[None]:
    """While the ``model(ids)`` call inside runs, its token embeddings at ``mask`` are
    ``vectors``.

    Why a forward hook on the input embedding layer: the shared, cached text encoder and its
    tokenizer must stay as they are, so no tokens are registered and no embedding matrix is
    resized; and transformers' CLIPTextModel takes no ``inputs_embeds`` (it needs the ids to
    place the pooled output, and copying its forward would tie us to its internals). The hook
    changes only this call's output: it exists for the duration of the call, inside
    ``lora.applied`` whose lock serialises every use of a text encoder, and is removed after.
    """
    if mask is None or vectors is None:
        yield
        return
    layer = model.get_input_embeddings()
    applied: list[bool] = []

    def replace(module: torch.nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        if tuple(output.shape[:2]) != tuple(mask.shape):
            return output
        output = output.clone()
        output[mask.to(output.device)] = vectors.to(device=output.device, dtype=output.dtype)
        applied.append(True)
        return output

    handle = layer.register_forward_hook(replace)
    try:
        yield
    finally:
        handle.remove()
    if not applied:  # a model that bypasses its input embedding layer must not read "!" tokens
        raise RuntimeError("the text encoder did not read its input embeddings: "
                           "textual inversion embeddings cannot be applied to it")


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
    embeddings: EmbeddingResolver | None = None,
) -> Conditioning:
    """Encode ``text`` (``text_2`` for SDXL's second encoder when given) into a Conditioning.

    ``embeddings`` finds the files of ``embedding:name`` references (None: such words are text).
    """
    check_clip_skip(clip, clip_skip)
    prompts = [text_2 if index == 1 and text_2 else text for index in range(len(clip.encoders))]
    lookup = None
    if embeddings is not None and any(mentions_embeddings(prompt) for prompt in prompts):
        lookup = EmbeddingLookup(embeddings, clip.encoders)
    tokenized = [_tokens_with_weights(encoder, prompt, lookup, index)
                 for index, (encoder, prompt) in enumerate(zip(clip.encoders, prompts,
                                                               strict=True))]
    chunk_counts = [
        max(1, -(-len(tokens.ids) // (e.tokenizer.model_max_length - 2)))
        for e, tokens in zip(clip.encoders, tokenized, strict=True)
    ]
    count = max(chunk_counts)
    embeddings_out, pooled = [], None
    with ExitStack() as stack:
        for encoder, tokens in zip(clip.encoders, tokenized, strict=True):
            model = ensure_on(encoder.model, clip.device)
            stack.enter_context(lora.applied(model, clip.loras))
            ids, chunk_weights, mask, vectors = _chunks(encoder, tokens, count)
            with _embeddings_inserted(model, mask, vectors):
                hidden, encoder_pooled = _hidden_states(encoder, ids.to(clip.device), clip_skip)
            hidden = _apply_weights(hidden, chunk_weights.to(hidden.device))
            # [chunks, tokens, width] → [1, chunks × tokens, width]
            embeddings_out.append(hidden.reshape(1, -1, hidden.shape[-1]))
            if encoder_pooled is not None:
                pooled = encoder_pooled
    dtype = clip.encoders[-1].model.dtype
    embeds = torch.cat(embeddings_out, dim=-1).to(dtype)
    return Conditioning(
        embeds=embeds,
        pooled=pooled.to(dtype) if pooled is not None else None,
        size=size or SizeConditioning(),
        family=clip.family,
    )
