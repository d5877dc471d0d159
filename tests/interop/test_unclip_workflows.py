"""ComfyUI's image-prompt workflows: SD 2.1 unCLIP (unCLIPCheckpointLoader, CLIPVisionEncode,
unCLIPConditioning, as ComfyUI's unCLIP example) and SDXL "revision" (CLIPVisionLoader + an
SDXL checkpoint). UI (schema 0.4) and API forms import to the same graph, validate, run on tiny
files under the names the workflows use, and write back; the image prompt changes the picture,
and at strength 0 the picture is the one without it."""

from __future__ import annotations

import copy
import shutil
from typing import Any

import numpy as np
import pytest
from comfy_forms import ui_from_api
from PIL import Image

from nodestudio.app.formats import graph_from_data
from nodestudio.app.session import Session
from nodestudio.engine.validate import validate
from nodestudio.graph.model import Graph
from nodestudio.interop.comfy import export_api_prompt
from nodestudio.runtime.tiny_unclip import (
    build_tiny_unclip_models,
    save_clip_vision,
    tiny_clip_vision,
)

#: ComfyUI's unCLIP example as "Export (API)" writes it (tiny sizes and steps).
UNCLIP_API: dict[str, Any] = {
    "1": {"class_type": "unCLIPCheckpointLoader",
          "inputs": {"ckpt_name": "tiny-unclip.safetensors"}},
    "2": {"class_type": "LoadImage", "inputs": {"image": "photo.png"}},
    "3": {"class_type": "CLIPVisionEncode",
          "inputs": {"clip_vision": ["1", 3], "image": ["2", 0], "crop": "center"}},
    "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "a photo", "clip": ["1", 1]}},
    "5": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
    "6": {"class_type": "unCLIPConditioning",
          "inputs": {"conditioning": ["4", 0], "clip_vision_output": ["3", 0],
                     "strength": 1.0, "noise_augmentation": 0.1}},
    "7": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64,
                                                       "batch_size": 1}},
    "8": {"class_type": "KSampler",
          "inputs": {"model": ["1", 0], "seed": 7, "steps": 3, "cfg": 5.0,
                     "sampler_name": "euler", "scheduler": "normal", "positive": ["6", 0],
                     "negative": ["5", 0], "latent_image": ["7", 0], "denoise": 1.0}},
    "9": {"class_type": "VAEDecode", "inputs": {"samples": ["8", 0], "vae": ["1", 2]}},
    "10": {"class_type": "SaveImage", "inputs": {"images": ["9", 0], "filename_prefix": "unclip"}},
}

#: SDXL revision: the picture instead of a prompt (the text zeroed out, as the examples do).
REVISION_API: dict[str, Any] = {
    "1": {"class_type": "CheckpointLoaderSimple",
          "inputs": {"ckpt_name": "tiny-sdxl.safetensors"}},
    "2": {"class_type": "CLIPVisionLoader", "inputs": {"clip_name": "clip_vision_g.safetensors"}},
    "3": {"class_type": "LoadImage", "inputs": {"image": "photo.png"}},
    "4": {"class_type": "CLIPVisionEncode",
          "inputs": {"clip_vision": ["2", 0], "image": ["3", 0], "crop": "none"}},
    "5": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
    "6": {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["5", 0]}},
    "7": {"class_type": "unCLIPConditioning",
          "inputs": {"conditioning": ["6", 0], "clip_vision_output": ["4", 0],
                     "strength": 1.0, "noise_augmentation": 0.0}},
    "8": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
    "9": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64,
                                                       "batch_size": 1}},
    "10": {"class_type": "KSampler",
           "inputs": {"model": ["1", 0], "seed": 3, "steps": 3, "cfg": 5.0,
                      "sampler_name": "euler", "scheduler": "normal", "positive": ["7", 0],
                      "negative": ["8", 0], "latent_image": ["9", 0], "denoise": 1.0}},
    "11": {"class_type": "VAEDecode", "inputs": {"samples": ["10", 0], "vae": ["1", 2]}},
    "12": {"class_type": "SaveImage", "inputs": {"images": ["11", 0],
                                                 "filename_prefix": "revision"}},
}

WORKFLOWS = {"unclip": UNCLIP_API, "revision": REVISION_API}
#: (the unCLIP Conditioning node, the prompt it adds the image to, the Sampler, the decode)
ROLES = {"unclip": ("6", "4", "8", "9"), "revision": ("7", "6", "10", "11")}


@pytest.fixture(scope="module")
def session(tiny_models, registry, tmp_path_factory) -> Session:
    """A models root with the tiny unCLIP checkpoint and CLIP vision files (a 64-wide one
    under ViT-bigG's usual name, for the tiny SDXL), the tiny SDXL file, and the picture."""
    base = tmp_path_factory.mktemp("comfy-unclip")
    root = base / "models"
    build_tiny_unclip_models(root)
    save_clip_vision(tiny_clip_vision(5, projection=64),
                     root / "clip_vision" / "clip_vision_g.safetensors")
    shutil.copy(tiny_models.checkpoint(tiny_models.sdxl_file),
                root / "checkpoints" / tiny_models.sdxl_file)
    (base / "input").mkdir()
    picture = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    Image.fromarray(picture).save(base / "input" / "photo.png")
    return Session(device="cpu", models_dir=root, input_dir=base / "input",
                   output_dir=base / "output", registry=registry)


def _semantic(graph: Graph) -> tuple[dict, set]:
    return {node.id: (node.type, node.values) for node in graph}, set(graph.links)


def _comfy(prompt: dict[str, Any]) -> dict[str, tuple[str, dict]]:
    return {key: (entry["class_type"], entry["inputs"]) for key, entry in prompt.items()}


@pytest.mark.parametrize("name", list(WORKFLOWS))
def test_both_forms_import_to_the_image_prompt_nodes(registry, name):
    prompt = WORKFLOWS[name]
    ui = graph_from_data(ui_from_api(copy.deepcopy(prompt)), registry)
    api = graph_from_data(copy.deepcopy(prompt), registry)
    assert _semantic(ui) == _semantic(api)
    conditioning, _, _, _ = ROLES[name]
    for graph in (ui, api):
        assert graph.load_warnings == []
        assert validate(graph, registry) == []
        node = graph.node(conditioning)
        assert (node.type, node.values) == (
            "diffusion.unclip_conditioning",
            {"strength": 1.0,
             "noise_augmentation": prompt[conditioning]["inputs"]["noise_augmentation"]})
    types = {node.id: node.type for node in api}
    if name == "unclip":
        assert types["1"] == "diffusion.load_unclip_checkpoint"
        assert api.node("1").values == {"checkpoint": "tiny-unclip.safetensors"}
        assert (api.link_into("3", "clip_vision").source,
                api.link_into("3", "clip_vision").output) == ("1", "clip_vision")
    else:
        assert types["2"] == "diffusion.load_clip_vision"
        assert api.node("4").values == {"crop": "none"}


def test_a_workflow_saved_before_crop_existed_gets_center(registry):
    ui = ui_from_api(copy.deepcopy(UNCLIP_API))
    encode = next(node for node in ui["nodes"] if node["type"] == "CLIPVisionEncode")
    encode["widgets_values"] = []  # older ComfyUI: the node had no widget
    graph = graph_from_data(ui, registry)
    assert graph.load_warnings == []
    assert graph.node("3").values == {}  # the node's default, which is ComfyUI's
    assert registry.get("diffusion.clip_vision_encode").default_values()["crop"] == "center"
    assert validate(graph, registry) == []


@pytest.mark.parametrize("name", list(WORKFLOWS))
def test_the_workflows_write_back_as_they_were(registry, name):
    prompt = WORKFLOWS[name]
    for graph in (graph_from_data(copy.deepcopy(prompt), registry),
                  graph_from_data(ui_from_api(copy.deepcopy(prompt)), registry)):
        assert _comfy(export_api_prompt(graph, registry)) == _comfy(prompt)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(WORKFLOWS))
def test_the_image_prompt_changes_the_picture_and_strength_0_removes_it(session, registry,
                                                                       name):
    conditioning, text, sampler, decode = ROLES[name]
    graph = graph_from_data(ui_from_api(copy.deepcopy(WORKFLOWS[name])), registry)
    assert session.validate(graph) == []
    result = session.run(graph)
    assert result.ok, result.failed
    image = result.outputs[decode]["image"]
    assert image.shape == (1, 64, 64, 3) and len(result.files) == 1

    graph.set_value(conditioning, "strength", 0.0)
    weightless = session.run(graph).outputs[decode]["image"]
    plain = copy.deepcopy(WORKFLOWS[name])
    plain[sampler]["inputs"]["positive"] = [text, 0]
    del plain[conditioning]
    without = session.run(graph_from_data(plain, registry)).outputs[decode]["image"]
    np.testing.assert_array_equal(weightless, without)
    assert np.abs(image - without).max() > 1e-3


def test_a_missing_clip_vision_model_is_named_before_anything_runs(session, registry):
    prompt = copy.deepcopy(REVISION_API)
    prompt["2"]["inputs"]["clip_name"] = "CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors"
    problems = session.validate(graph_from_data(prompt, registry))
    assert any("CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors" in str(problem)
               for problem in problems)
