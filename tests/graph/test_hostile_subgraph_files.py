"""Hostile subgraph definitions in NodeStudio files and ComfyUI workflows, as the fuzz
campaign (tests/benchmarks/fuzz_campaign.py) found them once its seeds held subgraphs: each
is refused with a GraphFileError or kept unread, and what loads saves and reopens equal."""

from __future__ import annotations

import json
import math

import pytest

from nodestudio.app.formats import read_graph_bytes
from nodestudio.app.packs import create_registry
from nodestudio.app.recipes import text_to_image
from nodestudio.graph import files
from nodestudio.graph.problems import GraphFileError
from nodestudio.graph.subgraphs import make_subgraph
from nodestudio.interop.comfy import export_ui_workflow

REGISTRY = create_registry(entry_points=False)


def _packed_document() -> dict:
    graph, ids = text_to_image("nodestudio-shapes", "a red fox", "blurry")
    packed, _definition, _ = make_subgraph(graph, [ids["sampler"], ids["decode"]],
                                           name="Render", registry=REGISTRY)
    return json.loads(files.dumps(packed))


def _read(document: dict):
    return read_graph_bytes(json.dumps(document).encode(), REGISTRY)


@pytest.mark.parametrize("targets", ["ab", [["sampler"]], [[None, "model"]], 7])
def test_a_garbled_input_target_keeps_the_definition_unread(targets):
    document = _packed_document()
    document["definitions"][0]["inputs"][0]["targets"] = targets
    graph = _read(document)  # an IndexError once
    (definition,) = graph.definitions.values()
    assert not definition.resolved and "could not be read" in definition.problem
    assert files.loads(files.dumps(graph), REGISTRY) == graph


def _nested(levels: int) -> list:
    value: list = []
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize("value", [math.nan, _nested(300)], ids=["nan", "deep"])
def test_an_unwritable_value_in_an_unreadable_definition_refuses_the_file(value):
    """Kept unread, NaN could not be saved and hostile nesting not even copied (a
    RecursionError once): refused, as the same in a top-level node is."""
    document = _packed_document()
    entry = document["definitions"][0]
    entry["outputs"][0]["source"] = "garbled"  # unreadable …
    entry["nodes"][0]["values"]["cfg"] = value  # … and unwritable
    with pytest.raises(GraphFileError, match="unreadable subgraph definition"):
        _read(document)


def test_a_comfyui_definition_kept_unread_reopens_equal_from_a_nodestudio_file():
    """Its reason reads differently from a NodeStudio file; the definition is the same."""
    graph, ids = text_to_image("nodestudio-shapes", "a red fox", "blurry")
    packed, _definition, _ = make_subgraph(graph, [ids["sampler"], ids["decode"]],
                                           name="Render", registry=REGISTRY)
    workflow = export_ui_workflow(packed, REGISTRY)
    workflow["definitions"]["subgraphs"][0]["outputs"] = "garbled"
    imported = _read(workflow)
    (definition,) = imported.definitions.values()
    assert not definition.resolved
    again = files.loads(files.dumps(imported), REGISTRY)
    assert again == imported
    assert again.definitions[definition.id].problem != definition.problem


def test_a_latent_feeding_its_own_sampler_model_is_no_crash():
    """A workflow whose Empty Latent looks for its model through a subgraph's Sampler that
    takes the model from that same latent node: imported, the warning kept."""
    graph, ids = text_to_image("nodestudio-shapes", "a red fox", "blurry")
    packed, _definition, _ = make_subgraph(graph, [ids["sampler"], ids["decode"]],
                                           name="Render", registry=REGISTRY)
    workflow = export_ui_workflow(packed, REGISTRY)
    latent = next(n for n in workflow["nodes"] if n["type"] == "EmptyLatentImage")
    instance = next(n for n in workflow["nodes"] if n["type"] not in (
        "CheckpointLoaderSimple", "CLIPTextEncode", "EmptyLatentImage", "SaveImage"))
    model_link = instance["inputs"][0]["link"]
    for link in workflow["links"]:
        if link[0] == model_link:
            link[1], link[2] = latent["id"], 0  # the model input now reads the latent
    imported = _read(workflow)
    assert files.loads(files.dumps(imported), REGISTRY) == imported
