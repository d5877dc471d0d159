"""Notes: text on the canvas for the people who read the graph; they never run."""

from __future__ import annotations

from nodestudio.api import String, node


@node(
    "utils.note",
    display_name="Note",
    category="utils",
    description=(
        "A note on the canvas: instructions, credits, settings that worked. It has no sockets "
        "and never runs, so it changes nothing in the result."
    ),
    inputs=[String("text", "", multiline=True, description="The note's text")],
    outputs=[],
)
def note(text: str) -> tuple[()]:
    # Never called by a run (a node without outputs that is no output node is never needed);
    # a direct call does nothing either.
    return ()
