"""ComfyUI's Stable Video Diffusion nodes (comfy_extras/nodes_video_model.py):
ImageOnlyCheckpointLoader, SVD_img2vid_Conditioning and VideoLinearCFGGuidance, one to one
onto NodeStudio's (nodes/diffusion/svd.py), inputs in ComfyUI's order.

ComfyUI's ImageOnlyCheckpointLoader reads a single svd.safetensors; NodeStudio's reads the
diffusers StableVideoDiffusionPipeline folder of the same name in models/checkpoints (it says
so when the name is a file). WanImageToVideo is not mapped: the Wan family runs text to video
only (WanPipeline), so such a node stays a placeholder that the import names.
"""

from __future__ import annotations

from nodestudio.interop.comfy.catalog import ComfyNodeDef, _in
from nodestudio.interop.comfy.rules import Direct, Rule

#: ComfyUI's node definitions for this area, merged into catalog.CORE_NODES.
DEFINITIONS: tuple[ComfyNodeDef, ...] = (
    ComfyNodeDef("ImageOnlyCheckpointLoader", "Image Only Checkpoint Loader (img2vid model)",
                 (_in("ckpt_name", "COMBO"),),
                 (("MODEL", "MODEL"), ("CLIP_VISION", "CLIP_VISION"), ("VAE", "VAE"))),
    ComfyNodeDef("SVD_img2vid_Conditioning", "SVD_img2vid_Conditioning",
                 (_in("clip_vision", "CLIP_VISION"), _in("init_image", "IMAGE"),
                  _in("vae", "VAE"), _in("width", "INT", 1024), _in("height", "INT", 576),
                  _in("video_frames", "INT", 14), _in("motion_bucket_id", "INT", 127),
                  _in("fps", "INT", 6), _in("augmentation_level", "FLOAT", 0.0)),
                 (("positive", "CONDITIONING"), ("negative", "CONDITIONING"),
                  ("latent", "LATENT"))),
    ComfyNodeDef("VideoLinearCFGGuidance", "VideoLinearCFGGuidance",
                 (_in("model", "MODEL"), _in("min_cfg", "FLOAT", 1.0)),
                 (("MODEL", "MODEL"),)),
)

_CONDITIONING = ("clip_vision", "init_image", "vae", "width", "height", "video_frames",
                 "motion_bucket_id", "fps", "augmentation_level")


def rules() -> list[Rule]:
    return [
        Direct("ImageOnlyCheckpointLoader", "diffusion.image_only_checkpoint_loader",
               {"ckpt_name": "ckpt_name"}, ("model", "clip_vision", "vae")),
        Direct("SVD_img2vid_Conditioning", "diffusion.svd_img2vid_conditioning",
               {name: name for name in _CONDITIONING}, ("positive", "negative", "latent")),
        Direct("VideoLinearCFGGuidance", "diffusion.video_linear_cfg_guidance",
               {"model": "model", "min_cfg": "min_cfg"}, ("model",)),
    ]
