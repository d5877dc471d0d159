"""The model-family search (families.py) goes upstream from a sampler and stops where another
model's latent comes in: another sampler, a VAE encoder. A ComfyUI subgraph instance that
wraps such a node must stop it the same way, or a second pass with an SD checkpoint after a
Flux pass packed into a subgraph is read as Flux (its scheduler names mapped as Flux's), which
the same flat workflow does not do. An instance that wraps no such node (prompts, a LoRA)
still lets the search through to the loaders that feed it.

The workflows are written by hand from ComfyUI's public version-1 format, with the packing
helper of test_comfy_subgraph_families.py (ComfyUI's "Convert to Subgraph")."""

from __future__ import annotations

import pytest

from nodestudio.app.formats import graph_from_data
from tests.interop.test_comfy_subgraph_families import (
    DEFINITION_ID,
    INSTANCE,
    _inner_and_outer,
    _link,
    _node,
    flat_workflow,
    packed,
)
from tests.interop.test_comfy_subgraph_families_reverse import nested_twice

#: The second pass: 20 SD checkpoint, 21 its prompt, 22 KSampler reading the first pass's
#: latent (node 7's), 23 decode, 24 save.
SECOND = "22"


def two_pass_workflow(scheduler: str) -> dict:
    """flat_workflow's Flux pass, then an SD 1.5 pass on its latent (a "refiner")."""
    data = flat_workflow("flux", "simple", "euler")
    data["nodes"] += [
        _node(20, "CheckpointLoaderSimple", ["sd15.safetensors"],
              outputs=[("MODEL", "MODEL", [20]), ("CLIP", "CLIP", [21]),
                       ("VAE", "VAE", [25])]),
        _node(21, "CLIPTextEncode", ["a red fox, detailed"], [("clip", "CLIP", 21)],
              [("CONDITIONING", "CONDITIONING", [22, 23])]),
        _node(22, "KSampler", [7, "fixed", 20, 7.0, "euler", scheduler, 0.5],
              [("model", "MODEL", 20), ("positive", "CONDITIONING", 22),
               ("negative", "CONDITIONING", 23), ("latent_image", "LATENT", 24)],
              [("LATENT", "LATENT", [26])]),
        _node(23, "VAEDecode", [], [("samples", "LATENT", 26), ("vae", "VAE", 25)],
              [("IMAGE", "IMAGE", [27])]),
        _node(24, "SaveImage", ["refined"], [("images", "IMAGE", 27)]),
    ]
    for node in data["nodes"]:
        if node["id"] == 7:
            node["outputs"][0]["links"].append(24)
    data["links"] += [_link(20, 20, 0, 22, 0, "MODEL"), _link(21, 20, 1, 21, 0, "CLIP"),
                      _link(22, 21, 0, 22, 1, "CONDITIONING"),
                      _link(23, 21, 0, 22, 2, "CONDITIONING"),
                      _link(24, 7, 0, 22, 3, "LATENT"), _link(25, 20, 2, 23, 1, "VAE"),
                      _link(26, 22, 0, 23, 0, "LATENT"), _link(27, 23, 0, 24, 0, "IMAGE")]
    return data


@pytest.mark.parametrize("scheduler", ["normal", "simple", "sgm_uniform"])
@pytest.mark.parametrize("pack", [
    lambda flat: packed(flat, {7}), lambda flat: packed(flat, {6, 7}),
    lambda flat: packed(flat, {4, 5, 6, 7}), lambda flat: nested_twice(flat, {7})],
    ids=["sampler", "latent+sampler", "prompts+latent+sampler", "nested-sampler"])
def test_an_instance_wrapping_a_sampler_stops_the_search_as_the_sampler_does(
        registry, scheduler, pack):
    flat_data = two_pass_workflow(scheduler)
    flat = graph_from_data(flat_data, registry)
    graph = graph_from_data(pack(flat_data), registry)
    assert graph.node(str(INSTANCE)).type == "subgraph" and "7" not in graph
    # The SD pass after the packed Flux pass is the flat workflow's SD pass, values too...
    assert graph.node(SECOND).type == flat.node(SECOND).type == "diffusion.sampler"
    assert graph.node(SECOND).values == flat.node(SECOND).values
    # ...and so is everything else, the Flux sampler inside included.
    assert _inner_and_outer(graph, registry) == _inner_and_outer(flat, registry)


def test_the_case_tells_the_families_apart(registry):
    """Read as Flux, the second pass's names would map otherwise: the test above can fail."""
    sd = graph_from_data(two_pass_workflow("normal"), registry)
    flux_data = two_pass_workflow("normal")
    flux_data["nodes"][-5]["type"] = "UNETLoader"  # the second pass on a Flux model
    flux_data["nodes"][-5]["widgets_values"] = ["flux.safetensors", "default"]
    flux = graph_from_data(flux_data, registry)
    assert sd.node(SECOND).values != flux.node(SECOND).values


@pytest.mark.parametrize("inner_ids", [{4, 5}, {4}], ids=["both-prompts", "one-prompt"])
def test_an_instance_without_a_sampler_lets_the_search_through(registry, inner_ids):
    """Prompts packed into a subgraph: the Flux text encoder outside still reaches the
    sampler through the instance (so does the UNET loader around it)."""
    flat_data = flat_workflow("flux", "normal", "euler")
    flat = graph_from_data(flat_data, registry)
    graph = graph_from_data(packed(flat_data, inner_ids), registry)
    assert graph.definitions[DEFINITION_ID].resolved
    assert graph.node("7").values == flat.node("7").values
    assert _inner_and_outer(graph, registry) == _inner_and_outer(flat, registry)
