"""Every kind of validation problem, each bound to its node and input, all found at once."""

from __future__ import annotations

import pytest
from fakes import make_bench

from nodestudio.engine import resolve_modes, validate
from nodestudio.graph import Graph


@pytest.fixture
def bench():
    return make_bench()


def kinds(problems):
    return sorted((p.kind, p.node_id, p.input) for p in problems)


def test_a_valid_graph_has_no_problems(bench):
    graph = Graph()
    a = graph.add_node("test.number")
    s = graph.add_node("test.sink")
    graph.connect(a.id, "value", s.id, "x")
    assert validate(graph, bench.registry) == []


def test_no_output_node(bench):
    graph = Graph()
    graph.add_node("test.number")
    assert kinds(validate(graph, bench.registry)) == [("no_output", None, None)]


def test_all_problems_are_reported_together(bench):
    graph = Graph()
    number = graph.add_node("test.number", {"value": 500.0})  # above max 100
    scale = graph.add_node("test.scale", {"factor": "big"})  # wrong type
    sink = graph.add_node("test.sink")  # x not linked
    text = graph.add_node("test.text")
    sink2 = graph.add_node("test.sink")
    pick = graph.add_node("test.pick", {"mode": "z"})
    sink3 = graph.add_node("test.sink")
    ghost = graph.add_node("someone.ghost")
    sink4 = graph.add_node("test.sink")
    graph.connect(number.id, "value", scale.id, "x")
    graph.connect(scale.id, "x", sink.id, "nonexistent")
    graph.connect(text.id, "text", sink2.id, "x")  # STRING into FLOAT
    graph.connect(pick.id, "value", sink3.id, "x")
    graph.connect(ghost.id, "out", sink4.id, "x")
    problems = validate(graph, bench.registry)
    assert kinds(problems) == sorted([
        ("invalid_value", scale.id, "factor"),
        ("missing_input", sink.id, "x"),
        ("unknown_input", sink.id, "nonexistent"),
        ("type_mismatch", sink2.id, "x"),
        ("invalid_choice", pick.id, "mode"),
        ("unknown_type", ghost.id, None),
        ("out_of_range", number.id, "value"),
    ])
    mismatch = next(p for p in problems if p.kind == "type_mismatch")
    assert "STRING" in mismatch.message and "FLOAT" in mismatch.message


def test_linking_from_an_output_that_does_not_exist(bench):
    graph = Graph()
    a = graph.add_node("test.number")
    s = graph.add_node("test.sink")
    graph.connect(a.id, "nope", s.id, "x")
    assert kinds(validate(graph, bench.registry)) == [("unknown_output", s.id, "x")]


def test_cycles_are_found(bench):
    graph = Graph()
    a = graph.add_node("test.add")
    b = graph.add_node("test.scale")
    s = graph.add_node("test.sink")
    n = graph.add_node("test.number")
    graph.connect(n.id, "value", a.id, "a")
    graph.connect(b.id, "x", a.id, "b")
    graph.connect(a.id, "sum", b.id, "x")
    graph.connect(b.id, "x", s.id, "x")
    cycle = [p for p in validate(graph, bench.registry) if p.kind == "cycle"]
    assert sorted(p.node_id for p in cycle) == sorted([a.id, b.id])


def test_unknown_nodes_not_needed_by_outputs_do_not_block(bench):
    graph = Graph()
    a = graph.add_node("test.number")
    s = graph.add_node("test.sink")
    graph.connect(a.id, "value", s.id, "x")
    graph.add_node("someone.unneeded")
    assert validate(graph, bench.registry) == []


def test_a_link_to_a_misnamed_socket_names_the_one_likely_meant(bench):
    graph = Graph()
    number = graph.add_node("test.number")
    sink = graph.add_node("test.sink")
    graph.connect(number.id, "VALUE", sink.id, "x")  # ComfyUI habit: the type's capitals
    graph.connect(number.id, "value", sink.id, "xx")
    assert sorted(p.message for p in validate(graph, bench.registry)) == [
        "Sink has no input 'xx' (did you mean 'x'?)",
        f"linked from output 'VALUE', which node {number.id} (Number) does not have (did you "
        "mean 'value'?)"]


def test_an_unknown_type_close_to_a_known_one_names_it(bench):
    graph = Graph()
    typo = graph.add_node("test.numbr")
    graph.connect(typo.id, "value", graph.add_node("test.sink").id, "x")
    stranger = graph.add_node("acme.numbr")  # another pack's: never offered a built-in
    graph.connect(stranger.id, "value", graph.add_node("test.sink").id, "x")
    assert [p.message for p in validate(graph, bench.registry)] == [
        "unknown node type 'test.numbr' (did you mean 'test.number'?)",
        "unknown node type 'acme.numbr' (is a node pack missing?)"]


def test_muted_source_explains_the_missing_input(bench):
    graph = Graph()
    a = graph.add_node("test.number")
    s = graph.add_node("test.sink")
    graph.connect(a.id, "value", s.id, "x")
    graph.set_mode(a.id, "muted")
    effective, notes = resolve_modes(graph, bench.registry)
    problems = validate(effective, bench.registry, notes=notes)
    assert kinds(problems) == [("missing_input", s.id, "x")]
    assert "muted" in problems[0].message


def test_bypassed_node_passes_its_matching_input_through(bench):
    graph = Graph()
    a = graph.add_node("test.number")
    b = graph.add_node("test.scale")
    s = graph.add_node("test.sink")
    graph.connect(a.id, "value", b.id, "x")
    graph.connect(b.id, "x", s.id, "x")
    graph.set_mode(b.id, "bypassed")
    effective, _ = resolve_modes(graph, bench.registry)
    assert b.id not in effective
    assert effective.link_into(s.id, "x").source == a.id
    assert b.id in graph  # the user's graph is untouched
