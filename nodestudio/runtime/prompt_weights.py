"""Prompt emphasis in the syntax artists know from A1111/ComfyUI.

``(word)`` multiplies the attention weight of ``word`` by 1.1, ``((word))`` by 1.21,
``[word]`` divides it by 1.1, ``(word:1.5)`` sets the factor to 1.5; groups nest and multiply.
``\\(`` ``\\)`` ``\\[`` ``\\]`` are literal brackets. An unmatched bracket is kept as text.
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
