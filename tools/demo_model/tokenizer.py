"""A real CLIP tokenizer whose vocabulary is the demo world's caption words.

CLIP's tokenizer is byte-level BPE with a `</w>` end-of-word suffix. We train a tiny BPE over
the caption word list ourselves: start from the 256 byte symbols (and their `</w>` forms, so
any text still tokenizes), then repeatedly merge the most frequent adjacent pair until every
caption word is a single symbol. BPE encoding replays merges in rank order, so the training
words come out whole: "a large red circle" is exactly five ids between the start and end
tokens. Unknown words fall back to smaller pieces instead of failing.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import CLIPTokenizer

START_TOKEN = "<|startoftext|>"
END_TOKEN = "<|endoftext|>"
END_OF_WORD = "</w>"
MODEL_MAX_LENGTH = 32


@cache
def byte_symbols() -> tuple[str, ...]:
    """GPT-2/CLIP's printable stand-in for each of the 256 bytes, in byte order."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    by_byte = dict(zip(printable, codes, strict=True))
    return tuple(chr(by_byte[byte]) for byte in range(256))


def _word_symbols(word: str) -> list[str]:
    symbols = [byte_symbols()[byte] for byte in word.encode("utf-8")]
    symbols[-1] += END_OF_WORD
    return symbols


def train_merges(words: Iterable[str]) -> list[tuple[str, str]]:
    """BPE merges, in rank order, that turn every given word into one symbol.

    Ties between equally frequent pairs are broken by the pair's text, so the result is
    deterministic.
    """
    segmented = {word: _word_symbols(word) for word in dict.fromkeys(words) if word}
    merges: list[tuple[str, str]] = []
    while True:
        pair_counts: Counter[tuple[str, str]] = Counter()
        for symbols in segmented.values():
            pair_counts.update(itertools.pairwise(symbols))
        if not pair_counts:
            return merges
        best = min(pair_counts, key=lambda pair: (-pair_counts[pair], pair))
        merges.append(best)
        for word, symbols in segmented.items():
            merged: list[str] = []
            index = 0
            while index < len(symbols):
                if index + 1 < len(symbols) and (symbols[index], symbols[index + 1]) == best:
                    merged.append(symbols[index] + symbols[index + 1])
                    index += 2
                else:
                    merged.append(symbols[index])
                    index += 1
            segmented[word] = merged


def build_vocabulary(words: Sequence[str]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """(vocab, merges) in CLIP's layout: bytes, bytes + `</w>`, merged symbols, specials."""
    merges = train_merges(words)
    tokens = list(byte_symbols()) + [symbol + END_OF_WORD for symbol in byte_symbols()]
    tokens += [left + right for left, right in merges]
    tokens += [START_TOKEN, END_TOKEN]
    vocab = {token: index for index, token in enumerate(dict.fromkeys(tokens))}
    return vocab, merges


def make_tokenizer(
    words: Sequence[str] | None = None, model_max_length: int = MODEL_MAX_LENGTH
) -> CLIPTokenizer:
    """A transformers CLIPTokenizer for the caption words (the demo world's by default)."""
    from transformers import CLIPTokenizer

    if words is None:
        from nodestudio.demo.world import CAPTION_WORDS

        words = CAPTION_WORDS
    vocab, merges = build_vocabulary(words)
    # transformers 5 takes the vocabulary and merges themselves (`vocab=`/`merges=`); the
    # old `vocab_file=` keyword is silently ignored and would give an empty tokenizer.
    return CLIPTokenizer(
        vocab=vocab,
        merges=list(merges),
        model_max_length=model_max_length,
    )


def save_tokenizer(folder: Path, words: Sequence[str] | None = None) -> CLIPTokenizer:
    """Save the tokenizer so `CLIPTokenizer.from_pretrained(folder)` loads it offline.

    transformers 5 writes only tokenizer.json; vocab.json and merges.txt (CLIP's classic
    files) are written beside it so older transformers and other CLIP readers load it too.
    """
    if words is None:
        from nodestudio.demo.world import CAPTION_WORDS

        words = CAPTION_WORDS
    tokenizer = make_tokenizer(words)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(folder))
    vocab, merges = build_vocabulary(words)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merge_lines = ["#version: 0.2"] + [f"{left} {right}" for left, right in merges]
    (folder / "merges.txt").write_text("\n".join(merge_lines) + "\n", encoding="utf-8")
    return tokenizer
