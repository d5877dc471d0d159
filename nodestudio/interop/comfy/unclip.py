"""ComfyUI's image-prompt nodes: their definitions (inputs in order) and their mapping rules.

CLIPVisionLoader and unCLIPCheckpointLoader (nodes.py), CLIPVisionEncode and
unCLIPConditioning (comfy_extras/nodes_clip_vision.py in newer ComfyUI, nodes.py before): one
NodeStudio node each, with ComfyUI's input names and meaning (see nodestudio.runtime.unclip).
CLIPVisionEncode's ``crop`` came later; workflows saved before it have no widget and get
ComfyUI's default ("center").
"""

from __future__ import annotations

from nodestudio.interop.comfy.catalog import ComfyNodeDef, _in
from nodestudio.interop.comfy.rules import Direct, Rule

#: ComfyUI's node definitions for this area, merged into catalog.CORE_NODES.
DEFINITIONS: tuple[ComfyNodeDef, ...] = (
    ComfyNodeDef("CLIPVisionLoader", "Load CLIP Vision", (_in("clip_name", "COMBO"),),
                 (("CLIP_VISION", "CLIP_VISION"),)),
    ComfyNodeDef("CLIPVisionEncode", "CLIP Vision Encode",
                 (_in("clip_vision", "CLIP_VISION"), _in("image", "IMAGE"),
                  _in("crop", "COMBO", "center")),
                 (("CLIP_VISION_OUTPUT", "CLIP_VISION_OUTPUT"),)),
    ComfyNodeDef("unCLIPConditioning", "unCLIP Conditioning",
                 (_in("conditioning", "CONDITIONING"),
                  _in("clip_vision_output", "CLIP_VISION_OUTPUT"),
                  _in("strength", "FLOAT", 1.0), _in("noise_augmentation", "FLOAT", 0.0)),
                 (("CONDITIONING", "CONDITIONING"),)),
    ComfyNodeDef("unCLIPCheckpointLoader", "unCLIP Checkpoint Loader",
                 (_in("ckpt_name", "COMBO"),),
                 (("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE"),
                  ("CLIP_VISION", "CLIP_VISION"))),
)


def rules() -> list[Rule]:
    return [
        Direct("CLIPVisionLoader", "diffusion.load_clip_vision", {"clip_name": "clip_name"},
               ("clip_vision",)),
        Direct("CLIPVisionEncode", "diffusion.clip_vision_encode",
               {"clip_vision": "clip_vision", "image": "image", "crop": "crop"},
               ("clip_vision_output",)),
        Direct("unCLIPConditioning", "diffusion.unclip_conditioning",
               {"conditioning": "conditioning", "clip_vision_output": "clip_vision_output",
                "strength": "strength", "noise_augmentation": "noise_augmentation"},
               ("conditioning",)),
        Direct("unCLIPCheckpointLoader", "diffusion.load_unclip_checkpoint",
               {"ckpt_name": "checkpoint"}, ("model", "clip", "vae", "clip_vision")),
    ]
