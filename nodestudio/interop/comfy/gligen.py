"""ComfyUI's GLIGEN and hypernetwork nodes: their definitions (inputs in order) and mapping rules.

nodes.py's GLIGENLoader (models/gligen) and GLIGENTextBoxApply, comfy_extras/nodes_hypernetwork.py's
HypernetworkLoader (models/hypernetworks): one NodeStudio node each, with ComfyUI's input names.
"""

from __future__ import annotations

from nodestudio.interop.comfy.catalog import ComfyNodeDef, _in
from nodestudio.interop.comfy.rules import Direct, Rule

_MAX = 16384  # ComfyUI's MAX_RESOLUTION

#: ComfyUI's node definitions for this area, merged into catalog.CORE_NODES.
DEFINITIONS: tuple[ComfyNodeDef, ...] = (
    ComfyNodeDef("GLIGENLoader", "GLIGENLoader", (_in("gligen_name", "COMBO"),),
                 (("GLIGEN", "GLIGEN"),)),
    ComfyNodeDef("GLIGENTextBoxApply", "GLIGENTextBoxApply",
                 (_in("conditioning_to", "CONDITIONING"), _in("clip", "CLIP"),
                  _in("gligen_textbox_model", "GLIGEN"), _in("text", "STRING", ""),
                  _in("width", "INT", 64), _in("height", "INT", 64), _in("x", "INT", 0),
                  _in("y", "INT", 0)),
                 (("CONDITIONING", "CONDITIONING"),)),
    ComfyNodeDef("HypernetworkLoader", "HypernetworkLoader",
                 (_in("model", "MODEL"), _in("hypernetwork_name", "COMBO"),
                  _in("strength", "FLOAT", 1.0)),
                 (("MODEL", "MODEL"),)),
)

_TEXTBOX = ("conditioning_to", "clip", "gligen_textbox_model", "text", "width", "height", "x",
            "y")


def rules() -> list[Rule]:
    return [
        Direct("GLIGENLoader", "diffusion.load_gligen", {"gligen_name": "gligen_name"},
               ("gligen",)),
        Direct("GLIGENTextBoxApply", "diffusion.gligen_textbox_apply",
               {name: name for name in _TEXTBOX}, ("conditioning",)),
        Direct("HypernetworkLoader", "diffusion.load_hypernetwork",
               {"model": "model", "hypernetwork_name": "hypernetwork_name",
                "strength": "strength"}, ("model",)),
    ]
