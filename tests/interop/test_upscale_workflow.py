"""ComfyUI's model upscaling (UpscaleModelLoader + ImageUpscaleWithModel) as people share it:
a UI workflow and an API prompt import, validate and run on a tiny RealESRGAN-style file
under the name the workflow uses; export writes them back."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from spandrel.architectures.ESRGAN import ESRGAN

from nodestudio.app.formats import graph_from_data
from nodestudio.app.session import Session
from nodestudio.cli import main
from nodestudio.interop.comfy import ComfyExportError, export_api_prompt

MODEL = "RealESRGAN_x4plus.pth"

#: What ComfyUI's "Export (API)" writes for the workflow below (titles in "_meta").
PROMPT: dict[str, Any] = {
    "1": {"inputs": {"image": "photo.png"}, "class_type": "LoadImage",
          "_meta": {"title": "Load Image"}},
    "2": {"inputs": {"model_name": MODEL}, "class_type": "UpscaleModelLoader",
          "_meta": {"title": "Load Upscale Model"}},
    "3": {"inputs": {"upscale_model": ["2", 0], "image": ["1", 0]},
          "class_type": "ImageUpscaleWithModel",
          "_meta": {"title": "Upscale Image (using Model)"}},
    "4": {"inputs": {"filename_prefix": "ComfyUI", "images": ["3", 0]},
          "class_type": "SaveImage", "_meta": {"title": "Save Image"}},
}


def _node(node_id: int, kind: str, pos: list[int], inputs: list[dict[str, Any]],
          outputs: list[dict[str, Any]], widgets: list[Any], order: int) -> dict[str, Any]:
    return {"id": node_id, "type": kind, "pos": pos, "size": [315, 60], "flags": {},
            "order": order, "mode": 0, "inputs": inputs, "outputs": outputs,
            "properties": {"Node name for S&R": kind}, "widgets_values": widgets}


#: The same graph as ComfyUI's Save writes it (schema 0.4): links are
#: [id, from node, from slot, to node, to slot, type]; LoadImage stores its upload button's
#: value after the file name.
WORKFLOW: dict[str, Any] = {
    "last_node_id": 4, "last_link_id": 3,
    "nodes": [
        _node(1, "LoadImage", [40, 300], [],
              [{"name": "IMAGE", "type": "IMAGE", "links": [1], "slot_index": 0},
               {"name": "MASK", "type": "MASK", "links": None}],
              ["photo.png", "image"], 0),
        _node(2, "UpscaleModelLoader", [40, 120], [],
              [{"name": "UPSCALE_MODEL", "type": "UPSCALE_MODEL", "links": [2],
                "slot_index": 0}],
              [MODEL], 1),
        _node(3, "ImageUpscaleWithModel", [420, 200],
              [{"name": "upscale_model", "type": "UPSCALE_MODEL", "link": 2},
               {"name": "image", "type": "IMAGE", "link": 1}],
              [{"name": "IMAGE", "type": "IMAGE", "links": [3], "slot_index": 0}],
              [], 2),
        _node(4, "SaveImage", [760, 200],
              [{"name": "images", "type": "IMAGE", "link": 3}], [],
              ["ComfyUI"], 3),
    ],
    "links": [[1, 1, 0, 3, 1, "IMAGE"], [2, 2, 0, 3, 0, "UPSCALE_MODEL"],
              [3, 3, 0, 4, 0, "IMAGE"]],
    "groups": [], "config": {}, "extra": {"ds": {"scale": 1, "offset": [0, 0]}},
    "version": 0.4,
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A ComfyUI models folder with a tiny 4x RRDBNet saved as RealESRGAN's releases are
    ({"params_ema": …}), and an input folder with the workflow's picture."""
    base = tmp_path_factory.mktemp("comfy-upscale")
    models, inputs = base / "models", base / "input"
    (models / "upscale_models").mkdir(parents=True)
    inputs.mkdir()
    torch.manual_seed(0)
    state = ESRGAN(num_filters=8, num_blocks=1, scale=4).state_dict()
    state["model.10.bias"] = state["model.10.bias"] + 0.5  # a mid-grey picture, not black
    torch.save({"params_ema": state}, models / "upscale_models" / MODEL)
    picture = np.random.default_rng(0).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    Image.fromarray(picture).save(inputs / "photo.png")
    return {"models": models, "input": inputs, "output": base / "output"}


@pytest.fixture(scope="module")
def session(folders, registry) -> Session:
    return Session(device="cpu", models_dir=folders["models"], input_dir=folders["input"],
                   output_dir=folders["output"], registry=registry)


@pytest.mark.parametrize("data", [WORKFLOW, PROMPT], ids=["workflow", "api"])
def test_both_formats_import_to_the_upscale_nodes(registry, data):
    graph = graph_from_data(copy.deepcopy(data), registry)
    assert {node.id: node.type for node in graph} == {
        "1": "image.load", "2": "image.load_upscale_model", "3": "image.upscale_with_model",
        "4": "image.save"}
    assert graph.node("2").values["model_name"] == MODEL
    assert {(link.source, link.output, link.target, link.input) for link in graph.links} == {
        ("1", "image", "3", "image"), ("2", "upscale_model", "3", "upscale_model"),
        ("3", "image", "4", "images")}
    assert list(graph.load_warnings) == []


def test_the_workflow_validates_runs_and_its_image_carries_the_prompt(session):
    graph = graph_from_data(copy.deepcopy(WORKFLOW), session.registry)
    assert session.validate(graph) == []
    result = session.run(graph)
    assert result.executed == ["1", "2", "3", "4"]
    image = result.outputs["3"]["image"]
    assert image.shape == (1, 48, 64, 3) and image.dtype == np.float32
    assert 0.2 < image.mean() < 0.8 and image.std() > 0.001
    (written,) = result.files
    with Image.open(written) as saved:
        assert saved.size == (64, 48)
        assert json.loads(saved.text["prompt"]) == PROMPT  # ComfyUI can open it again
    again = session.run(graph_from_data(copy.deepcopy(PROMPT), session.registry))
    assert again.executed == [] and "4" in again.cached  # the very same computation


def test_a_model_the_folder_lacks_is_named_before_anything_runs(session):
    data = copy.deepcopy(PROMPT)
    data["2"]["inputs"]["model_name"] = "4x-UltraSharp.pth"
    problems = session.validate(graph_from_data(data, session.registry))
    assert problems and any("4x-UltraSharp.pth" in str(problem) for problem in problems)


@pytest.mark.parametrize("data", [WORKFLOW, PROMPT], ids=["workflow", "api"])
def test_export_writes_comfyui_nodes_back(registry, data):
    graph = graph_from_data(copy.deepcopy(data), registry)
    exported = export_api_prompt(graph, registry)
    assert exported == PROMPT
    assert graph_from_data(copy.deepcopy(exported), registry) == graph_from_data(
        copy.deepcopy(PROMPT), registry)


def test_a_changed_tile_size_does_not_export(registry):
    graph = graph_from_data(copy.deepcopy(PROMPT), registry)
    graph.set_value("3", "tile_size", 256)
    with pytest.raises(ComfyExportError, match="tile_size"):
        export_api_prompt(graph, registry)


def test_the_command_line_runs_the_workflow(folders, tmp_path):
    path = tmp_path / "upscale.json"
    path.write_text(json.dumps(WORKFLOW))
    output = tmp_path / "out"
    assert main(["run", str(path), "--models", str(folders["models"]), "--input",
                 str(folders["input"]), "--output", str(output), "--device", "cpu"]) == 0
    (written,) = output.glob("*.png")
    with Image.open(written) as saved:
        assert saved.size == (64, 48)
