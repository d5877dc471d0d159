"""The built-in node pack. It loads exactly like a third-party pack (see nodestudio.app.packs).

Every module here imports cheaply (no torch, cv2 or diffusers at the top), so that the GUI
opens fast; the heavy libraries are imported inside the node functions.
"""

from nodestudio.api import NodePack, collect_nodes

from . import (
    audio,
    diffusion,
    image,
    image_tools,
    mask,
    math_nodes,
    mesh,
    notes,
    paint,
    preprocessors,
    primitives,
    text,
    upscale,
    video,
)

pack = NodePack(
    "nodestudio",
    nodes=[*collect_nodes(primitives, math_nodes, text, image, mask, preprocessors, notes,
                         upscale, image_tools, video, audio, mesh, paint),
           *diffusion.NODES],
    version="0.1.0",
    description="NodeStudio's built-in nodes",
)
