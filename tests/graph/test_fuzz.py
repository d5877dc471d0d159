"""Loading arbitrary data: only GraphFileError may come out, never anything else."""

from __future__ import annotations

import contextlib
import json

from fakes import make_bench
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodestudio.graph import GraphFileError, loads
from nodestudio.graph.files import from_document

REGISTRY = make_bench().registry

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
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


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_structured_garbage_only_raises_graph_file_error(document):
    with contextlib.suppress(GraphFileError):
        from_document(document, REGISTRY)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=200), json_values.map(json.dumps)))
def test_text_garbage_only_raises_graph_file_error(text):
    with contextlib.suppress(GraphFileError):
        loads(text, REGISTRY)
