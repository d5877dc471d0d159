"""Values set for inputs a node's type does not have (a script's typo, a hand-edited file):
each is a warning naming the node, the value and the input it likely meant; nothing is
refused, and a graph without such values has no warning."""

from __future__ import annotations

from nodestudio.engine.plan import effective_graph
from nodestudio.engine.unused_values import unused_value_warnings
from nodestudio.graph import Graph
from nodestudio.graph.subgraphs import make_subgraph
from tests.fakes import make_bench


def _warnings(graph: Graph) -> list[str]:
    registry = make_bench().registry
    effective, _, _ = effective_graph(graph, registry)
    return [str(problem) for problem in unused_value_warnings(effective, registry)]


def _chain() -> Graph:
    graph = Graph()
    graph.add_node("test.number", {"value": 3.0}, id="1")
    graph.add_node("test.scale", {"factor": 2.0}, id="2", title="Sampler")
    graph.add_node("test.sink", id="3")
    graph.connect("1", "value", "2", "x")
    graph.connect("2", "x", "3", "x")
    return graph


def test_a_graph_whose_values_all_fit_has_no_warning():
    assert _warnings(_chain()) == []


def test_a_misspelt_input_is_named_with_the_input_it_likely_meant():
    graph = _chain()
    graph.set_value("2", "facter", 9.0)
    graph.set_value("1", "unrelated_thing", "x" * 100)
    assert _warnings(graph) == [
        "node 1, input 'unrelated_thing': Number has no such input, so its value "
        "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx… is not used",
        "node 2, input 'facter': Scale has no such input, so its value 9.0 is not used "
        "(did you mean 'factor'?)",
    ]


def test_a_value_inside_a_subgraph_is_named_by_its_path():
    graph = _chain()
    graph.set_value("2", "facter", 9.0)
    packed, _, instance = make_subgraph(graph, ["2"], name="Hires fix")
    [warning] = _warnings(packed)
    assert warning == (
        f"node {instance}/2, input 'facter': Hires fix › Sampler › facter: Scale has no such "
        "input, so its value 9.0 is not used (did you mean 'factor'?)")


def test_a_node_of_an_unknown_type_is_left_to_its_own_problem():
    graph = _chain()
    graph.add_node("nobody.knows", {"anything": 1}, id="9")
    assert _warnings(graph) == []
