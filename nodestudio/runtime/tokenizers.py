"""CLIP tokenizers built offline from the BPE vocabulary that open-clip-torch ships.

Single-file checkpoints carry no tokenizer files, and NodeStudio never downloads. CLIP's
tokenizer is fully defined by its byte-pair merges file (``bpe_simple_vocab_16e6.txt.gz``,
installed with open-clip-torch): the vocabulary is the 256 byte symbols, the same symbols with
the end-of-word marker ``</w>``, one entry per merge, and the two special tokens — 49408
entries in all. The files are written once to the user cache folder and reused.

The package is located with ``importlib.util.find_spec`` so that open_clip (slow to import)
is never imported.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import CLIPTokenizer

BPE_FILE_NAME = "bpe_simple_vocab_16e6.txt.gz"
START_TOKEN = "<|startoftext|>"
END_TOKEN = "<|endoftext|>"
END_OF_WORD = "</w>"
VOCAB_SIZE = 49408
#: Merges in CLIP's vocabulary: the vocabulary size less the byte symbols (with and without the
#: end-of-word marker) and the two special tokens.
MERGE_COUNT = VOCAB_SIZE - 2 * 256 - 2
#: OpenCLIP-trained encoders (SD2's, SDXL's second) pad with "!" (id 0), OpenAI's with the end.
OPEN_CLIP_PAD_TOKEN = "!"
DEFAULT_MAX_LENGTH = 77


class TokenizerFilesError(RuntimeError):
    """The BPE vocabulary could not be found or read."""


def byte_symbols() -> list[str]:
    """The 256 printable stand-ins for bytes, in CLIP's (and GPT-2's) order.

    Printable Latin-1 bytes stand for themselves; every other byte is mapped, in increasing
    byte order, onto code points from 256 upwards, so no symbol is whitespace or a control
    character.
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    symbols: dict[int, str] = {byte: chr(byte) for byte in printable}
    next_code_point = 256
    for byte in range(256):
        if byte not in symbols:
            symbols[byte] = chr(next_code_point)
            next_code_point += 1
    # The vocabulary lists the printable ones first, then the remapped ones.
    order = printable + [byte for byte in range(256) if byte not in printable]
    return [symbols[byte] for byte in order]


def bpe_vocabulary_path() -> Path:
    """The merges file installed with open-clip-torch."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise TokenizerFilesError(
            "open-clip-torch is not installed: it provides the CLIP vocabulary that NodeStudio "
            "uses for single-file checkpoints (pip install open-clip-torch)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / BPE_FILE_NAME
    if not path.is_file():
        raise TokenizerFilesError(f"the CLIP vocabulary {path} is missing from open-clip-torch")
    return path


def read_merges(path: Path | None = None) -> list[str]:
    """The merge rules ("a b" per line) that CLIP uses, in priority order."""
    with gzip.open(path or bpe_vocabulary_path()) as compressed:
        lines = compressed.read().decode("utf-8").split("\n")
    # The first line is a header; CLIP uses exactly MERGE_COUNT merges after it.
    merges = lines[1 : 1 + MERGE_COUNT]
    if len(merges) != MERGE_COUNT:
        raise TokenizerFilesError(f"expected {MERGE_COUNT} merges, found {len(merges)}")
    return merges


def build_vocabulary(merges: list[str]) -> dict[str, int]:
    """Token → id, in CLIP's order: bytes, bytes + ``</w>``, merges, start, end."""
    symbols = byte_symbols()
    tokens = [*symbols, *(symbol + END_OF_WORD for symbol in symbols)]
    tokens.extend(merge.replace(" ", "") for merge in merges)
    tokens.extend((START_TOKEN, END_TOKEN))
    return {token: index for index, token in enumerate(tokens)}


def default_cache_dir() -> Path:
    """The user's cache folder (under NODESTUDIO_HOME when that is set, like all app data)."""
    import os

    import platformdirs

    home = os.environ.get("NODESTUDIO_HOME")
    base = Path(home) / "cache" if home else Path(
        platformdirs.user_cache_dir("NodeStudio", appauthor=False)
    )
    return base / "clip-tokenizer"


@cache
def tokenizer_files(cache_dir: Path | None = None) -> tuple[Path, Path]:
    """``vocab.json`` and ``merges.txt`` for CLIP, written to the cache folder on first use."""
    folder = cache_dir or default_cache_dir()
    vocab_path, merges_path = folder / "vocab.json", folder / "merges.txt"
    if vocab_path.is_file() and merges_path.is_file():
        return vocab_path, merges_path
    merges = read_merges()
    vocabulary = build_vocabulary(merges)
    if len(vocabulary) != VOCAB_SIZE:
        raise TokenizerFilesError(f"built {len(vocabulary)} tokens, CLIP has {VOCAB_SIZE}")
    folder.mkdir(parents=True, exist_ok=True)
    # Write under temporary names first: a concurrent reader never sees half a file.
    for path, text in (
        (vocab_path, json.dumps(vocabulary, ensure_ascii=False)),
        (merges_path, "#version: 0.2\n" + "\n".join(merges) + "\n"),
    ):
        partial = path.with_suffix(path.suffix + ".partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    return vocab_path, merges_path


def clip_tokenizer(
    pad_token: str = END_TOKEN, model_max_length: int = DEFAULT_MAX_LENGTH
) -> CLIPTokenizer:
    """A CLIP tokenizer identical to the one shipped with SD/SDXL diffusers folders.

    ``pad_token`` is the end token for OpenAI CLIP encoders (SD1.x, SDXL's first) and "!" for
    OpenCLIP encoders (SD2.x, SDXL's second).
    """
    from transformers import CLIPTokenizer

    vocab_path, merges_path = tokenizer_files()
    # transformers 5 takes the files as ``vocab=``/``merges=`` (``vocab_file=`` is ignored).
    return CLIPTokenizer(
        vocab=str(vocab_path),
        merges=str(merges_path),
        pad_token=pad_token,
        model_max_length=model_max_length,
    )
