"""ComfyUI's area composition nodes (its nodes.py: ConditioningCombine, ConditioningSetArea,
ConditioningSetAreaPercentage, ConditioningSetAreaStrength, ConditioningSetMask,
ConditioningSetTimestepRange): definitions and mapping rules.

Each is one NodeStudio node with ComfyUI's input names; the sampler blends the prompts per step
as ComfyUI's does (nodestudio.runtime.composition).
"""

from __future__ import annotations

from nodestudio.interop.comfy.catalog import ComfyNodeDef, _in
from nodestudio.interop.comfy.rules import Direct, Rule

_CONDITIONING = (("CONDITIONING", "CONDITIONING"),)
_INPUT = _in("conditioning", "CONDITIONING")

#: ComfyUI's node definitions for this area, merged into catalog.CORE_NODES.
DEFINITIONS: tuple[ComfyNodeDef, ...] = (
    ComfyNodeDef("ConditioningCombine", "Conditioning (Combine)",
                 (_in("conditioning_1", "CONDITIONING"), _in("conditioning_2", "CONDITIONING")),
                 _CONDITIONING),
    ComfyNodeDef("ConditioningSetArea", "Conditioning (Set Area)",
                 (_INPUT, _in("width", "INT", 64), _in("height", "INT", 64), _in("x", "INT", 0),
                  _in("y", "INT", 0), _in("strength", "FLOAT", 1.0)), _CONDITIONING),
    ComfyNodeDef("ConditioningSetAreaPercentage", "Conditioning (Set Area with Percentage)",
                 (_INPUT, _in("width", "FLOAT", 1.0), _in("height", "FLOAT", 1.0),
                  _in("x", "FLOAT", 0.0), _in("y", "FLOAT", 0.0), _in("strength", "FLOAT", 1.0)),
                 _CONDITIONING),
    ComfyNodeDef("ConditioningSetAreaStrength", "ConditioningSetAreaStrength",
                 (_INPUT, _in("strength", "FLOAT", 1.0)), _CONDITIONING),
    ComfyNodeDef("ConditioningSetMask", "Conditioning (Set Mask)",
                 (_INPUT, _in("mask", "MASK"), _in("strength", "FLOAT", 1.0),
                  _in("set_cond_area", "COMBO", "default")), _CONDITIONING),
    ComfyNodeDef("ConditioningSetTimestepRange", "ConditioningSetTimestepRange",
                 (_INPUT, _in("start", "FLOAT", 0.0), _in("end", "FLOAT", 1.0)), _CONDITIONING),
)

_AREA = {"conditioning": "conditioning", "width": "width", "height": "height", "x": "x",
         "y": "y", "strength": "strength"}


def rules() -> list[Rule]:
    out = ("conditioning",)
    return [
        Direct("ConditioningCombine", "diffusion.conditioning_combine",
               {"conditioning_1": "conditioning_1", "conditioning_2": "conditioning_2"}, out),
        Direct("ConditioningSetArea", "diffusion.conditioning_set_area", dict(_AREA), out),
        Direct("ConditioningSetAreaPercentage", "diffusion.conditioning_set_area_percentage",
               dict(_AREA), out),
        Direct("ConditioningSetAreaStrength", "diffusion.conditioning_set_area_strength",
               {"conditioning": "conditioning", "strength": "strength"}, out),
        Direct("ConditioningSetMask", "diffusion.conditioning_set_mask",
               {"conditioning": "conditioning", "mask": "mask", "strength": "strength",
                "set_cond_area": "set_cond_area"}, out),
        Direct("ConditioningSetTimestepRange", "diffusion.conditioning_set_timestep_range",
               {"conditioning": "conditioning", "start": "start", "end": "end"}, out),
    ]
