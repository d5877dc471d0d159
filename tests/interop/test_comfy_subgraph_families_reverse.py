"""A Flux or SD3 loader inside a ComfyUI subgraph whose sampler is outside it: the parent
graph reads the instance as it would read the loaders themselves, so the outer sampler imports
exactly as the same sampler of a flat workflow does (flow scheduler names, not SD ones).

The workflows are written by hand from ComfyUI's public version-1 format (see
test_comfy_subgraph_families.py, whose flat workflows and packing helper these reuse: a
definition in ``definitions.subgraphs`` is a graph whose boundary links start at node -10 and
end at node -20; an instance is a node whose type is the definition's UUID)."""

from __future__ import annotations

import copy

import pytest

from nodestudio.app.formats import graph_from_data
from tests.interop.test_comfy_subgraph_families import (
    DEFINITION_ID,
    INSTANCE,
    _inner_and_outer,
    flat_and_packed,
    flat_workflow,
    packed,
    sd_flat_workflow,
)

NESTED_ID = "2c4e6a8b-1d3f-4a5b-9c7d-0e1f2a3b4c5d"
#: The flat workflow's nodes: 1 UNETLoader, 2 DualCLIPLoader, 3 VAELoader, 4/5 prompts,
#: 6 EmptySD3LatentImage, 7 KSampler, 8 VAEDecode, 9 SaveImage.
EVERY_SIGN = {1, 2, 3, 4, 5, 6}


def nested_twice(flat: dict, inner_ids: set[int]) -> dict:
    """``inner_ids`` packed into definition NESTED_ID, whose instance is then packed into
    DEFINITION_ID: the loaders sit two levels down."""
    once = packed(flat, inner_ids)
    inner = once["definitions"]["subgraphs"][0]
    inner["id"] = NESTED_ID
    for node in once["nodes"]:
        if node["id"] == INSTANCE:
            node["type"] = NESTED_ID
    twice = packed(once, {INSTANCE})
    twice["definitions"]["subgraphs"].append(inner)
    return twice


def _sampler_values(graph) -> dict:
    return graph.node("7").values


@pytest.mark.parametrize(("family", "scheduler", "sampler"), [
    ("flux", "simple", "euler"), ("flux", "normal", "euler"), ("sd3", "sgm_uniform", "euler"),
    ("sd3", "simple", "heun")])
@pytest.mark.parametrize("inner_ids", [{1, 2}, {1, 2, 3}, EVERY_SIGN],
                         ids=["loaders", "loaders+vae", "every-sign"])
def test_outer_sampler_takes_the_family_of_the_loaders_inside(registry, family, scheduler,
                                                             sampler, inner_ids):
    flat, graph = flat_and_packed(registry, flat_workflow(family, scheduler, sampler),
                                  inner_ids)
    assert "7" in graph and "1" not in graph  # the sampler outside, the loader inside
    # Every node, the outer sampler included, is what the flat workflow's is, values too.
    assert _inner_and_outer(graph, registry) == _inner_and_outer(flat, registry)
    assert graph.node("7").type == flat.node("7").type == "diffusion.sampler"
    assert _sampler_values(graph) == _sampler_values(flat)
    said = [p.message for p in graph.load_warnings if "scheduler" in p.message]
    assert len(said) == len([p for p in flat.load_warnings if "scheduler" in p.message])
    # The case tells the families apart: an SD checkpoint maps these names otherwise.
    sd = graph_from_data(sd_flat_workflow(scheduler, sampler), registry)
    assert _sampler_values(sd) != _sampler_values(flat)


@pytest.mark.parametrize(("family", "scheduler"), [("flux", "simple"), ("sd3", "sgm_uniform")])
def test_loaders_in_a_nested_subgraph_reach_the_outer_sampler(registry, family, scheduler):
    flat_data = flat_workflow(family, scheduler, "euler")
    flat = graph_from_data(flat_data, registry)
    graph = graph_from_data(nested_twice(flat_data, EVERY_SIGN), registry)
    outer = graph.definitions[DEFINITION_ID]
    assert [node.type for node in outer.graph] == ["subgraph"]
    assert NESTED_ID in graph.definitions
    assert _inner_and_outer(graph, registry) == _inner_and_outer(flat, registry)
    assert _sampler_values(graph) == _sampler_values(flat)


def test_a_loader_subgraph_feeding_a_sampler_subgraph(registry):
    """Loaders in one definition, the sampler in another: the sampler's definition is fed
    by an instance whose family comes from inside it."""
    flat_data = flat_workflow("flux", "simple", "euler")
    flat = graph_from_data(flat_data, registry)
    loaders = packed(flat_data, EVERY_SIGN)
    loaders["definitions"]["subgraphs"][0]["id"] = NESTED_ID
    loaders["nodes"][-1]["type"] = NESTED_ID
    loaders["nodes"][-1]["id"] = 200
    for link in loaders["links"]:
        for end in ("origin_id", "target_id"):
            if link[end] == INSTANCE:
                link[end] = 200
    both = packed(loaders, {7})
    both["definitions"]["subgraphs"].append(copy.deepcopy(
        loaders["definitions"]["subgraphs"][0]))
    graph = graph_from_data(both, registry)
    assert {graph.node("100").type, graph.node("200").type} == {"subgraph"}
    assert _inner_and_outer(graph, registry) == _inner_and_outer(flat, registry)


@pytest.mark.parametrize("inner_ids", [{1}, EVERY_SIGN], ids=["checkpoint", "every-sign"])
def test_an_sd_checkpoint_inside_keeps_the_sd_names_outside(registry, inner_ids):
    """No flow sign inside: the outer sampler keeps the discrete (SD) mapping."""
    flat_data = sd_flat_workflow("normal", "euler")
    flat = graph_from_data(flat_data, registry)
    graph = graph_from_data(packed(flat_data, inner_ids), registry)
    assert "1" not in graph and "7" in graph
    assert _inner_and_outer(graph, registry) == _inner_and_outer(flat, registry)
    assert _sampler_values(graph) == _sampler_values(flat)
    # And it is the SD mapping: the same names under Flux loaders come out otherwise.
    flux = graph_from_data(flat_workflow("flux", "normal", "euler"), registry)
    assert _sampler_values(flux) != _sampler_values(flat)
