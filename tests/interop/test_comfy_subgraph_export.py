"""Subgraph instances written for ComfyUI as ComfyUI subgraphs (``definitions.subgraphs``):
the structure survives, ComfyUI runs the same prompt, and NodeStudio reads it back."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from nodestudio.app.formats import graph_from_data
from nodestudio.app.recipes import text_to_image
from nodestudio.graph.model import Graph
from nodestudio.graph.subgraphs import add_instance, make_subgraph
from nodestudio.interop.comfy import export_api_prompt, export_ui_workflow
from nodestudio.interop.comfy.prompt import is_link
from tests.interop.test_comfy_subgraph_families import flat_and_packed, flat_workflow


def _reopened(graph: Graph, registry) -> tuple[dict[str, Any], Graph]:
    workflow = json.loads(json.dumps(export_ui_workflow(graph, registry)))
    return workflow, graph_from_data(workflow, registry)


def _shape(prompt: dict[str, Any]) -> Counter:
    """The prompt without its ids: each node's class and values, its links by the class and
    values of their sources (what ComfyUI runs, whatever the nodes are numbered)."""
    def key(node_id: str) -> str:
        entry = prompt[node_id]
        values = {name: value for name, value in entry["inputs"].items() if not is_link(value)}
        return json.dumps([entry["class_type"], values], sort_keys=True)

    return Counter(
        (key(node_id), json.dumps(sorted(
            (name, key(str(value[0])), value[1])
            for name, value in entry["inputs"].items() if is_link(value))))
        for node_id, entry in prompt.items())


def _render_pair(registry, second_seed: int) -> Graph:
    """text to image with Sampler + VAE Decode packed as "Render" (seed promoted), and a
    second instance of it saving its own image with ``second_seed``."""
    graph, ids = text_to_image("nodestudio-shapes", "a red fox", "blurry")
    graph.set_value(ids["sampler"], "seed", 5)
    packed, definition, first = make_subgraph(graph, [ids["sampler"], ids["decode"]],
                                              name="Render", registry=registry,
                                              promote=[(ids["sampler"], "seed")])
    second = add_instance(packed, definition, values={"seed": second_seed}).id
    packed.move_node(second, (700.0, 500.0))
    for link in packed.links_into(first):
        packed.connect(link.source, link.output, second, link.input)
    save = packed.add_node("image.save", {"filename_prefix": "second"}).id
    packed.connect(second, definition.outputs[0].name, save, "images")
    return packed


def test_an_instance_becomes_a_comfyui_subgraph_and_runs_the_same_prompt(registry):
    _flat, packed = flat_and_packed(registry, flat_workflow("flux", "simple", "euler"), {7, 8})
    packed.set_mode(next(n.id for n in packed if n.type == "subgraph"), "bypassed")
    workflow, again = _reopened(packed, registry)
    (definition,) = workflow["definitions"]["subgraphs"]
    assert definition["id"] == next(iter(packed.definitions))
    assert sorted(n["type"] for n in definition["nodes"]) == ["KSampler", "VAEDecode"]
    assert {n["type"] for n in workflow["nodes"]}.isdisjoint({"KSampler", "VAEDecode"})
    (instance,) = [n for n in workflow["nodes"] if n["type"] == definition["id"]]
    assert instance["mode"] == 4 and {n["mode"] for n in definition["nodes"]} == {0}
    # Every link end names a node and slot that exist, and lists the link back.
    numbers = {n["id"]: n for n in workflow["nodes"]}
    for link_id, origin, origin_slot, target, target_slot, _kind in workflow["links"]:
        assert link_id in numbers[origin]["outputs"][origin_slot]["links"]
        assert numbers[target]["inputs"][target_slot]["link"] == link_id
    inner = {n["id"]: n for n in definition["nodes"]}
    for link in definition["links"]:
        if link["origin_id"] in inner:
            assert link["id"] in inner[link["origin_id"]]["outputs"][link["origin_slot"]][
                "links"]
        if link["target_id"] in inner:
            assert inner[link["target_id"]]["inputs"][link["target_slot"]]["link"] == link["id"]
    assert len(instance["inputs"]) == len(definition["inputs"]) == 5  # model, ± prompts, …
    assert len(instance["outputs"]) == len(definition["outputs"]) == 1
    # Read back: an instance again, bypassed, running the prompt the original runs.
    (back,) = [n for n in again if n.type == "subgraph"]
    assert back.mode == "bypassed"
    packed.set_mode(next(n.id for n in packed if n.type == "subgraph"), "normal")
    again.set_mode(back.id, "normal")
    assert _shape(export_api_prompt(again, registry)) == _shape(export_api_prompt(packed,
                                                                                  registry))


def test_instances_share_a_definition_only_when_their_nodes_come_out_the_same(registry):
    differing = _render_pair(registry, second_seed=9)
    workflow, again = _reopened(differing, registry)
    definitions = workflow["definitions"]["subgraphs"]
    assert len(definitions) == 2 and {d["name"] for d in definitions} == {"Render"}
    seeds = sorted(n["widgets_values"][0] for d in definitions for n in d["nodes"]
                   if n["type"] == "KSampler")
    assert seeds == [5, 9]
    assert _shape(export_api_prompt(again, registry)) == _shape(export_api_prompt(differing,
                                                                                  registry))
    same = _render_pair(registry, second_seed=5)
    workflow, again = _reopened(same, registry)
    (definition,) = workflow["definitions"]["subgraphs"]
    assert [n["type"] for n in workflow["nodes"]].count(definition["id"]) == 2
    assert _shape(export_api_prompt(again, registry)) == _shape(export_api_prompt(same,
                                                                                  registry))


def test_a_nested_instance_joins_the_outer_definition(registry):
    graph, ids = text_to_image("nodestudio-shapes", "a red fox", "blurry")
    inner, _definition, instance = make_subgraph(graph, [ids["sampler"], ids["decode"]],
                                                 name="Render", registry=registry)
    outer, _outer_definition, _ = make_subgraph(inner, [instance, ids["save"]],
                                                name="Render and save", registry=registry)
    workflow, again = _reopened(outer, registry)
    (definition,) = workflow["definitions"]["subgraphs"]
    assert definition["name"] == "Render and save"
    assert sorted(n["type"] for n in definition["nodes"]) == ["KSampler", "SaveImage",
                                                              "VAEDecode"]
    assert definition["outputs"] == []  # the saver inside: nothing read outside
    assert _shape(export_api_prompt(again, registry)) == _shape(export_api_prompt(outer,
                                                                                  registry))


def test_bend_points_of_links_that_moved_inside_are_dropped(registry):
    graph, ids = text_to_image("nodestudio-shapes", "a red fox", "blurry")
    graph.layout.reroutes[f"{ids['decode']}.latent"] = [(900.0, 300.0)]
    graph.layout.reroutes[f"{ids['positive']}.clip"] = [(200.0, 50.0)]
    packed, _definition, _ = make_subgraph(graph, [ids["sampler"], ids["decode"]],
                                           registry=registry)
    workflow, _again = _reopened(packed, registry)
    reroutes = workflow["extra"].get("reroutes", [])
    assert [r["pos"] for r in reroutes] == [[200.0, 50.0]]  # the outer link's bend stays


def test_a_link_from_one_instance_to_another(registry):
    graph, ids = text_to_image("nodestudio-shapes", "a red fox", "blurry")
    first, _, _ = make_subgraph(graph, [ids["sampler"]], name="Sample", registry=registry)
    both, _, _ = make_subgraph(first, [ids["decode"]], name="Decode", registry=registry)
    workflow, again = _reopened(both, registry)
    assert sorted(d["name"] for d in workflow["definitions"]["subgraphs"]) == ["Decode",
                                                                               "Sample"]
    types = {d["id"]: d["name"] for d in workflow["definitions"]["subgraphs"]}
    numbers = {n["id"]: types.get(n["type"], n["type"]) for n in workflow["nodes"]}
    assert ("Sample", "Decode") in {(numbers[link[1]], numbers[link[3]])
                                    for link in workflow["links"]}
    assert _shape(export_api_prompt(again, registry)) == _shape(export_api_prompt(both,
                                                                                  registry))


def test_the_cli_writes_subgraphs_or_their_nodes(registry, tmp_path):
    from nodestudio.cli import main
    from nodestudio.graph import files

    _flat, packed = flat_and_packed(registry, flat_workflow("flux", "simple", "euler"), {7, 8})
    source = tmp_path / "packed.json"
    files.save(packed, source)
    nested, flat = tmp_path / "nested.json", tmp_path / "flat.json"
    assert main(["export", str(source), "--comfy-workflow", str(nested)]) == 0
    assert main(["export", str(source), "--comfy-workflow", str(flat), "--flat-subgraphs"]) == 0
    nested_types = {n["type"] for n in json.loads(nested.read_text())["nodes"]}
    flat_types = {n["type"] for n in json.loads(flat.read_text())["nodes"]}
    assert "KSampler" in flat_types and "KSampler" not in nested_types
    assert next(iter(packed.definitions)) in nested_types
