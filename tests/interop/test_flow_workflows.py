"""ComfyUI's SD3 and Flux workflows: their nodes import (UI and API form), the custom-sampling
set folds into one Sampler, what cannot be folded or has no equivalent is reported, and the
example workflows run on the tiny SD3/Flux models."""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pytest
from comfy_forms import ui_from_api

from nodestudio.app.formats import graph_from_data
from nodestudio.app.session import Session
from nodestudio.cli import main
from nodestudio.engine.validate import validate
from nodestudio.graph.model import Graph
from nodestudio.interop.comfy import ComfyExportError, export_api_prompt
from nodestudio.interop.comfy.names import (
    CLIP_TYPES,
    FLOW_SAMPLERS,
    FLOW_SCHEDULES,
    WEIGHT_DTYPES,
    FlowSchedules,
)
from nodestudio.paths import resources_dir

EXAMPLES = resources_dir() / "examples" / "comfy"
FLUX, FLUX_API = "flux_dev_text_to_image.json", "flux_dev_text_to_image_api.json"
SD3, SD3_API = "sd3_text_to_image.json", "sd3_text_to_image_api.json"


def _link(graph: Graph, target: str, input_name: str) -> tuple[str, str] | None:
    link = graph.link_into(target, input_name)
    return None if link is None else (link.source, link.output)


def _warnings(graph: Graph, kind: str | None = None) -> list[Any]:
    return [w for w in graph.load_warnings if kind is None or w.kind == kind]


_ui = ui_from_api


def _both_forms(prompt: dict[str, Any], registry) -> list[Graph]:
    return [graph_from_data(copy.deepcopy(prompt), registry),
            graph_from_data(_ui(prompt), registry)]


def _sampler_state(graph: Graph, node_id: str) -> tuple[dict, dict, dict]:
    node = graph.node(node_id)
    links = {link.input: (link.source, link.output) for link in graph.links_into(node_id)}
    return node.values, node.controls, links


# -- the names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("names", "type_id", "input_name"), [
    (FLOW_SAMPLERS, "diffusion.sampler", "sampler"),
    (WEIGHT_DTYPES, "diffusion.load_diffusion_model", "weight_dtype"),
    (CLIP_TYPES, "diffusion.load_text_encoders", "type"),
])
def test_every_mapped_name_is_a_choice_of_the_node(registry, names, type_id, input_name):
    choices = set(registry.get(type_id).input(input_name).choices)
    assert set(names.exact.values()) | {ours for ours, _ in names.near.values()} <= choices


def test_flow_schedules_are_choices_of_the_sampler(registry):
    assert set(FLOW_SCHEDULES) <= set(registry.get("diffusion.sampler").input("scheduler").choices)


@pytest.mark.parametrize(("family", "sampler", "same"), [
    ("flux", "euler", "simple"), ("flux", "lcm", "simple"), ("sd3", "euler", "normal"),
    ("sd3", "heun", "normal"), ("flux", "heun", None), ("sd3", "dpmpp_2m", None),
    ("flux", "uni_pc", None), ("flow", "euler", None),
])
def test_flow_scheduler_names_say_where_normal_is_not_comfyuis_spacing(family, sampler, same):
    schedules = FlowSchedules(family, sampler)
    for comfy in ("simple", "normal", "sgm_uniform", "karras", "beta"):
        notes: list[str] = []
        ours = schedules.to_ns(comfy, notes.append)
        assert ours == (comfy if comfy in ("karras", "beta") else "normal")
        assert bool(notes) == (comfy in ("simple", "normal", "sgm_uniform") and comfy != same)
    notes = []
    assert schedules.to_ns("ddim_uniform", notes.append) == "ddim_uniform"
    assert "no NodeStudio equivalent" in notes[0]
    # written back as the ComfyUI spacing NodeStudio's normal is (or is nearest to)
    assert schedules.to_comfy("normal") == (same or ("normal" if (family, sampler) == (
        "flux", "heun") else "simple"))


# -- each node, UI and API form ----------------------------------------------------------------

_CONTEXT = {
    "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "model.safetensors"}},
    "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox", "clip": ["1", 1]}},
}


@pytest.mark.parametrize(("class_type", "inputs", "type_id", "values", "links"), [
    ("UNETLoader", {"unet_name": "flux1-dev.safetensors", "weight_dtype": "fp8_e5m2"},
     "diffusion.load_diffusion_model",
     {"model_name": "flux1-dev.safetensors", "weight_dtype": "fp8_e5m2"}, {}),
    ("CLIPLoader", {"clip_name": "t5xxl_fp16.safetensors", "type": "sd3", "device": "default"},
     "diffusion.load_text_encoders", {"text_encoder_1": "t5xxl_fp16.safetensors", "type": "sd3"},
     {}),
    ("DualCLIPLoader", {"clip_name1": "t5xxl_fp16.safetensors", "clip_name2": "clip_l.safetensors",
                        "type": "flux"},
     "diffusion.load_text_encoders",
     {"text_encoder_1": "t5xxl_fp16.safetensors", "text_encoder_2": "clip_l.safetensors",
      "type": "flux"}, {}),
    ("TripleCLIPLoader", {"clip_name1": "clip_l.safetensors", "clip_name2": "clip_g.safetensors",
                          "clip_name3": "t5xxl_fp8_e4m3fn.safetensors"},
     "diffusion.load_text_encoders",
     {"text_encoder_1": "clip_l.safetensors", "text_encoder_2": "clip_g.safetensors",
      "text_encoder_3": "t5xxl_fp8_e4m3fn.safetensors", "type": "sd3"}, {}),
    ("EmptySD3LatentImage", {"width": 1024, "height": 768, "batch_size": 2},
     "diffusion.empty_latent", {"width": 1024, "height": 768, "batch_size": 2}, {}),
    ("FluxGuidance", {"conditioning": ["2", 0], "guidance": 4.0}, "diffusion.flux_guidance",
     {"guidance": 4.0}, {"conditioning": ("2", "conditioning")}),
    ("ModelSamplingSD3", {"model": ["1", 0], "shift": 2.5}, "diffusion.model_sampling_shift",
     {"shift": 2.5}, {"model": ("1", "model")}),
    ("ModelSamplingFlux", {"model": ["1", 0], "max_shift": 1.2, "base_shift": 0.4, "width": 768,
                           "height": 512},
     "diffusion.model_sampling_flux",
     {"max_shift": 1.2, "base_shift": 0.4, "width": 768, "height": 512},
     {"model": ("1", "model")}),
])
def test_each_node_imports_from_both_forms(registry, class_type, inputs, type_id, values, links):
    prompt = {**copy.deepcopy(_CONTEXT), "10": {"class_type": class_type, "inputs": inputs}}
    for graph in _both_forms(prompt, registry):
        node = graph.node("10")
        assert (node.type, node.values) == (type_id, values)
        assert {link.input: (link.source, link.output)
                for link in graph.links_into("10")} == links
        # (an empty latent that reaches no sampler asks for its model: not a matter here)
        assert [w for w in graph.load_warnings if w.kind != "needs_link"] == []


# -- the example workflows ---------------------------------------------------------------------


def test_flux_example_imports_as_one_sampler(registry, example):
    graph = graph_from_data(example(FLUX), registry)
    assert {node.id: node.type for node in graph} == {
        "12": "diffusion.load_diffusion_model", "11": "diffusion.load_text_encoders",
        "10": "diffusion.load_vae", "30": "diffusion.model_sampling_flux",
        "6": "diffusion.text_encode", "26": "diffusion.flux_guidance",
        "27": "diffusion.empty_latent", "13": "diffusion.sampler", "8": "diffusion.vae_decode",
        "9": "image.save"}  # RandomNoise, BasicGuider, KSamplerSelect, BasicScheduler folded
    values, controls, links = _sampler_state(graph, "13")
    assert values == {"seed": 219670278747233, "cfg": 1.0, "sampler": "euler",
                      "scheduler": "normal", "steps": 20, "denoise": 1.0,
                      "compatibility": "comfyui"}
    assert controls == {"seed": "randomize"}
    assert links == {"model": ("30", "model"), "positive": ("26", "conditioning"),
                     "latent": ("27", "latent")}
    # the width and height primitives feed both ModelSamplingFlux and the latent
    assert graph.node("30").values == {"max_shift": 1.15, "base_shift": 0.5, "width": 1024,
                                       "height": 1024}
    assert graph.node("27").values == {"width": 1024, "height": 1024, "batch_size": 1}
    assert _link(graph, "27", "model") == ("30", "model")
    assert graph.node("11").values == {"text_encoder_1": "tiny-t5.safetensors",
                                       "text_encoder_2": "tiny-clip-l.safetensors",
                                       "type": "flux"}
    assert graph.layout.nodes["13"].pos == (1600.0, 120.0)
    assert graph.load_warnings == []
    assert validate(graph, registry) == []


def test_sd3_example_imports(registry, example):
    graph = graph_from_data(example(SD3), registry)
    assert graph.node("11").type == "diffusion.load_text_encoders"
    assert graph.node("11").values["type"] == "sd3"
    assert graph.node("13").type == "diffusion.model_sampling_shift"
    assert graph.node("5").type == "diffusion.empty_latent"
    assert _link(graph, "5", "model") == ("13", "model")
    assert graph.node("3").values == {"seed": 714427329147541, "steps": 28, "cfg": 4.5,
                                      "sampler": "dpmpp_2m", "scheduler": "normal",
                                      "denoise": 1.0, "compatibility": "comfyui"}
    (note,) = graph.load_warnings  # sgm_uniform is within 1 % of dpmpp_2m's own spacing
    assert (note.node_id, note.input, note.kind) == ("3", "scheduler", "unsupported_value")
    assert "sgm_uniform" in note.message
    assert validate(graph, registry) == []


@pytest.mark.parametrize(("ui", "api"), [(FLUX, FLUX_API), (SD3, SD3_API)])
def test_ui_and_api_forms_of_the_examples_are_the_same_graph(registry, example, ui, api):
    def semantic(graph):
        return {node.id: (node.type, node.values) for node in graph}, set(graph.links)

    assert semantic(graph_from_data(example(ui), registry)) == semantic(
        graph_from_data(example(api), registry))


# -- the custom-sampling set -------------------------------------------------------------------


def _custom_and_ksampler(guider: str) -> tuple[dict, dict]:
    """The Flux example's API prompt with its sampling as SamplerCustomAdvanced pieces (guided
    by ``guider``) and, the same, as one KSampler."""
    prompt = json.loads((EXAMPLES / FLUX_API).read_text())
    prompt["7"] = {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry",
                                                              "clip": ["11", 0]}}
    if guider == "CFGGuider":
        prompt["22"] = {"class_type": "CFGGuider", "inputs": {
            "model": ["30", 0], "positive": ["26", 0], "negative": ["7", 0], "cfg": 3.0}}
    prompt["16"]["inputs"]["sampler_name"] = "euler_ancestral"
    prompt["17"]["inputs"].update(scheduler="beta", steps=12, denoise=0.75)
    ksampler = copy.deepcopy(prompt)
    for piece in ("22", "25", "16", "17"):
        del ksampler[piece]
    ksampler["13"] = {"class_type": "KSampler", "inputs": {
        "model": ["30", 0], "seed": 219670278747233, "steps": 12,
        "cfg": 3.0 if guider == "CFGGuider" else 1.0, "sampler_name": "euler_ancestral",
        "scheduler": "beta", "positive": ["26", 0], "negative": ["7", 0],
        "latent_image": ["27", 0], "denoise": 0.75}}
    if guider == "BasicGuider":
        del ksampler["13"]["inputs"]["negative"]  # NodeStudio's cfg 1 needs none
    return prompt, ksampler


@pytest.mark.parametrize("guider", ["CFGGuider", "BasicGuider"])
def test_custom_sampling_folds_into_what_a_ksampler_gives(registry, guider):
    custom, ksampler = _custom_and_ksampler(guider)
    for folded, reference in zip(_both_forms(custom, registry), _both_forms(ksampler, registry),
                                 strict=True):
        assert _sampler_state(folded, "13") == _sampler_state(reference, "13")
        assert {node.id for node in folded} == {node.id for node in reference}
        assert set(folded.links) == set(reference.links)
        assert _warnings(folded, "unsupported_value") == []
        assert validate(folded, registry) == []


def test_disable_noise_and_the_older_sampler_custom(registry, example):
    prompt = example(FLUX_API)
    prompt["25"] = {"class_type": "DisableNoise", "inputs": {}}
    graph = graph_from_data(prompt, registry)
    assert graph.node("13").values["add_noise"] is False
    assert "seed" not in graph.node("13").values

    prompt = example(FLUX_API)
    for piece in ("22", "25"):
        del prompt[piece]
    prompt["13"] = {"class_type": "SamplerCustom", "inputs": {
        "model": ["30", 0], "add_noise": True, "noise_seed": 77, "cfg": 1.0,
        "positive": ["26", 0], "negative": ["26", 0], "sampler": ["16", 0],
        "sigmas": ["17", 0], "latent_image": ["27", 0]}}
    for graph in _both_forms(prompt, registry):
        values, _, links = _sampler_state(graph, "13")
        assert values == {"add_noise": True, "seed": 77, "cfg": 1.0, "sampler": "euler",
                          "scheduler": "normal", "steps": 20, "denoise": 1.0,
                          "compatibility": "comfyui"}
        assert links == {"model": ("30", "model"), "positive": ("26", "conditioning"),
                         "negative": ("26", "conditioning"), "latent": ("27", "latent")}
        assert {"16", "17"}.isdisjoint(node.id for node in graph)
        assert graph.load_warnings == []


def test_links_into_the_pieces_reach_the_sampler(registry, example):
    prompt = example(FLUX_API)
    prompt["40"] = {"class_type": "PrimitiveInt", "inputs": {"value": 1234}}
    prompt["41"] = {"class_type": "PrimitiveInt", "inputs": {"value": 8}}
    prompt["25"]["inputs"]["noise_seed"] = ["40", 0]
    prompt["17"]["inputs"]["steps"] = ["41", 0]
    for graph in _both_forms(prompt, registry):
        assert _link(graph, "13", "seed") == ("40", "value")
        assert _link(graph, "13", "steps") == ("41", "value")
        assert graph.load_warnings == []
        assert validate(graph, registry) == []


_UNFOLDABLE = {
    "sigmas from another scheduler": ("17", {"class_type": "KarrasScheduler", "inputs": {
        "steps": 20, "sigma_max": 14.6, "sigma_min": 0.03, "rho": 7.0}}, "sigmas"),
    "split sigmas": ("18", {"class_type": "SplitSigmas", "inputs": {
        "sigmas": ["17", 0], "step": 10}}, "sigmas"),
    "another guider": ("22", {"class_type": "DualCFGGuider", "inputs": {
        "model": ["30", 0], "cond1": ["26", 0], "cond2": ["26", 0], "negative": ["26", 0],
        "cfg_conds": 8.0, "cfg_cond2_negative": 8.0}}, "guider"),
}


@pytest.mark.parametrize("case", sorted(_UNFOLDABLE))
def test_custom_sampling_that_cannot_be_folded_stays_comfyuis_and_is_reported(registry,
                                                                            example, case):
    node_id, entry, input_name = _UNFOLDABLE[case]
    prompt = example(FLUX_API)
    prompt[node_id] = entry
    prompt["13"]["inputs"][input_name] = [node_id, 0]
    for graph in _both_forms(prompt, registry):
        assert graph.node("13").type == "comfyui.SamplerCustomAdvanced"
        (reason,) = [w for w in _warnings(graph, "unknown_type") if w.node_id == "13"]
        assert f"its {input_name} input is fed by {entry['class_type']}" in reason.message
        # nothing runs in its place: validation stops the graph, naming the node
        assert "13" in {problem.node_id for problem in validate(graph, registry)}
    # and it is written back as it was
    exported = export_api_prompt(graph_from_data(copy.deepcopy(prompt), registry), registry)
    assert exported["13"]["class_type"] == "SamplerCustomAdvanced"
    assert exported["13"]["inputs"][input_name] == [node_id, 0]


def test_a_missing_piece_keeps_the_custom_sampler(registry, example):
    prompt = example(FLUX_API)
    del prompt["13"]["inputs"]["noise"]
    graph = graph_from_data(prompt, registry)
    assert graph.node("13").type == "comfyui.SamplerCustomAdvanced"
    assert any("its noise input is not linked" in w.message for w in _warnings(graph))
    assert graph.node("25").type == "comfyui.RandomNoise"  # feeds nothing it can fold into


def test_denoised_output_has_no_counterpart_and_is_reported(registry, example):
    prompt = example(FLUX_API)
    prompt["8"]["inputs"]["samples"] = ["13", 1]
    for graph in _both_forms(prompt, registry):
        (dropped,) = _warnings(graph, "dropped_link")
        assert (dropped.node_id, dropped.input) == ("8", "samples")
        assert "'denoised_output'" in dropped.message
        assert _link(graph, "8", "latent") is None


def test_a_scheduler_model_other_than_the_guiders_is_noted(registry, example):
    prompt = example(FLUX_API)
    prompt["17"]["inputs"]["model"] = ["12", 0]  # the model before ModelSamplingFlux
    graph = graph_from_data(prompt, registry)
    (note,) = _warnings(graph, "approximated")
    assert note.node_id == "13" and "BasicScheduler takes its model from" in note.message
    assert validate(graph, registry) == []


# -- values without an equivalent --------------------------------------------------------------


def test_unsupported_values_are_reported(registry, example):
    prompt = example(FLUX_API)
    prompt["11"]["inputs"].update(type="sdxl", device="cpu")
    prompt["12"]["inputs"]["weight_dtype"] = "fp8_e4m3fn_fast"
    prompt["16"]["inputs"]["sampler_name"] = "dpmpp_2m_sde"
    for graph in _both_forms(prompt, registry):
        unsupported = {(w.node_id, w.input) for w in _warnings(graph, "unsupported_value")}
        assert unsupported == {("11", "type"), ("12", "weight_dtype"), ("13", "sampler")}
        assert graph.node("12").values["weight_dtype"] == "fp8_e4m3fn"  # the same weights
        assert [w.node_id for w in _warnings(graph, "approximated")] == ["11"]  # device
        # a CLIP type NodeStudio does not load stays, and validation names it
        assert [(p.node_id, p.input) for p in validate(graph, registry)] == [("11", "type")]


def test_clip_loader_types_nodestudio_does_not_load(registry, example):
    prompt = example("text_to_image_api.json")
    prompt["20"] = {"class_type": "CLIPLoader", "inputs": {
        "clip_name": "clip_l.safetensors", "type": "stable_diffusion"}}
    prompt["6"]["inputs"]["clip"] = ["20", 0]
    graph = graph_from_data(prompt, registry)
    (warning,) = _warnings(graph, "unsupported_value")
    assert "'stable_diffusion'" in warning.message and "flux, sd3" in warning.message
    assert [(p.node_id, p.input, p.kind) for p in validate(graph, registry)] == [
        ("20", "type", "invalid_choice")]


@pytest.mark.parametrize(("clue", "scheduler", "noted"), [
    (None, "simple", False),  # no sign of a flow model: the SD names (simple → trailing)
    ("FluxGuidance", "simple", False), ("FluxGuidance", "normal", True),
    ("TripleCLIPLoader", "normal", False), ("TripleCLIPLoader", "sgm_uniform", True),
    ("EmptySD3LatentImage", "simple", True),  # a flow model, but which?
])
def test_ksampler_scheduler_names_follow_the_model_kind(registry, example, clue, scheduler,
                                                        noted):
    prompt = example("text_to_image_api.json")
    prompt["3"]["inputs"]["scheduler"] = scheduler
    if clue == "FluxGuidance":
        prompt["20"] = {"class_type": "FluxGuidance", "inputs": {"conditioning": ["6", 0],
                                                                 "guidance": 3.5}}
        prompt["3"]["inputs"]["positive"] = ["20", 0]
    elif clue == "TripleCLIPLoader":
        prompt["20"] = {"class_type": "TripleCLIPLoader", "inputs": {
            "clip_name1": "a", "clip_name2": "b", "clip_name3": "c"}}
        prompt["6"]["inputs"]["clip"] = ["20", 0]
    elif clue == "EmptySD3LatentImage":
        prompt["5"]["class_type"] = "EmptySD3LatentImage"
    graph = graph_from_data(prompt, registry)
    assert graph.node("3").values["scheduler"] == ("trailing" if clue is None else "normal")
    assert bool(_warnings(graph, "unsupported_value")) == noted


def test_an_sd_pass_after_a_flux_one_keeps_the_sd_names(registry, example):
    prompt = example(FLUX_API)
    prompt["50"] = {"class_type": "CheckpointLoaderSimple",
                    "inputs": {"ckpt_name": "v1-5.safetensors"}}
    prompt["51"] = {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox",
                                                               "clip": ["50", 1]}}
    prompt["52"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["8", 0], "vae": ["50", 2]}}
    prompt["53"] = {"class_type": "KSampler", "inputs": {
        "model": ["50", 0], "seed": 1, "steps": 10, "cfg": 7.0, "sampler_name": "dpmpp_2m_sde",
        "scheduler": "simple", "positive": ["51", 0], "negative": ["51", 0],
        "latent_image": ["52", 0], "denoise": 0.5}}
    graph = graph_from_data(prompt, registry)
    assert graph.node("53").values["scheduler"] == "trailing"
    assert graph.load_warnings == []


# -- writing back ------------------------------------------------------------------------------


def test_flux_example_exports_with_comfyuis_flow_nodes(registry, example):
    graph = graph_from_data(example(FLUX), registry)
    prompt = export_api_prompt(graph, registry)
    assert {key: entry["class_type"] for key, entry in prompt.items()} == {
        "12": "UNETLoader", "11": "DualCLIPLoader", "10": "VAELoader",
        "30": "ModelSamplingFlux", "6": "CLIPTextEncode", "26": "FluxGuidance",
        "27": "EmptySD3LatentImage", "13": "KSampler", "8": "VAEDecode", "9": "SaveImage"}
    sampler = prompt["13"]["inputs"]
    assert (sampler["sampler_name"], sampler["scheduler"], sampler["cfg"]) == (
        "euler", "simple", 1.0)
    assert prompt["11"]["inputs"] == {"clip_name1": "tiny-t5.safetensors",
                                      "clip_name2": "tiny-clip-l.safetensors",
                                      "type": "flux", "device": "default"}
    again = graph_from_data(prompt, registry)
    assert {n.id: n.values for n in again} == {n.id: n.values for n in graph}
    assert again.load_warnings == []


def test_sd3_example_exports_with_comfyuis_flow_nodes(registry, example):
    prompt = export_api_prompt(graph_from_data(example(SD3), registry), registry)
    assert prompt["11"] == {"class_type": "TripleCLIPLoader", "_meta": {
        "title": "TripleCLIPLoader"}, "inputs": {
        "clip_name1": "tiny-clip-l.safetensors", "clip_name2": "tiny-clip-g.safetensors",
        "clip_name3": "tiny-t5.safetensors"}}
    assert prompt["13"]["class_type"] == "ModelSamplingSD3"
    assert prompt["5"]["class_type"] == "EmptySD3LatentImage"
    assert prompt["3"]["inputs"]["scheduler"] == "simple"  # dpmpp_2m's own, nearest


@pytest.mark.parametrize(("change", "why"), [
    (("30", "width", 0), "the size being sampled"),
    (("12", "weight_dtype", "bf16"), "'bf16' has no ComfyUI equivalent"),
])
def test_nodestudio_settings_comfyui_cannot_say_do_not_export(registry, example, change, why):
    graph = graph_from_data(example(FLUX), registry)
    graph.set_value(*change)
    with pytest.raises(ComfyExportError) as raised:
        export_api_prompt(graph, registry)
    (problem,) = raised.value.problems
    assert problem.node_id == change[0] and why in problem.message


def test_text_encoder_counts_pick_the_comfyui_loader(registry, example):
    graph = graph_from_data(example(SD3), registry)
    graph.unset_value("11", "text_encoder_3")
    assert export_api_prompt(graph, registry)["11"]["class_type"] == "DualCLIPLoader"
    graph.unset_value("11", "text_encoder_2")
    assert export_api_prompt(graph, registry)["11"]["inputs"] == {
        "clip_name": "tiny-clip-l.safetensors", "type": "sd3", "device": "default"}
    graph.set_value("11", "type", "flux")  # ComfyUI's Load CLIP has no Flux type
    with pytest.raises(ComfyExportError):
        export_api_prompt(graph, registry)


# -- running on the tiny models ----------------------------------------------------------------


@pytest.fixture(scope="module")
def session(tiny_dit_models, registry, tmp_path_factory) -> Session:
    return Session(device="cpu", models_dir=tiny_dit_models.root,
                   output_dir=tmp_path_factory.mktemp("output"), registry=registry)


def small(graph: Graph) -> Graph:
    """Tiny sizes and few steps: the test is about the graph, not the picture."""
    for node in graph:
        if node.type == "diffusion.empty_latent":
            graph.set_value(node.id, "width", 64)
            graph.set_value(node.id, "height", 64)
        elif node.type == "diffusion.sampler":
            graph.set_value(node.id, "steps", 3)
    return graph


def _image(result, node_id: str) -> np.ndarray:
    assert result.ok, result
    image = result.outputs[node_id]["image"]
    assert image.shape == (1, 64, 64, 3) and np.isfinite(image).all()
    assert image.std() > 0.01  # a picture, not a flat colour
    return image


@pytest.mark.slow
def test_flux_example_runs_and_both_forms_are_the_same_computation(session, example):
    graph = small(graph_from_data(example(FLUX), session.registry))
    assert session.validate(graph) == []
    result = session.run(graph)
    _image(result, "8")
    assert len(result.files) == 1
    again = session.run(small(graph_from_data(example(FLUX_API), session.registry)))
    assert again.executed == [] and "9" in again.cached


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["as written", "checkpoint folder", "checkpoint's clip"])
def test_sd3_example_runs(session, example, variant):
    data = example(SD3_API)
    if variant == "checkpoint folder":
        data["4"]["inputs"]["ckpt_name"] = "tiny-sd3"  # a diffusers folder
    elif variant == "checkpoint's clip":  # ComfyUI's first SD3 example: no separate encoders
        for prompt in ("6", "7"):
            data[prompt]["inputs"]["clip"] = ["4", 1]
        del data["11"]
    graph = small(graph_from_data(data, session.registry))
    assert session.validate(graph) == []
    _image(session.run(graph), "8")


@pytest.mark.slow
def test_custom_sampling_runs_as_the_ksampler_it_folds_to(session):
    custom, ksampler = _custom_and_ksampler("CFGGuider")
    reference = session.run(small(graph_from_data(ksampler, session.registry)))
    _image(reference, "8")
    folded = session.run(small(graph_from_data(custom, session.registry)))
    assert folded.executed == [] and "9" in folded.cached  # the very same computation


@pytest.mark.slow
def test_nodestudio_run_a_flux_workflow_from_the_command_line(tiny_dit_models, tmp_path,
                                                              capsys):
    out = tmp_path / "renders"
    code = main(["run", str(EXAMPLES / FLUX), "--models", str(tiny_dit_models.root),
                 "--output", str(out), "--device", "cpu", "--set", "27.width=64",
                 "--set", "27.height=64", "--set", "13.steps=2"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    (written,) = out.glob("ComfyUI_*.png")
    assert f"wrote {written}" in printed
