"""ComfyUI's WanImageToVideo imports onto NodeStudio's node, wired as in ComfyUI's Wan 2.1
image-to-video example workflow (CLIP Vision Encode of the start image, both prompts, the
VAE), and exports back with its values and links."""

from __future__ import annotations

import json

from nodestudio.app.formats import graph_from_data
from nodestudio.interop.comfy import export_api_prompt

PROMPT = {
    "1": {"class_type": "CheckpointLoaderSimple",
          "inputs": {"ckpt_name": "Wan2.1-I2V-14B-480P-Diffusers"}},
    "2": {"class_type": "CLIPVisionLoader", "inputs": {"clip_name": "clip_vision_h.safetensors"}},
    "3": {"class_type": "LoadImage", "inputs": {"image": "flowers.png"}},
    "4": {"class_type": "CLIPVisionEncode",
          "inputs": {"clip_vision": ["2", 0], "image": ["3", 0], "crop": "none"}},
    "5": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox", "clip": ["1", 1]}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
    "7": {"class_type": "WanImageToVideo",
          "inputs": {"positive": ["5", 0], "negative": ["6", 0], "vae": ["1", 2],
                     "width": 512, "height": 512, "length": 33, "batch_size": 2,
                     "clip_vision_output": ["4", 0], "start_image": ["3", 0]}},
    "8": {"class_type": "KSampler",
          "inputs": {"model": ["1", 0], "positive": ["7", 0], "negative": ["7", 1],
                     "latent_image": ["7", 2], "seed": 7, "steps": 20, "cfg": 6.0,
                     "sampler_name": "uni_pc", "scheduler": "simple", "denoise": 1.0}},
    "9": {"class_type": "VAEDecode", "inputs": {"samples": ["8", 0], "vae": ["1", 2]}},
}


def _imported(registry):
    return graph_from_data(json.loads(json.dumps(PROMPT)), registry)


def test_wan_image_to_video_imports_onto_the_nodestudio_node(registry):
    graph = _imported(registry)
    node = graph.node("7")
    assert node.type == "diffusion.wan_image_to_video"
    assert {key: node.values[key] for key in ("width", "height", "length", "batch_size")} == {
        "width": 512, "height": 512, "length": 33, "batch_size": 2}
    into = {link.input: (link.source, link.output) for link in graph.links_into("7")}
    assert into == {"positive": ("5", "conditioning"), "negative": ("6", "conditioning"),
                    "vae": ("1", "vae"), "clip_vision_output": ("4", "clip_vision_output"),
                    "start_image": ("3", "image")}
    into_sampler = {link.input: (link.source, link.output) for link in graph.links_into("8")}
    assert into_sampler["positive"] == ("7", "positive")
    assert into_sampler["negative"] == ("7", "negative")
    assert into_sampler["latent"] == ("7", "latent")
    assert not [w for w in graph.load_warnings if w.kind == "unknown_type"]


def test_wan_image_to_video_exports_back(registry):
    exported = export_api_prompt(_imported(registry), registry)
    assert {k: exported["7"][k] for k in ("class_type", "inputs")} == PROMPT["7"]


def test_without_the_optional_inputs_it_still_round_trips(registry):
    prompt = json.loads(json.dumps(PROMPT))
    for name in ("clip_vision_output", "start_image"):
        del prompt["7"]["inputs"][name]
    graph = graph_from_data(prompt, registry)
    assert {link.input for link in graph.links_into("7")} == {"positive", "negative", "vae"}
    exported = export_api_prompt(graph, registry)
    assert exported["7"]["inputs"] == prompt["7"]["inputs"]
