"""Malformed ComfyUI files: a GraphFileError with problems, never another exception."""

from __future__ import annotations

import copy
import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from nodestudio.app.formats import read_graph_bytes
from nodestudio.app.packs import create_registry
from nodestudio.graph import files
from nodestudio.graph.problems import GraphFileError
from nodestudio.interop.comfy import (
    COMFY_IMPORTERS,
    ComfyExportError,
    export_api_prompt,
    export_ui_workflow,
)
from nodestudio.interop.comfy.catalog import CORE_NODES
from nodestudio.paths import resources_dir

REGISTRY = create_registry(entry_points=False)
CLASSES = [*CORE_NODES, "Reroute", "PrimitiveNode", "Note", "SomeCustomNode"]
INPUT_NAMES = sorted({spec.name for d in CORE_NODES.values() for spec in d.inputs})

# Issue 14 widened these: integers beyond float range, NaN / Infinity, empty names.
scalars = st.none() | st.booleans() | st.integers(-3, 10**20) | \
    st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=6) | \
    st.sampled_from([10**400, -(10**400), float("nan"), float("inf"), ""])
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12,
)
# Mostly plausible, sometimes anything: garbage everywhere would only test the first check.
node_ids = st.integers(1, 6) | st.integers(1, 6) | st.integers(1, 6) | \
    st.sampled_from([-1, "1", "x", ""]) | json_values
slots = st.integers(0, 2) | st.integers(0, 2) | st.sampled_from([-1, "0", "a"]) | json_values
classes = st.sampled_from(CLASSES)

ui_inputs = st.lists(st.fixed_dictionaries(
    {"name": st.sampled_from(INPUT_NAMES) | json_values},
    optional={"link": st.integers(0, 12) | json_values, "type": json_values,
              "widget": st.fixed_dictionaries({"name": st.sampled_from(INPUT_NAMES)})
              | json_values}), max_size=4)
node_fields = {
    "pos": st.lists(st.integers(-5, 5) | json_values, max_size=3) | json_values,
    "size": json_values, "flags": json_values, "mode": st.integers(0, 5) | json_values,
    "inputs": ui_inputs | json_values,
    "outputs": st.lists(st.fixed_dictionaries({"name": json_values, "links": json_values}),
                        max_size=3) | json_values,
    "widgets_values": st.lists(scalars, max_size=8) | json_values,
    "title": json_values, "color": json_values, "bgcolor": json_values,
}
ui_nodes = st.fixed_dictionaries({"id": node_ids, "type": classes | json_values},
                                 optional=node_fields)
plausible_nodes = st.fixed_dictionaries({"type": classes}, optional=node_fields)
ui_links = st.lists(
    st.tuples(st.integers(0, 12), node_ids, slots, node_ids, slots, json_values).map(list)
    | st.tuples(st.integers(0, 12), node_ids, slots, node_ids, slots, json_values).map(list)
    | st.fixed_dictionaries({"id": st.integers(0, 12), "origin_id": node_ids,
                             "origin_slot": slots, "target_id": node_ids,
                             "target_slot": slots}, optional={"parentId": json_values})
    | json_values, max_size=8)
def _numbered(nodes: list[dict]) -> list[dict]:
    """Plausible nodes get ids 1, 2, 3 … (so that links can find them)."""
    return [{**node, "id": index + 1} if isinstance(node, dict) and "id" not in node else node
            for index, node in enumerate(nodes)]


workflow_fields = {
    "version": st.sampled_from([0.4, 1]) | json_values,
    "groups": st.lists(st.fixed_dictionaries(
        {"bounding": json_values | st.lists(st.integers(0, 9), min_size=4, max_size=4),
         "title": json_values}), max_size=2) | json_values,
    "reroutes": json_values, "extra": json_values, "state": json_values,
}
workflows = st.one_of(
    st.fixed_dictionaries(
        {"nodes": st.lists(ui_nodes | json_values, max_size=6), "links": ui_links | json_values},
        optional=workflow_fields),
    st.fixed_dictionaries(
        {"nodes": st.lists(plausible_nodes, max_size=6).map(_numbered),
         "links": ui_links},
        optional=workflow_fields),
)
EXAMPLES = {path.name: json.loads(path.read_text())
            for path in (resources_dir() / "examples" / "comfy").glob("*.json")}


def _paths(value, prefix=()):
    """Every place in a JSON document, as a key path."""
    yield prefix
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield from _paths(item, (*prefix, key))


def _mutated(name: str, changes: list[tuple[int, object, bool]]):
    """An example file with some places replaced by other values, or removed."""
    document = copy.deepcopy(EXAMPLES[name])
    for index, replacement, remove in changes:
        paths = [path for path in _paths(document) if path]
        if not paths:
            break
        *parents, key = paths[index % len(paths)]
        container = document
        for part in parents:
            container = container[part]
        if remove and isinstance(container, dict):
            del container[key]
        else:
            container[key] = replacement
    return document


mutations = st.lists(st.tuples(st.integers(0, 10**6), json_values, st.booleans()),
                     min_size=1, max_size=4)
mutated_workflows = st.builds(
    _mutated, st.sampled_from(["text_to_image.json", "text_to_image_v1.json",
                               "controlnet_canny.json"]), mutations)
mutated_prompts = st.builds(
    _mutated, st.sampled_from(["text_to_image_api.json", "controlnet_canny_api.json"]),
    mutations)

prompt_inputs = st.dictionaries(
    st.sampled_from(INPUT_NAMES) | st.text(max_size=4),
    st.tuples(node_ids, slots).map(list) | scalars | json_values, max_size=5)
prompts = st.dictionaries(
    st.sampled_from(["1", "2", "3", "4", "5", " "]) | st.text(max_size=3),
    st.fixed_dictionaries({"class_type": classes | classes | json_values},
                          optional={"inputs": prompt_inputs | json_values,
                                    "_meta": json_values}),
    min_size=1, max_size=6)


def _convert(data):
    """What formats does with parsed data; returns the graph or the GraphFileError."""
    for importer in COMFY_IMPORTERS:
        if importer.detect(data):
            try:
                return importer.convert(data, REGISTRY)
            except GraphFileError as error:
                return error
    return None


def _check(outcome) -> None:
    if isinstance(outcome, GraphFileError):
        assert outcome.problems, "a GraphFileError must say what is wrong"
        assert all(p.kind != "internal_error" for p in outcome.problems), outcome
    elif outcome is not None:
        # what was imported saves, reopens equal and can (be tried to) be exported
        reloaded = files.loads(files.dumps(outcome), REGISTRY)
        assert reloaded == outcome
        for export in (export_api_prompt, export_ui_workflow):
            try:
                written = export(reloaded, REGISTRY)
            except GraphFileError:
                continue
            except Exception as error:  # ComfyExportError is a GraphError
                assert type(error).__name__ == "ComfyExportError", repr(error)
                continue
            json.dumps(written, allow_nan=False)  # what is written is plain JSON


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workflows | mutated_workflows)
def test_garbled_workflows(data):
    _check(_convert(data))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prompts | mutated_prompts)
def test_garbled_prompts(data):
    _check(_convert(data))


@pytest.mark.parametrize("threshold", [float("inf"), float("-inf"), float("nan"), 1e308])
def test_non_finite_numbers_in_a_prompt_are_reported_not_crashed_on(threshold):
    # Found by test_garbled_prompts: a scaled input (Canny's 0–1 thresholds) holding infinity.
    data = {"1": {"class_type": "Canny",
                  "inputs": {"low_threshold": threshold, "high_threshold": 0.8}}}
    _check(_convert(data))


def _nested(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize("levels", [30, 31, 32, 33, 200])
def test_deep_comfy_data_imports_to_a_graph_that_saves_and_reopens_equal(levels):
    # Issue 14, item 5: the importer allowed deeper nesting than graph files do.
    _check(_convert({"1": {"class_type": "SomeCustomNode", "inputs": {"a": _nested(levels)},
                           "_meta": {"deep": _nested(levels)}}}))


def test_an_input_named_empty_imports_to_a_graph_that_saves_and_reopens_equal():
    # Issue 14, item 5: a link into input "" saved, then the file was refused.
    outcome = _convert({"1": {"class_type": "SomeCustomNode", "inputs": {"": ["2", 0], "x": 1}},
                        "2": {"class_type": "SomeCustomNode", "inputs": {"": 3}}})
    _check(outcome)
    assert not outcome.links
    assert any(p.kind == "dropped_link" and p.node_id == "1" for p in outcome.load_warnings)


def test_a_huge_integer_position_in_a_workflow_is_not_an_overflow_error():
    data = {"nodes": [{"id": 1, "type": "SomeCustomNode", "pos": [10**400, 0],
                       "size": [1, 10**400]}], "links": [], "version": 0.4,
            "groups": [{"bounding": [0, 0, 10**400, 1], "title": "g"}]}
    _check(_convert(data))


def test_a_huge_integer_on_a_scaled_input_imports_and_exports_without_a_crash():
    # Found by the fuzz campaign: 10**400 × 255 overflowed converting to a float.
    _check(_convert({"1": {"class_type": "LoadImage", "inputs": {"image": "a.png"}},
                     "2": {"class_type": "Canny", "inputs": {
                         "image": ["1", 0], "low_threshold": 10**400, "high_threshold": 0.8}}}))


def test_a_link_from_a_huge_output_slot_is_named_by_the_workflow_export():
    # Found by the fuzz campaign: a custom node's link from slot 10**400 made the workflow
    # writer add outputs up to that slot (a hang), where it must name the link.
    graph = _convert({"1": {"class_type": "SomeCustomNode", "inputs": {}},
                      "2": {"class_type": "SaveImage", "inputs": {
                          "images": ["1", 10**400], "filename_prefix": "x"}}})
    _check(graph)
    with pytest.raises(ComfyExportError, match="a huge number"):
        export_ui_workflow(graph, REGISTRY)


def test_a_custom_node_with_garbled_slots_is_written_back_without_them():
    # Found by the fuzz campaign: a kept ComfyUI node whose "inputs" was a number.
    data = {"nodes": [{"id": 1, "type": "SomeCustomNode", "pos": [0, 0], "inputs": 7,
                       "outputs": "x", "widgets_values": [1, "a"]}], "links": [],
            "version": 0.4}
    graph = _convert(data)
    _check(graph)
    (written,) = export_ui_workflow(graph, REGISTRY)["nodes"]
    assert (written["inputs"], written["outputs"], written["widgets_values"]) == ([], [],
                                                                                 [1, "a"])


@pytest.mark.parametrize("slot", ["²", "٣", " 0 "])
def test_slot_numbers_that_only_look_like_digits_are_reported_not_crashed_on(slot):
    # Found by test_garbled_prompts: "²".isdigit() is True, but int("²") fails.
    data = {"1": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64,
                                                               "batch_size": 1}},
            "2": {"class_type": "VAEDecode", "inputs": {"samples": ["1", slot]}}}
    _check(_convert(data))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["workflow", "prompt", "nodestudio", "x"]),
                       st.text(max_size=20) | json_values.map(json.dumps), max_size=3))
def test_garbled_png_chunks(chunks):
    info = PngInfo()
    for key, text in chunks.items():
        info.add_text(key, text)
    buffer = io.BytesIO()
    Image.new("RGB", (2, 2)).save(buffer, format="PNG", pnginfo=info)
    try:
        outcome = read_graph_bytes(buffer.getvalue(), REGISTRY)
    except GraphFileError as error:
        outcome = error
    _check(outcome)
