"""ComfyUI files become NodeStudio graphs: node mapping, constructions, layout, placeholders."""

from __future__ import annotations

import pytest

from nodestudio.app.formats import graph_from_data
from nodestudio.engine.validate import validate
from nodestudio.interop.comfy import EXTRA_KEY, export_api_prompt
from nodestudio.interop.comfy.diffusion import LATENT_METHODS
from nodestudio.interop.comfy.mapping import all_rules
from nodestudio.interop.comfy.names import IMAGE_RESIZE_METHODS, SAMPLERS, SCHEDULERS
from nodestudio.interop.comfy.rules import Direct


def _link(graph, target, input_name):
    link = graph.link_into(target, input_name)
    return None if link is None else (link.source, link.output)


def _warnings(graph, kind):
    return [w for w in graph.load_warnings if w.kind == kind]


def test_every_rule_fits_the_registry(registry):
    for rule in all_rules():
        assert rule.missing(registry) == [], rule.comfy


@pytest.mark.parametrize(("names", "type_id", "input_name"), [
    (SAMPLERS, "diffusion.sampler", "sampler"),
    (SCHEDULERS, "diffusion.sampler", "scheduler"),
    (LATENT_METHODS, "diffusion.latent_upscale", "method"),
    (IMAGE_RESIZE_METHODS, "image.resize", "method"),
])
def test_every_mapped_name_is_a_choice_of_the_node(registry, names, type_id, input_name):
    choices = set(registry.get(type_id).input(input_name).choices)
    targets = set(names.exact.values()) | {ours for ours, _ in names.near.values()}
    assert targets <= choices


def test_default_workflow(registry, example):
    graph = graph_from_data(example("text_to_image.json"), registry)
    assert {node.id: node.type for node in graph} == {
        "4": "diffusion.load_checkpoint", "5": "diffusion.empty_latent",
        "6": "diffusion.text_encode", "7": "diffusion.text_encode", "3": "diffusion.sampler",
        "8": "diffusion.vae_decode", "9": "image.save"}
    sampler = graph.node("3")
    assert sampler.values == {"seed": 8566257, "steps": 20, "cfg": 8.0, "sampler": "euler",
                              "scheduler": "linspace", "denoise": 1.0,
                              "compatibility": "comfyui"}
    assert isinstance(sampler.values["cfg"], float)
    assert sampler.controls == {"seed": "randomize"}
    assert graph.node("4").values == {"checkpoint": "v1-5-pruned-emaonly.safetensors"}
    assert _link(graph, "3", "negative") == ("7", "conditioning")
    assert _link(graph, "8", "vae") == ("4", "vae")
    # NodeStudio's Empty Latent learns the latent shape from the sampler's model
    assert _link(graph, "5", "model") == ("4", "model")
    assert graph.layout.nodes["3"].pos == (865.0, 185.0)
    assert graph.load_warnings == []
    assert validate(graph, registry) == []


def test_controlnet_workflow_with_the_frontend_extras(registry, example):
    graph = graph_from_data(example("controlnet_canny.json"), registry)
    assert graph.node("2").mode == "bypassed" and graph.node("14").mode == "muted"
    assert graph.node("10").values["seed"] == 1234
    assert graph.node("10").controls == {"seed": "increment"}
    assert "11" not in graph and "20" not in graph  # primitive and reroute resolved
    assert _link(graph, "12", "vae") == ("1", "vae")
    assert graph.layout.reroutes == {"12.vae": [(1597.5, 513.0)]}
    assert graph.node("6").values == {"low_threshold": 102, "high_threshold": 204}
    assert graph.node("3").title == "Positive prompt"
    assert graph.layout.nodes["3"].color == "#353"
    assert [group.title for group in graph.layout.groups] == ["ControlNet", "Prompts"]
    assert (_link(graph, "10", "positive"), _link(graph, "10", "negative")) == (
        ("8", "positive"), ("8", "negative"))
    unknown = {w.node_id for w in _warnings(graph, "unknown_type")}
    assert unknown == {"15"}
    note = graph.node("16")  # a Note: a NodeStudio note, with its text, place and colour
    assert (note.type, note.values) == (
        "utils.note", {"text": "Canny ControlNet: the edges of shapes.png guide the picture."})
    assert graph.layout.nodes["16"].pos == (20.0, 60.0)
    assert graph.layout.nodes["16"].color == "#653"
    placeholder = graph.node("15")
    assert placeholder.type == "comfyui.Image_Comparer_(rgthree)"
    assert placeholder.extra[EXTRA_KEY]["class_type"] == "Image Comparer (rgthree)"
    assert placeholder.extra[EXTRA_KEY]["node"]["properties"] == {"comparer_mode": "Slide"}
    assert _link(graph, "15", "image_a") == ("12", "image")
    # the unknown node is off to the side: the graph can run
    assert validate(graph, registry) == []


def test_load_image_name_loses_comfyuis_folder_annotation(registry, example):
    data = example("controlnet_canny_api.json")
    data["5"]["inputs"]["image"] = "shapes.png [input]"
    assert graph_from_data(data, registry).node("5").values == {"image": "shapes.png"}


def test_old_apply_controlnet_reaches_the_negative_prompt_too(registry, example):
    data = example("controlnet_canny_api.json")
    data["8"] = {"class_type": "ControlNetApply", "inputs": {
        "conditioning": ["3", 0], "control_net": ["7", 0], "image": ["6", 0], "strength": 0.7}}
    data["10"]["inputs"]["negative"] = ["4", 0]
    graph = graph_from_data(data, registry)
    apply = graph.node("8")
    assert apply.type == "diffusion.apply_controlnet" and apply.values == {"strength": 0.7}
    assert _link(graph, "8", "positive") == ("3", "conditioning")
    assert _link(graph, "8", "negative") == ("4", "conditioning")
    assert _link(graph, "10", "negative") == ("8", "negative")
    assert validate(graph, registry) == []


def test_chained_old_apply_controlnets_route_the_negative_through_both(registry, example):
    data = example("controlnet_canny_api.json")
    data["8"] = {"class_type": "ControlNetApply", "inputs": {
        "conditioning": ["3", 0], "control_net": ["7", 0], "image": ["6", 0], "strength": 1.0}}
    data["18"] = {"class_type": "ControlNetApply", "inputs": {
        "conditioning": ["8", 0], "control_net": ["7", 0], "image": ["5", 0], "strength": 0.5}}
    data["10"]["inputs"].update(positive=["18", 0], negative=["4", 0])
    graph = graph_from_data(data, registry)
    assert _link(graph, "8", "negative") == ("4", "conditioning")
    assert _link(graph, "18", "negative") == ("8", "negative")
    assert _link(graph, "10", "negative") == ("18", "negative")


def test_clip_set_last_layer_folds_into_text_encoders_through_a_lora(registry, example):
    data = example("text_to_image_api.json")
    data["20"] = {"class_type": "CLIPSetLastLayer",
                  "inputs": {"clip": ["4", 1], "stop_at_clip_layer": -2}}
    data["21"] = {"class_type": "LoraLoader", "inputs": {
        "model": ["4", 0], "clip": ["20", 0], "lora_name": "style.safetensors",
        "strength_model": 0.5, "strength_clip": 1.0}}
    data["6"]["inputs"]["clip"] = ["21", 1]
    data["7"]["inputs"]["clip"] = ["20", 0]
    graph = graph_from_data(data, registry)
    assert "20" not in graph
    assert graph.node("6").values["clip_skip"] == 1
    assert graph.node("7").values["clip_skip"] == 1
    assert _link(graph, "21", "clip") == ("4", "clip")
    assert _link(graph, "7", "clip") == ("4", "clip")
    assert graph.node("21").values == {"lora": "style.safetensors", "strength_model": 0.5,
                                       "strength_clip": 1.0}


def test_sdxl_prompt_fills_the_second_prompt_and_the_size_conditioning(registry, example):
    data = example("text_to_image_api.json")
    data["6"] = {"class_type": "CLIPTextEncodeSDXL", "inputs": {
        "clip": ["4", 1], "width": 4096, "height": 4096, "crop_w": 0, "crop_h": 0,
        "target_width": 1024, "target_height": 1024, "text_g": "a lighthouse at dusk",
        "text_l": "lighthouse"}}
    graph = graph_from_data(data, registry)
    assert graph.node("6").type == "diffusion.text_encode"
    assert graph.node("6").values == {
        "text": "lighthouse", "text_2": "a lighthouse at dusk", "original_width": 4096,
        "original_height": 4096, "crop_left": 0, "crop_top": 0, "target_width": 1024,
        "target_height": 1024}
    assert _link(graph, "6", "clip") == ("4", "clip")


def test_inpaint_encode_becomes_grow_mask_and_vae_encode_with_the_mask(registry, example):
    data = example("controlnet_canny_api.json")
    data["30"] = {"class_type": "VAEEncodeForInpaint", "inputs": {
        "pixels": ["5", 0], "vae": ["1", 2], "mask": ["5", 1], "grow_mask_by": 6}}
    data["10"]["inputs"]["latent_image"] = ["30", 0]
    graph = graph_from_data(data, registry)
    assert graph.node("30").type == "diffusion.vae_encode"
    assert graph.node("30-grow").type == "mask.grow"
    assert graph.node("30-grow").values == {"pixels": 3}
    assert _link(graph, "30-grow", "mask") == ("5", "mask")
    assert _link(graph, "30", "mask") == ("30-grow", "mask")
    assert _link(graph, "30", "image") == ("5", "image")
    assert _link(graph, "10", "latent") == ("30", "latent")
    assert validate(graph, registry) == []


def test_set_latent_noise_mask_is_set_latent_mask(registry, example):
    data = example("controlnet_canny_api.json")
    data["30"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["5", 0], "vae": ["1", 2]}}
    data["31"] = {"class_type": "SetLatentNoiseMask",
                  "inputs": {"samples": ["30", 0], "mask": ["5", 1]}}
    data["10"]["inputs"].update(latent_image=["31", 0], denoise=0.6)
    graph = graph_from_data(data, registry)
    assert graph.node("31").type == "diffusion.set_latent_mask"
    assert _link(graph, "31", "latent") == ("30", "latent")
    assert _link(graph, "31", "mask") == ("5", "mask")
    assert _link(graph, "10", "latent") == ("31", "latent")
    assert graph.link_into("10", "mask") is None  # the mask travels with the latent
    assert validate(graph, registry) == []


def test_advanced_sampler_maps_with_its_stage_settings(registry, example):
    data = example("text_to_image_api.json")
    plain = {"add_noise": "enable", "noise_seed": 5, "steps": 12, "cfg": 6.0,
             "sampler_name": "dpmpp_2m_sde_gpu", "scheduler": "karras", "start_at_step": 0,
             "end_at_step": 10000, "return_with_leftover_noise": "disable",
             "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0],
             "latent_image": ["5", 0]}
    data["3"] = {"class_type": "KSamplerAdvanced", "inputs": plain}
    graph = graph_from_data(data, registry)
    assert graph.node("3").type == "diffusion.sampler"
    assert graph.node("3").values == {
        "seed": 5, "steps": 12, "cfg": 6.0, "sampler": "dpmpp_2m_sde", "scheduler": "karras",
        "add_noise": True, "start_step": 0, "end_step": 10000,
        "return_with_leftover_noise": False, "compatibility": "comfyui"}
    assert [w.input for w in _warnings(graph, "unsupported_value")] == ["sampler"]

    data["3"]["inputs"] = {**plain, "sampler_name": "euler", "start_at_step": 8,
                           "end_at_step": 11, "add_noise": "disable",
                           "return_with_leftover_noise": "enable"}
    graph = graph_from_data(data, registry)
    assert graph.node("3").type == "diffusion.sampler"
    assert graph.node("3").values == {
        "seed": 5, "steps": 12, "cfg": 6.0, "sampler": "euler", "scheduler": "karras",
        "add_noise": False, "start_step": 8, "end_step": 11, "return_with_leftover_noise": True,
        "compatibility": "comfyui"}
    assert _warnings(graph, "unknown_type") == []
    assert validate(graph, registry) == []

    data["3"]["inputs"]["add_noise"] = "sometimes"
    graph = graph_from_data(data, registry)
    (warning,) = _warnings(graph, "unsupported_value")
    assert warning.input == "add_noise" and "'sometimes'" in warning.message
    assert [(p.node_id, p.input) for p in validate(graph, registry)] == [("3", "add_noise")]


def test_sampler_without_equivalent_is_kept_and_named_by_validation(registry, example):
    data = example("text_to_image_api.json")
    data["3"]["inputs"]["sampler_name"] = "er_sde"
    graph = graph_from_data(data, registry)
    assert graph.node("3").values["sampler"] == "er_sde"
    (warning,) = _warnings(graph, "unsupported_value")
    assert "er_sde" in warning.message and "euler" in warning.message
    (problem,) = validate(graph, registry)
    assert (problem.node_id, problem.input, problem.kind) == ("3", "sampler", "invalid_choice")


def test_image_nodes_and_approximations(registry):
    data = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "/tmp/photo.png"}},
        "2": {"class_type": "ImageScale", "inputs": {
            "image": ["1", 0], "upscale_method": "nearest-exact", "width": 300, "height": 0,
            "crop": "center"}},
        "3": {"class_type": "ImageScaleBy", "inputs": {
            "image": ["2", 0], "upscale_method": "lanczos", "scale_by": 0.5}},
        "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}},
    }
    graph = graph_from_data(data, registry)
    assert graph.node("1").values == {"image": "/tmp/photo.png"}
    assert graph.node("2").values == {"method": "nearest", "width": 300, "height": 0,
                                      "crop": "center"}
    assert graph.node("3").values == {"method": "lanczos", "scale": 0.5}
    assert _warnings(graph, "approximated") == []
    # an API prompt has no layout: the nodes are laid out left to right by depth
    xs = [graph.layout.nodes[node_id].pos[0] for node_id in "1234"]
    assert xs == sorted(xs) and len(set(xs)) == 4


def test_the_controlnet_vae_input_is_linked(registry, example):
    # SD3 and Flux ControlNets read their hint as latents: ComfyUI's optional vae input maps
    # onto Apply ControlNet's. (Links NodeStudio has no input for are reported as dropped:
    # tests/interop/test_flow_workflows.py, denoised_output.)
    data = example("controlnet_canny_api.json")
    data["8"]["inputs"]["vae"] = ["1", 2]
    graph = graph_from_data(data, registry)
    assert not _warnings(graph, "dropped_link")
    assert [(link.source, link.output) for link in graph.links
            if link.target == "8" and link.input == "vae"] == [("1", "vae")]


def test_a_plugin_can_implement_a_comfyui_class_under_its_placeholder_id(example):
    from nodestudio.api import IMAGE, Input, String, node, registry_of

    @node("comfyui.Image_Comparer_(rgthree)", inputs=[Input("image_a", IMAGE),
                                                      String("label", "")], output_node=True)
    def compare(image_a, label):
        return ()

    registry = registry_of(compare)
    graph = graph_from_data(example("controlnet_canny_api.json"), registry)
    assert graph.node("15").type == "comfyui.Image_Comparer_(rgthree)"
    assert "15" not in {w.node_id for w in _warnings(graph, "unknown_type")}


def test_direct_rules_name_only_existing_comfy_inputs():
    from nodestudio.interop.comfy.catalog import node_def

    for rule in all_rules():
        if isinstance(rule, Direct):
            definition = node_def(rule.comfy)
            names = {spec.name for spec in definition.inputs}
            assert set(rule.inputs) | set(rule.comfy_fixed) <= names, rule.comfy
            assert len(rule.outputs) == len(definition.outputs), rule.comfy


def test_load_images_upload_button_is_not_an_input(registry):
    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": "x.png", "upload": "image"}},
              "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}}
    graph = graph_from_data(prompt, registry)
    assert graph.load_warnings == [] and graph.node("1").values == {"image": "x.png"}


def test_conditioning_arithmetic_maps_both_ways(registry):
    def encode(text):
        return {"class_type": "CLIPTextEncode", "inputs": {"text": text, "clip": ["1", 1]}}

    prompt = {
        "1": {"class_type": "CheckpointLoaderSimple",
              "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
        "2": encode("a fox"), "3": encode("a bird"),
        "4": {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["3", 0]}},
        "5": {"class_type": "ConditioningConcat",
              "inputs": {"conditioning_to": ["2", 0], "conditioning_from": ["3", 0]}},
        "6": {"class_type": "ConditioningAverage",
              "inputs": {"conditioning_to": ["5", 0], "conditioning_from": ["2", 0],
                         "conditioning_to_strength": 0.3}},
        "7": {"class_type": "EmptyLatentImage",
              "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "8": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "positive": ["6", 0], "negative": ["4", 0],
            "latent_image": ["7", 0], "seed": 1, "steps": 4, "cfg": 5.0,
            "sampler_name": "euler", "scheduler": "karras", "denoise": 1.0}},
        "9": {"class_type": "VAEDecode", "inputs": {"samples": ["8", 0], "vae": ["1", 2]}},
        "10": {"class_type": "SaveImage", "inputs": {"images": ["9", 0],
                                                     "filename_prefix": "math"}},
    }
    graph = graph_from_data(prompt, registry)
    assert graph.load_warnings == []
    assert [graph.node(i).type for i in ("4", "5", "6")] == [
        "diffusion.conditioning_zero_out", "diffusion.conditioning_concat",
        "diffusion.conditioning_average"]
    assert graph.node("6").values["conditioning_to_strength"] == 0.3
    exported = export_api_prompt(graph, registry)
    assert {key: exported[key]["inputs"] for key in ("4", "5", "6")} == {
        key: prompt[key]["inputs"] for key in ("4", "5", "6")}
