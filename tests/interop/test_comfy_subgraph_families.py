"""A Flux or SD3 sampler inside a ComfyUI subgraph whose loaders are outside it: the model
family the outer graph implies reaches the inner mapping, so the inner nodes import exactly as
the same nodes of a flat workflow do (flow scheduler names, not SD ones).

The workflows are written by hand from ComfyUI's public version-1 format: a definition in
``definitions.subgraphs`` is a graph whose boundary links start at node -10 (its inputs) and
end at node -20 (its outputs); an instance is a node whose type is the definition's UUID."""

from __future__ import annotations

import copy

import pytest

from nodestudio.app.formats import graph_from_data
from nodestudio.graph.subgraph_flatten import flatten

DEFINITION_ID = "9b0f6c1e-3d2a-4e5f-8a7b-1c2d3e4f5a6b"
INSTANCE = 100


def _node(node_id, kind, widgets, inputs=(), outputs=()):
    return {"id": node_id, "type": kind, "pos": [100 * node_id, 100], "size": [300, 100],
            "flags": {}, "order": node_id, "mode": 0,
            "inputs": [{"name": name, "type": kind_, "link": link}
                       for name, kind_, link in inputs],
            "outputs": [{"name": name, "type": kind_, "links": links}
                        for name, kind_, links in outputs],
            "properties": {"Node name for S&R": kind}, "widgets_values": widgets}


def _link(link_id, origin, origin_slot, target, target_slot, kind):
    return {"id": link_id, "origin_id": origin, "origin_slot": origin_slot,
            "target_id": target, "target_slot": target_slot, "type": kind}


def flat_workflow(family: str, scheduler: str, sampler: str) -> dict:
    """Split-file loaders (a Flux or SD3 text encoder pair) -> prompts -> KSampler -> decode."""
    nodes = [
        _node(1, "UNETLoader", ["model.safetensors", "default"],
              outputs=[("MODEL", "MODEL", [1])]),
        _node(2, "DualCLIPLoader", ["t5xxl.safetensors", "clip_l.safetensors", family,
                                    "default"], outputs=[("CLIP", "CLIP", [2, 3])]),
        _node(3, "VAELoader", ["ae.safetensors"], outputs=[("VAE", "VAE", [8])]),
        _node(4, "CLIPTextEncode", ["a red fox"], [("clip", "CLIP", 2)],
              [("CONDITIONING", "CONDITIONING", [4])]),
        _node(5, "CLIPTextEncode", [""], [("clip", "CLIP", 3)],
              [("CONDITIONING", "CONDITIONING", [5])]),
        _node(6, "EmptySD3LatentImage", [64, 64, 1], outputs=[("LATENT", "LATENT", [6])]),
        _node(7, "KSampler", [42, "fixed", 4, 3.5, sampler, scheduler, 1.0],
              [("model", "MODEL", 1), ("positive", "CONDITIONING", 4),
               ("negative", "CONDITIONING", 5), ("latent_image", "LATENT", 6)],
              [("LATENT", "LATENT", [7])]),
        _node(8, "VAEDecode", [], [("samples", "LATENT", 7), ("vae", "VAE", 8)],
              [("IMAGE", "IMAGE", [9])]),
        _node(9, "SaveImage", ["ComfyUI"], [("images", "IMAGE", 9)]),
    ]
    links = [_link(1, 1, 0, 7, 0, "MODEL"), _link(2, 2, 0, 4, 0, "CLIP"),
             _link(3, 2, 0, 5, 0, "CLIP"), _link(4, 4, 0, 7, 1, "CONDITIONING"),
             _link(5, 5, 0, 7, 2, "CONDITIONING"), _link(6, 6, 0, 7, 3, "LATENT"),
             _link(7, 7, 0, 8, 0, "LATENT"), _link(8, 3, 0, 8, 1, "VAE"),
             _link(9, 8, 0, 9, 0, "IMAGE")]
    return {"id": "5e7a1c3b-0000-4000-8000-000000000001", "revision": 0,
            "last_node_id": 9, "last_link_id": 9, "nodes": nodes, "links": links,
            "groups": [], "config": {}, "extra": {}, "version": 1,
            "state": {"lastNodeId": 9, "lastLinkId": 9, "lastGroupId": 0,
                      "lastRerouteId": 0}}


def packed(flat: dict, inner_ids: set[int]) -> dict:
    """``flat`` with the nodes ``inner_ids`` moved into one definition used by node 100, as
    ComfyUI's "Convert to Subgraph" writes it: each link crossing in becomes a definition
    input (a link from -10), each crossing out a definition output (a link to -20)."""
    data = copy.deepcopy(flat)
    inner = [node for node in data["nodes"] if node["id"] in inner_ids]
    data["nodes"] = [node for node in data["nodes"] if node["id"] not in inner_ids]
    outer_links, inner_links = [], []
    inputs, outputs, instance_in, instance_out = [], [], [], []
    for link in data["links"]:
        start, end = link["origin_id"] in inner_ids, link["target_id"] in inner_ids
        if start and end:
            inner_links.append(link)
        elif end:  # crossing in: -10 slot k inside, the instance's input k outside
            slot = len(inputs)
            name = f"in_{slot}"
            inputs.append({"id": f"in-{slot}", "name": name, "type": link["type"],
                           "linkIds": [link["id"]], "localized_name": name})
            inner_links.append({**link, "origin_id": -10, "origin_slot": slot})
            outer_links.append({**link, "target_id": INSTANCE, "target_slot": slot})
            instance_in.append({"name": name, "type": link["type"], "link": link["id"]})
        elif start:  # crossing out
            slot = len(outputs)
            name = f"out_{slot}"
            outputs.append({"id": f"out-{slot}", "name": name, "type": link["type"],
                            "linkIds": [link["id"]], "localized_name": name})
            inner_links.append({**link, "target_id": -20, "target_slot": slot})
            outer_links.append({**link, "origin_id": INSTANCE, "origin_slot": slot})
            instance_out.append({"name": name, "type": link["type"], "links": [link["id"]]})
        else:
            outer_links.append(link)
    data["links"] = outer_links
    data["nodes"].append({"id": INSTANCE, "type": DEFINITION_ID, "pos": [700, 100],
                          "size": [300, 100], "flags": {}, "order": 7, "mode": 0,
                          "inputs": instance_in, "outputs": instance_out, "properties": {},
                          "widgets_values": []})
    data["definitions"] = {"subgraphs": [{
        "id": DEFINITION_ID, "version": 1, "revision": 0, "name": "Sample",
        "state": {"lastNodeId": 9, "lastLinkId": 9, "lastGroupId": 0, "lastRerouteId": 0},
        "config": {}, "inputNode": {"id": -10, "bounding": [0, 0, 120, 160]},
        "outputNode": {"id": -20, "bounding": [1500, 0, 120, 60]},
        "inputs": inputs, "outputs": outputs, "widgets": [], "nodes": inner,
        "links": inner_links, "groups": [], "extra": {}}]}
    return data


def _inner_and_outer(graph, registry) -> dict[str, tuple[str, dict]]:
    """Every node of the flattened graph by its id with the instance prefix removed."""
    flat = flatten(graph, registry).graph
    return {node.id.split("/")[-1]: (node.type, node.values) for node in flat}


def flat_and_packed(registry, flat_data: dict, inner_ids: set[int]):
    """The workflow imported as it is and with ``inner_ids`` packed into one subgraph
    instance (checked: the instance, and exactly those nodes inside)."""
    flat = graph_from_data(flat_data, registry)
    graph = graph_from_data(packed(flat_data, inner_ids), registry)
    assert graph.node(str(INSTANCE)).type == "subgraph"
    definition = graph.definitions[DEFINITION_ID]
    assert {node.id for node in definition.graph} == {str(i) for i in inner_ids}
    return flat, graph


@pytest.mark.parametrize(("family", "scheduler", "sampler"), [
    ("flux", "simple", "euler"), ("flux", "normal", "euler"), ("sd3", "sgm_uniform", "euler"),
    ("sd3", "simple", "heun")])
@pytest.mark.parametrize("inner_ids", [{7}, {7, 8}], ids=["sampler", "sampler+decode"])
def test_inner_sampler_takes_the_family_of_the_outer_loaders(registry, family, scheduler,
                                                            sampler, inner_ids):
    flat, graph = flat_and_packed(registry, flat_workflow(family, scheduler, sampler),
                                  inner_ids)
    # The inner sampler (and everything else) is what the flat workflow's is, values too.
    assert _inner_and_outer(graph, registry) == _inner_and_outer(flat, registry)
    expected = flat.node("7")
    definition = graph.definitions[DEFINITION_ID]
    assert definition.graph.node("7").type == expected.type == "diffusion.sampler"
    assert definition.graph.node("7").values == expected.values
    # Nothing about the sampler's names is said that the flat import does not say.
    said = sorted(p.message for p in graph.load_warnings if "scheduler" in p.message)
    assert len(said) == len([p for p in flat.load_warnings if "scheduler" in p.message])
    # The case tells the families apart: with SD signs outside the names map otherwise.
    sd = graph_from_data(sd_flat_workflow(scheduler, sampler), registry)
    assert sd.node("7").values != expected.values


def sd_flat_workflow(scheduler: str, sampler: str) -> dict:
    """``flat_workflow`` with an SD checkpoint and SD signs only."""
    data = flat_workflow("flux", scheduler, sampler)
    data["nodes"][0] = _node(1, "CheckpointLoaderSimple", ["sd15.safetensors"],
                             outputs=[("MODEL", "MODEL", [1]), ("CLIP", "CLIP", []),
                                      ("VAE", "VAE", [])])
    data["nodes"][1]["widgets_values"][2] = "stable_diffusion"
    data["nodes"][5]["type"] = "EmptyLatentImage"
    return data


def test_an_sd_checkpoint_outside_keeps_the_sd_names_inside(registry):
    """No flow sign outside: the inner sampler keeps the discrete (SD) mapping."""
    flat_data = sd_flat_workflow("karras", "euler")
    flat = graph_from_data(flat_data, registry)
    graph = graph_from_data(packed(flat_data, {7}), registry)
    assert _inner_and_outer(graph, registry) == _inner_and_outer(flat, registry)


def test_one_definition_used_with_two_families_warns(registry):
    """A definition is mapped once; used below a Flux and an SD model, the import says so."""
    data = packed(flat_workflow("flux", "simple", "euler"), {7})
    second = copy.deepcopy(next(n for n in data["nodes"] if n["id"] == INSTANCE))
    second["id"] = 101
    for slot in second["inputs"]:
        slot["link"] = None
    second["outputs"][0]["links"] = []
    data["nodes"].append(second)
    data["nodes"].append(_node(20, "CheckpointLoaderSimple", ["sd15.safetensors"],
                               outputs=[("MODEL", "MODEL", [20]), ("CLIP", "CLIP", []),
                                        ("VAE", "VAE", [])]))
    data["links"].append(_link(20, 20, 0, 101, 0, "MODEL"))
    second["inputs"][0]["link"] = 20
    graph = graph_from_data(data, registry)
    flat = _inner_and_outer(graph_from_data(flat_workflow("flux", "simple", "euler"),
                                            registry), registry)
    assert flatten(graph, registry).graph.node("100/7").values == flat["7"][1]
    assert any("Sample" in p.message and "flux" in p.message.lower()
               for p in graph.load_warnings), [p.message for p in graph.load_warnings]
