"""NodeStudio graphs written as ComfyUI API prompts, and read back."""

from __future__ import annotations

import json

import pytest

from nodestudio.app.formats import graph_from_data
from nodestudio.app.recipes import text_to_image
from nodestudio.cli import main
from nodestudio.engine.signature import widget_values
from nodestudio.graph import files
from nodestudio.graph.model import Graph
from nodestudio.interop.comfy import ComfyExportError, export_api_prompt


def semantic(graph: Graph, registry) -> tuple[dict, set]:
    """What runs: node types, effective values (defaults filled in) and modes; the links."""
    nodes = {}
    for node in graph:
        node_type = registry.get(node.type)
        values = widget_values(node, node_type) if node_type else node.values
        nodes[node.id] = (node.type, values, node.mode)
    return nodes, set(graph.links)


def _without(prompt: dict, *node_ids: str) -> dict:
    return {key: value for key, value in prompt.items() if key not in node_ids}


def test_default_workflow_exports_to_what_comfyui_queues(registry, example):
    graph = graph_from_data(example("text_to_image.json"), registry)
    assert export_api_prompt(graph, registry) == example("text_to_image_api.json")


def test_controlnet_workflow_exports_without_muted_bypassed_and_frontend_nodes(registry,
                                                                              example):
    data = example("controlnet_canny.json")
    graph = graph_from_data(data, registry)
    graph.remove_node("15")  # a custom node from a UI file: its widget values have no names
    assert export_api_prompt(graph, registry) == _without(example("controlnet_canny_api.json"),
                                                          "15")


def test_api_prompt_round_trip_is_exact(registry, example):
    original = example("controlnet_canny_api.json")
    graph = graph_from_data(original, registry)
    exported = export_api_prompt(graph, registry)
    assert exported == original
    assert graph_from_data(exported, registry) == graph


@pytest.mark.parametrize("change", ["clip_skip", "inpaint", "noise_mask", "old_controlnet",
                                    "latent_upscale", "seed_primitive", "sdxl_prompt",
                                    "image_scale_crop"])
def test_constructions_survive_export_and_import(registry, example, change):
    data = example("controlnet_canny_api.json")
    if change == "clip_skip":
        data["20"] = {"class_type": "CLIPSetLastLayer",
                      "inputs": {"clip": ["1", 1], "stop_at_clip_layer": -3}}
        data["3"]["inputs"]["clip"] = ["20", 0]
    elif change == "inpaint":
        data["30"] = {"class_type": "VAEEncodeForInpaint", "inputs": {
            "pixels": ["5", 0], "vae": ["1", 2], "mask": ["5", 1], "grow_mask_by": 8}}
        data["10"]["inputs"]["latent_image"] = ["30", 0]
    elif change == "noise_mask":
        data["30"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["5", 0], "vae": ["1", 2]}}
        data["31"] = {"class_type": "SetLatentNoiseMask",
                      "inputs": {"samples": ["30", 0], "mask": ["5", 1]}}
        data["10"]["inputs"]["latent_image"] = ["31", 0]
    elif change == "old_controlnet":
        data["8"] = {"class_type": "ControlNetApply", "inputs": {
            "conditioning": ["3", 0], "control_net": ["7", 0], "image": ["6", 0],
            "strength": 0.7}}
        data["10"]["inputs"]["negative"] = ["4", 0]
    elif change == "latent_upscale":
        data["40"] = {"class_type": "LatentUpscale", "inputs": {
            "samples": ["10", 0], "upscale_method": "bilinear", "width": 768, "height": 640,
            "crop": "disabled"}}
        data["41"] = {"class_type": "LatentUpscaleBy", "inputs": {
            "samples": ["40", 0], "upscale_method": "area", "scale_by": 1.25}}
        data["12"]["inputs"]["samples"] = ["41", 0]
    elif change == "sdxl_prompt":
        data["3"] = {"class_type": "CLIPTextEncodeSDXL", "inputs": {
            "clip": ["1", 1], "width": 2048, "height": 1536, "crop_w": 0, "crop_h": 64,
            "target_width": 1024, "target_height": 768, "text_g": "a castle, oil painting",
            "text_l": "a castle"}}
    elif change == "image_scale_crop":
        data["60"] = {"class_type": "ImageScale", "inputs": {
            "image": ["5", 0], "upscale_method": "bicubic", "width": 512, "height": 384,
            "crop": "center"}}
        data["6"]["inputs"]["image"] = ["60", 0]
    elif change == "seed_primitive":
        data["50"] = {"class_type": "PrimitiveInt", "inputs": {"value": 99}}
        data["10"]["inputs"]["seed"] = ["50", 0]
    first = graph_from_data(data, registry)
    again = graph_from_data(export_api_prompt(first, registry), registry)
    assert semantic(again, registry) == semantic(first, registry)


def test_staged_samplers_are_written_as_ksampler_advanced_and_read_back(registry, example):
    prompt = example("text_to_image_api.json")
    plain = {key: value for key, value in prompt["3"]["inputs"].items()
             if key not in ("seed", "denoise")}
    prompt["3"] = {"class_type": "KSamplerAdvanced", "_meta": {"title": "Base"}, "inputs": {
        **plain, "add_noise": "enable", "noise_seed": 7, "start_at_step": 0, "end_at_step": 14,
        "return_with_leftover_noise": "enable"}}
    prompt["10"] = {"class_type": "KSamplerAdvanced", "_meta": {"title": "Refiner"}, "inputs": {
        **plain, "latent_image": ["3", 0], "add_noise": "disable", "noise_seed": 0,
        "start_at_step": 14, "end_at_step": 10000, "return_with_leftover_noise": "disable"}}
    prompt["8"]["inputs"]["samples"] = ["10", 0]
    graph = graph_from_data(prompt, registry)
    assert export_api_prompt(graph, registry) == prompt

    # A plain Sampler stays a KSampler; stage settings with denoise below 1 cannot be said.
    graph.set_value("3", "denoise", 0.5)
    with pytest.raises(ComfyExportError) as caught:
        export_api_prompt(graph, registry)
    (problem,) = caught.value.problems
    assert problem.node_id == "3" and "denoise" in problem.message


def test_notes_are_left_out_of_prompts(registry, example):
    graph = graph_from_data(example("text_to_image_api.json"), registry)
    graph.add_node("utils.note", {"text": "use 20 steps"}, id="note")
    assert export_api_prompt(graph, registry) == example("text_to_image_api.json")


def test_unknown_nodes_survive_a_nodestudio_save_and_export_again(registry, example, tmp_path):
    original = example("controlnet_canny_api.json")
    graph = graph_from_data(original, registry)
    path = tmp_path / "saved.json"
    files.save(graph, path)
    reloaded = files.load(path, registry)
    assert reloaded.node("15") == graph.node("15")
    assert export_api_prompt(reloaded, registry)["15"] == original["15"]


def test_workflow_placeholders_without_value_names_cannot_be_exported(registry, example):
    graph = graph_from_data(example("controlnet_canny.json"), registry)
    with pytest.raises(ComfyExportError) as caught:
        export_api_prompt(graph, registry)
    (problem,) = caught.value.problems
    assert problem.node_id == "15" and "widget values" in problem.message


def test_nodes_comfyui_cannot_express_are_all_named(registry, example):
    graph = graph_from_data(example("text_to_image_api.json"), registry)
    graph.set_value("6", "text_2", "a second prompt for SDXL")
    number = graph.add_node("math.int", {"a": 3}, id="99")
    graph.connect(number.id, "value", "3", "steps")
    with pytest.raises(ComfyExportError) as caught:
        export_api_prompt(graph, registry)
    problems = {problem.node_id: problem.message for problem in caught.value.problems}
    assert set(problems) == {"6", "99"}
    assert "original_width" in problems["6"]  # an SDXL prompt needs its sizes in ComfyUI


def test_sampler_mask_and_missing_negative_are_written_as_comfyui_spells_them(registry,
                                                                             example):
    graph = graph_from_data(example("controlnet_canny_api.json"), registry)
    graph.disconnect("10", "negative")
    graph.connect("5", "mask", "10", "mask")
    prompt = export_api_prompt(graph, registry)
    assert prompt["10"]["inputs"]["negative"] == prompt["10"]["inputs"]["positive"]
    assert prompt["10"]["inputs"]["latent_image"] == ["10-noise_mask", 0]
    assert prompt["10-noise_mask"]["inputs"] == {"samples": ["9", 0], "mask": ["5", 1]}


def test_cli_export(registry, example, tmp_path, capsys):
    source = tmp_path / "workflow.json"
    source.write_text(json.dumps(example("text_to_image.json")))
    target = tmp_path / "prompt.json"
    assert main(["export", str(source), "--comfy-api", str(target)]) == 0
    assert json.loads(target.read_text()) == example("text_to_image_api.json")
    (tmp_path / "bad.json").write_text(json.dumps(example("controlnet_canny.json")))
    assert main(["export", str(tmp_path / "bad.json"), "--comfy-api", str(target)]) == 2
    assert "node 15" in capsys.readouterr().err


def test_a_graph_made_in_nodestudio_exports_with_its_defaults(registry):
    graph, ids = text_to_image("nodestudio-shapes", "")  # the recipe's defaults: the nodes'
    prompt = export_api_prompt(graph, registry)
    sampler = registry.get("diffusion.sampler")
    assert prompt[ids["sampler"]]["inputs"] == {
        "model": [ids["checkpoint"], 0], "seed": 0, "steps": sampler.input("steps").default,
        "cfg": sampler.input("cfg").default, "sampler_name": "euler",
        "scheduler": "ddim_uniform",  # the checkpoint's own spacing, as ComfyUI names it
        "positive": [ids["positive"], 0], "negative": [ids["negative"], 0],
        "latent_image": [ids["latent"], 0], "denoise": 1.0}
    assert prompt[ids["latent"]]["inputs"] == {"width": 512, "height": 512, "batch_size": 1}
    assert prompt[ids["checkpoint"]]["inputs"] == {"ckpt_name": "nodestudio-shapes"}
    again = graph_from_data(prompt, registry)
    # Imported back, it samples and saves as ComfyUI does (the compatibility modes).
    for node in graph:
        if node.type == "diffusion.sampler":
            node.values["compatibility"] = "comfyui"
        elif node.type == "image.save":
            node.values["to_8_bit"] = "truncate (ComfyUI)"
    assert semantic(again, registry) == semantic(graph, registry)


def test_a_bypassed_custom_node_passes_its_input_through_on_export_and_run(registry, tmp_path):
    from comfy_forms import ui_from_api
    from PIL import Image

    from nodestudio.app.session import Session

    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "grey.png"}},
        "2": {"class_type": "FancyGrain", "inputs": {"image": ["1", 0], "amount": 0.3}},
        "3": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0],
                                                     "filename_prefix": "x"}},
    }
    workflow = ui_from_api(prompt)
    custom = next(node for node in workflow["nodes"] if node["type"] == "FancyGrain")
    custom["mode"] = 4  # bypassed in ComfyUI's frontend
    custom["inputs"][0]["type"] = "IMAGE"  # the frontend saves each socket's type
    custom["outputs"] = [{"name": "IMAGE", "type": "IMAGE", "links": custom["outputs"][0]["links"]}]
    graph = graph_from_data(workflow, registry)
    assert graph.node("2").mode == "bypassed"
    exported = export_api_prompt(graph, registry)
    assert "2" not in exported and exported["3"]["inputs"]["image"] == ["1", 0]
    # It runs too: the invert reads the loaded picture.
    (tmp_path / "in").mkdir()
    Image.new("RGB", (8, 8), (50, 50, 50)).save(tmp_path / "in" / "grey.png")
    session = Session(device="cpu", input_dir=tmp_path / "in", output_dir=tmp_path / "out",
                      registry=registry)
    result = session.run(graph)
    assert result.ok, result.failed
    assert abs(float(result.outputs["3"]["image"].mean()) - (1 - 50 / 255)) < 1e-6
    # Saved and opened again, the placeholder keeps what it passes through.
    again = files.loads(files.dumps(graph), registry)
    assert export_api_prompt(again, registry)["3"]["inputs"]["image"] == ["1", 0]
