"""ComfyUI workflows with the model tools (merges, CheckpointSave, ModelSamplingDiscrete,
RescaleCFG): UI (schema 0.4) and API forms import to the same graph, validate, run on the tiny
SD models, and write back; the checkpoint the workflow saves loads back to the same image."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from comfy_forms import ui_from_api

from nodestudio.app.formats import graph_from_data
from nodestudio.app.session import Session
from nodestudio.engine.validate import validate
from nodestudio.graph.model import Graph
from nodestudio.interop.comfy import export_api_prompt

PROMPT = "a red barn in a snowy field"

#: ComfyUI's API form: merge two checkpoints half and half, sample the merge with RescaleCFG,
#: save the merged checkpoint and the image.
MERGE_API: dict[str, Any] = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "tiny-sd"}},
    "10": {"class_type": "CheckpointLoaderSimple",
           "inputs": {"ckpt_name": "tiny-sd.safetensors"}},
    "11": {"class_type": "ModelMergeSimple",
           "inputs": {"model1": ["4", 0], "model2": ["10", 0], "ratio": 0.5}},
    "12": {"class_type": "RescaleCFG", "inputs": {"model": ["11", 0], "multiplier": 0.7}},
    "13": {"class_type": "CheckpointSave",
           "inputs": {"model": ["11", 0], "clip": ["4", 1], "vae": ["4", 2],
                      "filename_prefix": "checkpoints/tiny-merge"}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": PROMPT, "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
    "5": {"class_type": "EmptyLatentImage",
          "inputs": {"width": 64, "height": 64, "batch_size": 1}},
    "3": {"class_type": "KSampler",
          "inputs": {"model": ["12", 0], "seed": 42, "steps": 3, "cfg": 7.0,
                     "sampler_name": "euler", "scheduler": "normal", "positive": ["6", 0],
                     "negative": ["7", 0], "latent_image": ["5", 0], "denoise": 1.0}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "merged"}},
}


def _ui_node(node_id: int, class_type: str, order: int, inputs: list[tuple[str, str, int]],
             outputs: list[tuple[str, str, list[int]]], widgets: list[Any]) -> dict[str, Any]:
    """One node of a UI workflow as ComfyUI's frontend saves it."""
    return {
        "id": node_id, "type": class_type, "pos": [40 + 320 * (order % 4), 60 + 260 * (order // 4)],
        "size": [315, 98], "flags": {}, "order": order, "mode": 0,
        "inputs": [{"name": name, "type": kind, "link": link} for name, kind, link in inputs],
        "outputs": [{"name": name, "type": kind, "links": links, "slot_index": slot}
                    for slot, (name, kind, links) in enumerate(outputs)],
        "properties": {"Node name for S&R": class_type},
        "widgets_values": widgets,
    }


#: The same workflow as the frontend saves it (schema 0.4): widget values in the order the
#: node classes declare them, the seed followed by its control value, links as
#: [id, from node, from slot, to node, to slot, type].
MERGE_UI: dict[str, Any] = {
    "last_node_id": 13,
    "last_link_id": 15,
    "nodes": [
        _ui_node(4, "CheckpointLoaderSimple", 0, [],
                 [("MODEL", "MODEL", [1]), ("CLIP", "CLIP", [5, 6, 14]),
                  ("VAE", "VAE", [11, 15])], ["tiny-sd"]),
        _ui_node(10, "CheckpointLoaderSimple", 1, [],
                 [("MODEL", "MODEL", [2]), ("CLIP", "CLIP", []), ("VAE", "VAE", [])],
                 ["tiny-sd.safetensors"]),
        _ui_node(11, "ModelMergeSimple", 2, [("model1", "MODEL", 1), ("model2", "MODEL", 2)],
                 [("MODEL", "MODEL", [3, 13])], [0.5]),
        _ui_node(12, "RescaleCFG", 3, [("model", "MODEL", 3)], [("MODEL", "MODEL", [4])],
                 [0.7]),
        _ui_node(13, "CheckpointSave", 4,
                 [("model", "MODEL", 13), ("clip", "CLIP", 14), ("vae", "VAE", 15)], [],
                 ["checkpoints/tiny-merge"]),
        _ui_node(6, "CLIPTextEncode", 5, [("clip", "CLIP", 5)],
                 [("CONDITIONING", "CONDITIONING", [7])], [PROMPT]),
        _ui_node(7, "CLIPTextEncode", 6, [("clip", "CLIP", 6)],
                 [("CONDITIONING", "CONDITIONING", [8])], ["blurry"]),
        _ui_node(5, "EmptyLatentImage", 7, [], [("LATENT", "LATENT", [9])], [64, 64, 1]),
        _ui_node(3, "KSampler", 8,
                 [("model", "MODEL", 4), ("positive", "CONDITIONING", 7),
                  ("negative", "CONDITIONING", 8), ("latent_image", "LATENT", 9)],
                 [("LATENT", "LATENT", [10])], [42, "fixed", 3, 7.0, "euler", "normal", 1.0]),
        _ui_node(8, "VAEDecode", 9, [("samples", "LATENT", 10), ("vae", "VAE", 11)],
                 [("IMAGE", "IMAGE", [12])], []),
        _ui_node(9, "SaveImage", 10, [("images", "IMAGE", 12)], [], ["merged"]),
    ],
    "links": [
        [1, 4, 0, 11, 0, "MODEL"], [2, 10, 0, 11, 1, "MODEL"], [3, 11, 0, 12, 0, "MODEL"],
        [4, 12, 0, 3, 0, "MODEL"], [5, 4, 1, 6, 0, "CLIP"], [6, 4, 1, 7, 0, "CLIP"],
        [7, 6, 0, 3, 1, "CONDITIONING"], [8, 7, 0, 3, 2, "CONDITIONING"],
        [9, 5, 0, 3, 3, "LATENT"], [10, 3, 0, 8, 0, "LATENT"], [11, 4, 2, 8, 1, "VAE"],
        [12, 8, 0, 9, 0, "IMAGE"], [13, 11, 0, 13, 0, "MODEL"], [14, 4, 1, 13, 1, "CLIP"],
        [15, 4, 2, 13, 2, "VAE"],
    ],
    "groups": [],
    "config": {},
    "extra": {"ds": {"scale": 1.0, "offset": [0, 0]}},
    "version": 0.4,
}


def _recipe_api() -> dict[str, Any]:
    """"Add difference" and the other tools: tiny-sd + (tiny-sd − tiny-sd.safetensors), blended
    block-wise with the second, merged CLIPs, a sampling override — with identical parents,
    every step gives tiny-sd's weights back exactly."""
    prompt = copy.deepcopy(MERGE_API)
    del prompt["13"], prompt["12"]
    prompt.update({
        "20": {"class_type": "ModelMergeSubtract",
               "inputs": {"model1": ["4", 0], "model2": ["10", 0], "multiplier": 1.0}},
        "21": {"class_type": "ModelMergeAdd", "inputs": {"model1": ["4", 0], "model2": ["20", 0]}},
        "22": {"class_type": "ModelMergeBlocks",
               "inputs": {"model1": ["21", 0], "model2": ["10", 0], "input": 1.0,
                          "middle": 0.5, "out": 0.25}},
        "23": {"class_type": "ModelSamplingDiscrete",
               "inputs": {"model": ["22", 0], "sampling": "eps", "zsnr": False}},
        "24": {"class_type": "CLIPMergeSimple",
               "inputs": {"clip1": ["4", 1], "clip2": ["10", 1], "ratio": 0.5}},
    })
    del prompt["11"]
    prompt["3"]["inputs"]["model"] = ["23", 0]
    for encoder in ("6", "7"):
        prompt[encoder]["inputs"]["clip"] = ["24", 0]
    prompt["9"]["inputs"]["filename_prefix"] = "recipe"
    return prompt


_ui = ui_from_api


def _semantic(graph: Graph) -> tuple[dict, set]:
    return {node.id: (node.type, node.values) for node in graph}, set(graph.links)


def _link(graph: Graph, target: str, input_name: str) -> tuple[str, str] | None:
    link = graph.link_into(target, input_name)
    return None if link is None else (link.source, link.output)


def _comfy(prompt: dict[str, Any]) -> dict[str, tuple[str, dict]]:
    return {key: (entry["class_type"], entry["inputs"]) for key, entry in prompt.items()}


@pytest.fixture(scope="module")
def session(tiny_models, registry, tmp_path_factory) -> Session:
    folder = tmp_path_factory.mktemp("model-tools")
    # The saved checkpoint is loaded back by its path in the output folder: allowed, as a
    # user would with --allow-path.
    return Session(device="cpu", models_dir=tiny_models.root, input_dir=folder / "input",
                   output_dir=folder / "output", registry=registry, allowed_paths=[folder])


# -- import ------------------------------------------------------------------------------------


def test_the_merge_workflow_imports_the_same_from_both_forms(registry):
    ui = graph_from_data(copy.deepcopy(MERGE_UI), registry)
    api = graph_from_data(copy.deepcopy(MERGE_API), registry)
    assert _semantic(ui) == _semantic(api)
    for graph in (ui, api):
        types = {node.id: node.type for node in graph}
        assert {key: types[key] for key in ("11", "12", "13")} == {
            "11": "diffusion.merge_models", "12": "diffusion.rescale_cfg",
            "13": "diffusion.save_checkpoint"}
        assert graph.node("11").values == {"ratio": 0.5}
        assert graph.node("12").values == {"multiplier": 0.7}
        assert graph.node("13").values == {"filename_prefix": "checkpoints/tiny-merge"}
        assert (_link(graph, "11", "model1"), _link(graph, "11", "model2")) == (
            ("4", "model"), ("10", "model"))
        assert _link(graph, "12", "model") == ("11", "model")
        assert _link(graph, "3", "model") == ("12", "model")
        assert [_link(graph, "13", name) for name in ("model", "clip", "vae")] == [
            ("11", "model"), ("4", "clip"), ("4", "vae")]
        assert graph.load_warnings == []
        assert validate(graph, registry) == []


def test_the_recipe_workflow_imports_every_tool(registry):
    prompt = _recipe_api()
    ui = graph_from_data(_ui(prompt), registry)
    api = graph_from_data(copy.deepcopy(prompt), registry)
    assert _semantic(ui) == _semantic(api)
    expected = {
        "20": ("diffusion.merge_models_subtract", {"multiplier": 1.0}),
        "21": ("diffusion.merge_models_add", {}),
        "22": ("diffusion.merge_model_blocks", {"input": 1.0, "middle": 0.5, "out": 0.25}),
        "23": ("diffusion.model_sampling_discrete", {"sampling": "eps", "zsnr": False}),
        "24": ("diffusion.merge_clip", {"ratio": 0.5}),
    }
    for graph in (ui, api):
        assert {key: (graph.node(key).type, graph.node(key).values) for key in expected} == (
            expected)
        assert _link(graph, "21", "model2") == ("20", "model")
        assert _link(graph, "6", "clip") == ("24", "clip")
        assert graph.load_warnings == []
        assert validate(graph, registry) == []


def test_a_sampling_nodestudio_lacks_is_warned_and_stopped(registry):
    prompt = _recipe_api()
    prompt["23"]["inputs"]["sampling"] = "img_to_img"
    for graph in (graph_from_data(copy.deepcopy(prompt), registry),
                  graph_from_data(_ui(prompt), registry)):
        (warning,) = graph.load_warnings
        assert (warning.node_id, warning.input, warning.kind) == (
            "23", "sampling", "unsupported_value")
        assert [(p.node_id, p.input) for p in validate(graph, registry)] == [("23", "sampling")]


@pytest.mark.parametrize("prompt", [MERGE_API, _recipe_api()], ids=["merge", "recipe"])
def test_the_workflows_write_back_as_they_were(registry, prompt):
    for graph in (graph_from_data(copy.deepcopy(prompt), registry),
                  graph_from_data(_ui(prompt), registry)):
        assert _comfy(export_api_prompt(graph, registry)) == _comfy(prompt)


# -- runs --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_merge_workflow_runs_and_its_checkpoint_loads_back(session, registry):
    result = session.run(graph_from_data(copy.deepcopy(MERGE_UI), registry))
    assert result.ok, result.failed
    image = result.outputs["8"]["image"]
    assert image.shape == (1, 64, 64, 3) and image.std() > 0.01
    names = sorted(Path(path).relative_to(session.settings.output_dir).as_posix()
                   for path in result.files)
    assert names == ["checkpoints/tiny-merge_00001_.safetensors", "merged_00001_.png"]

    # The saved checkpoint, loaded by path, with the same sampling: the same image.
    saved = session.settings.output_dir / "checkpoints" / "tiny-merge_00001_.safetensors"
    again = copy.deepcopy(MERGE_API)
    for key in ("10", "11", "13"):
        del again[key]
    again["4"]["inputs"]["ckpt_name"] = str(saved)
    again["12"]["inputs"]["model"] = ["4", 0]
    again["9"] = {"class_type": "PreviewImage", "inputs": {"images": ["8", 0]}}
    reloaded = session.run(graph_from_data(again, registry))
    assert reloaded.ok, reloaded.failed
    np.testing.assert_array_equal(reloaded.outputs["8"]["image"], image)


@pytest.mark.slow
def test_the_recipe_workflow_runs_to_the_first_models_image(session, registry):
    # Identical parents: the recipe's weights are tiny-sd's, so is its image (without
    # RescaleCFG, a plain KSampler on tiny-sd).
    recipe = session.run(graph_from_data(_ui(_recipe_api()), registry))
    assert recipe.ok, recipe.failed
    plain = copy.deepcopy(MERGE_API)
    for key in ("10", "11", "12", "13"):
        del plain[key]
    plain["3"]["inputs"]["model"] = ["4", 0]
    plain["9"] = {"class_type": "PreviewImage", "inputs": {"images": ["8", 0]}}
    reference = session.run(graph_from_data(plain, registry))
    assert reference.ok, reference.failed
    np.testing.assert_array_equal(recipe.outputs["8"]["image"], reference.outputs["8"]["image"])
