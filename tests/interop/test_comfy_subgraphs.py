"""Subgraph instances in ComfyUI API prompts: flattened under ComfyUI's ``outer:inner`` ids."""

from __future__ import annotations

import copy
import json

from nodestudio.app.formats import graph_from_data
from nodestudio.graph import files
from nodestudio.graph.problems import GraphFileError
from nodestudio.graph.subgraph_flatten import flatten
from nodestudio.graph.subgraphs import make_subgraph
from nodestudio.interop.comfy import export_api_prompt


def _renamed(prompt: dict, mapping: dict[str, str]) -> dict:
    """``prompt`` with node ids (keys and link sources) renamed as ComfyUI's backend does."""
    renamed = {}
    for key, entry in prompt.items():
        inputs = {name: [mapping.get(value[0], value[0]), value[1]]
                  if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
                  else value for name, value in entry["inputs"].items()}
        renamed[mapping.get(key, key)] = {**entry, "inputs": inputs}
    return renamed


def test_api_export_flattens_instances_with_outer_inner_ids(registry, example):
    graph = graph_from_data(example("text_to_image.json"), registry)
    plain = export_api_prompt(graph, registry)
    sampler = next(n.id for n in graph if plain[n.id]["class_type"] == "KSampler")
    decode = next(n.id for n in graph if plain[n.id]["class_type"] == "VAEDecode")
    packed, _, inner = make_subgraph(graph, [sampler, decode], name="Sample",
                                     registry=registry)
    exported = export_api_prompt(packed, registry)
    mapping = {sampler: f"{inner}:{sampler}", decode: f"{inner}:{decode}"}
    assert exported == _renamed(plain, mapping)
    assert exported[f"{inner}:{decode}"]["inputs"]["samples"] == [f"{inner}:{sampler}", 0]
    assert inner not in exported


def test_nested_instances_export_with_chained_ids(registry, example):
    graph = graph_from_data(example("text_to_image.json"), registry)
    plain = export_api_prompt(graph, registry)
    sampler = next(n.id for n in graph if plain[n.id]["class_type"] == "KSampler")
    decode = next(n.id for n in graph if plain[n.id]["class_type"] == "VAEDecode")
    packed, _, inner = make_subgraph(graph, [sampler], registry=registry)
    nested, _, outer = make_subgraph(packed, [inner, decode], registry=registry)
    exported = export_api_prompt(nested, registry)
    mapping = {sampler: f"{outer}:{inner}:{sampler}", decode: f"{outer}:{decode}"}
    assert exported == _renamed(plain, mapping)


# -- import: ComfyUI subgraph definitions ------------------------------------------------------
# The workflows below are written from ComfyUI's public format: a definition is a version-1
# graph in ``definitions.subgraphs`` whose boundary links start at node -10 (its inputs) and
# end at node -20 (its outputs); an instance is a node whose type is the definition's UUID.

SAMPLE_ID = "5f1c2a9e-7b3d-4c8e-9a61-0d2e4f6b8a10"
NESTED_ID = "0a7e3b51-2c4d-4f6e-8b19-3c5d7e9f1a22"
SEED, INNER_SEED = 1234, 999


def _link(link_id, origin, origin_slot, target, target_slot, kind):
    return {"id": link_id, "origin_id": origin, "origin_slot": origin_slot,
            "target_id": target, "target_slot": target_slot, "type": kind}


def _sample_definition(seed_input: bool = True) -> dict:
    """KSampler + VAEDecode packed, as ComfyUI writes it; the seed is a definition input
    linked to the sampler's seed widget (a promoted widget) when ``seed_input``."""
    inputs = [("model", "MODEL", 3, 0, 10), ("positive", "CONDITIONING", 3, 1, 11),
              ("negative", "CONDITIONING", 3, 2, 12), ("latent_image", "LATENT", 3, 3, 13),
              ("vae", "VAE", 8, 1, 14)]
    if seed_input:
        inputs.append(("seed", "INT", 3, 4, 15))
    sampler_inputs = [{"name": name, "type": kind, "link": link}
                      for name, kind, node, _, link in inputs if node == 3]
    if seed_input:
        sampler_inputs[-1]["widget"] = {"name": "seed"}
    links = [_link(link, -10, slot, node, target_slot, kind)
             for slot, (_, kind, node, target_slot, link) in enumerate(inputs)]
    links += [_link(7, 3, 0, 8, 0, "LATENT"), _link(16, 8, 0, -20, 0, "IMAGE")]
    return {
        "id": SAMPLE_ID, "version": 1, "revision": 0, "name": "Sample and decode",
        "state": {"lastNodeId": 8, "lastLinkId": 16, "lastGroupId": 0, "lastRerouteId": 0},
        "config": {},
        "inputNode": {"id": -10, "bounding": [600, 200, 120, 160]},
        "outputNode": {"id": -20, "bounding": [1500, 200, 120, 60]},
        "inputs": [{"id": f"in-{slot}", "name": name, "type": kind, "linkIds": [link],
                    "localized_name": name, "pos": [700, 220 + 20 * slot]}
                   for slot, (name, kind, _, _, link) in enumerate(inputs)],
        "outputs": [{"id": "out-0", "name": "IMAGE", "type": "IMAGE", "linkIds": [16],
                     "localized_name": "IMAGE", "pos": [1520, 220]}],
        "widgets": [],
        "nodes": [
            {"id": 3, "type": "KSampler", "pos": [865, 185], "size": [315, 262], "flags": {},
             "order": 0, "mode": 0, "inputs": sampler_inputs,
             "outputs": [{"name": "LATENT", "type": "LATENT", "links": [7]}],
             "properties": {"Node name for S&R": "KSampler"},
             "widgets_values": [INNER_SEED, "fixed", 3, 8, "euler", "normal", 1]},
            {"id": 8, "type": "VAEDecode", "pos": [1210, 190], "size": [210, 46], "flags": {},
             "order": 1, "mode": 0,
             "inputs": [{"name": "samples", "type": "LATENT", "link": 7},
                        {"name": "vae", "type": "VAE", "link": 14}],
             "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [16]}],
             "properties": {"Node name for S&R": "VAEDecode"}},
        ],
        "links": links, "groups": [], "extra": {},
    }


def _plain_v1(example) -> dict:
    """The default text-to-image workflow (version 1) at test size: 64 × 64, 3 steps."""
    data = example("text_to_image_v1.json")
    for node in data["nodes"]:
        if node["type"] == "EmptyLatentImage":
            node["widgets_values"] = [64, 64, 1]
        if node["type"] == "KSampler":
            node["widgets_values"] = [SEED, "fixed", 3, 8, "euler", "normal", 1]
    return data


def _instance(node_id, links, widgets_values, *, seed_input=True, properties=None) -> dict:
    names = [("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING"),
             ("latent_image", "LATENT"), ("vae", "VAE")]
    inputs = [{"name": name, "type": kind, "link": link}
              for (name, kind), link in zip(names, links, strict=True)]
    if seed_input:
        inputs.append({"name": "seed", "type": "INT", "widget": {"name": "seed"},
                       "link": None})
    return {"id": node_id, "type": SAMPLE_ID, "pos": [865, 185], "size": [315, 200],
            "flags": {}, "order": 4, "mode": 0, "inputs": inputs,
            "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [9]}],
            "properties": properties or {}, "widgets_values": widgets_values}


def _with_subgraph(example, *, seed_input=True, widgets_values=(SEED, "fixed"),
                   properties=None) -> dict:
    """``_plain_v1`` with its KSampler and VAEDecode packed into one instance (node 10)."""
    data = _plain_v1(example)
    data["nodes"] = [node for node in data["nodes"] if node["id"] not in (3, 8)]
    data["nodes"].append(_instance(10, [1, 4, 6, 2, 8], list(widgets_values),
                                   seed_input=seed_input, properties=properties))
    targets = {1: (10, 0), 4: (10, 1), 6: (10, 2), 2: (10, 3), 8: (10, 4)}
    links = [link for link in data["links"] if link["id"] != 7]
    for link in links:
        if link["id"] in targets:
            link["target_id"], link["target_slot"] = targets[link["id"]]
        if link["id"] == 9:
            link["origin_id"], link["origin_slot"] = 10, 0
    data["links"] = links
    data["definitions"] = {"subgraphs": [_sample_definition(seed_input)]}
    return data


def test_v1_subgraph_imports_as_a_definition_with_an_instance(registry, example):
    graph = graph_from_data(_with_subgraph(example), registry)
    instance = graph.node("10")
    assert instance.type == "subgraph"
    assert instance.extra["subgraph"]["id"] == SAMPLE_ID
    definition = graph.definitions[SAMPLE_ID]
    assert definition.resolved and definition.name == "Sample and decode"
    assert [item.name for item in definition.inputs] == [
        "model", "positive", "negative", "latent_image", "vae", "seed"]
    assert [item.name for item in definition.outputs] == ["IMAGE"]
    inner_types = {node.id: node.type for node in definition.graph}
    assert inner_types == {"3": "diffusion.sampler", "8": "diffusion.vae_decode"}
    seed = definition.input("seed")
    assert seed is not None and seed.targets == [("3", "seed")]
    assert [(w.name, w.node, w.input) for w in definition.widgets] == [("seed", "3", "seed")]
    assert instance.values == {"seed": SEED}
    assert definition.output("IMAGE").source == ("8", "image")
    assert [link.source for link in graph.links_into("9")] == ["10"]
    assert not [p for p in graph.load_warnings if p.kind in ("unknown_type", "broken_subgraph")]
    reopened = files.loads(files.dumps(graph), registry)  # saves as a NodeStudio file
    assert files.to_document(reopened) == files.to_document(graph)


def test_imported_subgraph_runs_and_gives_the_plain_workflows_image(
        registry, example, tiny_models, tmp_path):
    import shutil

    import numpy as np

    from nodestudio.app.session import Session

    root = tmp_path / "models"
    (root / "checkpoints").mkdir(parents=True)
    shutil.copyfile(tiny_models.checkpoint(tiny_models.sd_file),
                    root / "checkpoints" / "v1-5-pruned-emaonly.safetensors")
    session = Session(device="cpu", models_dir=root, input_dir=tmp_path / "in",
                      output_dir=tmp_path / "out", registry=registry)
    packed = graph_from_data(_with_subgraph(example), registry)
    assert session.validate(packed) == []
    result = session.run(packed)
    assert {"10/3", "10/8"} <= set(result.executed)  # the inner nodes ran, by path id
    image = result.outputs["10/8"]["image"]
    plain = session.run(graph_from_data(_plain_v1(example), registry))
    reference = plain.outputs["8"]["image"] if "8" in plain.outputs else None
    if reference is None:  # the same signatures: taken from the cache, read it explicitly
        reference = session.run(graph_from_data(_plain_v1(example), registry),
                                outputs=["8"]).outputs["8"]["image"]
    assert image.shape == (1, 64, 64, 3) and image.std() > 0.01
    np.testing.assert_array_equal(image, reference)
    # The promoted seed is the instance's own: the inner node's value would differ.
    packed.set_value("10", "seed", INNER_SEED)
    other = session.run(packed).outputs["10/8"]["image"]
    assert np.abs(other - image).mean() > 1e-3


def test_imported_subgraph_exports_with_comfyuis_outer_inner_ids(registry, example):
    plain = export_api_prompt(graph_from_data(_plain_v1(example), registry), registry)
    packed = export_api_prompt(graph_from_data(_with_subgraph(example), registry), registry)
    assert packed == _renamed(plain, {"3": "10:3", "8": "10:8"})
    assert packed["10:3"]["inputs"]["seed"] == SEED  # the instance's promoted value


def test_proxy_widgets_as_a_json_string_promote_inner_widgets(registry, example):
    proxies = {"proxyWidgets": json.dumps([["3", "seed"], ["3", "steps"]])}
    data = _with_subgraph(example, seed_input=False, widgets_values=[SEED, 2],
                          properties=proxies)
    graph = graph_from_data(data, registry)
    definition = graph.definitions[SAMPLE_ID]
    assert [(w.name, w.node, w.input) for w in definition.widgets] == [
        ("seed", "3", "seed"), ("steps", "3", "steps")]
    assert graph.node("10").values == {"seed": SEED, "steps": 2}
    inner = flatten(graph, registry).graph.node("10/3")
    assert (inner.values["seed"], inner.values["steps"]) == (SEED, 2)
    assert definition.graph.node("3").values["seed"] == INNER_SEED  # the definition's own
    # A list works as the string does; entries naming no inner widget are left out.
    data["nodes"][-1]["properties"] = {"proxyWidgets": [["3", "steps"], ["99", "x"]]}
    data["nodes"][-1]["widgets_values"] = [4, 0]
    again = graph_from_data(data, registry)
    assert again.node("10").values == {"steps": 4}
    assert any("node 99" in p.message for p in again.load_warnings)


def _as_v04(data: dict) -> dict:
    """A version-1 workflow in schema 0.4: links as arrays, counters at the top level."""
    data = dict(data)
    data["links"] = [[link["id"], link["origin_id"], link["origin_slot"], link["target_id"],
                      link["target_slot"], link["type"]] for link in data["links"]]
    data["version"] = 0.4
    data["last_node_id"], data["last_link_id"] = 10, 16
    del data["state"]
    return data


def test_v04_workflow_with_definitions_imports_as_version_1_does(registry, example):
    new = graph_from_data(_with_subgraph(example), registry)
    old = graph_from_data(_as_v04(_with_subgraph(example)), registry)
    assert files.to_document(old) == files.to_document(new)
    assert old.node("10").type == "subgraph" and SAMPLE_ID in old.definitions


def _nested(example) -> dict:
    """``_with_subgraph`` with the instance wrapped once more: node 10 is an instance of
    "Outer", which holds node 20, an instance of "Sample and decode"."""
    data = _with_subgraph(example)
    inner = data["nodes"].pop()
    sample = data["definitions"]["subgraphs"][0]
    links = [_link(30 + slot, -10, slot, 20, slot, item["type"])
             for slot, item in enumerate(sample["inputs"][:5])]
    links.append(_link(40, 20, 0, -20, 0, "IMAGE"))
    holder = _instance(20, [30, 31, 32, 33, 34], [SEED, "fixed"])
    holder["outputs"][0]["links"] = [40]
    outer = {**{k: v for k, v in sample.items() if k not in ("nodes", "links", "inputs")},
             "id": NESTED_ID, "name": "Outer", "nodes": [holder], "links": links,
             "inputs": [{**item, "linkIds": [30 + slot]}
                        for slot, item in enumerate(sample["inputs"][:5])],
             "outputs": [{**sample["outputs"][0], "linkIds": [40]}]}
    inner["type"] = NESTED_ID
    inner["inputs"] = inner["inputs"][:5]
    inner["widgets_values"] = []
    data["nodes"].append(inner)
    # ComfyUI keeps every definition at the top; a definition may also carry its own.
    outer["definitions"] = {"subgraphs": [sample]}
    data["definitions"] = {"subgraphs": [outer]}
    return data


def test_nested_definitions_import_and_export_with_chained_ids(registry, example):
    graph = graph_from_data(_nested(example), registry)
    assert set(graph.definitions) == {SAMPLE_ID, NESTED_ID}
    holder = graph.definitions[NESTED_ID].graph.node("20")
    assert holder.extra["subgraph"]["id"] == SAMPLE_ID and holder.values == {"seed": SEED}
    plain = export_api_prompt(graph_from_data(_plain_v1(example), registry), registry)
    exported = export_api_prompt(graph, registry)
    assert exported == _renamed(plain, {"3": "10:20:3", "8": "10:20:8"})


def test_broken_and_missing_definitions_are_kept_with_a_clear_problem(registry, example):
    data = _with_subgraph(example)
    data["definitions"]["subgraphs"][0]["nodes"] = "not a list"
    graph = graph_from_data(data, registry)
    definition = graph.definitions[SAMPLE_ID]
    assert not definition.resolved and definition.raw["nodes"] == "not a list"
    (problem,) = [p for p in graph.load_warnings if p.kind == "broken_subgraph"]
    assert "'Sample and decode'" in problem.message and "cannot be read" in problem.message
    assert graph.node("10").type == "subgraph"  # the instance and its links stay
    assert [link.source for link in graph.links_into("9")] == ["10"]
    assert flatten(graph, registry).problems  # running it names the definition
    reopened = files.loads(files.dumps(graph), registry)
    assert reopened.definitions[SAMPLE_ID].raw == definition.raw  # kept verbatim
    # An instance whose definition the file lacks stays a placeholder that says so.
    del data["definitions"]
    missing = graph_from_data(data, registry)
    assert missing.node("10").type.startswith("comfyui.")
    assert any("definition is not in this file" in p.message for p in missing.load_warnings)


def test_a_definition_holding_itself_is_refused(registry, example):
    data = _nested(example)
    outer = data["definitions"]["subgraphs"][0]
    outer["nodes"][0]["type"] = NESTED_ID  # Outer now holds an instance of Outer
    graph = graph_from_data(data, registry)
    definition = graph.definitions[NESTED_ID]
    assert not definition.resolved and "contains itself" in definition.problem
    assert any("contains itself" in p.message for p in graph.load_warnings)


def _with_group_node(example, prefix="workflow>") -> dict:
    """``_plain_v1`` with KSampler and VAEDecode made a group node of the older front end:
    its contents in ``extra.groupNodes``, links between them by list index."""
    data = _with_subgraph(example)
    del data["definitions"]
    sample = _sample_definition(seed_input=False)
    sampler, decode = copy.deepcopy(sample["nodes"])
    sampler["widgets_values"] = [INNER_SEED, "randomize", 20, 7, "euler", "normal", 1]
    group = {"nodes": [sampler, decode], "links": [[0, 0, 1, 0, 3, "LATENT"]],
             "external": [[1, 0, "IMAGE"]]}
    data["extra"]["groupNodes"] = {"Sample": group}
    instance = data["nodes"][-1]
    instance["type"] = prefix + "Sample"
    instance["inputs"][3]["name"] = "latent"  # a renamed slot: matched by its position
    instance["widgets_values"] = [SEED, "fixed", 3, 8, "euler", "normal", 1]
    return data


def test_group_nodes_import_as_subgraphs(registry, example):
    plain = export_api_prompt(graph_from_data(_plain_v1(example), registry), registry)
    for prefix in ("workflow>", "workflow/"):
        graph = graph_from_data(_with_group_node(example, prefix), registry)
        definition = graph.definitions[prefix + "Sample"]
        assert definition.resolved and definition.name == "Sample"
        assert [item.name for item in definition.inputs] == [
            "model", "positive", "negative", "latent_image", "vae"]
        assert {node.id: node.type for node in definition.graph} == {
            "0": "diffusion.sampler", "1": "diffusion.vae_decode"}
        instance = graph.node("10")
        assert instance.values["seed"] == SEED and instance.controls["seed"] == "fixed"
        assert {link.input for link in graph.links_into("10")} == {
            "model", "positive", "negative", "latent_image", "vae"}
        # ComfyUI's backend names a group node's inner nodes "group:index", as here.
        assert export_api_prompt(graph, registry) == _renamed(plain, {"3": "10:0",
                                                                      "8": "10:1"})


def _garbled(example):
    """Damaged subgraph and group node data, each in one place."""
    def edit(change):
        data = _with_subgraph(example)
        change(data, data["definitions"]["subgraphs"][0], data["nodes"][-1])
        return data

    yield edit(lambda d, s, i: d.update(definitions="x"))
    yield edit(lambda d, s, i: d["definitions"].update(subgraphs=[1, None, {}, {"id": 5}]))
    yield edit(lambda d, s, i: s.update(inputs="bad"))
    yield edit(lambda d, s, i: s.update(links=[["a", None], {"id": "x"}, 7]))
    yield edit(lambda d, s, i: s.update(nodes=[None, {"id": 3}, {"type": "KSampler"}]))
    yield edit(lambda d, s, i: s["inputs"][0].update(linkIds="x", name=None))
    yield edit(lambda d, s, i: s.update(widgets=[{"id": None}, "x", {"id": 3, "name": 4}]))
    yield edit(lambda d, s, i: i.update(widgets_values={"a": 1}))
    yield edit(lambda d, s, i: i.update(properties={"proxyWidgets": "[not json"}))
    yield edit(lambda d, s, i: i.update(properties={"proxyWidgets": [[None], 3, ["3"]]}))
    yield edit(lambda d, s, i: i.update(inputs=[None, {"name": 5}]))
    yield edit(lambda d, s, i: d["extra"].update(groupNodes={"G": {"nodes": [None],
                                                              "links": [[0, "x"]]}}))
    yield edit(lambda d, s, i: d["extra"].update(groupNodes={"": 1, "H": []}))
    yield edit(lambda d, s, i: (i.update(type="workflow>G"), d["extra"].update(groupNodes={
        "G": {"nodes": [{"type": "KSampler", "inputs": 3}, 4], "links": 5, "external": 7}})))
    yield edit(lambda d, s, i: (i.update(type="workflow/G"), d["extra"].update(groupNodes={
        "G": {"nodes": "x"}})))


def test_damaged_subgraph_data_never_breaks_the_import(registry, example):
    for index, data in enumerate(_garbled(example)):
        try:
            graph = graph_from_data(data, registry)
        except GraphFileError as error:  # a clear refusal is fine, a caught bug is not
            assert all(p.kind != "internal_error" for p in error.problems), (index, error)
            continue
        files.loads(files.dumps(graph), registry)  # and what imports also saves
        assert not [p for p in graph.load_warnings if "NodeStudio failed" in p.message], index


def test_outputs_linked_to_nothing_inside_are_left_out_and_the_file_reopens(
        registry, example):
    data = _with_subgraph(example)
    sample = data["definitions"]["subgraphs"][0]
    sample["outputs"].append({"name": "latent", "type": "LATENT", "linkIds": []})
    graph = graph_from_data(data, registry)
    assert [item.name for item in graph.definitions[SAMPLE_ID].outputs] == ["IMAGE"]
    assert any("'latent' is linked to nothing inside" in p.message
               for p in graph.load_warnings)
    reopened = files.loads(files.dumps(graph), registry)
    assert reopened.definitions[SAMPLE_ID].resolved
