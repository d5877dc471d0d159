"""The words the demo model knows, said to the artist (issue 13: nothing in the window said
which words nodestudio-shapes understands, so first prompts were wasted on words it never saw).

Built from the world's own word lists, so the text cannot drift from what it was trained on.
"""

from __future__ import annotations

from nodestudio.demo import world

DEMO_CHECKPOINT = "nodestudio-shapes"


def known_words() -> dict[str, tuple[str, ...]]:
    """The demo world's words by kind, in the order captions use them."""
    return {
        "shapes": world.SHAPES,
        "colours": tuple(world.COLOURS),
        "positions": tuple(world.POSITIONS),
        "sizes": world.SIZES,
        "backgrounds": tuple(world.BACKGROUNDS),
    }


def example_prompt() -> str:
    return world.caption({"size": "large", "colour": "red", "shape": "circle",
                          "position": "top left", "background": "white"})


def vocabulary_text() -> str:
    """A few lines for a note or a tooltip: what the demo model draws and the words it knows."""
    lines = [f"The demo model {DEMO_CHECKPOINT} draws one shape on a plain 64×64 background and "
             "knows only these words:"]
    lines += [f"• {kind}: {', '.join(words)}" for kind, words in known_words().items()]
    lines.append(f"Prompts like \"{example_prompt()}\", or shorter: \"a green square\", "
                 "\"a shape at the bottom\". Other words are ignored.")
    return "\n".join(lines)
