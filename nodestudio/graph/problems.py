"""Problems found in graph files and graphs, each bound to a node and input where it can be."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or worth a warning), said so a person can find and fix it."""

    message: str
    node_id: str | None = None
    input: str | None = None
    #: A short machine-readable tag: "unknown_type", "missing_input", "out_of_range", …
    kind: str = "error"

    def __str__(self) -> str:
        where = ""
        if self.node_id is not None:
            where = f"node {self.node_id}"
            if self.input is not None:
                where += f", input {self.input!r}"
            where += ": "
        return where + self.message

    def to_json(self) -> dict[str, str | None]:
        return {"kind": self.kind, "node_id": self.node_id, "input": self.input,
                "message": self.message}


def did_you_mean(name: str, known: Sequence[str]) -> str:
    """" (did you mean 'seed'?)" for the known name ``name`` is most likely a slip of (the
    same name in other letter case first, as "MODEL" for "model"), or "" when none is close."""
    folded = [candidate for candidate in known if candidate.lower() == name.lower()]
    close = folded or difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class GraphError(Exception):
    """Base of the errors NodeStudio raises about graphs; carries every problem at once."""

    def __init__(self, summary: str, problems: Iterable[Problem] = ()) -> None:
        self.problems = list(problems)
        self.summary = summary
        detail = "".join(f"\n  - {problem}" for problem in self.problems)
        super().__init__(summary + detail)


class GraphFileError(GraphError):
    """A graph file could not be read: malformed JSON, wrong structure, bad references…"""


class GraphValidationError(GraphError):
    """A graph cannot run as it is: unknown types, missing inputs, wrong link types, cycles…"""


def json_error_text(error: ValueError | RecursionError) -> str:
    """What a JSON reader's complaint means to a person: the decoder's own words for a syntax
    error (they name line and column), plain words for nesting too deep to read, which Python
    reports as "maximum recursion depth exceeded while decoding a JSON array…"."""
    if isinstance(error, RecursionError):
        return "the JSON nests lists or objects thousands of levels deep; no graph does"
    return str(error)
