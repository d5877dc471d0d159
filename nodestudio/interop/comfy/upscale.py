"""ComfyUI's upscale nodes: their definitions (inputs in order) and their mapping rules."""

from __future__ import annotations

from nodestudio.interop.comfy.catalog import ComfyInput, ComfyNodeDef
from nodestudio.interop.comfy.rules import Direct, Rule

#: ComfyUI's node definitions for this area, merged into catalog.CORE_NODES.
#: comfy_extras/nodes_upscale_model.py: the loader lists models/upscale_models; the upscale
#: node has no widgets (its 512-pixel tiles are fixed in its code).
DEFINITIONS: tuple[ComfyNodeDef, ...] = (
    ComfyNodeDef("UpscaleModelLoader", "Load Upscale Model", (ComfyInput("model_name", "COMBO"),),
                 (("UPSCALE_MODEL", "UPSCALE_MODEL"),)),
    ComfyNodeDef("ImageUpscaleWithModel", "Upscale Image (using Model)",
                 (ComfyInput("upscale_model", "UPSCALE_MODEL"), ComfyInput("image", "IMAGE")),
                 (("IMAGE", "IMAGE"),)),
)


def rules() -> list[Rule]:
    return [
        Direct("UpscaleModelLoader", "image.load_upscale_model", {"model_name": "model_name"},
               ("upscale_model",)),
        # NodeStudio's tile_size is not named: a graph that changed it does not export
        # (ComfyUI's node always tiles at 512).
        Direct("ImageUpscaleWithModel", "image.upscale_with_model",
               {"upscale_model": "upscale_model", "image": "image"}, ("image",)),
    ]
