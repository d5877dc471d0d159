"""Workflows from ComfyUI run in the Sampler's "comfyui" mode and truncate on save; export keeps
it; ComfyUI's res_multistep maps both ways; NodeStudio's own graphs stay in "diffusers" mode."""

from __future__ import annotations

import pytest

from nodestudio.app.formats import graph_from_data
from nodestudio.engine.validate import validate
from nodestudio.interop.comfy import export_api_prompt
from nodestudio.interop.comfy.diffusion import COMFY_SAVING

TRUNCATE = "truncate (ComfyUI)"


def _samplers(graph):
    return [node for node in graph if node.type == "diffusion.sampler"]


def test_api_prompt_imports_in_comfyui_mode_and_exports_back(registry, example):
    data = example("text_to_image_api.json")
    data["3"]["inputs"]["sampler_name"] = "res_multistep"
    graph = graph_from_data(data, registry)
    sampler = graph.node("3")
    assert sampler.values["compatibility"] == "comfyui"
    assert sampler.values["sampler"] == "res_multistep"
    assert graph.node("9").values["to_8_bit"] == TRUNCATE
    assert [w for w in graph.load_warnings if w.kind == "unsupported_value"] == []
    assert not [p for p in validate(graph, registry) if p.node_id in ("3", "9")]

    prompt = export_api_prompt(graph, registry)
    assert prompt["3"]["class_type"] == "KSampler"
    assert prompt["3"]["inputs"]["sampler_name"] == "res_multistep"
    assert "compatibility" not in prompt["3"]["inputs"]
    assert prompt["9"]["inputs"] == {"images": ["8", 0], "filename_prefix": "ComfyUI"}
    again = graph_from_data(prompt, registry)
    assert again.node("3").values["compatibility"] == "comfyui"
    assert again.node("9").values["to_8_bit"] == TRUNCATE


def test_the_truncation_value_is_a_choice_of_save_image(registry):
    choices = registry.get("image.save").input("to_8_bit").choices
    assert COMFY_SAVING["to_8_bit"] in choices and choices[0] == "round"


def test_advanced_sampler_and_custom_sampling_get_comfyui_mode(registry, example):
    data = example("text_to_image_api.json")
    inputs = data["3"]["inputs"]
    data["3"] = {"class_type": "KSamplerAdvanced", "inputs": {
        "model": inputs["model"], "add_noise": "enable", "noise_seed": 5, "steps": 6, "cfg": 5.0,
        "sampler_name": "dpmpp_2m_sde", "scheduler": "karras", "positive": inputs["positive"],
        "negative": inputs["negative"], "latent_image": inputs["latent_image"],
        "start_at_step": 0, "end_at_step": 3, "return_with_leftover_noise": "enable"}}
    graph = graph_from_data(data, registry)
    assert graph.node("3").values["compatibility"] == "comfyui"
    assert graph.node("3").values["end_step"] == 3
    assert export_api_prompt(graph, registry)["3"]["class_type"] == "KSamplerAdvanced"

    custom = example("text_to_image_api.json")
    sampler = custom.pop("3")["inputs"]
    custom.update({
        "3": {"class_type": "SamplerCustom", "inputs": {
            "model": sampler["model"], "add_noise": True, "noise_seed": 1, "cfg": 6.0,
            "positive": sampler["positive"], "negative": sampler["negative"],
            "sampler": ["20", 0], "sigmas": ["21", 0], "latent_image": sampler["latent_image"]}},
        "20": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler_ancestral"}},
        "21": {"class_type": "BasicScheduler", "inputs": {
            "model": sampler["model"], "scheduler": "normal", "steps": 4, "denoise": 1.0}},
    })
    graph = graph_from_data(custom, registry)
    (folded,) = _samplers(graph)
    assert folded.values["compatibility"] == "comfyui"
    assert folded.values["sampler"] == "euler_ancestral"


#: A UI workflow (schema 0.4) as ComfyUI saves it: checkpoint → prompts → KSampler (ddim) →
#: VAE Decode → Save Image.
UI_WORKFLOW = {
    "last_node_id": 7, "last_link_id": 9,
    "nodes": [
        {"id": 1, "type": "CheckpointLoaderSimple", "pos": [0, 0], "size": [315, 98],
         "flags": {}, "order": 0, "mode": 0,
         "outputs": [{"name": "MODEL", "type": "MODEL", "links": [1], "slot_index": 0},
                     {"name": "CLIP", "type": "CLIP", "links": [2, 3], "slot_index": 1},
                     {"name": "VAE", "type": "VAE", "links": [8], "slot_index": 2}],
         "properties": {"Node name for S&R": "CheckpointLoaderSimple"},
         "widgets_values": ["tiny-sd"]},
        {"id": 2, "type": "CLIPTextEncode", "pos": [400, 0], "size": [400, 200], "flags": {},
         "order": 1, "mode": 0, "inputs": [{"name": "clip", "type": "CLIP", "link": 2}],
         "outputs": [{"name": "CONDITIONING", "type": "CONDITIONING", "links": [4],
                      "slot_index": 0}],
         "properties": {"Node name for S&R": "CLIPTextEncode"}, "widgets_values": ["a boat"]},
        {"id": 3, "type": "CLIPTextEncode", "pos": [400, 250], "size": [400, 200], "flags": {},
         "order": 2, "mode": 0, "inputs": [{"name": "clip", "type": "CLIP", "link": 3}],
         "outputs": [{"name": "CONDITIONING", "type": "CONDITIONING", "links": [5],
                      "slot_index": 0}],
         "properties": {"Node name for S&R": "CLIPTextEncode"}, "widgets_values": [""]},
        {"id": 4, "type": "EmptyLatentImage", "pos": [400, 500], "size": [315, 106],
         "flags": {}, "order": 3, "mode": 0,
         "outputs": [{"name": "LATENT", "type": "LATENT", "links": [6], "slot_index": 0}],
         "properties": {"Node name for S&R": "EmptyLatentImage"}, "widgets_values": [32, 32, 1]},
        {"id": 5, "type": "KSampler", "pos": [900, 0], "size": [315, 262], "flags": {},
         "order": 4, "mode": 0,
         "inputs": [{"name": "model", "type": "MODEL", "link": 1},
                    {"name": "positive", "type": "CONDITIONING", "link": 4},
                    {"name": "negative", "type": "CONDITIONING", "link": 5},
                    {"name": "latent_image", "type": "LATENT", "link": 6}],
         "outputs": [{"name": "LATENT", "type": "LATENT", "links": [7], "slot_index": 0}],
         "properties": {"Node name for S&R": "KSampler"},
         "widgets_values": [42, "fixed", 2, 4.0, "ddim", "normal", 1.0]},
        {"id": 6, "type": "VAEDecode", "pos": [1250, 0], "size": [210, 46], "flags": {},
         "order": 5, "mode": 0,
         "inputs": [{"name": "samples", "type": "LATENT", "link": 7},
                    {"name": "vae", "type": "VAE", "link": 8}],
         "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [9], "slot_index": 0}],
         "properties": {"Node name for S&R": "VAEDecode"}},
        {"id": 7, "type": "SaveImage", "pos": [1500, 0], "size": [315, 270], "flags": {},
         "order": 6, "mode": 0, "inputs": [{"name": "images", "type": "IMAGE", "link": 9}],
         "properties": {}, "widgets_values": ["boat"]},
    ],
    "links": [[1, 1, 0, 5, 0, "MODEL"], [2, 1, 1, 2, 0, "CLIP"], [3, 1, 1, 3, 0, "CLIP"],
              [4, 2, 0, 5, 1, "CONDITIONING"], [5, 3, 0, 5, 2, "CONDITIONING"],
              [6, 4, 0, 5, 3, "LATENT"], [7, 5, 0, 6, 0, "LATENT"], [8, 1, 2, 6, 1, "VAE"],
              [9, 6, 0, 7, 0, "IMAGE"]],
    "groups": [], "config": {}, "extra": {}, "version": 0.4,
}


def test_ui_workflow_imports_in_comfyui_mode(registry):
    import copy

    graph = graph_from_data(copy.deepcopy(UI_WORKFLOW), registry)
    (sampler,) = _samplers(graph)
    assert sampler.values["compatibility"] == "comfyui"
    assert sampler.values["sampler"] == "ddim"
    (save,) = [node for node in graph if node.type == "image.save"]
    assert save.values["to_8_bit"] == TRUNCATE
    prompt = export_api_prompt(graph, registry)
    (entry,) = [e for e in prompt.values() if e["class_type"] == "KSampler"]
    assert entry["inputs"]["sampler_name"] == "ddim"


@pytest.mark.parametrize("mode", ["diffusers", "comfyui"])
def test_native_graphs_keep_their_mode_and_both_export(registry, example, mode):
    graph = graph_from_data(example("text_to_image_api.json"), registry)
    # A NodeStudio graph file written before the mode existed has no such value: the default.
    del graph.node("3").values["compatibility"]
    del graph.node("9").values["to_8_bit"]
    sampler_type = registry.get("diffusion.sampler")
    assert sampler_type.default_values()["compatibility"] == "diffusers"
    assert registry.get("image.save").default_values()["to_8_bit"] == "round"
    graph.node("3").values["compatibility"] = mode
    assert export_api_prompt(graph, registry)["3"]["class_type"] == "KSampler"
