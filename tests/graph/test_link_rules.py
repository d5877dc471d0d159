"""The link rules the canvas uses, asked headless (no Qt): importers and scripts get the
same answers as the window."""

from __future__ import annotations

from nodestudio.api import FLOAT, IMAGE, INT, MASK, Float, Input, Output, node, registry_of
from nodestudio.graph import Graph
from nodestudio.graph.link_rules import Endpoint, compatible_socket, link_problem, would_cycle


@node("t.source", outputs=[Output("image", IMAGE), Output("count", INT)])
def _source():
    return None, 0


@node("t.filter", inputs=[Float("strength", 1.0), Input("image", IMAGE), Input("mask", MASK)],
      outputs=[Output("image", IMAGE)])
def _filter(strength, image, mask):
    return image


REGISTRY = registry_of(_source, _filter)


def _out(node_id: str, name: str, type: str) -> Endpoint:
    return Endpoint(node_id, name, type, True)


def _in(node_id: str, name: str, type: str) -> Endpoint:
    return Endpoint(node_id, name, type, False)


def _chain() -> tuple[Graph, str, str, str]:
    graph = Graph()
    source = graph.add_node("t.source").id
    first = graph.add_node("t.filter").id
    second = graph.add_node("t.filter").id
    graph.connect(source, "image", first, "image")
    graph.connect(first, "image", second, "image")
    return graph, source, first, second


def test_a_compatible_link_has_no_problem_in_either_direction():
    graph, source, first, _second = _chain()
    start, end = _out(source, "count", INT), _in(first, "strength", FLOAT)
    assert link_problem(graph, REGISTRY, start, end) is None
    assert link_problem(graph, REGISTRY, end, start) is None


def test_refused_links_say_why():
    graph, source, first, second = _chain()
    assert link_problem(graph, REGISTRY, _out(source, "image", IMAGE),
                        _out(first, "image", IMAGE)) == "link an output to an input"
    assert link_problem(graph, REGISTRY, _out(first, "image", IMAGE),
                        _in(first, "image", IMAGE)) == "a node cannot feed itself"
    assert link_problem(graph, REGISTRY, _out(source, "image", IMAGE),
                        _in(first, "mask", MASK)) == "IMAGE cannot feed an input of type MASK"
    # second is fed by first: feeding first from second would close a loop.
    assert link_problem(graph, REGISTRY, _out(second, "image", IMAGE),
                        _in(first, "image", IMAGE)) == "that link would make a loop"


def test_cycle_check_follows_links_through_other_nodes():
    graph, source, first, second = _chain()
    assert would_cycle(graph, second, source)  # source → first → second already
    assert would_cycle(graph, second, first)
    assert not would_cycle(graph, source, second)
    graph.disconnect(first, "image")
    assert not would_cycle(graph, second, source)


def test_compatible_socket_prefers_sockets_over_widget_inputs():
    filter_type = REGISTRY.get("t.filter")
    source_type = REGISTRY.get("t.source")
    # An INT may feed the FLOAT widget, but nothing else of the filter: it goes there.
    assert compatible_socket(REGISTRY, filter_type, _out("a", "count", INT)) == "strength"
    # An IMAGE goes to the image socket; a MASK output has no place on the source.
    assert compatible_socket(REGISTRY, filter_type, _out("a", "image", IMAGE)) == "image"
    assert compatible_socket(REGISTRY, source_type, _in("b", "mask", MASK)) is None
    assert compatible_socket(REGISTRY, source_type, _in("b", "image", IMAGE)) == "image"

