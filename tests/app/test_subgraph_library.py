"""The subgraph library: save, list, load by id and version, resolve references in files."""

from __future__ import annotations

import json
from pathlib import Path

from nodestudio.app.subgraph_library import SubgraphLibrary
from nodestudio.engine import Executor
from nodestudio.graph import Graph, dumps, loads
from nodestudio.graph.subgraphs import make_subgraph
from tests.fakes import make_bench


def _packed() -> tuple[Graph, str, str]:
    graph = Graph()
    graph.add_node("test.number", {"value": 2.0}, id="1")
    graph.add_node("test.scale", {"factor": 4.0}, id="2")
    graph.add_node("test.sink", id="3")
    graph.connect("1", "value", "2", "x")
    graph.connect("2", "x", "3", "x")
    packed, definition, instance = make_subgraph(graph, ["2"], name="Quadruple",
                                                 promote=[("2", "factor")])
    return packed, definition.id, instance


def test_save_list_and_load_by_id_and_version(tmp_path: Path) -> None:
    library = SubgraphLibrary(tmp_path / "subgraphs")
    graph, definition_id, _ = _packed()
    definition = graph.definitions[definition_id]
    library.save(definition)
    definition.version = 2
    definition.graph.set_value("2", "factor", 5.0)
    library.save(definition)
    (tmp_path / "subgraphs" / "junk@1.json").write_text("{not json")
    entries = library.entries()
    assert [(e.id, e.version, e.name) for e in entries] == [
        (definition_id, 1, "Quadruple"), (definition_id, 2, "Quadruple")]
    first = library.load(definition_id, 1)
    assert first is not None and first.from_library
    assert first.graph.value("2", "factor") == 4.0
    assert library.load(definition_id, 2).graph.value("2", "factor") == 5.0
    assert library.load(definition_id, 3) is None


def test_a_graph_refers_to_a_library_definition_and_runs_it(tmp_path: Path) -> None:
    library = SubgraphLibrary(tmp_path)
    graph, definition_id, _instance = _packed()
    library.save(graph.definitions[definition_id])
    graph.definitions[definition_id] = library.load(definition_id, 1)
    text = dumps(graph)
    assert json.loads(text)["definitions"] == [
        {"id": definition_id, "version": 1, "name": "Quadruple", "library": True}]
    reopened = loads(text)
    assert library.resolve(reopened) == []
    assert reopened == graph and dumps(reopened) == text
    bench = make_bench()
    Executor(bench.registry).run(reopened)
    assert bench.sunk == [8.0]


def test_a_missing_library_definition_is_named_and_kept(tmp_path: Path) -> None:
    graph, definition_id, _ = _packed()
    SubgraphLibrary(tmp_path / "a").save(graph.definitions[definition_id])
    graph.definitions[definition_id] = SubgraphLibrary(tmp_path / "a").load(definition_id, 1)
    text = dumps(graph)
    reopened = loads(text)
    [warning] = SubgraphLibrary(tmp_path / "empty").resolve(reopened)
    assert "'Quadruple' (version 1) is not in the subgraph library" in warning.message
    assert str(tmp_path / "empty") in warning.message
    assert dumps(reopened) == text
