"""Two small nodes. Heavy imports (torch, cv2) would go inside the functions, not up here."""

from __future__ import annotations

import numpy as np

from nodestudio.api import IMAGE, STRING, Float, Input, NodeError, Output, String, node


@node(
    "example.vignette",
    display_name="Vignette",
    category="example/image",
    description="Darkens the corners of an image, as old lenses did.",
    inputs=[
        Input("image", IMAGE),
        Float("strength", 0.5, min=0.0, max=1.0, step=0.05, display="slider"),
    ],
    outputs=[Output("image", IMAGE)],
)
def vignette(image: np.ndarray, strength: float) -> np.ndarray:
    _, height, width, _ = image.shape
    ys = np.linspace(-1.0, 1.0, height)[:, None]
    xs = np.linspace(-1.0, 1.0, width)[None, :]
    distance = np.sqrt(xs**2 + ys**2) / np.sqrt(2.0)
    falloff = 1.0 - strength * distance**2
    return (image * falloff[None, :, :, None]).astype(np.float32)


@node(
    "example.caption",
    display_name="Caption",
    category="example/text",
    description="Writes a caption such as 'a red circle' from a colour and a shape.",
    inputs=[String("colour", "red"), String("shape", "circle")],
    outputs=[Output("caption", STRING)],
)
def caption(colour: str, shape: str) -> str:
    if not shape.strip():
        raise NodeError("the shape must not be empty")
    return f"a {colour.strip()} {shape.strip()}".replace("  ", " ")
