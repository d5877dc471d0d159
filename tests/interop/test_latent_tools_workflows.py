"""ComfyUI's outpainting, latent and mask tools in shared workflows: each node imports from an
API prompt and a UI workflow, is written back as it came, and workflows using them run on the
tiny SD model with ComfyUI's meaning (the picture kept where the mask is black, the hires fix
upscaled by bislerp)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import torch
from comfy_forms import ui_from_api
from PIL import Image

from nodestudio.app.formats import graph_from_data
from nodestudio.app.session import Session
from nodestudio.engine.validate import validate
from nodestudio.graph.model import Graph
from nodestudio.interop.comfy import ComfyExportError, export_api_prompt
from nodestudio.interop.comfy.latent_tools import IMAGE_CHANNELS

_CONTEXT = {
    "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "tiny-sd"}},
    "2": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64,
                                                        "batch_size": 2}},
    "3": {"class_type": "LoadImage", "inputs": {"image": "picture.png"}},
}


def _links(graph: Graph, node_id: str) -> dict[str, tuple[str, str]]:
    return {link.input: (link.source, link.output) for link in graph.links_into(node_id)}


_ui = ui_from_api


def _without_meta(prompt: dict[str, Any]) -> dict[str, Any]:
    return {key: {name: value for name, value in entry.items() if name != "_meta"}
            for key, entry in prompt.items()}


# -- each node ---------------------------------------------------------------------------------

_NODES = [
    ("ImagePadForOutpaint", {"image": ["3", 0], "left": 64, "top": 0, "right": 128,
                             "bottom": 8, "feathering": 24},
     "image.pad_for_outpaint",
     {"left": 64, "top": 0, "right": 128, "bottom": 8, "feathering": 24},
     {"image": ("3", "image")}),
    ("LatentComposite", {"samples_to": ["2", 0], "samples_from": ["2", 0], "x": 16, "y": 8,
                         "feather": 8},
     "diffusion.latent_composite", {"x": 16, "y": 8, "feather": 8},
     {"destination": ("2", "latent"), "source": ("2", "latent")}),
    ("LatentCompositeMasked", {"destination": ["2", 0], "source": ["2", 0], "x": 8, "y": 0,
                               "resize_source": True, "mask": ["3", 1]},
     "diffusion.latent_composite_masked", {"x": 8, "y": 0, "resize_source": True},
     {"destination": ("2", "latent"), "source": ("2", "latent"), "mask": ("3", "mask")}),
    ("RepeatLatentBatch", {"samples": ["2", 0], "amount": 3},
     "diffusion.latent_repeat_batch", {"amount": 3}, {"latent": ("2", "latent")}),
    ("LatentFromBatch", {"samples": ["2", 0], "batch_index": 1, "length": 1},
     "diffusion.latent_from_batch", {"batch_index": 1, "length": 1},
     {"latent": ("2", "latent")}),
    ("ImageScaleToTotalPixels", {"image": ["3", 0], "upscale_method": "nearest-exact",
                                 "megapixels": 0.25, "resolution_steps": 8},
     "image.scale_to_total_pixels",
     {"method": "nearest", "megapixels": 0.25, "resolution_steps": 8},
     {"image": ("3", "image")}),
    ("LoadImageMask", {"image": "hole.png [input]", "channel": "alpha"},
     "mask.load", {"image": "hole.png", "channel": "alpha"}, {}),
    ("ImageToMask", {"image": ["3", 0], "channel": "green"},
     "image.to_mask", {"channel": "green"}, {"image": ("3", "image")}),
    ("MaskToImage", {"mask": ["3", 1]}, "mask.to_image", {}, {"mask": ("3", "mask")}),
    ("SolidMask", {"value": 0.25, "width": 96, "height": 64},
     "mask.solid", {"value": 0.25, "width": 96, "height": 64}, {}),
]


@pytest.mark.parametrize(("class_type", "inputs", "type_id", "values", "links"), _NODES,
                         ids=[entry[0] for entry in _NODES])
def test_each_node_imports_from_both_forms_and_exports_back(registry, class_type, inputs,
                                                           type_id, values, links):
    prompt = {**copy.deepcopy(_CONTEXT), "10": {"class_type": class_type, "inputs": inputs}}
    for graph in (graph_from_data(copy.deepcopy(prompt), registry),
                  graph_from_data(_ui(prompt), registry)):
        node = graph.node("10")
        assert (node.type, node.values) == (type_id, values)
        assert _links(graph, "10") == links
        # (the empty latent that reaches no sampler asks for its model: not a matter here)
        assert [w for w in graph.load_warnings if w.kind != "needs_link"] == []
        exported = export_api_prompt(graph, registry)["10"]
        assert exported["class_type"] == class_type
        # Written back as ComfyUI spells it (a file name loses its folder annotation).
        assert exported["inputs"] == {**inputs, **(
            {"image": "hole.png"} if class_type == "LoadImageMask" else {})}


def test_older_and_newer_widget_lists_load_without_warnings(registry):
    prompt = {"3": _CONTEXT["3"], "10": {"class_type": "ImageScaleToTotalPixels", "inputs": {
        "image": ["3", 0], "upscale_method": "bicubic", "megapixels": 1.5}}}
    older = graph_from_data(_ui(prompt), registry)  # before resolution_steps
    assert older.node("10").values == {"method": "bicubic", "megapixels": 1.5}
    assert older.load_warnings == []
    # LoadImageMask's upload button stores a value after the real widgets, as LoadImage's.
    ui = _ui({"10": {"class_type": "LoadImageMask",
                     "inputs": {"image": "hole.png", "channel": "red"}}})
    assert ui["nodes"][0]["widgets_values"] == ["hole.png", "red", "image"]
    graph = graph_from_data(ui, registry)
    assert graph.node("10").values == {"image": "hole.png", "channel": "red"}
    assert graph.load_warnings == []


def test_image_to_mask_alpha_has_no_equivalent_and_luminance_does_not_export(registry):
    # NodeStudio's images have no alpha channel, nor do ComfyUI's: its "alpha" fails on them.
    prompt = {"3": _CONTEXT["3"],
              "10": {"class_type": "ImageToMask",
                     "inputs": {"image": ["3", 0], "channel": "alpha"}},
              "11": {"class_type": "MaskToImage", "inputs": {"mask": ["10", 0]}},
              "12": {"class_type": "PreviewImage", "inputs": {"images": ["11", 0]}}}
    graph = graph_from_data(prompt, registry)
    (warning,) = graph.load_warnings
    assert (warning.node_id, warning.input, warning.kind) == ("10", "channel",
                                                              "unsupported_value")
    assert any(problem.node_id == "10" for problem in validate(graph, registry))
    assert set(IMAGE_CHANNELS.exact.values()) <= set(
        registry.get("image.to_mask").input("channel").choices)
    graph.set_value("10", "channel", "luminance")
    with pytest.raises(ComfyExportError) as caught:
        export_api_prompt(graph, registry)
    (problem,) = caught.value.problems
    assert problem.node_id == "10" and "luminance" in problem.message


@pytest.mark.parametrize("class_type", ["LatentUpscale", "LatentUpscaleBy"])
def test_bislerp_is_upscale_latents_bislerp(registry, class_type):
    inputs = ({"samples": ["2", 0], "upscale_method": "bislerp", "width": 128, "height": 96,
               "crop": "disabled"} if class_type == "LatentUpscale" else
              {"samples": ["2", 0], "upscale_method": "bislerp", "scale_by": 1.5})
    prompt = {"1": _CONTEXT["1"], "2": _CONTEXT["2"],
              "10": {"class_type": class_type, "inputs": inputs}}
    graph = graph_from_data(copy.deepcopy(prompt), registry)
    assert graph.node("10").values["method"] == "bislerp"
    assert [w for w in graph.load_warnings if w.kind != "needs_link"] == []
    assert _without_meta(export_api_prompt(graph, registry))["10"] == prompt["10"]


# -- workflows that run ------------------------------------------------------------------------

#: A UI workflow (schema 0.4) as ComfyUI saves it: outpainting a picture 16 pixels to the left
#: and 16 down — Load Image → Pad Image for Outpainting → VAE Encode (for Inpainting) →
#: KSampler → VAE Decode → Save Image.
OUTPAINT_UI: dict[str, Any] = {
    "last_node_id": 9, "last_link_id": 13,
    "nodes": [
        {"id": 1, "type": "CheckpointLoaderSimple", "pos": [20, 300], "size": [315, 98],
         "flags": {}, "order": 0, "mode": 0,
         "outputs": [{"name": "MODEL", "type": "MODEL", "links": [1], "slot_index": 0},
                     {"name": "CLIP", "type": "CLIP", "links": [2, 3], "slot_index": 1},
                     {"name": "VAE", "type": "VAE", "links": [4, 5], "slot_index": 2}],
         "properties": {"Node name for S&R": "CheckpointLoaderSimple"},
         "widgets_values": ["tiny-sd"]},
        {"id": 2, "type": "CLIPTextEncode", "pos": [400, 100], "size": [400, 200],
         "flags": {}, "order": 2, "mode": 0,
         "inputs": [{"name": "clip", "type": "CLIP", "link": 2}],
         "outputs": [{"name": "CONDITIONING", "type": "CONDITIONING", "links": [10],
                      "slot_index": 0}],
         "properties": {"Node name for S&R": "CLIPTextEncode"},
         "widgets_values": ["a red circle on a white background"]},
        {"id": 3, "type": "CLIPTextEncode", "pos": [400, 350], "size": [400, 200],
         "flags": {}, "order": 3, "mode": 0,
         "inputs": [{"name": "clip", "type": "CLIP", "link": 3}],
         "outputs": [{"name": "CONDITIONING", "type": "CONDITIONING", "links": [11],
                      "slot_index": 0}],
         "properties": {"Node name for S&R": "CLIPTextEncode"}, "widgets_values": ["blurry"]},
        {"id": 4, "type": "LoadImage", "pos": [20, 500], "size": [315, 314], "flags": {},
         "order": 1, "mode": 0,
         "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [6], "slot_index": 0},
                     {"name": "MASK", "type": "MASK", "links": None}],
         "properties": {"Node name for S&R": "LoadImage"},
         "widgets_values": ["picture.png", "image"]},
        {"id": 5, "type": "ImagePadForOutpaint", "pos": [400, 600], "size": [315, 174],
         "flags": {}, "order": 4, "mode": 0,
         "inputs": [{"name": "image", "type": "IMAGE", "link": 6}],
         "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [7], "slot_index": 0},
                     {"name": "MASK", "type": "MASK", "links": [8], "slot_index": 1}],
         "properties": {"Node name for S&R": "ImagePadForOutpaint"},
         "widgets_values": [16, 0, 0, 16, 8]},
        {"id": 6, "type": "VAEEncodeForInpaint", "pos": [800, 600], "size": [226, 98],
         "flags": {}, "order": 5, "mode": 0,
         "inputs": [{"name": "pixels", "type": "IMAGE", "link": 7},
                    {"name": "vae", "type": "VAE", "link": 4},
                    {"name": "mask", "type": "MASK", "link": 8}],
         "outputs": [{"name": "LATENT", "type": "LATENT", "links": [9], "slot_index": 0}],
         "properties": {"Node name for S&R": "VAEEncodeForInpaint"}, "widgets_values": [0]},
        {"id": 7, "type": "KSampler", "pos": [1100, 200], "size": [315, 262], "flags": {},
         "order": 6, "mode": 0,
         "inputs": [{"name": "model", "type": "MODEL", "link": 1},
                    {"name": "positive", "type": "CONDITIONING", "link": 10},
                    {"name": "negative", "type": "CONDITIONING", "link": 11},
                    {"name": "latent_image", "type": "LATENT", "link": 9}],
         "outputs": [{"name": "LATENT", "type": "LATENT", "links": [12], "slot_index": 0}],
         "properties": {"Node name for S&R": "KSampler"},
         "widgets_values": [42, "fixed", 3, 7.0, "euler", "normal", 1.0]},
        {"id": 8, "type": "VAEDecode", "pos": [1450, 200], "size": [210, 46], "flags": {},
         "order": 7, "mode": 0,
         "inputs": [{"name": "samples", "type": "LATENT", "link": 12},
                    {"name": "vae", "type": "VAE", "link": 5}],
         "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [13], "slot_index": 0}],
         "properties": {"Node name for S&R": "VAEDecode"}},
        {"id": 9, "type": "SaveImage", "pos": [1700, 200], "size": [315, 270], "flags": {},
         "order": 8, "mode": 0,
         "inputs": [{"name": "images", "type": "IMAGE", "link": 13}],
         "properties": {}, "widgets_values": ["outpaint"]},
    ],
    "links": [
        [1, 1, 0, 7, 0, "MODEL"], [2, 1, 1, 2, 0, "CLIP"], [3, 1, 1, 3, 0, "CLIP"],
        [4, 1, 2, 6, 1, "VAE"], [5, 1, 2, 8, 1, "VAE"], [6, 4, 0, 5, 0, "IMAGE"],
        [7, 5, 0, 6, 0, "IMAGE"], [8, 5, 1, 6, 2, "MASK"], [9, 6, 0, 7, 3, "LATENT"],
        [10, 2, 0, 7, 1, "CONDITIONING"], [11, 3, 0, 7, 2, "CONDITIONING"],
        [12, 7, 0, 8, 0, "LATENT"], [13, 8, 0, 9, 0, "IMAGE"],
    ],
    "groups": [], "config": {}, "extra": {"ds": {"scale": 1.0, "offset": [0, 0]}},
    "version": 0.4,
}

#: An API prompt: a hires fix (first pass at 32 × 32, Upscale Latent by bislerp to 64 × 64,
#: a second pass at denoise 0.5) that also runs the batch and composite tools on the way.
HIRES_API: dict[str, Any] = {
    "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "tiny-sd"}},
    "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a blue square",
                                                     "clip": ["1", 1]}},
    "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}},
    "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 32, "height": 32,
                                                       "batch_size": 1}},
    "5": {"class_type": "KSampler", "inputs": {
        "model": ["1", 0], "seed": 7, "steps": 3, "cfg": 7.0, "sampler_name": "euler",
        "scheduler": "normal", "positive": ["2", 0], "negative": ["3", 0],
        "latent_image": ["4", 0], "denoise": 1.0}},
    "6": {"class_type": "LatentUpscale", "inputs": {
        "samples": ["5", 0], "upscale_method": "bislerp", "width": 64, "height": 64,
        "crop": "disabled"}},
    "7": {"class_type": "RepeatLatentBatch", "inputs": {"samples": ["6", 0], "amount": 3}},
    "8": {"class_type": "LatentFromBatch", "inputs": {"samples": ["7", 0], "batch_index": 1,
                                                      "length": 2}},
    "9": {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 16, "height": 16}},
    "10": {"class_type": "LatentCompositeMasked", "inputs": {
        "destination": ["8", 0], "source": ["5", 0], "x": 32, "y": 32, "resize_source": False,
        "mask": ["9", 0]}},
    "11": {"class_type": "LatentComposite", "inputs": {
        "samples_to": ["10", 0], "samples_from": ["5", 0], "x": 0, "y": 0, "feather": 8}},
    "12": {"class_type": "KSampler", "inputs": {
        "model": ["1", 0], "seed": 8, "steps": 4, "cfg": 7.0, "sampler_name": "euler",
        "scheduler": "normal", "positive": ["2", 0], "negative": ["3", 0],
        "latent_image": ["11", 0], "denoise": 0.5}},
    "13": {"class_type": "VAEDecode", "inputs": {"samples": ["12", 0], "vae": ["1", 2]}},
    "14": {"class_type": "ImageScaleToTotalPixels", "inputs": {
        "image": ["13", 0], "upscale_method": "bilinear", "megapixels": 0.01}},
    "15": {"class_type": "SaveImage", "inputs": {"filename_prefix": "hires",
                                                 "images": ["14", 0]}},
    "16": {"class_type": "ImageToMask", "inputs": {"image": ["13", 0], "channel": "red"}},
    "17": {"class_type": "MaskToImage", "inputs": {"mask": ["16", 0]}},
    "18": {"class_type": "PreviewImage", "inputs": {"images": ["17", 0]}},
}


@pytest.fixture(scope="module")
def session(tiny_models, registry, tmp_path_factory) -> Session:
    inputs = tmp_path_factory.mktemp("input")
    picture = np.zeros((48, 48, 3), np.uint8)
    picture[...] = 255
    picture[12:36, 12:36] = (220, 30, 30)
    Image.fromarray(picture, "RGB").save(inputs / "picture.png")
    return Session(device="cpu", models_dir=tiny_models.root, input_dir=inputs,
                   output_dir=tmp_path_factory.mktemp("output"), registry=registry)


def test_outpaint_ui_workflow_imports_as_comfyui_means_it(registry):
    graph = graph_from_data(copy.deepcopy(OUTPAINT_UI), registry)
    assert graph.node("5").type == "image.pad_for_outpaint"
    assert graph.node("5").values == {"left": 16, "top": 0, "right": 0, "bottom": 16,
                                      "feathering": 8}
    assert _links(graph, "6") == {"image": ("5", "image"), "vae": ("1", "vae"),
                                  "mask": ("5", "mask")}  # grow 0: no Grow Mask between
    assert graph.layout.nodes["5"].pos == (400.0, 600.0)
    assert graph.load_warnings == []
    assert validate(graph, registry) == []


@pytest.mark.slow
def test_outpaint_workflow_runs_and_keeps_the_picture_where_the_mask_is_black(session):
    graph = graph_from_data(copy.deepcopy(OUTPAINT_UI), session.registry)
    assert session.validate(graph) == []
    result = session.run(graph)
    assert result.ok and len(result.files) == 1
    padded, mask = result.outputs["5"]["image"], result.outputs["5"]["mask"]
    assert padded.shape == (1, 64, 64, 3) and mask.shape == (1, 64, 64)
    assert np.all(padded[0, :, :16] == 0.5) and np.all(padded[0, 48:] == 0.5)
    assert mask[0, 0, 16] == 1.0 and mask[0, 0, 40] == 0.0  # feathered in from the left
    image = result.outputs["8"]["image"]
    assert image.shape == (1, 64, 64, 3) and np.isfinite(image).all()
    # The sampler repaints only the masked latent cells (the mask at the 8-pixel latent
    # grid): the others keep the encoded picture exactly.
    encoded = result.outputs["6"]["latent"].samples
    sampled = result.outputs["7"]["latent"].samples
    cells = torch.nn.functional.interpolate(torch.from_numpy(mask)[:, None],
                                            size=tuple(encoded.shape[-2:]))[0, 0] >= 0.5
    assert cells[:, :2].all() and cells[6:].all() and not cells[:6, 3:].any()
    assert torch.equal(sampled[..., ~cells], encoded[..., ~cells].to(sampled.dtype))
    assert not torch.allclose(sampled[..., cells], encoded[..., cells].to(sampled.dtype))


@pytest.mark.slow
def test_hires_fix_with_bislerp_and_the_latent_tools_runs(session):
    graph = graph_from_data(copy.deepcopy(HIRES_API), session.registry)
    assert graph.load_warnings == []
    assert session.validate(graph) == []
    # The UI form of the same workflow is the same graph.
    ui = graph_from_data(_ui(copy.deepcopy(HIRES_API)), session.registry)
    assert {node.id: (node.type, node.values) for node in ui} == {
        node.id: (node.type, node.values) for node in graph}
    assert set(ui.links) == set(graph.links)
    result = session.run(graph)
    assert result.ok
    first = result.outputs["5"]["latent"].samples
    upscaled = result.outputs["6"]["latent"].samples
    assert first.shape == (1, 4, 4, 4) and upscaled.shape == (1, 4, 8, 8)
    assert result.outputs["7"]["latent"].batch_size == 3
    picked = result.outputs["8"]["latent"].samples
    assert torch.equal(picked, upscaled.repeat(2, 1, 1, 1))
    # The masked composite put the first pass at cells (4, 4); the plain one at (0, 0),
    # feathered over 1 cell towards the inside (where 1 / 1 leaves it whole).
    composed = result.outputs["11"]["latent"].samples
    assert torch.equal(composed[:, :, 4:, 4:], first.expand(2, -1, -1, -1))
    assert torch.equal(composed[:, :, :4, :4], first.expand(2, -1, -1, -1))
    assert torch.equal(composed[:, :, :4, 4:], picked[:, :, :4, 4:])
    final = result.outputs["13"]["image"]
    assert final.shape == (2, 64, 64, 3) and np.isfinite(final).all()
    # 0.01 MP of 1024² = 10485 pixels: a 64 × 64 picture × 1.6 = 102 × 102.
    assert result.outputs["14"]["image"].shape == (2, 102, 102, 3)
    np.testing.assert_allclose(result.outputs["17"]["image"][..., 1],
                               np.clip(final[..., 0], 0, 1), atol=1e-6)
    assert len(result.files) == 2
    # Written back, it is the prompt it came from; with the newer resolution_steps at the
    # value that computes what the older node did (an older ComfyUI ignores it).
    expected = copy.deepcopy(HIRES_API)
    expected["14"]["inputs"]["resolution_steps"] = 1
    assert _without_meta(export_api_prompt(graph, session.registry)) == expected
