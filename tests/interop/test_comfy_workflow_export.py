"""NodeStudio graphs written as ComfyUI UI workflows (with the layout), and read back."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest

from nodestudio.app.formats import graph_from_data
from nodestudio.app.recipes import text_to_image
from nodestudio.cli import main
from nodestudio.engine.signature import widget_values
from nodestudio.graph.model import Graph
from nodestudio.interop.comfy import ComfyExportError, export_api_prompt, export_ui_workflow
from nodestudio.interop.comfy.prompt import is_link
from tests.interop.test_comfy_subgraph_families import flat_and_packed, flat_workflow

EXAMPLES = ("text_to_image.json", "text_to_image_v1.json", "text_to_image_api.json",
            "controlnet_canny.json", "controlnet_canny_api.json", "sd3_text_to_image.json",
            "flux_dev_text_to_image.json")


def _reopened(graph: Graph, registry) -> tuple[dict[str, Any], Graph]:
    """The workflow written for ``graph`` (through JSON text, as a file holds it) and the
    graph NodeStudio reads back from it."""
    workflow = json.loads(json.dumps(export_ui_workflow(graph, registry)))
    return workflow, graph_from_data(workflow, registry)


def _renumbered(prompt: dict[str, Any]) -> dict[str, Any]:
    """``prompt`` with its ids replaced by 1, 2 … in prompt order (as the workflow numbers)."""
    numbers = {node_id: str(number) for number, node_id in enumerate(prompt, start=1)}
    return {numbers[node_id]: {**entry, "inputs": {
        name: [numbers[str(value[0])], value[1]] if is_link(value) else value
        for name, value in entry["inputs"].items()}} for node_id, entry in prompt.items()}


def _by_place(graph: Graph) -> dict[tuple, str]:
    return {(node.type, tuple(graph.layout.node(node.id).pos)): node.id for node in graph}


def _semantic(graph: Graph, registry, ids: dict[str, str]) -> tuple[dict, set]:
    """Per node (under the ids ``ids`` maps to): type, effective values, mode, title and the
    controls that change a value between runs ("fixed" is the same as none); and the links."""
    nodes = {}
    for node in graph:
        node_type = registry.get(node.type)
        values = widget_values(node, node_type) if node_type else node.values
        controls = {name: control for name, control in node.controls.items()
                    if control != "fixed"}
        nodes[ids[node.id]] = (node.type, values, node.mode, node.title, controls)
    links = {(ids[link.source], link.output, ids[link.target], link.input)
             for link in graph.links}
    return nodes, links


def _negative_as_positive(graph: Graph, link: tuple) -> bool:
    """A Sampler's negative fed by what feeds its positive: how ComfyUI's required negative
    is written for a graph that runs without one (cfg 1), read back as a link."""
    source, output, target, name = link
    positive = graph.link_into(target, "positive")
    return name == "negative" and positive is not None and \
        (positive.source, positive.output) == (source, output)


@pytest.mark.parametrize("name", EXAMPLES)
def test_comfyui_workflows_survive_the_round_trip(registry, example, name):
    """Every node, value, mode (muted and bypassed nodes included), title, seed control,
    link and place comes back; and ComfyUI would queue the same prompt."""
    graph = graph_from_data(example(name), registry)
    workflow, again = _reopened(graph, registry)
    assert sorted(p.kind for p in again.load_warnings) == \
        sorted(p.kind for p in graph.load_warnings)
    # The places are kept exactly, so they pair each node with its copy.
    pairs = {node_id: _by_place(again)[key] for key, node_id in _by_place(graph).items()}
    assert len(pairs) == len(graph) == len(again)
    nodes, links = _semantic(again, registry, {v: v for v in pairs.values()})
    expected_nodes, expected_links = _semantic(graph, registry, pairs)
    assert nodes == expected_nodes
    assert expected_links <= links
    bends = {f"{pairs[key.rsplit('.', 1)[0]]}.{key.rsplit('.', 1)[1]}": points
             for key, points in graph.layout.reroutes.items()}
    assert again.layout.reroutes == bends  # Reroute nodes came in as bends, go out as reroutes
    assert all(_negative_as_positive(again, link) for link in links - expected_links)
    assert workflow["last_node_id"] == len(workflow["nodes"])
    assert workflow["last_link_id"] == len(workflow["links"])
    try:
        prompt = export_api_prompt(graph, registry)
    except ComfyExportError:
        return  # the custom node of a UI file: a workflow can carry it, a prompt cannot
    assert export_api_prompt(again, registry) == _renumbered(prompt)


def test_a_custom_node_from_a_ui_file_is_written_back_as_it_came(registry, example):
    """rgthree's Image Comparer: unknown to NodeStudio, its widget values unnamed. The API
    prompt cannot carry it; the workflow keeps its entry, and its link."""
    data = example("controlnet_canny.json")
    graph = graph_from_data(data, registry)
    with pytest.raises(ComfyExportError, match="node 15"):
        export_api_prompt(graph, registry)
    workflow, _ = _reopened(graph, registry)
    (written,) = [n for n in workflow["nodes"] if n["type"] == "Image Comparer (rgthree)"]
    (original,) = [n for n in data["nodes"] if n["id"] == 15]
    assert written["widgets_values"] == original["widgets_values"]
    assert written["properties"] == original["properties"]
    (link,) = [link for link in workflow["links"] if link[3] == written["id"]]
    source = next(n for n in workflow["nodes"] if n["id"] == link[1])
    assert source["type"] == "VAEDecode" and link[5] == "IMAGE"


def test_layout_modes_groups_and_notes_of_a_nodestudio_graph(registry):
    graph, ids = text_to_image("nodestudio-shapes", "a red fox", "blurry")
    graph.set_control(ids["sampler"], "seed", "randomize")
    graph.set_title(ids["sampler"], "Main pass")
    graph.update_node_layout(ids["decode"], color="#3a66b0", collapsed=True)
    graph.add_node("image.invert", {}, id="invert")
    graph.connect(ids["decode"], "image", "invert", "image")
    graph.add_node("image.save", {"filename_prefix": "inverted"}, id="save_inverted")
    graph.connect("invert", "image", "save_inverted", "images")
    graph.set_mode("invert", "bypassed")
    graph.set_mode("save_inverted", "muted")
    graph.add_group("Prompts", (300.0, -40.0, 420.0, 380.0), color="#3f8a4a")
    graph.add_node("utils.note", {"text": "Try 30 steps"}, id="note")
    graph.move_node("note", (40.0, 700.0))
    bent = graph.link_into(ids["sampler"], "latent")
    graph.set_reroutes(bent.target, bent.input, [(600.0, 500.0), (650.0, 300.0)])
    workflow, again = _reopened(graph, registry)
    by_title = {n.title: n for n in again if n.title}
    assert by_title["Main pass"].controls == {"seed": "randomize"}
    sampler_entry = next(n for n in workflow["nodes"] if n["type"] == "KSampler")
    assert sampler_entry["widgets_values"][1] == "randomize"  # right after the seed
    decode = next(n for n in again if n.type == "image.vae_decode"
                  or n.type.endswith("vae_decode"))
    assert again.layout.node(decode.id).color == "#3a66b0"
    assert again.layout.node(decode.id).collapsed
    modes = {n.type: n.mode for n in again if n.type in ("image.invert", "image.save")
             and n.mode != "normal"}
    assert modes == {"image.invert": "bypassed", "image.save": "muted"}
    (group,) = again.layout.groups
    assert (group.title, group.rect, group.color) == ("Prompts", (300.0, -40.0, 420.0, 380.0),
                                                      "#3f8a4a")
    (note,) = [n for n in again if n.type == "utils.note"]
    assert note.values["text"] == "Try 30 steps"
    assert again.layout.node(note.id).pos == (40.0, 700.0)
    # The bend points travel as ComfyUI's native reroutes, in order from the origin.
    assert [r["pos"] for r in workflow["extra"]["reroutes"]] == [[600.0, 500.0], [650.0, 300.0]]
    sampler = by_title["Main pass"].id
    assert again.layout.reroutes == {f"{sampler}.latent": [(600.0, 500.0), (650.0, 300.0)]}


def test_a_node_comfyui_lacks_is_named_unless_it_is_muted(registry):
    graph, _ids = text_to_image("nodestudio-shapes", "a red fox", "blurry")
    graph.add_node("mask.solid", {"width": 8, "height": 8}, id="solid")
    graph.add_node("mask.blur", {}, id="blur")  # no ComfyUI core equivalent
    graph.connect("solid", "mask", "blur", "mask")
    graph.add_node("mask.blur", {}, id="muted_blur")
    graph.connect("solid", "mask", "muted_blur", "mask")
    graph.set_mode("muted_blur", "muted")
    with pytest.raises(ComfyExportError, match="node blur") as raised:
        export_ui_workflow(graph, registry)
    assert [problem.node_id for problem in raised.value.problems] == ["blur"]
    graph.set_mode("blur", "muted")
    workflow, again = _reopened(graph, registry)
    assert "mask.blur" not in {n.type for n in again}  # left out, as from a prompt
    assert any(n["type"] == "SolidMask" for n in workflow["nodes"])


def test_subgraph_instances_can_be_written_as_their_nodes(registry):
    """For a ComfyUI from before subgraphs: the instance's nodes, placed as its definition
    places them, from where the instance was."""
    _flat, packed = flat_and_packed(registry, flat_workflow("flux", "simple", "euler"), {7, 8})
    workflow = json.loads(json.dumps(export_ui_workflow(packed, registry, subgraphs=False)))
    again = graph_from_data(workflow, registry)
    assert "subgraph" not in {n.type for n in again}
    assert "definitions" not in workflow
    assert export_api_prompt(again, registry) == _renumbered(export_api_prompt(packed,
                                                                               registry))
    instance = packed.layout.node(next(n.id for n in packed if n.type == "subgraph")).pos
    inner = {n["type"]: n["pos"] for n in workflow["nodes"]
             if n["type"] in ("KSampler", "VAEDecode")}
    definition = next(iter(packed.definitions.values())).graph.layout
    step = definition.node("8").pos[0] - definition.node("7").pos[0]
    assert inner["KSampler"] == pytest.approx(list(instance))
    assert inner["VAEDecode"] == pytest.approx([instance[0] + step, instance[1]])


def test_cli_writes_a_workflow(registry, example, tmp_path, capsys):
    source = tmp_path / "workflow.json"
    source.write_text(json.dumps(example("text_to_image.json")))
    target, prompt = tmp_path / "for-comfyui.json", tmp_path / "prompt.json"
    assert main(["export", str(source), "--comfy-workflow", str(target),
                 "--comfy-api", str(prompt)]) == 0
    written = json.loads(target.read_text(encoding="utf-8"))
    assert {n["type"] for n in written["nodes"]} == {n["type"] for n in
                                                     example("text_to_image.json")["nodes"]}
    assert json.loads(prompt.read_text()) == example("text_to_image_api.json")
    assert main(["export", str(source)]) == 2
    assert "--comfy-workflow" in capsys.readouterr().err


def test_cli_export_refuses_a_target_it_cannot_write_in_one_line(example, tmp_path, capsys):
    source = tmp_path / "workflow.json"
    source.write_text(json.dumps(example("text_to_image.json")))
    (tmp_path / "notes").write_text("a file where a folder would go")
    target = tmp_path / "notes" / "out" / "for-comfyui.json"
    assert main(["export", str(source), "--comfy-workflow", str(target)]) == 2
    err = capsys.readouterr().err
    assert err == (f"nodestudio export: cannot write {target}: {tmp_path / 'notes'} is a "
                   "file, not a folder\n")
    assert (tmp_path / "notes").read_text() == "a file where a folder would go"
    # A folder, a picture's name, and one file for both formats are each refused unwritten.
    assert main(["export", str(source), "--comfy-api", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (f"nodestudio export: cannot write {tmp_path}: it is a "
                                       "folder; name a file in it\n")
    assert main(["export", str(source), "--comfy-workflow", str(tmp_path / "w.PNG")]) == 2
    assert capsys.readouterr().err == (
        f"nodestudio export: {tmp_path / 'w.PNG'}: ComfyUI workflows and prompts are JSON "
        "files, not PNG; name it w.json\n")
    both = tmp_path / "both.json"
    assert main(["export", str(source), "--comfy-workflow", str(both), "--comfy-api",
                 str(both)]) == 2
    assert capsys.readouterr().err == (f"nodestudio export: --comfy-api and --comfy-workflow "
                                       f"both name {both}; give each its own file\n")
    assert not (tmp_path / "w.PNG").exists() and not both.exists()
    # A file that is no graph is named once, with what is wrong.
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    assert main(["export", str(tmp_path / "deep.json"), "--comfy-api", str(target)]) == 2
    heading, detail = capsys.readouterr().err.splitlines()
    assert heading.count("deep.json") == 1 and heading.startswith("nodestudio export: ")
    assert detail == "  - the JSON nests lists or objects thousands of levels deep; no graph does"


def test_an_integer_beyond_float_range_in_a_float_widget_is_no_crash(registry):
    """Found by the fuzz campaign: a hostile file's cfg of 10**400 crashed both exports
    (OverflowError making the value a float) instead of writing or naming it."""
    graph, ids = text_to_image("nodestudio-shapes", "a red fox", "blurry")
    graph.set_value(ids["sampler"], "cfg", 10**400)
    for export in (export_api_prompt, export_ui_workflow):
        with contextlib.suppress(ComfyExportError):  # naming it is fine; an OverflowError not
            export(graph, registry)
