"""ComfyUI's empty video latents (EmptyHunyuanLatentVideo — Wan's — and EmptyLTXVLatentVideo)
import as NodeStudio's Empty Video Latent with their sizes, linked to the sampler's model, and
write back as EmptyHunyuanLatentVideo."""

from __future__ import annotations

from typing import Any

import pytest

from nodestudio.app.formats import graph_from_data
from nodestudio.interop.comfy import export_api_prompt


def _prompt(latent_class: str) -> dict[str, Any]:
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "tiny-wan"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
        "4": {"class_type": latent_class,
              "inputs": {"width": 832, "height": 480, "length": 33, "batch_size": 2}},
        "5": {"class_type": "KSampler", "inputs": {
            "seed": 5, "steps": 20, "cfg": 5.0, "sampler_name": "euler", "scheduler": "simple",
            "denoise": 1.0, "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0],
            "latent_image": ["4", 0]}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
    }


@pytest.mark.parametrize("latent_class", ["EmptyHunyuanLatentVideo", "EmptyLTXVLatentVideo"])
def test_empty_video_latents_import_with_their_size_and_the_samplers_model(registry,
                                                                          latent_class):
    graph = graph_from_data(_prompt(latent_class), registry)
    latents = [n for n in graph.nodes.values() if n.type == "diffusion.empty_video_latent"]
    assert len(latents) == 1
    latent = latents[0]
    assert {k: latent.values[k] for k in ("width", "height", "length", "batch_size")} == {
        "width": 832, "height": 480, "length": 33, "batch_size": 2}
    model = graph.link_into(latent.id, "model")
    assert model is not None and graph.node(model.source).type == "diffusion.load_checkpoint"


def test_an_empty_video_latent_exports_as_comfyuis(registry):
    graph = graph_from_data(_prompt("EmptyLTXVLatentVideo"), registry)
    prompt = export_api_prompt(graph, registry)
    exported = [n for n in prompt.values() if n["class_type"] == "EmptyHunyuanLatentVideo"]
    assert len(exported) == 1
    assert exported[0]["inputs"] == {"width": 832, "height": 480, "length": 33,
                                     "batch_size": 2}
