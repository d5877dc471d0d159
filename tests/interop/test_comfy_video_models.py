"""ComfyUI's Stable Video Diffusion nodes (ImageOnlyCheckpointLoader, SVD_img2vid_Conditioning,
VideoLinearCFGGuidance) import onto NodeStudio's, wired as in ComfyUI's SVD example workflow,
and export back with their values."""

from __future__ import annotations

import json

from nodestudio.app.formats import graph_from_data
from nodestudio.interop.comfy import export_api_prompt

PROMPT = {
    "1": {"class_type": "ImageOnlyCheckpointLoader", "inputs": {"ckpt_name": "svd_xt"}},
    "2": {"class_type": "LoadImage", "inputs": {"image": "mountains.png"}},
    "3": {"class_type": "SVD_img2vid_Conditioning",
          "inputs": {"clip_vision": ["1", 1], "init_image": ["2", 0], "vae": ["1", 2],
                     "width": 1024, "height": 576, "video_frames": 25, "motion_bucket_id": 127,
                     "fps": 6, "augmentation_level": 0.05}},
    "4": {"class_type": "VideoLinearCFGGuidance", "inputs": {"model": ["1", 0],
                                                             "min_cfg": 1.5}},
    "5": {"class_type": "KSampler",
          "inputs": {"model": ["4", 0], "positive": ["3", 0], "negative": ["3", 1],
                     "latent_image": ["3", 2], "seed": 7, "steps": 20, "cfg": 2.5,
                     "sampler_name": "euler", "scheduler": "karras", "denoise": 1.0}},
    "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
}


def test_svd_prompt_imports_onto_nodestudio_nodes(registry):
    graph = graph_from_data(json.loads(json.dumps(PROMPT)), registry)
    assert graph.node("1").type == "diffusion.image_only_checkpoint_loader"
    assert graph.node("1").values["ckpt_name"] == "svd_xt"
    conditioning = graph.node("3")
    assert conditioning.type == "diffusion.svd_img2vid_conditioning"
    assert {key: conditioning.values[key] for key in ("width", "height", "video_frames",
                                                      "motion_bucket_id", "fps",
                                                      "augmentation_level")} == {
        "width": 1024, "height": 576, "video_frames": 25, "motion_bucket_id": 127, "fps": 6,
        "augmentation_level": 0.05}
    assert graph.node("4").type == "diffusion.video_linear_cfg_guidance"
    assert graph.node("4").values["min_cfg"] == 1.5
    # The conditioning's three outputs feed the sampler; the loader's second and third feed it.
    into_sampler = {link.input: (link.source, link.output) for link in graph.links_into("5")}
    assert into_sampler["negative"] == ("3", "negative")
    assert into_sampler["latent"] == ("3", "latent")
    assert into_sampler["model"] == ("4", "model")
    assert graph.link_into("3", "clip_vision").output == "clip_vision"
    assert graph.link_into("3", "vae").output == "vae"
    assert not [w for w in graph.load_warnings if w.kind == "unknown_type"]


def test_svd_nodes_export_back(registry):
    graph = graph_from_data(json.loads(json.dumps(PROMPT)), registry)
    exported = export_api_prompt(graph, registry)
    for key in ("1", "3", "4"):
        assert {k: exported[key][k] for k in ("class_type", "inputs")} == PROMPT[key]
