"""ComfyUI's Stable Audio nodes (EmptyLatentAudio, ConditioningStableAudio, VAEDecodeAudio)
import onto NodeStudio's and export back with their values."""

from __future__ import annotations

import json

from nodestudio.app.formats import graph_from_data
from nodestudio.interop.comfy import export_api_prompt

PROMPT = {
    "1": {"class_type": "CheckpointLoaderSimple",
          "inputs": {"ckpt_name": "stable-audio-open-1.0.safetensors"}},
    "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "rain on a tin roof",
                                                     "clip": ["1", 1]}},
    "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
    "4": {"class_type": "ConditioningStableAudio",
          "inputs": {"positive": ["2", 0], "negative": ["3", 0], "seconds_start": 1.5,
                     "seconds_total": 12.0}},
    "5": {"class_type": "EmptyLatentAudio", "inputs": {"seconds": 12.0, "batch_size": 2}},
    "6": {"class_type": "KSampler",
          "inputs": {"model": ["1", 0], "positive": ["4", 0], "negative": ["4", 1],
                     "latent_image": ["5", 0], "seed": 3, "steps": 50, "cfg": 4.98,
                     "sampler_name": "dpmpp_3m_sde_gpu", "scheduler": "exponential",
                     "denoise": 1.0}},
    "7": {"class_type": "VAEDecodeAudio", "inputs": {"samples": ["6", 0], "vae": ["1", 2]}},
    "8": {"class_type": "SaveAudio", "inputs": {"audio": ["7", 0],
                                                "filename_prefix": "audio/ComfyUI"}},
}


def test_stable_audio_prompt_imports_onto_nodestudio_nodes(registry):
    graph = graph_from_data(json.loads(json.dumps(PROMPT)), registry)
    assert graph.node("4").type == "diffusion.conditioning_stable_audio"
    assert graph.node("4").values["seconds_start"] == 1.5
    assert graph.node("4").values["seconds_total"] == 12.0
    assert graph.node("5").type == "diffusion.empty_audio_latent"
    assert (graph.node("5").values["seconds"], graph.node("5").values["batch_size"]) == (12.0, 2)
    assert graph.node("7").type == "diffusion.vae_decode_audio"
    # The sampler's negative comes from the conditioning node's second output.
    negative = next(link for link in graph.links_into("6") if link.input == "negative")
    assert (negative.source, negative.output) == ("4", "negative")
    assert graph.link_into("7", "latent").source == "6"
    assert not [w for w in graph.load_warnings if w.kind == "unknown_type"]


def test_stable_audio_nodes_export_back(registry):
    graph = graph_from_data(json.loads(json.dumps(PROMPT)), registry)
    exported = export_api_prompt(graph, registry)
    assert {key: exported["5"][key] for key in ("class_type", "inputs")} == PROMPT["5"]
    assert exported["4"]["class_type"] == "ConditioningStableAudio"
    assert exported["4"]["inputs"]["seconds_total"] == 12.0
    assert exported["7"]["class_type"] == "VAEDecodeAudio"
    assert exported["7"]["inputs"]["samples"] == ["6", 0]
