"""ComfyUI workflows with GLIGEN (GLIGENLoader, GLIGENTextBoxApply) and a hypernetwork
(HypernetworkLoader): UI (schema 0.4) and API forms import to the same graph, validate, run on
the tiny SD model with a tiny GLIGEN file and a tiny A1111 hypernetwork under the names the
workflow uses, and write back."""

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

GLIGEN_FILE = "gligen_sd14_textbox_pruned.safetensors"
HYPERNETWORK_FILE = "tiny_hypernetwork.pt"

#: ComfyUI's API form: two grounded phrases on the prompt, a hypernetwork on the model.
API: dict[str, Any] = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "tiny-sd.safetensors"}},
    "10": {"class_type": "HypernetworkLoader",
           "inputs": {"model": ["4", 0], "hypernetwork_name": HYPERNETWORK_FILE,
                      "strength": 0.8}},
    "11": {"class_type": "GLIGENLoader", "inputs": {"gligen_name": GLIGEN_FILE}},
    "6": {"class_type": "CLIPTextEncode",
          "inputs": {"text": "a red barn in a snowy field", "clip": ["4", 1]}},
    "12": {"class_type": "GLIGENTextBoxApply",
           "inputs": {"conditioning_to": ["6", 0], "clip": ["4", 1],
                      "gligen_textbox_model": ["11", 0], "text": "a red barn", "width": 32,
                      "height": 32, "x": 16, "y": 8}},
    "13": {"class_type": "GLIGENTextBoxApply",
           "inputs": {"conditioning_to": ["12", 0], "clip": ["4", 1],
                      "gligen_textbox_model": ["11", 0], "text": "snow", "width": 64,
                      "height": 16, "x": 0, "y": 48}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
    "5": {"class_type": "EmptyLatentImage",
          "inputs": {"width": 64, "height": 64, "batch_size": 1}},
    "3": {"class_type": "KSampler",
          "inputs": {"model": ["10", 0], "seed": 42, "steps": 3, "cfg": 7.0,
                     "sampler_name": "euler", "scheduler": "normal", "positive": ["13", 0],
                     "negative": ["7", 0], "latent_image": ["5", 0], "denoise": 1.0}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "gligen"}},
}


def _comfy(prompt: dict[str, Any]) -> dict[str, tuple[str, dict]]:
    return {key: (entry["class_type"], entry["inputs"]) for key, entry in prompt.items()}


def _semantic(graph) -> tuple[dict, set]:
    return {node.id: (node.type, node.values) for node in graph}, set(graph.links)


@pytest.fixture(scope="module")
def extra_models(tiny_models, tmp_path_factory):
    """A models root with gligen/ and hypernetworks/ made for the tiny SD model."""
    from diffusers import UNet2DConditionModel

    from nodestudio.runtime.tiny_grounding import (
        hypernetwork_state,
        save_tiny_gligen,
        save_tiny_hypernetwork,
        tiny_gated_unet,
    )

    root = tmp_path_factory.mktemp("gligen-models")
    config = UNet2DConditionModel.load_config(tiny_models.checkpoint(tiny_models.sd_folder),
                                              subfolder="unet")
    save_tiny_gligen(tiny_gated_unet(config, seed=50), root / "gligen" / GLIGEN_FILE)
    save_tiny_hypernetwork(root / "hypernetworks" / HYPERNETWORK_FILE,
                           hypernetwork_state([32], seed=60))
    return root


@pytest.fixture(scope="module")
def session(tiny_models, extra_models, registry, tmp_path_factory) -> Session:
    folder = tmp_path_factory.mktemp("gligen-run")
    return Session(device="cpu", models_dir=[tiny_models.root, extra_models],
                   input_dir=folder / "input", output_dir=folder / "output", registry=registry)


def test_both_forms_import_to_the_same_graph(registry):
    ui = graph_from_data(ui_from_api(copy.deepcopy(API)), registry)
    api = graph_from_data(copy.deepcopy(API), registry)
    assert _semantic(ui) == _semantic(api)
    for graph in (ui, api):
        assert {key: graph.node(key).type for key in ("10", "11", "12", "13")} == {
            "10": "diffusion.load_hypernetwork", "11": "diffusion.load_gligen",
            "12": "diffusion.gligen_textbox_apply", "13": "diffusion.gligen_textbox_apply"}
        assert graph.node("10").values == {"hypernetwork_name": HYPERNETWORK_FILE,
                                           "strength": 0.8}
        assert graph.node("11").values == {"gligen_name": GLIGEN_FILE}
        assert graph.node("13").values == {"text": "snow", "width": 64, "height": 16, "x": 0,
                                           "y": 48}
        link = graph.link_into("13", "gligen_textbox_model")
        assert (link.source, link.output) == ("11", "gligen")
        link = graph.link_into("3", "model")
        assert (link.source, link.output) == ("10", "model")
        assert graph.load_warnings == []
        assert validate(graph, registry) == []


@pytest.mark.parametrize("form", ["ui", "api"])
def test_the_workflow_writes_back_as_it_was(registry, form):
    data = ui_from_api(copy.deepcopy(API)) if form == "ui" else copy.deepcopy(API)
    graph = graph_from_data(data, registry)
    assert _comfy(export_api_prompt(graph, registry)) == _comfy(API)


def test_the_workflow_validates_runs_and_both_adapters_act(session, registry):
    graph = graph_from_data(ui_from_api(copy.deepcopy(API)), registry)
    assert session.validate(graph) == []
    result = session.run(graph)
    assert result.ok, result.failed
    image = result.outputs["8"]["image"]
    assert image.shape == (1, 64, 64, 3) and image.std() > 0.01
    assert len(result.files) == 1
    again = session.run(graph_from_data(copy.deepcopy(API), registry))
    assert again.executed == []  # the API form is the very same computation

    def image_without(*removed: str, **rewire: list) -> np.ndarray:
        prompt = copy.deepcopy(API)
        for key in removed:
            del prompt[key]
        for name, source in rewire.items():
            prompt["3"]["inputs"][name] = source
        prompt["9"] = {"class_type": "PreviewImage", "inputs": {"images": ["8", 0]}}
        run = session.run(graph_from_data(prompt, registry))
        assert run.ok, run.failed
        return run.outputs["8"]["image"]

    no_phrases = image_without("11", "12", "13", positive=["6", 0])
    no_hypernetwork = image_without("10", model=["4", 0])
    assert np.abs(image - no_phrases).max() > 1 / 255
    assert np.abs(image - no_hypernetwork).max() > 1 / 255


def test_missing_files_are_named_before_anything_runs(session, registry):
    prompt = copy.deepcopy(API)
    prompt["11"]["inputs"]["gligen_name"] = "gligen_sd15.safetensors"
    prompt["10"]["inputs"]["hypernetwork_name"] = "anime.pt"
    problems = session.validate(graph_from_data(prompt, registry))
    text = " ".join(str(problem) for problem in problems)
    assert "gligen_sd15.safetensors" in text and "anime.pt" in text
