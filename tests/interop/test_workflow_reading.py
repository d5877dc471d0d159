"""Reading ComfyUI's two JSON formats into the in-between form, frontend constructs resolved."""

from __future__ import annotations

import pytest

from nodestudio.graph.problems import GraphFileError
from nodestudio.interop.comfy.ir import Source
from nodestudio.interop.comfy.prompt import read_prompt
from nodestudio.interop.comfy.workflow import looks_like_workflow, read_workflow


def _links(graph):
    return {(node.id, name): source for node in graph.nodes.values()
            for name, source in node.links.items()}


def test_default_workflow_widgets_get_their_names_and_the_seed_control(example):
    graph = read_workflow(example("text_to_image.json"))
    sampler = graph.nodes["3"]
    assert sampler.values == {"seed": 8566257, "steps": 20, "cfg": 8, "sampler_name": "euler",
                              "scheduler": "normal", "denoise": 1}
    assert sampler.controls == {"seed": "randomize"}
    assert sampler.links["latent_image"] == Source("5", 0)
    assert graph.nodes["9"].values == {"filename_prefix": "ComfyUI"}
    assert graph.nodes["4"].layout.pos == (30.0, 470.0)
    assert graph.nodes["4"].layout.size == (315.0, 98.0)
    assert not graph.warnings


def test_version_1_reads_like_schema_0_4(example):
    old = read_workflow(example("text_to_image.json"))
    new = read_workflow(example("text_to_image_v1.json"))
    assert _links(new) == _links(old)
    assert {i: n.values for i, n in new.nodes.items()} == \
        {i: n.values for i, n in old.nodes.items()}


def test_reroute_becomes_a_direct_link_with_a_bend_point(example):
    graph = read_workflow(example("controlnet_canny.json"))
    assert "20" not in graph.nodes
    assert graph.nodes["12"].links["vae"] == Source("1", 2)
    # the reroute node's centre: pos (1560, 500) + size (75, 26) / 2
    assert graph.bends[("12", "vae")] == [(1597.5, 513.0)]


def test_primitive_node_folds_its_value_and_control_into_the_widget_it_feeds(example):
    data = example("controlnet_canny.json")
    graph = read_workflow(data)
    assert "11" not in graph.nodes
    sampler = graph.nodes["10"]
    assert "seed" not in sampler.links
    assert sampler.values["seed"] == 1234
    assert sampler.controls["seed"] == "increment"
    # the primitive wins over the (stale) value kept in the target's own widgets
    next(n for n in data["nodes"] if n["id"] == 11)["widgets_values"] = [77, "fixed"]
    sampler = read_workflow(data).nodes["10"]
    assert (sampler.values["seed"], sampler.controls["seed"]) == (77, "fixed")


def test_modes_titles_colours_and_groups(example):
    graph = read_workflow(example("controlnet_canny.json"))
    assert graph.nodes["2"].mode == "bypassed"
    assert graph.nodes["14"].mode == "muted"
    assert graph.nodes["3"].title == "Positive prompt"
    assert graph.nodes["3"].layout.color == "#353"
    assert [(g.title, g.rect, g.color) for g in graph.groups] == [
        ("ControlNet", (360.0, 450.0, 340.0, 290.0), "#3f789e"),
        ("Prompts", (710.0, 6.0, 420.0, 430.0), "#b58b2a"),
    ]


def test_old_boolean_control_value_and_collapsed_flag(example):
    data = example("text_to_image.json")
    sampler = next(n for n in data["nodes"] if n["id"] == 3)
    sampler["widgets_values"][1] = False
    sampler["flags"] = {"collapsed": True}
    node = read_workflow(data).nodes["3"]
    assert node.controls == {"seed": "fixed"}
    assert node.values["steps"] == 20
    assert node.layout.collapsed is True


def test_missing_control_value_does_not_shift_the_other_widgets(example):
    data = example("text_to_image.json")
    next(n for n in data["nodes"] if n["id"] == 3)["widgets_values"] = [
        5, 12, 6.5, "heun", "karras", 0.75]
    node = read_workflow(data).nodes["3"]
    assert node.values == {"seed": 5, "steps": 12, "cfg": 6.5, "sampler_name": "heun",
                           "scheduler": "karras", "denoise": 0.75}
    assert node.controls == {}


def test_native_reroutes_of_version_1_become_bend_points_in_order(example):
    data = example("text_to_image_v1.json")
    data["reroutes"] = [{"id": 1, "pos": [700, 560]},
                        {"id": 2, "parentId": 1, "pos": [820, 540], "linkIds": [2]}]
    next(link for link in data["links"] if link["id"] == 2)["parentId"] = 2
    graph = read_workflow(data)
    assert graph.bends[("3", "latent_image")] == [(700.0, 560.0), (820.0, 540.0)]


def test_native_reroutes_of_schema_0_4_live_in_extra(example):
    data = example("text_to_image.json")
    data["extra"]["reroutes"] = [{"id": 4, "pos": [640, 300]}]
    data["extra"]["linkExtensions"] = [{"id": 8, "parentId": 4}]
    assert read_workflow(data).bends[("8", "vae")] == [(640.0, 300.0)]


def test_dangling_links_are_warnings_not_errors(example):
    data = example("text_to_image.json")
    data["links"].append([10, 42, 0, 3, 0, "MODEL"])
    data["links"].append([11, 4, 0, 99, 0, "MODEL"])
    data["links"].append("nonsense")
    graph = read_workflow(data)
    kinds = [w.kind for w in graph.warnings]
    assert kinds.count("dangling_link") == 2 and kinds.count("bad_link") == 1
    assert graph.nodes["3"].links["model"] == Source("4", 0)


def test_malformed_nodes_are_reported_together(example):
    data = example("text_to_image.json")
    data["nodes"][0]["id"] = None
    data["nodes"][1]["type"] = 7
    data["nodes"].append("a node?")
    with pytest.raises(GraphFileError) as caught:
        read_workflow(data)
    assert len(caught.value.problems) == 3


def test_nodestudio_files_are_not_taken_for_workflows():
    assert not looks_like_workflow({"format": "nodestudio.graph", "version": 2, "nodes": [],
                                    "links": []})
    assert looks_like_workflow({"nodes": [], "links": [], "version": 0.4})


def test_api_prompt_links_values_and_custom_titles(example):
    graph = read_prompt(example("controlnet_canny_api.json"))
    assert graph.nodes["10"].links["negative"] == Source("8", 1)
    assert graph.nodes["10"].values["sampler_name"] == "dpmpp_2m"
    assert graph.nodes["3"].title == "Positive prompt"
    assert graph.nodes["12"].title is None  # "VAE Decode" is the class's own name
    assert not graph.has_layout


def test_api_prompt_wrapped_as_posted_to_the_server(example):
    graph = read_prompt({"prompt": example("text_to_image_api.json"), "client_id": "abc"})
    assert set(graph.nodes) == {"3", "4", "5", "6", "7", "8", "9"}


def test_api_prompt_problems(example):
    data = example("text_to_image_api.json")
    data["3"]["inputs"]["model"] = ["404", 0]
    assert [w.kind for w in read_prompt(data).warnings] == ["dangling_link"]
    data["4"]["inputs"] = "ckpt"
    data["5"]["class_type"] = ""
    with pytest.raises(GraphFileError) as caught:
        read_prompt(data)
    assert {p.node_id for p in caught.value.problems} == {"4", "5"}
