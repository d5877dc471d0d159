"""The backend interface without Ray: the local backend, atomic once-only writes, routing and
sweeps (parsing, targets, products)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nodestudio.app.backends import (
    CANCELLED,
    FINISHED,
    ExecutionBackend,
    LocalBackend,
    OutputWriter,
)
from nodestudio.app.farm.routing import WorkerLoad, choose_job, least_loaded, loader_nodes
from nodestudio.app.farm.sweep import expand, parse_sweep, resolve_targets
from nodestudio.app.session import Session
from nodestudio.graph import Graph, save
from nodestudio.graph.problems import GraphError
from nodestudio.paths import resources_dir


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Session:
    return Session(device="cpu", output_dir=tmp_path_factory.mktemp("out"))


def _mask_graph(value: float = 0.5) -> Graph:
    graph = Graph()
    solid = graph.add_node("mask.solid", {"value": value, "width": 8, "height": 8})
    image = graph.add_node("mask.to_image")
    save = graph.add_node("image.save", {"filename_prefix": "m"})
    graph.connect(solid.id, "mask", image.id, "mask")
    graph.connect(image.id, "image", save.id, "images")
    return graph


# -- the local backend ---------------------------------------------------------------------------


def test_the_local_queue_is_a_backend_that_runs_jobs_and_reports_them(session):
    backend = session.backend()  # the Python API: no farm named, this machine
    assert isinstance(backend, LocalBackend) and isinstance(backend, ExecutionBackend)
    events = []
    backend.subscribe(events.append)
    graph = _mask_graph(0.25)
    handles = []
    for n in range(3):  # three different pictures (an unchanged graph writes nothing again)
        graph.set_value(next(iter(graph.nodes)), "value", 0.25 * (n + 1))
        handles.append(backend.submit(graph, metadata={"n": n}))
    results = backend.wait_all(handles, timeout=60)
    assert [r.status for r in results] == [FINISHED] * 3
    assert all(len(r.files) == 1 and r.files[0].is_file() for r in results)
    assert [r.metadata["n"] for r in results] == [0, 1, 2]
    assert len({r.files[0] for r in results}) == 3
    kinds = [(e.job_id, e.kind) for e in events]
    for handle in handles:
        assert (handle.id, "queued") in kinds and (handle.id, "finished") in kinds
    assert backend.workers()[0].state == "idle"
    backend.shutdown()


def test_cancelling_a_pending_local_job_finishes_it_as_cancelled(session, monkeypatch):
    backend = LocalBackend(session)
    backend.queue.shutdown()
    # No runner: a submit would start a new one, which could finish the job before the cancel.
    monkeypatch.setattr(backend.queue, "_ensure_worker", lambda: None)
    handle = backend.submit(_mask_graph())
    backend.cancel(handle)
    assert handle.wait(5).status == CANCELLED
    assert backend.queue.jobs() == []


# -- writing results -----------------------------------------------------------------------------


def test_outputs_are_written_once_per_job_and_index(tmp_path: Path):
    writer = OutputWriter(tmp_path)
    first = writer.write("ab-0001", 0, "shapes_00001_.png", b"one")
    again = writer.write("ab-0001", 0, "shapes_00001_.png", b"two")  # a replayed result
    other = writer.write("ab-0001", 1, "../../etc/x.png", b"three")
    assert first == again and first.read_bytes() == b"one"
    assert other.parent == tmp_path and other.read_bytes() == b"three"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, other.name])


# -- routing -------------------------------------------------------------------------------------


def test_a_job_goes_to_the_worker_holding_its_models():
    a, b = WorkerLoad("a", True, {"ckpt-1"}), WorkerLoad("b", True, {"ckpt-2"})
    pending = [("j1", frozenset({"ckpt-1"})), ("j2", frozenset({"ckpt-2"}))]
    assert choose_job(b, pending, [a, b]) == "j2"
    assert choose_job(a, pending, [a, b]) == "j1"


def test_an_idle_worker_takes_unclaimed_models_then_steals_a_long_backlog():
    a, b = WorkerLoad("a", True, {"ckpt-1"}), WorkerLoad("b", True, set())
    one = [("j1", frozenset({"ckpt-1"}))]
    assert choose_job(b, one, [a, b], steal_backlog=2) is None  # a will take it
    three = [(f"j{i}", frozenset({"ckpt-1"})) for i in range(3)]
    assert choose_job(b, three, [a, b], steal_backlog=2) == "j2"
    fresh = [("j1", frozenset({"ckpt-1"})), ("j9", frozenset({"ckpt-9"}))]
    assert choose_job(b, fresh, [a, b]) == "j9"
    assert least_loaded([WorkerLoad("x", True, {"m"}), b, WorkerLoad("z", False)]) is b


def test_loader_nodes_are_the_nodes_naming_model_files(session):
    graph = session.load_graph(resources_dir() / "workflows" / "text_to_image.json")
    assert loader_nodes(graph, session.registry) == {"checkpoint": "nodestudio-shapes"}


# -- sweeps --------------------------------------------------------------------------------------


def test_sweep_values_ranges_lists_and_files(tmp_path: Path):
    assert parse_sweep("seed=1..5").values == (1, 2, 3, 4, 5)
    assert parse_sweep("seed=0..10:5").values == (0, 5, 10)
    assert parse_sweep("sampler.cfg=1.5,2,3").values == (1.5, 2, 3)
    assert parse_sweep("positive.text=a red circle").values == ("a red circle",)
    (tmp_path / "prompts.txt").write_text("a red circle\n\n a blue square \n", encoding="utf-8")
    sweep = parse_sweep("positive.text=@prompts.txt", tmp_path)
    assert sweep.target == "positive.text"
    assert sweep.values == ("a red circle", "a blue square")


@pytest.mark.parametrize("text, words", [
    ("seed", "expected INPUT=VALUES"),
    ("seed=5..1", "range is empty"),
    ("seed=a..b", "whole numbers"),
    ("text=@missing.txt", "cannot read"),
    ("seed=1..10000000", "more than"),
])
def test_bad_sweeps_say_what_is_wrong_in_one_sentence(text, words, tmp_path):
    with pytest.raises(ValueError, match=words) as error:
        parse_sweep(text, tmp_path)
    assert "\n" not in str(error.value)


def test_sweeps_multiply_and_target_ids_titles_or_every_node(session):
    graph = session.load_graph(resources_dir() / "workflows" / "text_to_image.json")
    graph.node("sampler").title = "Main sampler"
    assert resolve_targets(graph, session.registry, "seed") == [("sampler", "seed")]
    assert resolve_targets(graph, session.registry, "main sampler.steps") == [
        ("sampler", "steps")]
    runs = expand(graph, session.registry, [parse_sweep("seed=1..3"),
                                            parse_sweep("positive.text=red,blue")])
    assert len(runs) == 6
    got = {(g.node("sampler").values["seed"], g.node("positive").values["text"])
           for g, _ in runs}
    assert got == {(s, t) for s in (1, 2, 3) for t in ("red", "blue")}
    assert runs[0][1] == {"seed": 1, "positive.text": "red"}
    assert graph.node("sampler").values["seed"] == 1  # the original is untouched
    # A prompt of digits is the text typed (before: "expected text, got 2024").
    runs = expand(graph, session.registry, [parse_sweep("positive.text=2024,true")])
    assert [g.node("positive").values["text"] for g, _ in runs] == ["2024", "true"]


def test_a_sweep_reaches_a_subgraphs_promoted_widget(session):
    from nodestudio.graph.subgraphs import make_subgraph

    graph = session.load_graph(resources_dir() / "workflows" / "text_to_image.json")
    packed, _, instance = make_subgraph(graph, ["sampler"], name="Render",
                                        registry=session.registry, promote=[("sampler", "steps")])
    assert resolve_targets(packed, session.registry, "steps") == [(instance, "steps")]
    runs = expand(packed, session.registry, [parse_sweep(f"{instance}.steps=3,4")])
    assert [g.node(instance).values["steps"] for g, _ in runs] == [3, 4]
    with pytest.raises(GraphError) as error:
        expand(packed, session.registry, [parse_sweep(f"{instance}.steps=0")])
    assert "below the minimum 1" in error.value.problems[0].message


def test_a_sweep_naming_nothing_or_a_bad_value_is_refused(session):
    graph = session.load_graph(resources_dir() / "workflows" / "text_to_image.json")
    with pytest.raises(GraphError) as error:
        expand(graph, session.registry, [parse_sweep("sampler.nonsense=1..2")])
    assert "no value input 'nonsense'" in error.value.problems[0].message
    with pytest.raises(GraphError):
        expand(graph, session.registry, [parse_sweep("steps=-5..-3")])


# -- the command line ----------------------------------------------------------------------------


def _cli(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nodestudio.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=120)


def test_run_with_sweeps_writes_one_file_per_combination(tmp_path: Path):
    graph = _mask_graph()
    graph.node(next(iter(graph.nodes))).title = "Fill"
    path = save(graph, tmp_path / "graph.json")
    (tmp_path / "sizes.txt").write_text("8\n16\n", encoding="utf-8")
    out = tmp_path / "out"
    done = _cli("run", path, "--output", out, "--sweep", "fill.value=0.25,0.75",
                "--sweep", "width=@sizes.txt", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    written = sorted(out.glob("*.png"))
    assert len(written) == 4 and done.stdout.count("wrote ") == 4
    seen = set()
    for file in written:
        with Image.open(file) as image:
            pixels = np.asarray(image.convert("L"))
        seen.add((pixels.shape[1], round(float(pixels.mean()) / 255, 2)))
    assert seen == {(w, v) for w in (8, 16) for v in (0.25, 0.75)}
    assert "fill.value=0.75, width=16" in done.stdout


def test_a_bad_sweep_exits_2_naming_what_is_wrong(tmp_path: Path):
    path = save(_mask_graph(), tmp_path / "graph.json")
    done = _cli("run", path, "--sweep", "nosuch=1..3", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "nodestudio run: invalid --sweep",
        "  - --sweep 'nosuch': no node of the graph has a value input 'nosuch'; name it as "
        "INPUT or NODE.INPUT (node id or title)"]


# -- a farm worker, in this process (the farm runs it as a Ray actor: tests/app/test_farm.py) ----


def test_a_worker_refuses_node_types_and_models_it_lacks_in_one_sentence(tmp_path: Path):
    from nodestudio.app.farm.worker import FarmWorker
    from nodestudio.graph.files import to_document

    worker = FarmWorker("worker-7", [str(tmp_path / "models")], "cpu")
    graph = _mask_graph()
    document = to_document(graph)
    document["nodes"].append({"id": "x", "type": "somepack.magic", "values": {}})
    reply = worker.run({"id": "j1", "document": document, "outputs": None})
    assert reply["status"] == "failed" and reply["worker"] == "worker-7"
    assert "worker-7 does not know the node type(s) somepack.magic" in reply["error"]
    flow = worker.session.load_graph(resources_dir() / "workflows" / "text_to_image.json")
    flow.set_value("checkpoint", "checkpoint", "studio-v2")
    message = worker.missing_models(flow)
    assert message == (f"worker worker-7 lacks model 'studio-v2' (node checkpoint): put it in "
                       f"{tmp_path / 'models' / 'checkpoints'} on that machine, the folder this "
                       "worker reads models from")


def test_a_worker_runs_a_job_and_sends_its_files_back_as_bytes(tmp_path: Path):
    from nodestudio.app.farm.worker import FarmWorker
    from nodestudio.graph.files import to_document

    worker = FarmWorker("worker-1", [str(tmp_path / "models")], "cpu")
    reply = worker.run({"id": "j1", "document": to_document(_mask_graph(0.5)), "outputs": None})
    assert reply["status"] == "finished", reply.get("error")
    [(name, data)] = reply["files"]
    assert name.endswith(".png") and data.startswith(b"\x89PNG")
    assert worker.status()["state"] == "idle" and worker.status()["jobs_done"] == 1
    assert not list(worker._scratch.glob("job-*"))  # the job's scratch folder is gone
