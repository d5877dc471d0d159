"""The subgraph templates shipped in resources/templates/: each one, added to a graph with
its required inputs, validates and runs on the demo model (nodestudio-shapes)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import nodestudio
from nodestudio.app import recipes
from nodestudio.app.packs import create_registry
from nodestudio.app.settings import Settings
from nodestudio.graph.subgraph_files import definition_from_json
from nodestudio.graph.subgraphs import add_instance
from nodestudio.paths import resources_dir

TEMPLATES = resources_dir() / "templates"
#: The picture shipped with the example workflows (Load Image falls back to it).
PICTURE = "controlnet_shape.png"


@pytest.fixture(scope="module")
def registry():
    loaded = create_registry(entry_points=False)
    assert not loaded.failures
    return loaded


@pytest.fixture(scope="module")
def session(registry, tmp_path_factory):
    root = tmp_path_factory.mktemp("templates")
    (root / "input").mkdir()
    return nodestudio.Session(device="cpu", registry=registry, output_dir=root / "output",
                              input_dir=root / "input", settings=Settings())


def template(name: str):
    definition = definition_from_json(
        json.loads((TEMPLATES / f"{name}.json").read_text(encoding="utf-8")), 0)
    assert definition.resolved, definition.problem
    return definition


def test_every_template_is_listed_and_readable():
    names = {template(path.stem).name for path in TEMPLATES.glob("*.json")}
    assert {"Hires fix", "Img2img", "Inpaint"} <= names


def _wire_common(graph, ids, instance_id):
    checkpoint = ids["checkpoint"]
    graph.connect(checkpoint, "model", instance_id, "model")
    graph.connect(ids["positive"], "conditioning", instance_id, "positive")
    graph.connect(ids["negative"], "conditioning", instance_id, "negative")


def _run(session, graph, instance_id):
    assert session.validate(graph) == []
    result = session.run(graph)
    inner = {node_id for node_id in result.executed if node_id.startswith(f"{instance_id}/")}
    assert inner, "the template's inner nodes did not run"
    return result


@pytest.mark.slow  # two samplings, the second larger: about a minute on two busy cores
def test_hires_fix_enlarges_on_the_demo_model(session):
    graph, ids = recipes.text_to_image("nodestudio-shapes", "a large red circle", steps=2,
                                       width=64, height=64)
    instance = add_instance(graph, template("hires_fix"), values={"steps": 2, "denoise": 0.5,
                                                                   "scale_by": 1.25})
    graph.disconnect(ids["decode"], "latent")
    graph.connect(ids["sampler"], "latent", instance.id, "latent")
    _wire_common(graph, ids, instance.id)
    graph.connect(instance.id, "latent", ids["decode"], "latent")
    result = _run(session, graph, instance.id)
    image = result.outputs[ids["decode"]]["image"]
    assert image.shape == (1, 80, 80, 3)  # the demo model draws 64 × 64; scale_by 1.25


@pytest.mark.parametrize("name", ["img2img", "inpaint"])
def test_picture_templates_run_on_the_demo_model(session, name):
    graph, ids = recipes.text_to_image("nodestudio-shapes", "a large blue square", steps=2)
    for role in ("latent", "sampler", "decode"):
        graph.remove_node(ids[role])
    load = graph.add_node("image.load", {"image": PICTURE})
    instance = add_instance(graph, template(name), values={"steps": 2})
    graph.connect(ids["checkpoint"], "vae", instance.id, "vae")
    graph.connect(load.id, "image", instance.id, "image")
    if name == "inpaint":
        mask = graph.add_node("mask.solid", {"value": 1.0, "width": 64, "height": 64})
        graph.connect(mask.id, "mask", instance.id, "mask")
    _wire_common(graph, ids, instance.id)
    graph.connect(instance.id, "image", ids["save"], "images")
    result = _run(session, graph, instance.id)
    assert len(result.files) == 1
    image = result.outputs[f"{instance.id}/decode_image"]["image"]
    assert image.shape == (1, 64, 64, 3) and np.isfinite(image).all()


def test_a_template_missing_a_required_input_is_refused_with_its_path(session):
    graph, ids = recipes.text_to_image("nodestudio-shapes", "a red circle", steps=2)
    instance = add_instance(graph, template("hires_fix"))
    graph.disconnect(ids["decode"], "latent")
    graph.connect(instance.id, "latent", ids["decode"], "latent")
    problems = session.validate(graph)
    assert problems and any("Hires fix" in str(problem) for problem in problems)


def test_read_graph_resolves_the_users_library(tmp_path, monkeypatch, registry):
    """Opening a file that refers to a library subgraph fills it in from the library folder
    (NODESTUDIO_HOME/subgraphs), and names the folder when it is missing."""
    from nodestudio.app.formats import read_graph
    from nodestudio.app.subgraph_library import SubgraphLibrary
    from nodestudio.graph import dumps

    monkeypatch.setenv("NODESTUDIO_HOME", str(tmp_path / "home"))
    graph, _ids = recipes.text_to_image("nodestudio-shapes", "a red circle", steps=2)
    library = SubgraphLibrary()
    definition = template("hires_fix")
    library.save(definition)
    add_instance(graph, library.load(definition.id, definition.version))
    path = tmp_path / "uses_library.json"
    path.write_text(dumps(graph), encoding="utf-8")
    assert json.loads(path.read_text())["definitions"][0].get("library") is True
    reopened = read_graph(path, registry)
    assert reopened.definitions[definition.id].resolved
    assert reopened.definitions[definition.id].graph == definition.graph
    monkeypatch.setenv("NODESTUDIO_HOME", str(tmp_path / "elsewhere"))
    missing = read_graph(path, registry)
    assert not missing.definitions[definition.id].resolved
    assert any(str(tmp_path / "elsewhere") in w.message for w in missing.load_warnings)


def test_a_subgraph_file_opened_as_a_graph_says_what_it_is_and_where_it_goes(tmp_path,
                                                                            monkeypatch):
    # Before, the ComfyUI reader took it (it too has "nodes" and "links"): every node became
    # a placeholder "ComfyUI node type 'diffusion.sampler' has no NodeStudio equivalent".
    with pytest.raises(nodestudio.graph.GraphFileError) as shipped:
        nodestudio.load_graph(TEMPLATES / "hires_fix.json")
    assert shipped.value.summary.endswith(
        "hires_fix.json: this is a NodeStudio subgraph ('Hires fix'), not a graph")
    assert [p.message for p in shipped.value.problems] == [
        "the Nodes panel offers it under Subgraphs: add it to a graph from there"]
    shared = json.loads((TEMPLATES / "hires_fix.json").read_text())
    shared.update(id="studio.upscale", name="Upscale 2x")
    (tmp_path / "upscale.json").write_text(json.dumps(shared))
    monkeypatch.setenv("NODESTUDIO_HOME", str(tmp_path / "home"))
    with pytest.raises(nodestudio.graph.GraphFileError) as theirs:
        nodestudio.load_graph(tmp_path / "upscale.json")
    place = tmp_path / "home" / "subgraphs" / "studio_upscale@1.json"
    assert [p.message for p in theirs.value.problems] == [
        f"drop it on the window's canvas to add it to a graph, or copy it to {place} for the "
        "Nodes panel to offer it under Subgraphs"]
