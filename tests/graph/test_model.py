from __future__ import annotations

import pytest

from nodestudio.graph import Graph
from nodestudio.graph.model import (
    LayoutChanged,
    LinkAdded,
    LinkRemoved,
    NodeAdded,
    NodeChanged,
    NodeRemoved,
    ValueChanged,
)


@pytest.fixture
def recorded():
    graph = Graph()
    events: list = []
    graph.subscribe(events.append)
    return graph, events


def test_every_edit_emits_one_event(recorded):
    graph, events = recorded
    a = graph.add_node("x.a", {"v": 1}, pos=(10, 20))
    b = graph.add_node("x.b")
    link = graph.connect(a.id, "out", b.id, "in")
    graph.set_value(a.id, "v", 2)
    graph.set_value(a.id, "v", 2)  # unchanged: no event
    graph.set_mode(b.id, "bypassed")
    graph.set_title(b.id, "B")
    graph.move_node(a.id, (5, 5))
    graph.disconnect(b.id, "in")
    graph.remove_node(a.id)
    kinds = [type(event) for event in events]
    assert kinds == [NodeAdded, NodeAdded, LinkAdded, ValueChanged, NodeChanged, NodeChanged,
                     LayoutChanged, LinkRemoved, NodeRemoved]
    assert events[2].link == link
    assert events[3] == ValueChanged(a.id, "v", 1, 2)


def test_removing_a_node_removes_its_links_first(recorded):
    graph, events = recorded
    a, b, c = (graph.add_node("x") for _ in range(3))
    graph.connect(a.id, "o", b.id, "i")
    graph.connect(b.id, "o", c.id, "i")
    events.clear()
    removed = graph.remove_node(b.id)
    assert len(removed) == 2 and graph.links == []
    assert [type(e) for e in events] == [LinkRemoved, LinkRemoved, NodeRemoved]


def test_connecting_an_occupied_input_replaces_the_link():
    graph = Graph()
    a, b, c = (graph.add_node("x") for _ in range(3))
    graph.connect(a.id, "o", c.id, "i")
    graph.connect(b.id, "o", c.id, "i")
    assert graph.link_into(c.id, "i").source == b.id
    assert len(graph.links) == 1


def test_self_links_and_unknown_nodes_are_refused():
    graph = Graph()
    a = graph.add_node("x")
    with pytest.raises(ValueError):
        graph.connect(a.id, "o", a.id, "i")
    with pytest.raises(KeyError):
        graph.connect(a.id, "o", "nope", "i")
    with pytest.raises(ValueError):
        graph.set_mode(a.id, "sleeping")


def test_unsubscribe_stops_events():
    graph = Graph()
    events: list = []
    unsubscribe = graph.subscribe(events.append)
    graph.add_node("x")
    unsubscribe()
    graph.add_node("x")
    assert len(events) == 1


def test_copy_is_independent_and_equal():
    graph = Graph()
    a = graph.add_node("x", {"v": [1, 2]}, pos=(1, 2))
    b = graph.add_node("y")
    graph.connect(a.id, "o", b.id, "i")
    clone = graph.copy()
    assert clone == graph
    clone.set_value(a.id, "v", [3])
    clone.move_node(b.id, (9, 9))
    assert graph.value(a.id, "v") == [1, 2]
    assert clone != graph


def test_subgraph_and_merge_keep_internal_links_under_new_ids():
    graph = Graph()
    a, b, c = (graph.add_node("x", {"n": i}, pos=(i * 10, 0)) for i in range(3))
    graph.connect(a.id, "o", b.id, "i")
    graph.connect(b.id, "o", c.id, "i")
    part = graph.subgraph([a.id, b.id])
    assert len(part) == 2 and len(part.links) == 1  # the link to c is outside
    mapping = graph.merge(part, offset=(100, 0))
    assert set(mapping) == {a.id, b.id}
    new_a, new_b = mapping[a.id], mapping[b.id]
    assert new_a not in (a.id, b.id, c.id)
    assert graph.link_into(new_b, "i").source == new_a
    assert graph.layout.nodes[new_a].pos == (100.0, 0.0)
    assert graph.value(new_b, "n") == 1


def test_restore_node_brings_back_id_values_and_layout():
    graph = Graph()
    a = graph.add_node("x", {"v": 1}, pos=(3, 4), controls={"seed": "randomize"})
    snapshot_layout = graph.layout.nodes[a.id]
    graph.remove_node(a.id)
    graph.restore_node(a, snapshot_layout)
    assert graph.node(a.id).values == {"v": 1}
    assert graph.node(a.id).controls == {"seed": "randomize"}
    assert graph.layout.nodes[a.id].pos == (3.0, 4.0)


def test_groups_and_reroutes_live_in_the_layout():
    graph = Graph()
    a, b = graph.add_node("x"), graph.add_node("y")
    graph.connect(a.id, "o", b.id, "i")
    group = graph.add_group("Inputs", (0, 0, 100, 50), "#334455")
    graph.set_reroutes(b.id, "i", [(10, 10), (20, 20)])
    assert graph.layout.groups[0].contains((50, 25))
    graph.update_group(group.id, title="Loaders")
    assert graph.group(group.id).title == "Loaders"
    graph.disconnect(b.id, "i")
    assert graph.layout.reroutes == {}  # bend points go with their link


def test_find_by_type_and_title_in_graph_order():
    graph = Graph()
    first = graph.add_node("diffusion.sampler", title="Base")
    graph.add_node("image.save")
    second = graph.add_node("diffusion.sampler", title="Refiner ")
    assert graph.find(type_id="diffusion.sampler") == [first, second]
    assert graph.find(title="refiner") == [second]
    assert graph.find(type_id="image.save", title="Base") == []
    assert graph.find() == list(graph)
