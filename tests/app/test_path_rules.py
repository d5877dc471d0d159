"""What a shared graph may touch (issue 14, items 11–13): pictures only from the input folder and
the examples, models only under the models roots, saves only inside a writable output folder —
anything else needs the user's consent (--allow-path, Session(allowed_paths=...))."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import nodestudio
from nodestudio.app.models import ModelLibrary, ModelOutsideFoldersError
from nodestudio.graph import Graph, GraphValidationError, save


@pytest.fixture
def places(tmp_path: Path) -> dict[str, Path]:
    """An input folder with a picture, and a private picture outside it."""
    input_dir, private = tmp_path / "input", tmp_path / "secret"
    input_dir.mkdir()
    private.mkdir()
    pixels = np.full((8, 8, 3), 90, dtype=np.uint8)
    Image.fromarray(pixels).save(input_dir / "mine.png")
    Image.fromarray(pixels).save(private / "private.png")
    return {"root": tmp_path, "input": input_dir, "private": private,
            "out": tmp_path / "out"}


def load_save_graph(image: str, prefix: str = "shot") -> Graph:
    graph = Graph()
    load = graph.add_node("image.load", {"image": image}, id="load")
    out = graph.add_node("image.save", {"filename_prefix": prefix}, id="save")
    graph.connect(load.id, "image", out.id, "images")
    return graph


def session(places: dict[str, Path], **options: object) -> nodestudio.Session:
    return nodestudio.Session(device="cpu", models_dir=places["root"] / "models",
                              output_dir=places["out"], input_dir=places["input"], **options)


ESCAPES = ["{private}/private.png", "../secret/private.png", "~/../../{private}/private.png"]


@pytest.mark.parametrize("form", ESCAPES)
def test_api_refuses_a_picture_outside_the_input_folder_before_anything_runs(places, form):
    image = form.format(private=places["private"]).replace("~/../../", "~/../../../../../../")
    runner = session(places)
    problems = runner.validate(load_save_graph(image))
    refused = [p for p in problems if p.kind == "path_not_allowed"]
    assert len(refused) == 1 and refused[0].node_id == "load"
    assert "Load Image (node load)" in refused[0].message
    assert str(places["private"] / "private.png") in refused[0].message
    with pytest.raises(GraphValidationError):
        runner.run(load_save_graph(image))
    assert not places["out"].exists()  # nothing read, nothing written


def test_api_allowed_paths_let_the_graph_read_that_folder(places):
    runner = session(places, allowed_paths=[places["private"]])
    graph = load_save_graph("../secret/private.png")
    assert runner.validate(graph) == []
    result = runner.run(graph)
    assert result.files == [places["out"] / "shot_00001_.png"]


def test_the_node_itself_refuses_when_the_run_skips_validation(places):
    """The queue runs through the executor: the node checks its context's readable roots."""
    runner = session(places)
    graph = load_save_graph(str(places["private"] / "private.png"))
    result = runner.executor.run(graph, runner.environment())
    assert result.status == "failed" and "load" in result.failed
    assert not places["out"].exists()


def test_input_folder_and_example_pictures_need_no_consent(places):
    runner = session(places)
    assert runner.validate(load_save_graph("mine.png")) == []
    assert runner.run(load_save_graph("mine.png")).files


def cli(places: dict[str, Path], *args: object) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ, NODESTUDIO_INPUT=str(places["input"]))
    return subprocess.run([sys.executable, "-m", "nodestudio.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=places["root"], env=environment,
                          timeout=120)


def test_cli_refuses_without_allow_path_and_runs_with_it(places):
    graph_file = save(load_save_graph(str(places["private"] / "private.png")),
                      places["root"] / "graph.json")
    refused = cli(places, "run", graph_file, "--output", places["out"])
    assert refused.returncode == 2
    assert "Load Image (node load)" in refused.stderr
    assert str(places["private"] / "private.png") in refused.stderr
    assert "--allow-path" in refused.stderr and "Traceback" not in refused.stderr
    assert not places["out"].exists()
    checked = cli(places, "validate", graph_file)
    assert checked.returncode == 2 and "Load Image (node load)" in checked.stdout

    allowed = cli(places, "run", graph_file, "--output", places["out"],
                  "--allow-path", places["root"] / "elsewhere", "--allow-path", places["private"])
    assert allowed.returncode == 0, allowed.stderr
    assert (places["out"] / "shot_00001_.png").is_file()
    assert cli(places, "validate", graph_file, "--allow-path", places["private"]).returncode == 0


# -- item 12: models ------------------------------------------------------------------------------


def test_a_checkpoint_named_usr_is_refused_quickly(tmp_path):
    library = ModelLibrary([tmp_path / "models"])
    started = time.perf_counter()
    with pytest.raises(ModelOutsideFoldersError, match="outside the models folders"):
        library.find("checkpoints", "/usr")
    assert time.perf_counter() - started < 0.1
    assert library.find("checkpoints", "nodestudio-shapes").is_dir()  # the demo still works


def test_a_model_under_a_root_or_an_allowed_folder_is_found_by_path(tmp_path):
    inside = tmp_path / "models" / "checkpoints" / "a.safetensors"
    elsewhere = tmp_path / "mine" / "b.safetensors"
    for path in (inside, elsewhere):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"x")
    assert ModelLibrary([tmp_path / "models"]).find("checkpoints", str(inside)) == inside
    with pytest.raises(ModelOutsideFoldersError):
        ModelLibrary([tmp_path / "models"]).find("checkpoints", str(elsewhere))
    allowed = ModelLibrary([tmp_path / "models"], allowed=[tmp_path / "mine"])
    assert allowed.find("checkpoints", str(elsewhere)) == elsewhere


def test_validate_names_the_loader_of_a_checkpoint_outside_the_models_folders(places):
    graph = Graph()
    graph.add_node("diffusion.load_checkpoint", {"checkpoint": "/usr"}, id="ckpt")
    graph.add_node("image.preview", id="show")
    problems = session(places).validate(graph)
    assert any(p.kind == "path_not_allowed" and p.node_id == "ckpt" and "/usr" in p.message
               for p in problems)


# -- item 13: saving, checked before the render ---------------------------------------------------


@pytest.mark.parametrize("prefix", ["../escape", "/tmp/abs", "a/../../b"])
def test_validate_reports_a_prefix_leaving_the_output_folder_before_any_node_runs(places, prefix):
    runner = session(places)
    graph = load_save_graph("mine.png", prefix)
    problems = runner.validate(graph)
    assert any(p.node_id == "save" and p.input == "filename_prefix"
               and "output folder" in p.message for p in problems)
    started: list[str] = []
    with pytest.raises(GraphValidationError):
        runner.run(graph, on_event=lambda e: started.append(e.kind))
    assert "node_started" not in started


def test_validate_reports_an_output_folder_that_cannot_be_written(places):
    blocker = places["root"] / "a-file"
    blocker.write_text("not a folder")
    runner = nodestudio.Session(device="cpu", output_dir=blocker / "out", input_dir=places["input"])
    problems = runner.validate(load_save_graph("mine.png"))
    assert any(p.kind == "output_folder" and str(blocker) in p.message for p in problems)
    started: list[str] = []
    with pytest.raises(GraphValidationError):
        runner.run(load_save_graph("mine.png"), on_event=lambda e: started.append(e.kind))
    assert "node_started" not in started


def test_validate_reports_a_file_where_the_prefix_needs_a_folder_before_any_node_runs(places):
    renders = places["out"] / "renders"
    renders.mkdir(parents=True)
    (renders / "june").write_text("a file")
    runner = session(places)
    problems = runner.validate(load_save_graph("mine.png", "renders/june/shot"))
    assert [(p.node_id, p.message) for p in problems] == [(
        "save", f"filename prefix 'renders/june/shot' saves in the folder "
                f"{renders.resolve() / 'june'}, but that is a file")]
    assert runner.validate(load_save_graph("mine.png", "renders/july/shot")) == []  # made later
    assert runner.validate(load_save_graph("mine.png", "renders/june")) == []  # a file name
