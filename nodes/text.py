"""Text nodes: join pieces of text, and fill a template with {a}, {b} … placeholders."""

from __future__ import annotations

import string

from nodestudio.api import STRING, Boolean, NodeError, Output, String, node

PIECE_NAMES = ("a", "b", "c", "d")


@node(
    "text.join",
    display_name="Join Text",
    category="text",
    description=(
        "Joins up to four pieces of text with a separator between them, e.g. a subject and a "
        "style into one prompt. Empty pieces are left out unless you say otherwise."
    ),
    inputs=[
        *(String(name, "", multiline=True) for name in PIECE_NAMES),
        String("separator", ", ", description="Put between the pieces; \\n for a new line"),
        Boolean("skip_empty", True, description="Leave out empty pieces (no double separators)"),
    ],
    outputs=[Output("text", STRING)],
)
def join_text(a: str, b: str, c: str, d: str, separator: str, skip_empty: bool) -> str:
    pieces = [piece for piece in (a, b, c, d) if piece is not None]
    if skip_empty:
        pieces = [piece for piece in pieces if piece.strip()]
    # Typing a real line break in a one-line field is awkward; "\n" is what people write.
    return separator.replace("\\n", "\n").replace("\\t", "\t").join(pieces)


def fill_template(template: str, values: dict[str, str]) -> str:
    """``template`` with every ``{name}`` replaced; ``{{`` and ``}}`` stand for braces."""
    known = ", ".join("{" + name + "}" for name in values)
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        raise NodeError(f"the template has an unmatched brace ({error}); write {{{{ or }}}} "
                        "for a literal brace") from error
    pieces: list[str] = []
    for literal, field, format_spec, conversion in parsed:
        pieces.append(literal)
        if field is None:
            continue
        # Only plain names: '{a.__class__}' style lookups would reach into Python objects.
        if field not in values:
            shown = "{" + field + "}" if field else "{}"
            raise NodeError(f"the template uses the placeholder {shown}, which has no input: "
                            f"use {known}")
        if conversion or format_spec:
            raise NodeError(f"placeholder {{{field}}} has a format ('!' or ':') that text "
                            "templates do not support; write just {" + field + "}")
        pieces.append(values[field])
    return "".join(pieces)


@node(
    "text.format",
    display_name="Format Text",
    category="text",
    description=(
        "Fills a template: {a}, {b}, {c} and {d} are replaced by the texts of those inputs, e.g. "
        "'a photo of {a}, {b} lighting'. Write {{ or }} for a literal brace."
    ),
    inputs=[
        String("template", "{a}, {b}", multiline=True),
        *(String(name, "") for name in PIECE_NAMES),
    ],
    outputs=[Output("text", STRING)],
)
def format_text(template: str, a: str, b: str, c: str, d: str) -> str:
    values = dict(zip(PIECE_NAMES, (a, b, c, d), strict=True))
    return fill_template(template, {name: value or "" for name, value in values.items()})
