"""Prompt emphasis in the syntax artists know from A1111/ComfyUI.

``(word)`` multiplies the attention weight of ``word`` by 1.1, ``((word))`` by 1.21,
``[word]`` divides it by 1.1, ``(word:1.5)`` sets the factor to 1.5; groups nest and multiply.
``\\(`` ``\\)`` ``\\[`` ``\\]`` are literal brackets. An unmatched bracket is kept as text.

``embedding:name`` (ComfyUI's syntax) names a textual inversion embedding in
``models/embeddings``; this module only finds the references, :mod:`embeddings` reads the files.
"""

from __future__ import annotations

import re

EMPHASIS = 1.1

_TOKEN = re.compile(r"\\[()\[\]\\]|\(|\)|\[|\]|:\s*[-+]?\d*\.?\d+\s*\)|[^\\()\[\]:]+|:|\\")


def parse_weighted_prompt(text: str) -> list[tuple[str, float]]:
    """Split ``text`` into (segment, weight) pairs; neighbours with equal weights are merged."""
    segments: list[list] = []  # [text, weight] while parsing (weights change as groups close)
    open_round: list[int] = []  # indexes into ``segments`` where each group starts
    open_square: list[int] = []

    def scale(start: int, factor: float) -> None:
        for segment in segments[start:]:
            segment[1] *= factor

    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if token.startswith("\\") and len(token) == 2:
            segments.append([token[1], 1.0])
        elif token == "(":
            open_round.append(len(segments))
        elif token == "[":
            open_square.append(len(segments))
        elif token.startswith(":") and token.endswith(")") and open_round:
            scale(open_round.pop(), float(token[1:-1].strip()))
        elif token == ")" and open_round:
            scale(open_round.pop(), EMPHASIS)
        elif token == "]" and open_square:
            scale(open_square.pop(), 1 / EMPHASIS)
        else:
            segments.append([token, 1.0])
    # Unclosed groups still count, as in A1111: "(word" emphasises "word".
    for start in open_round:
        scale(start, EMPHASIS)
    for start in open_square:
        scale(start, 1 / EMPHASIS)

    merged: list[tuple[str, float]] = []
    for segment_text, weight in segments:
        if merged and merged[-1][1] == weight:
            merged[-1] = (merged[-1][0] + segment_text, weight)
        else:
            merged.append((segment_text, weight))
    return merged or [("", 1.0)]


def is_plain(segments: list[tuple[str, float]]) -> bool:
    """True when no part of the prompt is emphasised (it is encoded exactly as written)."""
    return all(weight == 1.0 for _, weight in segments)


# -- textual inversion embeddings ---------------------------------------------------------------

#: ComfyUI's spelling of an embedding in a prompt: ``embedding:name`` (extension optional).
EMBEDDING_PREFIX = "embedding:"

# As ComfyUI's tokenizer: a reference starts a segment or follows whitespace, and its name runs
# to the next whitespace ("a photo,embedding:x" is words). Brackets are gone by the time a
# segment is split, so "(embedding:x:1.2)" names "x".
_EMBEDDING = re.compile(r"(?<!\S)" + re.escape(EMBEDDING_PREFIX) + r"(\S+)")
# The same on a raw prompt, for encoders that read no weighting syntax: a reference may follow
# an opening bracket, and its name stops at brackets and colons.
_RAW_EMBEDDING = re.compile(r"(?<![^\s(\[])" + re.escape(EMBEDDING_PREFIX) + r"[^\s()\[\]:]+")


def mentions_embeddings(text: str) -> bool:
    """Cheap test whether ``text`` may reference an embedding (no parsing)."""
    return EMBEDDING_PREFIX in text


def split_embedding_references(segment: str) -> list[str]:
    """``segment`` (one weighted piece of a prompt) as [text, word, text, word, …, text].

    Even items are text, odd items the words written after ``embedding:`` as they stand
    (``"name,"`` keeps its comma: :func:`embedding_name_candidates` says which names to try).
    """
    return _EMBEDDING.split(segment)


def embedding_references(text: str) -> list[str]:
    """The words after ``embedding:`` in a prompt, weighting syntax read, in order."""
    if not mentions_embeddings(text):
        return []
    return [word for segment, _ in parse_weighted_prompt(text)
            for word in split_embedding_references(segment)[1::2]]


def embedding_name_candidates(word: str) -> list[tuple[str, str]]:
    """(name, text left over) pairs to try for a referenced word, in order.

    As ComfyUI: the word as written, then without surrounding commas ("embedding:x, more" names
    "x"; its trailing commas stay in the prompt as text).
    """
    stripped = word.strip(",")
    if stripped == word or not stripped:
        return [(word, "")]
    return [(word, ""), (stripped, word[len(word.rstrip(",")):])]


def remove_embedding_references(text: str) -> str:
    """``text`` without its ``embedding:name`` words, for encoders that cannot take them."""
    return _RAW_EMBEDDING.sub("", text)
