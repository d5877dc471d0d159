"""Issue 18: the Paint node. Its stored PNG layers decode into the painted image and the mask,
a changed drawing re-runs only what depends on it, and its outputs drive inpainting and a
ControlNet on the demo model."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import nodestudio
from nodestudio.api import NodeError
from nodestudio.app import recipes
from nodestudio.app.packs import create_registry
from nodestudio.app.settings import Settings
from nodestudio.graph.model import Graph

SIZE = 64


def _paint_module():
    """nodes/paint.py as the pack loader loads it (the built-in pack is never a top-level
    ``nodes`` package)."""
    import sys

    function = create_registry(entry_points=False).get("image.paint").function
    return sys.modules[function.__module__]


def _mask_png(box: tuple[int, int, int, int], size: int = SIZE) -> str:
    pixels = np.zeros((size, size), np.uint8)
    x0, y0, x1, y1 = box
    pixels[y0:y1, x0:x1] = 255
    return _paint_module().encode_png(Image.fromarray(pixels, "L"))


def _sketch_png(box: tuple[int, int, int, int], rgba=(255, 0, 0, 255), size: int = SIZE) -> str:
    pixels = np.zeros((size, size, 4), np.uint8)
    x0, y0, x1, y1 = box
    pixels[y0:y1, x0:x1] = rgba
    return _paint_module().encode_png(Image.fromarray(pixels, "RGBA"))


@pytest.fixture(scope="module")
def session(registry, tmp_path_factory):
    root = tmp_path_factory.mktemp("paint")
    (root / "input").mkdir()
    return nodestudio.Session(device="cpu", registry=registry, output_dir=root / "output",
                              input_dir=root / "input", settings=Settings())


def test_a_blank_canvas_gets_the_sketch_over_it_and_the_mask(node):
    paint = node("image.paint").function
    image, mask = paint(width=SIZE, height=32, color="#00ff00", mask_png="", sketch_png="")
    assert image.shape == (1, 32, SIZE, 3) and np.allclose(image[0, 5, 5], [0, 1, 0])
    assert mask.shape == (1, 32, SIZE) and not mask.any()

    half = _sketch_png((10, 10, 20, 20), (0, 0, 255, 128))
    image, mask = paint(width=SIZE, height=SIZE, color="#ffffff",
                        mask_png=_mask_png((30, 30, 40, 40)), sketch_png=half)
    alpha = 128 / 255
    assert np.allclose(image[0, 15, 15], [1 - alpha, 1 - alpha, 1.0], atol=1e-6)
    assert np.allclose(image[0, 50, 50], 1.0)
    assert mask[0, 35, 35] == 1.0 and mask[0, 20, 35] == 0.0 and mask.dtype == np.float32


def test_an_input_image_batch_is_drawn_over_and_a_drawing_follows_its_size(node):
    paint = node("image.paint").function
    background = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    image, mask = paint(width=8, height=8, color="#000000", image=background,
                        mask_png=_mask_png((0, 0, 32, 64)), sketch_png=_sketch_png((32, 0, 64, 64)))
    assert image.shape == (2, 32, 32, 3) and mask.shape == (2, 32, 32)
    # The 64² drawing is stretched over the 32² picture: left half masked, right half red.
    assert np.allclose(image[:, :, :15], background[:, :, :15])
    assert np.allclose(image[:, :, 17:], [1.0, 0.0, 0.0])
    assert mask[:, :, :15].min() == 1.0 and mask[:, :, 17:].max() == 0.0


def test_a_damaged_drawing_is_one_clear_sentence(node):
    paint = node("image.paint").function
    with pytest.raises(NodeError, match=r"Paint: the stored mask is damaged .*Clear"):
        paint(width=8, height=8, color="#ffffff", mask_png="not png data!", sketch_png="")
    with pytest.raises(NodeError, match="stored sketch is damaged"):
        paint(width=8, height=8, color="#ffffff", mask_png="",
              sketch_png=_sketch_png((0, 0, 4, 4))[:40])


def test_a_changed_stroke_reruns_only_what_depends_on_it(session):
    graph = Graph()
    drawn = graph.add_node("image.paint", {"width": SIZE, "height": SIZE,
                                           "sketch_png": _sketch_png((0, 0, 8, 8))})
    other = graph.add_node("image.paint", {"width": SIZE, "height": SIZE})
    invert = graph.add_node("image.invert", {})
    graph.connect(drawn.id, "image", invert.id, "image")
    show = graph.add_node("image.preview", {})
    show_other = graph.add_node("image.preview", {})
    graph.connect(invert.id, "image", show.id, "images")
    graph.connect(other.id, "image", show_other.id, "images")
    first = session.run(graph)
    assert first.status == "finished", first.failed
    assert {drawn.id, other.id, invert.id, show.id, show_other.id} <= set(first.executed)

    graph.set_value(drawn.id, "sketch_png", _sketch_png((0, 0, 30, 30)))
    second = session.run(graph)
    assert sorted(second.executed) == sorted([drawn.id, invert.id, show.id])
    inverted = session.run(graph, outputs=[invert.id]).outputs[invert.id]["image"]
    assert np.allclose(inverted[0, 20, 20], [0.0, 1.0, 1.0])  # the new stroke, inverted

    unchanged = session.run(graph)
    assert unchanged.executed == []


def _demo_graph(steps: int = 2) -> tuple[Graph, dict[str, str]]:
    return recipes.text_to_image("nodestudio-shapes", "a blue shape on a white background",
                                 width=SIZE, height=SIZE, steps=steps, cfg=3.0, sampler="ddim")


def test_the_mask_drives_inpainting_on_the_demo_model(session):
    graph, ids = _demo_graph()
    source = graph.add_node("image.paint", {"width": SIZE, "height": SIZE,
                                            "color": "#ffffff",
                                            "mask_png": _mask_png((16, 16, 48, 48))})
    encode = graph.add_node("diffusion.vae_encode", {})
    graph.remove_node(ids["latent"])
    graph.connect(ids["checkpoint"], "vae", encode.id, "vae")
    graph.connect(source.id, "image", encode.id, "image")
    graph.connect(source.id, "mask", encode.id, "mask")
    graph.connect(encode.id, "latent", ids["sampler"], "latent")
    result = session.run(graph, outputs=[ids["decode"], ids["save"]])
    assert result.status == "finished", result.failed
    image = result.outputs[ids["decode"]]["image"][0]
    inside = np.abs(image[20:44, 20:44] - 1.0).mean()
    outside = np.abs(image[:8] - 1.0).mean()
    # The white canvas survives outside the mask; the masked square is repainted.
    assert outside < 0.1 and inside > 2 * outside


def test_the_sketch_is_a_controlnet_hint_on_the_demo_model(session):
    graph, ids = recipes.controlnet_text_to_image(
        "nodestudio-shapes", "a blue shape on a white background", "nodestudio-shapes-canny",
        "unused.png", preprocessor="preprocess.canny", width=SIZE, height=SIZE, steps=2,
        cfg=3.0, sampler="ddim")
    graph.remove_node(ids["control_image"])
    paint = graph.add_node("image.paint", {"width": SIZE, "height": SIZE, "color": "#ffffff",
                                           "sketch_png": _sketch_png((8, 8, 30, 56),
                                                                     (0, 0, 0, 255))})
    graph.connect(paint.id, "image", ids["preprocessor"], "image")
    tall = session.run(graph, outputs=[ids["decode"]])
    assert tall.status == "finished", tall.failed
    graph.set_value(paint.id, "sketch_png", _sketch_png((34, 20, 58, 44), (0, 0, 0, 255)))
    moved = session.run(graph, outputs=[ids["decode"]])
    # Only the drawing's branch re-ran: the model, prompts and ControlNet stayed cached.
    assert ids["checkpoint"] not in moved.executed and ids["controlnet"] not in moved.executed
    assert {paint.id, ids["preprocessor"], ids["sampler"]} <= set(moved.executed)
    first = tall.outputs[ids["decode"]]["image"][0]
    second = moved.outputs[ids["decode"]]["image"][0]
    assert np.abs(first - second).mean() > 0.02  # the shape followed the outline


def test_the_shipped_draw_to_control_workflow_carries_an_outline_and_renders(session,
                                                                             registry):
    from nodestudio.graph.files import load
    from nodestudio.paths import workflows_dir

    graph = load(workflows_dir() / "draw_to_control.json", registry)
    [paint] = [node for node in graph if node.type == "image.paint"]
    assert paint.values["sketch_png"]  # the outline travels with the file
    assert session.validate(graph) == []
    result = session.run(graph)
    assert result.status == "finished", result.failed
    drawn = result.outputs[paint.id]["image"][0]
    assert drawn.min() < 0.2 and drawn.max() > 0.9  # a dark outline on a white canvas


@pytest.fixture(scope="module")
def tiny_session(registry, tiny_models, tmp_path_factory):
    root = tmp_path_factory.mktemp("paint-tiny")
    return nodestudio.Session(device="cpu", registry=registry, models_dir=tiny_models.root,
                              output_dir=root / "output", input_dir=root / "input",
                              settings=Settings())


def test_the_mask_and_the_sketch_drive_a_tiny_inpainting_model_and_controlnet(tiny_session,
                                                                             tiny_models):
    """The same outputs work on a real SD 1.5-shaped model: the mask inpaints with the
    inpainting UNet, and the sketch is a ControlNet hint whose change changes the image."""
    size = 64
    graph, ids = recipes.controlnet_text_to_image(
        tiny_models.sd_inpaint_folder, "a red square", tiny_models.controlnet_folder,
        "unused.png", width=size, height=size, steps=2, cfg=3.0, sampler="ddim")
    graph.remove_node(ids["control_image"])
    paint = graph.add_node("image.paint", {"width": size, "height": size, "color": "#ffffff",
                                           "mask_png": _mask_png((16, 16, 48, 48), size),
                                           "sketch_png": _sketch_png((8, 8, 30, 56),
                                                                     (0, 0, 0, 255), size)})
    graph.connect(paint.id, "image", ids["control"], "image")
    encode = graph.add_node("diffusion.vae_encode", {})
    graph.remove_node(ids["latent"])
    graph.connect(ids["checkpoint"], "vae", encode.id, "vae")
    graph.connect(paint.id, "image", encode.id, "image")
    graph.connect(paint.id, "mask", encode.id, "mask")
    graph.connect(encode.id, "latent", ids["sampler"], "latent")
    first = tiny_session.run(graph, outputs=[ids["decode"]])
    assert first.status == "finished", first.failed
    graph.set_value(paint.id, "sketch_png", _sketch_png((34, 20, 58, 44), (0, 0, 0, 255), size))
    second = tiny_session.run(graph, outputs=[ids["decode"]])
    assert ids["checkpoint"] not in second.executed and paint.id in second.executed
    a = first.outputs[ids["decode"]]["image"][0]
    b = second.outputs[ids["decode"]]["image"][0]
    assert a.shape == (size, size, 3) and np.abs(a - b).max() > 1e-3
