"""Textual inversion embeddings: their files, and the vectors each text encoder takes from them.

A prompt names one as ComfyUI does, ``embedding:name`` (see :mod:`prompt_weights`); whoever
encodes the prompt passes a resolver (name → file, or None when there is none), so the runtime
never imports app code. The Text Encode node resolves against ``models/embeddings`` and warns
about names it cannot find.

Files read (``.pt``/``.bin`` only through ``torch.load(weights_only=True)``):

- A1111: ``string_to_param`` ``{"*": [n, width]}`` (``.pt``) or ``emb_params`` ``[n, width]``
  (``.safetensors``);
- diffusers: ``learned_embeds.safetensors``/``.bin`` holding ``{token: [width]}`` or
  ``[n, width]`` (also as a folder holding such a file);
- SDXL: ``clip_l`` ``[n, 768]`` and ``clip_g`` ``[n, 1280]``, one set per encoder.

Each text encoder takes the vectors stored under its slot's name, else the first ones of its
width. An embedding that fits no encoder of the CLIP is an error; one that fits only some (an
SD 1.5 embedding on SDXL) is left out of the others with a warning, as ComfyUI does.

torch is imported inside the functions that read files: the Text Encode node's fingerprint
finds embedding files with :func:`locate_embedding` on the UI thread, which must not pay for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nodestudio.api.errors import NodeError
from nodestudio.runtime.prompt_weights import embedding_name_candidates

if TYPE_CHECKING:
    import torch

    from nodestudio.runtime.types import TextEncoder

_logger = logging.getLogger("nodestudio.runtime.embeddings")

#: name → embedding file (or diffusers folder), None when there is none.
EmbeddingResolver = Callable[[str], "Path | None"]

#: Extensions tried after a name as written, in ComfyUI's order.
EMBEDDING_SUFFIXES = (".safetensors", ".pt", ".bin")
#: The file a diffusers textual inversion folder holds.
DIFFUSERS_FILES = ("learned_embeds.safetensors", "learned_embeds.bin")


@dataclass(frozen=True)
class Embedding:
    """One embedding file's vectors."""

    name: str
    path: Path
    #: The file's tensors by key ("clip_l", "clip_g", "emb_params", a diffusers token …), each
    #: as [n, width] float32.
    vectors: dict[str, torch.Tensor]

    @property
    def widths(self) -> list[int]:
        return sorted({int(tensor.shape[-1]) for tensor in self.vectors.values()})

    def vectors_for(self, slot: str, width: int) -> torch.Tensor | None:
        """[n, width] vectors for an encoder of ``slot`` and ``width``, or None when none fit."""
        own = self.vectors.get(slot)
        if own is not None and own.shape[-1] == width:
            return own
        return next((tensor for tensor in self.vectors.values() if tensor.shape[-1] == width),
                    None)


def locate_embedding(find: Callable[[str], Path], name: str) -> Path | None:
    """The embedding ``name`` names, with or without its extension, or None.

    ``find`` is a model locator's lookup in the embeddings folders (raising NodeError when
    missing). As ComfyUI: the name as written, then with each of :data:`EMBEDDING_SUFFIXES`;
    names outside the folders (absolute, ``~``) are not looked up.
    """
    if not name or Path(name).expanduser().is_absolute():
        return None
    for candidate in (name, *(name + suffix for suffix in EMBEDDING_SUFFIXES)):
        try:
            path = find(candidate)
        except (NodeError, OSError):
            continue
        if path.is_file() or any((path / file).is_file() for file in DIFFUSERS_FILES):
            return path
    return None


def embedding_file(path: Path) -> Path:
    """The file to read: ``path`` itself, or the learned_embeds file of a diffusers folder."""
    if path.is_dir():
        for name in DIFFUSERS_FILES:
            if (path / name).is_file():
                return path / name
        raise NodeError(f"embedding folder {path} holds no {' or '.join(DIFFUSERS_FILES)}")
    return path


def read_embedding(path: Path, name: str = "") -> Embedding:
    """The vectors of the embedding file (or diffusers folder) at ``path``."""
    import torch

    file = embedding_file(path)
    loaded = _load(file)
    tensors = _tensors(loaded)
    vectors = {key: tensor.detach().to(torch.float32).reshape(-1, tensor.shape[-1])
               for key, tensor in tensors.items() if tensor.ndim >= 1 and tensor.numel()}
    if not vectors:
        raise NodeError(
            f"embedding {file.name} holds no vectors (expected A1111's string_to_param or "
            "emb_params, diffusers' learned_embeds, or SDXL's clip_l/clip_g)"
        )
    return Embedding(name or file.stem, file, vectors)


def _load(file: Path) -> Any:
    from nodestudio.runtime.model_files import load_pickle, load_safetensors

    # One sentence naming the file for a damaged or code-carrying file (model_files).
    if file.suffix.lower() == ".safetensors":
        return load_safetensors(file, "embedding")[0]
    return load_pickle(file, "embedding")


def _tensors(loaded: Any) -> dict[str, torch.Tensor]:
    import torch

    if isinstance(loaded, torch.Tensor):
        return {"": loaded}
    if not isinstance(loaded, dict):
        return {}
    params = loaded.get("string_to_param")
    if isinstance(params, dict) and params:
        # A1111 stores one placeholder, "*"; ComfyUI reads the first as well.
        first = next(iter(params.values()))
        return {"string_to_param": first} if isinstance(first, torch.Tensor) else {}
    return {str(key): value for key, value in loaded.items() if isinstance(value, torch.Tensor)}


@dataclass(frozen=True)
class Reference:
    """What an ``embedding:`` word of a prompt stands for."""

    #: The vectors for each text encoder of the CLIP, in order (None: that encoder takes none).
    per_encoder: tuple[torch.Tensor | None, ...]
    #: Text the word leaves in the prompt (commas after the name).
    leftover: str


class EmbeddingLookup:
    """The embeddings one prompt encoding meets: each name resolved and read once (so a name in
    both of SDXL's prompts warns once), and the vectors each text encoder takes."""

    def __init__(self, resolve: EmbeddingResolver, encoders: Sequence[TextEncoder]) -> None:
        self._resolve = resolve
        self._encoders = list(encoders)
        self._paths: dict[str, Path | None] = {}
        self._references: dict[str, Reference] = {}

    def reference(self, word: str) -> Reference:
        """What ``word`` (as written after ``embedding:``) stands for; missing names take no
        vectors, as ComfyUI drops them (the resolver reports them)."""
        if word not in self._references:
            self._references[word] = self._look_up(word)
        return self._references[word]

    def _path(self, name: str) -> Path | None:
        if name not in self._paths:
            self._paths[name] = self._resolve(name)
        return self._paths[name]

    def _look_up(self, word: str) -> Reference:
        leftover = ""
        for name, leftover in embedding_name_candidates(word):
            path = self._path(name)
            if path is not None:
                return Reference(self._fit(read_embedding(path, name)), leftover)
        return Reference((None,) * len(self._encoders), leftover)

    def _fit(self, embedding: Embedding) -> tuple[torch.Tensor | None, ...]:
        widths = [_width(encoder) for encoder in self._encoders]
        fitted = tuple(embedding.vectors_for(encoder.slot, width)
                       for encoder, width in zip(self._encoders, widths, strict=True))
        encoders = ", ".join(f"{encoder.slot} {width}"
                             for encoder, width in zip(self._encoders, widths, strict=True))
        stored = "/".join(str(width) for width in embedding.widths)
        if all(vectors is None for vectors in fitted):
            raise NodeError(
                f"embedding {embedding.path.name} has {stored}-wide vectors, which fit none of "
                f"this CLIP's text encoders ({encoders}): it was made for another model"
            )
        for encoder, width, vectors in zip(self._encoders, widths, fitted, strict=True):
            if vectors is None:
                _logger.warning(
                    "embedding %s has no %d-wide vectors for %s (it has %s): that text encoder "
                    "reads the prompt without it, as in ComfyUI",
                    embedding.path.name, width, encoder.slot, stored,
                )
        return fitted


def _width(encoder: TextEncoder) -> int:
    return int(encoder.model.get_input_embeddings().weight.shape[-1])
