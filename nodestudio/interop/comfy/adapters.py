"""ComfyUI's control loaders beyond ControlNetLoader: definitions and mapping rules.

T2I-Adapters need nothing here: ComfyUI loads them with ControlNetLoader, and so does
NodeStudio's Load ControlNet (the existing ControlNetLoader rule covers them).
"""

from __future__ import annotations

from nodestudio.interop.comfy.catalog import ComfyInput, ComfyNodeDef
from nodestudio.interop.comfy.rules import Direct, Rule

#: ComfyUI's node definitions for this area, merged into catalog.CORE_NODES.
#: nodes.py DiffControlNetLoader: the model the differences belong to, then the file name
#: from models/controlnet.
DEFINITIONS: tuple[ComfyNodeDef, ...] = (
    ComfyNodeDef("DiffControlNetLoader", "Load ControlNet Model (diff)",
                 (ComfyInput("model", "MODEL"), ComfyInput("control_net_name", "COMBO")),
                 (("CONTROL_NET", "CONTROL_NET"),)),
)


def rules() -> list[Rule]:
    return [
        Direct("DiffControlNetLoader", "diffusion.load_diff_controlnet",
               {"model": "model", "control_net_name": "control_net_name"}, ("control_net",)),
    ]
