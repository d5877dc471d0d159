"""ComfyUI workflows run as they are, on a ComfyUI-style models folder holding tiny models."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import nodestudio
from nodestudio.app.formats import graph_from_data, read_graph
from nodestudio.app.session import Session
from nodestudio.cli import main
from nodestudio.paths import resources_dir

pytestmark = pytest.mark.slow

EXAMPLES = resources_dir() / "examples" / "comfy"
#: The names the example workflows ask for, as a ComfyUI user has them.
CHECKPOINT = "v1-5-pruned-emaonly.safetensors"
CONTROLNET = "control_v11p_sd15_canny.safetensors"
SDXL_BASE, SDXL_REFINER = "sd_xl_base_1.0.safetensors", "sd_xl_refiner_1.0.safetensors"


def _place(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


@pytest.fixture(scope="module")
def comfy_root(tiny_models, tmp_path_factory) -> Path:
    """A ComfyUI models folder whose files are tiny models under the names workflows use."""
    root = tmp_path_factory.mktemp("comfy") / "models"
    _place(tiny_models.checkpoint(tiny_models.sd_file), root / "checkpoints" / CHECKPOINT)
    _place(tiny_models.controlnet(tiny_models.controlnet_file), root / "controlnet" / CONTROLNET)
    # The "refiner" has the base's weights: two stages are then one run cut in two.
    for name in (SDXL_BASE, SDXL_REFINER):
        _place(tiny_models.checkpoint(tiny_models.sdxl_file), root / "checkpoints" / name)
    return root


@pytest.fixture(scope="module")
def session(comfy_root, registry, tmp_path_factory) -> Session:
    inputs = tmp_path_factory.mktemp("input")
    shutil.copyfile(EXAMPLES / "shapes.png", inputs / "shapes.png")
    picture = np.zeros((64, 64, 4), np.uint8)
    picture[..., :3] = 180
    picture[..., 3] = 255
    picture[16:40, 20:44, 3] = 0  # a transparent hole: LoadImage's mask
    Image.fromarray(picture, "RGBA").save(inputs / "hole.png")
    return Session(device="cpu", models_dir=comfy_root, input_dir=inputs,
                   output_dir=tmp_path_factory.mktemp("output"), registry=registry)


def small(graph):
    """Tiny sizes and few steps: the test is about the graph, not the picture."""
    for node in graph:
        if node.type == "diffusion.empty_latent":
            graph.set_value(node.id, "width", 64)
            graph.set_value(node.id, "height", 64)
        elif node.type == "diffusion.sampler":
            graph.set_value(node.id, "steps", 3)
    return graph


def _image(result, node_id):
    image = result.outputs[node_id]["image"]
    assert image.shape == (1, 64, 64, 3) and np.isfinite(image).all()
    assert image.std() > 0.01  # a picture, not a flat colour
    return image


def test_default_workflow_runs_and_both_formats_are_the_same_computation(session):
    first = session.run(small(nodestudio.load_graph(EXAMPLES / "text_to_image.json",
                                                    session.registry)))
    assert first.executed == ["4", "5", "6", "7", "3", "8", "9"]
    _image(first, "8")
    (written,) = first.files
    with Image.open(written) as picture:
        assert picture.size == (64, 64)
        assert json.loads(picture.text["prompt"])["3"]["class_type"] == "KSampler"
    for name in ("text_to_image_v1.json", "text_to_image_api.json"):
        again = session.run(small(nodestudio.load_graph(EXAMPLES / name, session.registry)))
        # the same signatures (types, values, links): nothing new to compute
        assert again.executed == [] and "9" in again.cached, name


def test_controlnet_workflow_runs_with_unknown_nodes_off_to_the_side(session):
    graph = small(session.load_graph(EXAMPLES / "controlnet_canny.json"))
    assert session.validate(graph) == []
    result = session.run(graph)
    assert result.ok
    assert {"15", "16", "2", "14"}.isdisjoint(result.executed)  # unknown, note, bypass, mute
    controlled = _image(result, "12")
    api = session.run(small(session.load_graph(EXAMPLES / "controlnet_canny_api.json")))
    assert api.executed == [] and "13" in api.cached
    graph.set_value("8", "strength", 0.0)
    without = session.run(graph).outputs["12"]["image"]
    assert np.abs(without - controlled).mean() > 1e-3  # the ControlNet changes the picture


def test_old_apply_controlnet_computes_what_the_advanced_one_does(session, example):
    advanced = small(graph_from_data(example("controlnet_canny_api.json"), session.registry))
    assert session.run(advanced).ok
    data = example("controlnet_canny_api.json")
    data["8"] = {"class_type": "ControlNetApply", "inputs": {
        "conditioning": ["3", 0], "control_net": ["7", 0], "image": ["6", 0], "strength": 0.9}}
    data["10"]["inputs"]["negative"] = ["4", 0]
    old = session.run(small(graph_from_data(data, session.registry)))
    assert old.executed == [] and "13" in old.cached  # the very same computation


def test_plain_advanced_sampler_computes_what_ksampler_does(session, example):
    data = example("text_to_image_api.json")
    inputs = data["3"]["inputs"]
    data["3"] = {"class_type": "KSamplerAdvanced", "inputs": {
        **{k: v for k, v in inputs.items() if k not in ("seed", "denoise")},
        "noise_seed": inputs["seed"], "add_noise": "enable", "start_at_step": 0,
        "end_at_step": 10000, "return_with_leftover_noise": "disable"}}
    reference = session.run(small(graph_from_data(example("text_to_image_api.json"),
                                                  session.registry)))
    assert reference.ok
    advanced = session.run(small(graph_from_data(data, session.registry)))
    assert advanced.executed == [] and "9" in advanced.cached


@pytest.mark.parametrize("encoder", ["VAEEncodeForInpaint", "SetLatentNoiseMask"])
def test_inpainting_workflows_run(session, encoder):
    prompt = json.loads((EXAMPLES / "text_to_image_api.json").read_text())
    prompt["10"] = {"class_type": "LoadImage", "inputs": {"image": "hole.png"}}
    if encoder == "VAEEncodeForInpaint":
        prompt["11"] = {"class_type": "VAEEncodeForInpaint", "inputs": {
            "pixels": ["10", 0], "vae": ["4", 2], "mask": ["10", 1], "grow_mask_by": 6}}
    else:
        prompt["12"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["10", 0],
                                                               "vae": ["4", 2]}}
        prompt["11"] = {"class_type": "SetLatentNoiseMask",
                        "inputs": {"samples": ["12", 0], "mask": ["10", 1]}}
    prompt["3"]["inputs"].update(latent_image=["11", 0], denoise=0.8, steps=3)
    graph = graph_from_data(prompt, session.registry)
    assert session.validate(graph) == []
    result = session.run(graph)
    assert result.ok
    assert _image(result, "8").shape == (1, 64, 64, 3)


def test_nodestudio_run_a_comfy_workflow_from_the_command_line(comfy_root, tmp_path, capsys):
    out = tmp_path / "renders"
    code = main(["run", str(EXAMPLES / "text_to_image.json"), "--models", str(comfy_root),
                 "--output", str(out), "--device", "cpu", "--set", "5.width=64",
                 "--set", "5.height=64", "--set", "3.steps=2"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    (written,) = out.glob("ComfyUI_*.png")
    assert f"wrote {written}" in printed
    reopened = read_graph(written, nodestudio.Session(device="cpu").registry)
    assert reopened.node("5").values["width"] == 64


def _base_and_refiner_prompt(steps: int, switch: int) -> dict:
    """An SDXL base + refiner API prompt: the base samples steps 0..switch and returns its
    leftover noise; the refiner, with prompts of its own CLIP, finishes without new noise."""
    def loader(name):
        return {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": name}}

    def prompt(text, clip):
        return {"class_type": "CLIPTextEncode", "inputs": {"text": text, "clip": [clip, 1]}}

    def advanced(model, positive, negative, latent, **settings):
        return {"class_type": "KSamplerAdvanced", "inputs": {
            "model": [model, 0], "positive": [positive, 0], "negative": [negative, 0],
            "latent_image": [latent, 0], "steps": steps, "cfg": 5.0, "sampler_name": "euler",
            "scheduler": "normal", **settings}}

    return {
        "4": loader(SDXL_BASE), "12": loader(SDXL_REFINER),
        "6": prompt("a lighthouse at dusk", "4"), "7": prompt("blurry", "4"),
        "15": prompt("a lighthouse at dusk", "12"), "16": prompt("blurry", "12"),
        "5": {"class_type": "EmptyLatentImage",
              "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "10": advanced("4", "6", "7", "5", add_noise="enable", noise_seed=42, start_at_step=0,
                       end_at_step=switch, return_with_leftover_noise="enable"),
        "11": advanced("12", "15", "16", "10", add_noise="disable", noise_seed=0,
                       start_at_step=switch, end_at_step=10000,
                       return_with_leftover_noise="disable"),
        "17": {"class_type": "VAEDecode", "inputs": {"samples": ["11", 0], "vae": ["12", 2]}},
        "19": {"class_type": "SaveImage",
               "inputs": {"images": ["17", 0], "filename_prefix": "refined"}},
    }


def test_sdxl_base_and_refiner_workflow_samples_in_two_stages(session):
    prompt = _base_and_refiner_prompt(steps=5, switch=3)
    graph = graph_from_data(prompt, session.registry)
    assert [w for w in graph.load_warnings if w.kind == "unknown_type"] == []
    assert session.validate(graph) == []
    events = []
    result = session.run(graph, on_event=events.append)
    staged = _image(result, "17")
    steps = {}
    for event in events:
        if type(event).__name__ == "NodeProgress" and event.node_id in ("10", "11"):
            steps.setdefault(event.node_id, []).append((event.done, event.total))
    assert steps == {"10": [(1, 3), (2, 3), (3, 3)], "11": [(1, 2), (2, 2)]}

    # The same model in one KSampler run: the very same picture.
    single = json.loads(json.dumps(prompt))
    single["10"] = {"class_type": "KSampler", "inputs": {
        **{k: v for k, v in prompt["10"]["inputs"].items() if k not in (
            "add_noise", "noise_seed", "start_at_step", "end_at_step",
            "return_with_leftover_noise")}, "seed": 42, "denoise": 1.0}}
    single["17"]["inputs"]["samples"] = ["10", 0]
    del single["11"]
    reference = _image(session.run(graph_from_data(single, session.registry)), "17")
    assert np.abs(staged - reference).max() <= 2 / 255


def test_comfyuis_sdxl_example_with_the_real_refiner_runs(session, comfy_root, tiny_models):
    """ComfyUI's official SDXL example: base, then the refiner checkpoint with its own prompts
    (CLIPTextEncodeSDXLRefiner: aesthetic scores 6 and 2.5) finishing the last steps."""
    _place(tiny_models.checkpoint(tiny_models.sdxl_refiner_file),
           comfy_root / "checkpoints" / "sd_xl_refiner_1.0_0.9vae.safetensors")
    prompt = _base_and_refiner_prompt(steps=5, switch=3)
    prompt["12"]["inputs"]["ckpt_name"] = "sd_xl_refiner_1.0_0.9vae.safetensors"
    for node_id, text, score in (("15", "a lighthouse at dusk", 6.0), ("16", "blurry", 2.5)):
        prompt[node_id] = {"class_type": "CLIPTextEncodeSDXLRefiner", "inputs": {
            "ascore": score, "width": 1024, "height": 1024, "text": text, "clip": ["12", 1]}}
    graph = graph_from_data(prompt, session.registry)
    assert graph.load_warnings == [] and session.validate(graph) == []
    assert graph.node("15").type == "diffusion.text_encode_sdxl_refiner"
    result = session.run(graph)
    assert result.outputs["12"]["model"].family.label == "SDXL refiner"
    refined = _image(result, "17")
    assert refined.shape == (1, 64, 64, 3) and refined.std() > 0.01
    # Another aesthetic score is another picture: the refiner reads it (the tiny refiner's
    # random size embedding makes the change small, but never nothing).
    prompt["15"]["inputs"]["ascore"] = 600.0
    rescored = _image(session.run(graph_from_data(prompt, session.registry)), "17")
    assert np.abs(rescored - refined).max() > 1e-5
