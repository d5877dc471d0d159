"""Loading arbitrary data: only GraphFileError may come out, never anything else."""

from __future__ import annotations

import contextlib
import json
import time

from fakes import make_bench
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from nodestudio.engine.modes import resolve_modes
from nodestudio.engine.validate import validate
from nodestudio.graph import GraphFileError, dumps, loads
from nodestudio.graph.files import from_document

REGISTRY = make_bench().registry

def _nested(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = [value]
    return value


# Issue 14's classes: integers beyond float range, NaN / Infinity, empty names, deep nesting.
hostile = st.sampled_from([10**400, -(10**400), float("nan"), float("inf"), float("-inf"), ""]) \
    | st.sampled_from([31, 32, 33, 500]).map(_nested)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
    | hostile,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)

node_entries = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.text(max_size=3), st.integers(-2, 5), json_values),
        "type": st.one_of(st.sampled_from(["test.number", "test.sink", "x.y", ""]), json_values),
        "type_version": st.one_of(st.integers(-1, 3), json_values),
        "values": st.one_of(st.dictionaries(st.sampled_from(["value", "x", "mode"]), json_values),
                            json_values),
        "mode": st.one_of(st.sampled_from(["normal", "muted", "bypassed"]), json_values),
        "title": json_values,
        "controls": json_values,
    },
)

documents = st.fixed_dictionaries(
    {"format": st.just("nodestudio.graph"), "version": st.sampled_from([1, 2, 3, 0, "2"])},
    optional={
        "nodes": st.one_of(st.lists(node_entries, max_size=5), json_values),
        "links": st.one_of(st.lists(st.one_of(
            st.fixed_dictionaries({"from": json_values, "to": json_values}),
            st.lists(st.text(max_size=2), min_size=4, max_size=4), json_values), max_size=4),
            json_values),
        "layout": st.one_of(st.fixed_dictionaries({}, optional={
            "nodes": json_values, "groups": json_values, "reroutes": json_values,
            "extra": json_values}), json_values),
        "metadata": json_values,
    },
)


def round_trips(graph) -> None:
    """What loads saves, reopens equal, copies and resolves its modes without raising."""
    again = loads(dumps(graph), REGISTRY)
    assert again == graph
    assert graph.copy() == graph
    effective, notes = resolve_modes(graph, REGISTRY)
    validate(effective, REGISTRY, notes=notes)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_structured_garbage_only_raises_graph_file_error(document):
    try:
        graph = from_document(document, REGISTRY)
    except GraphFileError as error:
        assert error.problems
        return
    round_trips(graph)


node_ids = st.sampled_from(["1", "2", "3", "4"])
modes = st.sampled_from(["normal", "normal", "muted", "bypassed"])


@settings(max_examples=200, deadline=None)
@example([("2", "x", "3"), ("3", "a", "2")], ["normal", "normal", "bypassed", "normal"])
@example([("2", "x", "3"), ("3", "a", "2")], ["normal", "normal", "muted", "normal"])
@given(st.lists(st.tuples(node_ids, st.sampled_from(["x", "a", "b"]), node_ids), max_size=8),
       st.lists(modes, min_size=4, max_size=4))
def test_any_wiring_and_modes_round_trip_and_validate(links, node_modes):
    # cycles through bypassed and muted nodes included (issue 14, item 2)
    types = ["test.number", "test.add", "test.scale", "test.sink"]
    document = {"format": "nodestudio.graph", "version": 2,
                "nodes": [{"id": str(i + 1), "type": types[i], "mode": node_modes[i]}
                          for i in range(4)],
                "links": [{"from": [source, "x" if source != "2" else "sum"],
                           "to": [target, name]} for source, name, target in links]}
    try:
        graph = from_document(document, REGISTRY)
    except GraphFileError:
        return
    round_trips(graph)


def test_a_50k_node_graph_loads_and_saves_in_reasonable_time():
    count = 50_000
    document = {"format": "nodestudio.graph", "version": 2,
                "nodes": [{"id": str(i), "type": "test.scale", "values": {"factor": 1.0}}
                          for i in range(count)],
                "links": [{"from": [str(i), "x"], "to": [str(i + 1), "x"]}
                          for i in range(count - 1)],
                "layout": {"nodes": {str(i): {"pos": [i, 0]} for i in range(count)}}}
    text = json.dumps(document)
    started = time.perf_counter()
    graph = loads(text, REGISTRY)
    again = loads(dumps(graph), REGISTRY)
    elapsed = time.perf_counter() - started
    assert again == graph and len(again) == count
    assert elapsed < 60, f"{elapsed:.1f} s"  # about 10 s on a slow shared core


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=200), json_values.map(json.dumps)))
def test_text_garbage_only_raises_graph_file_error(text):
    with contextlib.suppress(GraphFileError):
        round_trips(loads(text, REGISTRY))
