"""Graph recipes: the usual graphs, laid out, valid for the built-in nodes, and they run."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import nodestudio
from nodestudio.app import recipes
from nodestudio.app.packs import create_registry
from nodestudio.app.settings import Settings
from nodestudio.engine.validate import validate
from nodestudio.interop.comfy import export_api_prompt

ROLES = ("checkpoint", "positive", "negative", "latent", "sampler", "decode", "save")


@pytest.fixture(scope="module")
def registry():
    loaded = create_registry(entry_points=False)
    assert not loaded.failures
    return loaded


def _laid_out_apart(graph) -> bool:
    positions = [graph.layout.nodes[node.id].pos for node in graph]
    return len(positions) == len(graph) and len(set(positions)) == len(positions)


def test_text_to_image_has_every_role_wired_and_laid_out(registry):
    graph, ids = recipes.text_to_image("my-model", "a red fox", "blurry", width=640, height=384,
                                       steps=12, cfg=5.5, seed=9, sampler="dpmpp_2m",
                                       scheduler="karras", filename_prefix="fox")
    assert tuple(ids) == ROLES and {graph.node(ids[r]).type for r in ROLES} == {
        "diffusion.load_checkpoint", "diffusion.text_encode", "diffusion.empty_latent",
        "diffusion.sampler", "diffusion.vae_decode", "image.save"}
    assert validate(graph, registry) == []
    assert graph.node(ids["sampler"]).values == {"seed": 9, "steps": 12, "cfg": 5.5,
                                                 "sampler": "dpmpp_2m", "scheduler": "karras"}
    assert graph.node(ids["negative"]).values["text"] == "blurry"
    assert graph.value(ids["latent"], "width") == 640
    assert graph.link_into(ids["sampler"], "negative").source == ids["negative"]
    assert _laid_out_apart(graph)
    # The loader sits left of the prompts, which sit left of the sampler, then decode, save.
    x = {role: graph.layout.nodes[ids[role]].pos[0] for role in ROLES}
    assert x["checkpoint"] < x["positive"] < x["sampler"] < x["decode"] < x["save"]


def test_the_defaults_are_the_nodes_own(registry):
    graph, ids = recipes.text_to_image("nodestudio-shapes", "")
    for node in graph:
        node_type = registry.get(node.type)
        defaults = node_type.default_values()
        for name, value in node.values.items():
            if name not in ("checkpoint", "text"):
                assert value == defaults[name], (node.type, name)
    assert export_api_prompt(graph, registry)[ids["sampler"]]["class_type"] == "KSampler"


def test_controlnet_recipe_puts_the_control_between_prompts_and_sampler(registry):
    graph, ids = recipes.controlnet_text_to_image(
        "my-model", "a vase", "my-canny", "edges.png", "ugly", preprocessor="preprocess.canny",
        strength=0.8, end_percent=0.6, steps=8)
    assert validate(graph, registry) == []
    for half in ("positive", "negative"):
        assert graph.link_into(ids["sampler"], half).source == ids["control"]
        assert graph.link_into(ids["control"], half).source == ids[half]
    assert graph.link_into(ids["control"], "image").source == ids["preprocessor"]
    assert graph.link_into(ids["preprocessor"], "image").source == ids["control_image"]
    assert graph.value(ids["control"], "strength") == 0.8
    assert graph.value(ids["sampler"], "steps") == 8
    assert _laid_out_apart(graph)
    plain, plain_ids = recipes.controlnet_text_to_image("m", "p", "c", "hint.png")
    assert "preprocessor" not in plain_ids
    assert plain.link_into(plain_ids["control"], "image").source == plain_ids["control_image"]


@pytest.mark.slow
def test_both_recipes_run_on_the_tiny_models(tiny_models, registry, tmp_path):
    (tmp_path / "input").mkdir()
    hint = (np.random.default_rng(2).random((32, 32, 3)) * 255).astype(np.uint8)
    Image.fromarray(hint).save(tmp_path / "input" / "hint.png")
    session = nodestudio.Session(device="cpu", models_dir=tiny_models.root, registry=registry,
                                 output_dir=tmp_path / "output", input_dir=tmp_path / "input",
                                 settings=Settings())
    size = {"width": 32, "height": 32, "steps": 2}
    graph, ids = recipes.text_to_image(tiny_models.sd_folder, "a red square", **size)
    plain = session.run(graph)
    image = plain.outputs[ids["decode"]]["image"]
    assert image.shape == (1, 32, 32, 3) and len(plain.files) == 1
    graph, ids = recipes.controlnet_text_to_image(
        tiny_models.sd_folder, "a red square", tiny_models.controlnet_folder, "hint.png",
        preprocessor="preprocess.canny", **size)
    controlled = session.run(graph)
    assert ids["preprocessor"] in controlled.executed
    assert np.abs(controlled.outputs[ids["decode"]]["image"] - image).max() > 1e-3
