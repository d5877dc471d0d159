"""ComfyUI's model tools nodes: their definitions (inputs in order) and their mapping rules.

The merge nodes (comfy_extras/nodes_model_merging.py), CheckpointSave, ModelSamplingDiscrete
and RescaleCFG (comfy_extras/nodes_model_advanced.py) are one NodeStudio node each, with
ComfyUI's input names. ModelSamplingDiscrete's ``img_to_img`` samplings (newer ComfyUI) have no
diffusers equivalent: kept, warned, and stopped by validation.
"""

from __future__ import annotations

from nodestudio.interop.comfy.catalog import ComfyNodeDef, _in
from nodestudio.interop.comfy.rules import Direct, Names, Rule

_MODEL = (("MODEL", "MODEL"),)
_RATIO = 1.0  # ComfyUI's merge ratios default to model1 alone

#: ComfyUI's node definitions for this area, merged into catalog.CORE_NODES.
DEFINITIONS: tuple[ComfyNodeDef, ...] = (
    ComfyNodeDef("ModelMergeSimple", "ModelMergeSimple",
                 (_in("model1", "MODEL"), _in("model2", "MODEL"),
                  _in("ratio", "FLOAT", _RATIO)), _MODEL),
    ComfyNodeDef("ModelMergeBlocks", "ModelMergeBlocks",
                 (_in("model1", "MODEL"), _in("model2", "MODEL"), _in("input", "FLOAT", _RATIO),
                  _in("middle", "FLOAT", _RATIO), _in("out", "FLOAT", _RATIO)), _MODEL),
    ComfyNodeDef("ModelMergeSubtract", "ModelMergeSubtract",
                 (_in("model1", "MODEL"), _in("model2", "MODEL"),
                  _in("multiplier", "FLOAT", 1.0)), _MODEL),
    ComfyNodeDef("ModelMergeAdd", "ModelMergeAdd",
                 (_in("model1", "MODEL"), _in("model2", "MODEL")), _MODEL),
    ComfyNodeDef("CLIPMergeSimple", "CLIPMergeSimple",
                 (_in("clip1", "CLIP"), _in("clip2", "CLIP"), _in("ratio", "FLOAT", _RATIO)),
                 (("CLIP", "CLIP"),)),
    ComfyNodeDef("CheckpointSave", "Save Checkpoint",
                 (_in("model", "MODEL"), _in("clip", "CLIP"), _in("vae", "VAE"),
                  _in("filename_prefix", "STRING", "checkpoints/ComfyUI"))),
    ComfyNodeDef("ModelSamplingDiscrete", "ModelSamplingDiscrete",
                 (_in("model", "MODEL"), _in("sampling", "COMBO", "eps"),
                  _in("zsnr", "BOOLEAN", False)), _MODEL),
    ComfyNodeDef("RescaleCFG", "RescaleCFG",
                 (_in("model", "MODEL"), _in("multiplier", "FLOAT", 0.7)), _MODEL),
)

#: ModelSamplingDiscrete's samplings NodeStudio has (the same names).
SAMPLINGS = Names("sampling", {name: name for name in ("eps", "v_prediction", "lcm", "x0")})

_MERGE = {"model1": "model1", "model2": "model2"}


def rules() -> list[Rule]:
    return [
        Direct("ModelMergeSimple", "diffusion.merge_models", {**_MERGE, "ratio": "ratio"},
               ("model",)),
        Direct("ModelMergeBlocks", "diffusion.merge_model_blocks",
               {**_MERGE, "input": "input", "middle": "middle", "out": "out"}, ("model",)),
        Direct("ModelMergeSubtract", "diffusion.merge_models_subtract",
               {**_MERGE, "multiplier": "multiplier"}, ("model",)),
        Direct("ModelMergeAdd", "diffusion.merge_models_add", dict(_MERGE), ("model",)),
        Direct("CLIPMergeSimple", "diffusion.merge_clip",
               {"clip1": "clip1", "clip2": "clip2", "ratio": "ratio"}, ("clip",)),
        Direct("CheckpointSave", "diffusion.save_checkpoint",
               {"model": "model", "clip": "clip", "vae": "vae",
                "filename_prefix": "filename_prefix"}),
        Direct("ModelSamplingDiscrete", "diffusion.model_sampling_discrete",
               {"model": "model", "sampling": "sampling", "zsnr": "zsnr"}, ("model",),
               convert={"sampling": SAMPLINGS}),
        Direct("RescaleCFG", "diffusion.rescale_cfg",
               {"model": "model", "multiplier": "multiplier"}, ("model",)),
    ]
