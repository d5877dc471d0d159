"""ComfyUI area-composition workflows (Combine, Set Area, … Percentage, … Strength, Set Mask,
Set Timestep Range): the UI and API forms import to the same graph, validate, run on the tiny
SD model, and write back as they were."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from comfy_forms import ui_from_api

from nodestudio.app.formats import graph_from_data
from nodestudio.app.session import Session
from nodestudio.engine.validate import validate
from nodestudio.interop.comfy import export_api_prompt


def _encode(text: str) -> dict[str, Any]:
    return {"class_type": "CLIPTextEncode", "inputs": {"text": text, "clip": ["1", 1]}}


#: A meadow, a barn on the right of the top half, the sky over the top half, a river through a
#: mask's bounds for the middle of the run — ComfyUI's area composition example, small.
AREAS_API: dict[str, Any] = {
    "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "tiny-sd"}},
    "2": _encode("a wide meadow"),
    "3": _encode("a red barn"),
    "4": {"class_type": "ConditioningSetArea",
          "inputs": {"conditioning": ["3", 0], "width": 64, "height": 64, "x": 64, "y": 0,
                     "strength": 1.2}},
    "5": {"class_type": "ConditioningCombine",
          "inputs": {"conditioning_1": ["2", 0], "conditioning_2": ["4", 0]}},
    "6": _encode("a blue sky"),
    "7": {"class_type": "ConditioningSetAreaPercentage",
          "inputs": {"conditioning": ["6", 0], "width": 1.0, "height": 0.5, "x": 0.0, "y": 0.0,
                     "strength": 1.0}},
    "8": {"class_type": "ConditioningSetAreaStrength",
          "inputs": {"conditioning": ["7", 0], "strength": 0.8}},
    "9": {"class_type": "ConditioningCombine",
          "inputs": {"conditioning_1": ["5", 0], "conditioning_2": ["8", 0]}},
    "10": {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 64, "height": 64}},
    "11": _encode("a winding river"),
    "12": {"class_type": "ConditioningSetMask",
           "inputs": {"conditioning": ["11", 0], "mask": ["10", 0], "strength": 0.7,
                      "set_cond_area": "mask bounds"}},
    "13": {"class_type": "ConditioningSetTimestepRange",
           "inputs": {"conditioning": ["12", 0], "start": 0.2, "end": 0.8}},
    "14": {"class_type": "ConditioningCombine",
           "inputs": {"conditioning_1": ["9", 0], "conditioning_2": ["13", 0]}},
    "15": _encode("blurry"),
    "16": {"class_type": "EmptyLatentImage",
           "inputs": {"width": 128, "height": 128, "batch_size": 1}},
    "17": {"class_type": "KSampler",
           "inputs": {"model": ["1", 0], "seed": 42, "steps": 3, "cfg": 5.0,
                      "sampler_name": "euler", "scheduler": "normal", "positive": ["14", 0],
                      "negative": ["15", 0], "latent_image": ["16", 0], "denoise": 1.0}},
    "18": {"class_type": "VAEDecode", "inputs": {"samples": ["17", 0], "vae": ["1", 2]}},
    "19": {"class_type": "SaveImage", "inputs": {"images": ["18", 0], "filename_prefix": "areas"}},
}

EXPECTED = {
    "4": ("diffusion.conditioning_set_area",
          {"width": 64, "height": 64, "x": 64, "y": 0, "strength": 1.2}),
    "5": ("diffusion.conditioning_combine", {}),
    "7": ("diffusion.conditioning_set_area_percentage",
          {"width": 1.0, "height": 0.5, "x": 0.0, "y": 0.0, "strength": 1.0}),
    "8": ("diffusion.conditioning_set_area_strength", {"strength": 0.8}),
    "12": ("diffusion.conditioning_set_mask", {"strength": 0.7, "set_cond_area": "mask bounds"}),
    "13": ("diffusion.conditioning_set_timestep_range", {"start": 0.2, "end": 0.8}),
}


def _forms(registry):
    return [graph_from_data(copy.deepcopy(AREAS_API), registry),
            graph_from_data(ui_from_api(AREAS_API), registry)]


def _semantic(graph) -> tuple[dict, set]:
    return {node.id: (node.type, node.values) for node in graph}, set(graph.links)


def _comfy(prompt: dict[str, Any]) -> dict[str, tuple[str, dict]]:
    return {key: (entry["class_type"], entry["inputs"]) for key, entry in prompt.items()}


def test_both_forms_import_every_area_node_to_the_same_graph(registry):
    api, ui = _forms(registry)
    assert _semantic(api) == _semantic(ui)
    for graph in (api, ui):
        assert {key: (graph.node(key).type, graph.node(key).values) for key in EXPECTED} == (
            EXPECTED)
        links = {(link.source, link.target, link.input) for link in graph.links}
        assert {("2", "5", "conditioning_1"), ("4", "5", "conditioning_2"),
                ("10", "12", "mask"), ("14", "17", "positive")} <= links
        assert graph.load_warnings == []
        assert validate(graph, registry) == []


def test_the_workflow_writes_back_as_it_was(registry):
    for graph in _forms(registry):
        exported = _comfy(export_api_prompt(graph, registry))
        assert {key: exported[key] for key in EXPECTED} == {
            key: _comfy(AREAS_API)[key] for key in EXPECTED}


@pytest.mark.slow
def test_the_area_workflow_runs_and_its_areas_matter(tiny_models, registry, tmp_path):
    session = Session(device="cpu", models_dir=tiny_models.root, input_dir=tmp_path / "input",
                      output_dir=tmp_path / "output", registry=registry)
    result = session.run(graph_from_data(ui_from_api(AREAS_API), registry))
    assert result.ok, result.failed
    image = result.outputs["18"]["image"]
    assert image.shape == (1, 128, 128, 3) and image.std() > 0.01
    # The same workflow with the meadow alone: another image.
    plain = copy.deepcopy(AREAS_API)
    plain["17"]["inputs"]["positive"] = ["2", 0]
    reference = session.run(graph_from_data(plain, registry))
    assert reference.ok, reference.failed
    assert np.abs(reference.outputs["18"]["image"] - image).max() > 0.01
