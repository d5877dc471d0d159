"""ComfyUI workflows with a T2I-Adapter (loaded by ControlNetLoader, as ComfyUI does) and a diff
ControlNet (DiffControlNetLoader): the UI (schema 0.4) and API forms import to the same graph,
validate, run on the tiny SD model, and write back."""

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

ADAPTER = "t2iadapter_tiny_depth.safetensors"
DIFF = "diff_control_tiny_canny.safetensors"

#: ComfyUI's API form: a depth T2I-Adapter and a diff ControlNet chained on the prompts.
PROMPT: dict[str, Any] = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "tiny-sd"}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a lighthouse", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
    "10": {"class_type": "LoadImage", "inputs": {"image": "hint.png"}},
    "11": {"class_type": "ControlNetLoader", "inputs": {"control_net_name": ADAPTER}},
    "12": {"class_type": "ControlNetApplyAdvanced",
           "inputs": {"positive": ["6", 0], "negative": ["7", 0], "control_net": ["11", 0],
                      "image": ["10", 0], "strength": 0.9, "start_percent": 0.0,
                      "end_percent": 1.0}},
    "13": {"class_type": "DiffControlNetLoader",
           "inputs": {"model": ["4", 0], "control_net_name": DIFF}},
    "14": {"class_type": "ControlNetApplyAdvanced",
           "inputs": {"positive": ["12", 0], "negative": ["12", 1], "control_net": ["13", 0],
                      "image": ["10", 0], "strength": 0.7, "start_percent": 0.0,
                      "end_percent": 0.8}},
    "5": {"class_type": "EmptyLatentImage",
          "inputs": {"width": 64, "height": 64, "batch_size": 1}},
    "3": {"class_type": "KSampler",
          "inputs": {"model": ["4", 0], "seed": 42, "steps": 3, "cfg": 6.0,
                     "sampler_name": "euler", "scheduler": "normal", "positive": ["14", 0],
                     "negative": ["14", 1], "latent_image": ["5", 0], "denoise": 1.0}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0],
                                                "filename_prefix": "adapted"}},
}


def _semantic(graph: Graph) -> tuple[dict, set]:
    return {node.id: (node.type, node.values) for node in graph}, set(graph.links)


def _link(graph: Graph, target: str, input_name: str) -> tuple[str, str] | None:
    link = graph.link_into(target, input_name)
    return None if link is None else (link.source, link.output)


@pytest.fixture(scope="module")
def session(tiny_models, registry, tmp_path_factory) -> Session:
    """A ComfyUI-style models folder: the tiny SD checkpoint, the tiny adapters and the diff
    ControlNet in controlnet/, and the hint picture in the input folder."""
    from nodestudio.runtime.tiny_t2i import build_tiny_t2i

    base = tmp_path_factory.mktemp("comfy-adapters")
    models = base / "models"
    shutil.copytree(tiny_models.checkpoint(tiny_models.sd_folder),
                    models / "checkpoints" / "tiny-sd")
    build_tiny_t2i(models, tiny_models.checkpoint(tiny_models.sd_folder),
                   tiny_models.checkpoint(tiny_models.sdxl_folder),
                   tiny_models.controlnet(tiny_models.controlnet_folder))
    (base / "input").mkdir()
    pixels = (np.random.default_rng(5).random((64, 64, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(base / "input" / "hint.png")
    return Session(device="cpu", models_dir=models, input_dir=base / "input",
                   output_dir=base / "output", registry=registry)


def test_both_forms_import_to_the_same_graph(registry):
    ui = graph_from_data(ui_from_api(copy.deepcopy(PROMPT)), registry)
    api = graph_from_data(copy.deepcopy(PROMPT), registry)
    assert _semantic(ui) == _semantic(api)
    for graph in (ui, api):
        assert graph.node("11").type == "diffusion.load_controlnet"
        assert graph.node("11").values == {"control_net": ADAPTER}
        assert graph.node("13").type == "diffusion.load_diff_controlnet"
        assert graph.node("13").values == {"control_net_name": DIFF}
        assert _link(graph, "13", "model") == ("4", "model")
        assert _link(graph, "12", "control_net") == ("11", "control_net")
        assert _link(graph, "14", "control_net") == ("13", "control_net")
        assert graph.load_warnings == []
        assert validate(graph, registry) == []


def test_the_workflow_writes_back_as_it_was(registry):
    for data in (copy.deepcopy(PROMPT), ui_from_api(copy.deepcopy(PROMPT))):
        exported = export_api_prompt(graph_from_data(data, registry), registry)
        assert {key: (entry["class_type"], entry["inputs"]) for key, entry in exported.items()} \
            == {key: (entry["class_type"], entry["inputs"]) for key, entry in PROMPT.items()}


@pytest.mark.slow
def test_the_workflow_validates_and_runs_and_the_controls_act(session, registry):
    graph = graph_from_data(ui_from_api(copy.deepcopy(PROMPT)), registry)
    assert session.validate(graph) == []
    result = session.run(graph)
    assert result.ok, result.failed
    assert result.outputs["11"]["control_net"].kind == "t2i_adapter"
    assert result.outputs["13"]["control_net"].kind == "controlnet"
    image = result.outputs["8"]["image"]
    assert image.shape == (1, 64, 64, 3) and image.std() > 0.01
    assert len(result.files) == 1

    images = {}
    for name, positive, negative in (("plain", "6", "7"), ("adapter", "12", "12")):
        changed = copy.deepcopy(PROMPT)
        changed["3"]["inputs"]["positive"] = [positive, 0]
        changed["3"]["inputs"]["negative"] = [negative, 1 if negative == "12" else 0]
        changed["9"] = {"class_type": "PreviewImage", "inputs": {"images": ["8", 0]}}
        run = session.run(graph_from_data(changed, registry))
        assert run.ok, run.failed
        images[name] = run.outputs["8"]["image"]
    assert np.abs(images["adapter"] - images["plain"]).max() > 0.01  # the adapter acts
    # So does the diff ControlNet (weaker beside the adapter: 2 of 3 steps, strength 0.7).
    assert np.abs(image - images["adapter"]).max() > 5e-4


def test_a_missing_diff_controlnet_is_named_before_anything_runs(session, registry):
    data = copy.deepcopy(PROMPT)
    data["13"]["inputs"]["control_net_name"] = "diff_control_sd15_depth_fp16.safetensors"
    problems = session.validate(graph_from_data(data, registry))
    assert any("diff_control_sd15_depth_fp16.safetensors" in str(p) for p in problems)
