"""GLIGEN: Load GLIGEN and GLIGEN Textbox Apply (ComfyUI's GLIGENLoader, GLIGENTextBoxApply).

A phrase of the prompt, grounded in a box, is placed there by a GLIGEN model (SD 1.x); the
runtime (nodestudio.runtime.gligen) says how. No torch here: the pack must import cheaply.
"""

from __future__ import annotations

from typing import Any

from nodestudio.api import (
    CLIP,
    CONDITIONING,
    GLIGEN,
    Input,
    Int,
    ModelChoice,
    NodeContext,
    Output,
    String,
    node,
)

from ._common import find_model, fingerprint_for

_MAX_SIZE = 16384  # ComfyUI's MAX_RESOLUTION


GLIGEN_NAME_INPUT = ModelChoice("gligen_name", "gligen",
                                description="GLIGEN model name in the gligen folder, or an "
                                            "absolute path")


@node(
    "diffusion.load_gligen",
    display_name="Load GLIGEN",
    category="loaders",
    description=(
        "Loads a GLIGEN model from the gligen folder (ComfyUI's gligen_sd14_textbox_pruned "
        ".safetensors and alike). Connect it to GLIGEN Textbox Apply to place phrases of the "
        "prompt in boxes of the image. GLIGEN is made for SD 1.x models."
    ),
    inputs=[
        GLIGEN_NAME_INPUT,
    ],
    outputs=[Output("gligen", GLIGEN, description="The GLIGEN model")],
    deterministic=False,
    fingerprint=fingerprint_for(GLIGEN_NAME_INPUT),
)
def load_gligen(gligen_name: str, ctx: NodeContext) -> Any:
    from nodestudio.runtime.gligen import load_gligen as load

    path = find_model(ctx, GLIGEN_NAME_INPUT, gligen_name)
    loaded = load(path, ctx.device)
    ctx.logger.info("loaded %s on %s: %s", path.name, ctx.device, loaded.describe())
    return loaded


@node(
    "diffusion.gligen_textbox_apply",
    display_name="GLIGEN Textbox Apply",
    category="conditioning/gligen",
    description=(
        "Asks for the text (best a thing named in the prompt) inside a box of the image: x, y, "
        "width and height in pixels of the image being generated (in whole multiples of 8, as "
        "ComfyUI takes them). Chain several for several phrases (at most 30 per prompt). "
        "GLIGEN acts on the conditioning it is applied to, on every step; apply it to the "
        "positive prompt."
    ),
    inputs=[
        Input("conditioning_to", CONDITIONING),
        Input("clip", CLIP),
        Input("gligen_textbox_model", GLIGEN),
        String("text", "", multiline=True, description="The phrase to place in the box"),
        Int("width", 64, min=8, max=_MAX_SIZE, step=8, description="Box width in pixels"),
        Int("height", 64, min=8, max=_MAX_SIZE, step=8, description="Box height in pixels"),
        Int("x", 0, min=0, max=_MAX_SIZE, step=8, description="Box left edge in pixels"),
        Int("y", 0, min=0, max=_MAX_SIZE, step=8, description="Box top edge in pixels"),
    ],
    outputs=[Output("conditioning", CONDITIONING)],
)
def gligen_textbox_apply(conditioning_to: Any, clip: Any, gligen_textbox_model: Any, text: str,
                         width: int, height: int, x: int, y: int) -> Any:
    from nodestudio.runtime.gligen import add_phrase

    return add_phrase(conditioning_to, clip, gligen_textbox_model, text, (x, y, width, height))
