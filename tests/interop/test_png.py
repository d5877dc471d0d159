"""PNGs with ComfyUI metadata open as graphs; NodeStudio's PNGs carry ComfyUI's prompt too."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

import nodestudio
from nodestudio.app.formats import read_graph
from nodestudio.app.session import Session
from nodestudio.graph.model import Graph
from nodestudio.graph.problems import GraphFileError
from nodestudio.interop.comfy import export_api_prompt


def write_png(path: Path, chunks: dict[str, str]) -> Path:
    info = PngInfo()
    for key, text in chunks.items():
        info.add_text(key, text)
    Image.new("RGB", (8, 8), (200, 10, 10)).save(path, pnginfo=info)
    return path


def write_webp(path: Path, texts: dict[str, str]) -> Path:
    """A WEBP as ComfyUI's Save WEBP writes it: "prompt:…" in EXIF's Model tag (0x0110), the
    workflow as "workflow:…" in the Make tag (0x010F)."""
    exif = Image.Exif()
    tags = {"prompt": 0x0110, "workflow": 0x010F}
    for key, text in texts.items():
        exif[tags[key]] = f"{key}:{text}"
    Image.new("RGB", (8, 8), (10, 200, 10)).save(path, "WEBP", exif=exif)
    return path


def test_webp_saved_by_comfyui_opens_from_its_exif(registry, example, tmp_path):
    path = write_webp(tmp_path / "ComfyUI_00001_.webp", {
        "prompt": json.dumps(example("controlnet_canny_api.json")),
        "workflow": json.dumps(example("controlnet_canny.json")),
    })
    graph = read_graph(path, registry)
    assert graph.layout.nodes["3"].pos == (720.0, 80.0)  # the workflow, with its layout
    only_prompt = write_webp(tmp_path / "prompt.webp",
                             {"prompt": json.dumps(example("controlnet_canny_api.json"))})
    assert read_graph(only_prompt, registry).node("10").type == "diffusion.sampler"
    Image.new("RGB", (8, 8)).save(tmp_path / "plain.webp", "WEBP")
    with pytest.raises(GraphFileError, match="this WEBP carries no graph"):
        read_graph(tmp_path / "plain.webp", registry)


def test_png_saved_by_comfyui_opens_from_its_workflow_with_layout(registry, example, tmp_path):
    path = write_png(tmp_path / "ComfyUI_00001_.png", {
        "prompt": json.dumps(example("controlnet_canny_api.json")),
        "workflow": json.dumps(example("controlnet_canny.json")),
    })
    graph = read_graph(path, registry)
    assert graph.layout.nodes["3"].pos == (720.0, 80.0)  # from the workflow, not laid out
    assert graph.node("2").mode == "bypassed"
    assert graph.layout.reroutes == {"12.vae": [(1597.5, 513.0)]}
    # the prompt beside it names the custom node's values, so the graph exports in full
    graph.remove_node("16")
    assert export_api_prompt(graph, registry) == example("controlnet_canny_api.json")


def test_png_with_only_a_prompt(registry, example, tmp_path):
    path = write_png(tmp_path / "api.png",
                     {"prompt": json.dumps(example("text_to_image_api.json"))})
    graph = nodestudio.load_graph(path, registry)
    assert graph.node("3").type == "diffusion.sampler"
    assert set(graph.layout.nodes) == {node.id for node in graph}


def test_broken_workflow_chunk_falls_back_to_the_prompt_and_says_so(registry, example,
                                                                    tmp_path):
    path = write_png(tmp_path / "half.png", {
        "workflow": "{not json", "prompt": json.dumps(example("text_to_image_api.json"))})
    graph = read_graph(path, registry)
    assert graph.node("4").type == "diffusion.load_checkpoint"
    assert [w.kind for w in graph.load_warnings] == ["png_chunk"]


@pytest.mark.parametrize("chunks", [
    {"workflow": "null", "prompt": "[]"},
    {"prompt": json.dumps({"1": {"class_type": "KSampler", "inputs": 3}})},
    {"parameters": "a photo, Steps: 20"},
])
def test_png_without_a_usable_comfyui_graph_is_a_clear_error(registry, tmp_path, chunks):
    path = write_png(tmp_path / "nothing.png", chunks)
    with pytest.raises(GraphFileError) as caught:
        read_graph(path, registry)
    assert caught.value.problems


def test_nodestudio_png_carries_comfyuis_prompt_and_prefers_its_own_graph(registry, tmp_path):
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    Image.fromarray(np.full((16, 24, 3), 90, np.uint8)).save(inputs / "grey.png")
    graph = Graph()
    graph.add_node("image.load", {"image": "grey.png"}, id="1")
    graph.add_node("image.invert", {}, id="2")
    graph.add_node("image.save", {"filename_prefix": "inverted"}, id="3")
    graph.connect("1", "image", "2", "image")
    graph.connect("2", "image", "3", "images")
    session = Session(device="cpu", input_dir=inputs, output_dir=outputs, registry=registry)
    (written,) = session.run(graph).files
    with Image.open(written) as picture:
        chunks = dict(picture.text)
    assert json.loads(chunks["prompt"]) == {
        "1": {"class_type": "LoadImage", "inputs": {"image": "grey.png"},
              "_meta": {"title": "Load Image"}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]},
              "_meta": {"title": "Invert Image"}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0],
                                                     "filename_prefix": "inverted"},
              "_meta": {"title": "Save Image"}},
    }
    assert read_graph(written, registry).nodes == graph.nodes  # from the nodestudio chunk
    comfy_only = write_png(tmp_path / "comfy_only.png", {"prompt": chunks["prompt"]})
    again = read_graph(comfy_only, registry)
    # Imported from ComfyUI's prompt, Save Image truncates to 8 bits as ComfyUI's does.
    expected = {n.id: (n.type, n.values) for n in graph}
    expected["3"] = ("image.save", {"filename_prefix": "inverted",
                                    "to_8_bit": "truncate (ComfyUI)"})
    assert {n.id: (n.type, n.values) for n in again} == expected
    assert set(again.links) == set(graph.links)


def test_graph_comfyui_cannot_express_saves_without_a_prompt_chunk(registry, tmp_path):
    graph = Graph()
    graph.add_node("mask.solid", {"width": 8, "height": 8}, id="1")
    # Mask Blur has no ComfyUI core equivalent (Solid Mask and Mask to Image do).
    graph.add_node("mask.blur", {}, id="blur")
    graph.add_node("mask.to_image", {}, id="2")
    graph.add_node("image.save", {"filename_prefix": "solid"}, id="3")
    graph.connect("1", "mask", "blur", "mask")
    graph.connect("blur", "mask", "2", "mask")
    graph.connect("2", "image", "3", "images")
    session = Session(device="cpu", output_dir=tmp_path, registry=registry)
    (written,) = session.run(graph).files
    with Image.open(written) as picture:
        assert "nodestudio" in picture.text and "prompt" not in picture.text
