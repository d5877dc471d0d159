"""ComfyUI's Stable Video Diffusion nodes (comfy_extras/nodes_video_model.py):
ImageOnlyCheckpointLoader, SVD_img2vid_Conditioning and VideoLinearCFGGuidance, one to one
onto NodeStudio's (nodes/diffusion/svd.py), inputs in ComfyUI's order; and Wan 2.1's
WanImageToVideo (comfy_extras/nodes_wan.py) onto nodes/diffusion/wan_i2v.py.

ComfyUI's ImageOnlyCheckpointLoader reads a single svd.safetensors; NodeStudio's reads the
diffusers StableVideoDiffusionPipeline folder of the same name in models/checkpoints (it says
so when the name is a file). ComfyUI's Wan I2V workflows load the model with UNETLoader /
CLIPLoader / VAELoader files; NodeStudio runs the WanImageToVideoPipeline folder (Load
Checkpoint), so only those loaders need swapping after an import.
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
    ComfyNodeDef("WanImageToVideo", "WanImageToVideo",
                 (_in("positive", "CONDITIONING"), _in("negative", "CONDITIONING"),
                  _in("vae", "VAE"), _in("width", "INT", 832), _in("height", "INT", 480),
                  _in("length", "INT", 81), _in("batch_size", "INT", 1),
                  _in("clip_vision_output", "CLIP_VISION_OUTPUT", optional=True),
                  _in("start_image", "IMAGE", optional=True)),
                 (("positive", "CONDITIONING"), ("negative", "CONDITIONING"),
                  ("latent", "LATENT"))),
)

_WAN_I2V = ("positive", "negative", "vae", "width", "height", "length", "batch_size",
            "clip_vision_output", "start_image")
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
        Direct("WanImageToVideo", "diffusion.wan_image_to_video",
               {name: name for name in _WAN_I2V}, ("positive", "negative", "latent")),
    ]
