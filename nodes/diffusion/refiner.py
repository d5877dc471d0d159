"""The SDXL refiner's prompt: text and an aesthetic score."""

from __future__ import annotations

from typing import Any

from nodestudio.api import CLIP, CONDITIONING, Float, Input, Int, NodeError, Output, String, node


@node(
    "diffusion.text_encode_sdxl_refiner",
    display_name="Text Encode (SDXL Refiner)",
    category="conditioning",
    description=(
        "A prompt for the SDXL refiner, which was trained with an aesthetic score besides "
        "the text: about 6 for the prompt, 2.5 for the negative prompt (what its pipeline "
        "uses). Width and height are the original image size it conditions on; 0 = the size "
        "being generated."
    ),
    inputs=[
        Input("clip", CLIP),
        String("text", "", multiline=True, description="The prompt"),
        Float("aesthetic_score", 6.0, min=0.0, max=1000.0, step=0.01,
              description="6 for the prompt, 2.5 for the negative prompt"),
        Int("width", 0, min=0, max=16384, step=8, description="0 = the size being generated"),
        Int("height", 0, min=0, max=16384, step=8, description="0 = the size being generated"),
    ],
    outputs=[Output("conditioning", CONDITIONING)],
)
def text_encode_sdxl_refiner(clip: Any, text: str, aesthetic_score: float, width: int,
                             height: int) -> Any:
    from dataclasses import replace

    from nodestudio.runtime.families.base import PromptOptions
    from nodestudio.runtime.types import SizeConditioning

    if (width == 0) != (height == 0):
        raise NodeError("set both width and height, or neither")
    size = SizeConditioning(original_size=(height, width) if width else None)
    try:
        conditioning = clip.family.encode_prompt(clip, text, PromptOptions(size=size))
    except ValueError as error:
        raise NodeError(str(error)) from None
    return replace(conditioning, extra={**conditioning.extra,
                                        "aesthetic_score": aesthetic_score})
