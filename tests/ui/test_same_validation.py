"""One validation, three doors: the command line (`nodestudio validate`), the Python API
(`Session.validate`) and the window (the run controller's problems) name the same problems for
the same graph — every shipped workflow, with a model and a picture that are not there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nodestudio.app.session import Session
from nodestudio.app.settings import Settings
from nodestudio.cli import main
from nodestudio.graph import files
from nodestudio.paths import workflows_dir
from nodestudio.ui.choices import ChoiceProvider
from nodestudio.ui.run import install_run_support

MISSING_MODEL = "not_downloaded.safetensors"
MISSING_PICTURE = "not_there.png"
WORKFLOWS = sorted(workflows_dir().glob("*.json"))


def _break(workflow: Path, session: Session, folder: Path) -> tuple[Path, set[tuple[str, str]]]:
    """The workflow with every model and input picture pointing at a file that is missing
    (a Load Image and its preview are added where it has none); returns the file and the
    inputs changed."""
    graph = session.load_graph(workflow)
    broken: set[tuple[str, str]] = set()
    for node in list(graph):
        node_type = session.registry.get(node.type)
        for spec in node_type.inputs if node_type else ():
            source = spec.choices_source or ""
            if source.startswith("models:"):
                graph.set_value(node.id, spec.name, MISSING_MODEL)
                broken.add((node.id, spec.name))
            elif source == "files:input":
                graph.set_value(node.id, spec.name, MISSING_PICTURE)
                broken.add((node.id, spec.name))
    if not any(value == MISSING_PICTURE for node in graph for value in node.values.values()):
        # Validation checks what the outputs need: the added picture goes to a preview.
        load = graph.add_node("image.load", {"image": MISSING_PICTURE})
        preview = graph.add_node("image.preview")
        graph.connect(load.id, "image", preview.id, "images")
        broken.add((load.id, "image"))
    return files.save(graph, folder / workflow.name), broken


def _key(problem: dict) -> tuple:
    return problem["kind"], problem["node_id"] or "", problem["input"] or "", problem["message"]


@pytest.fixture
def folders(tmp_path, monkeypatch) -> tuple[Path, Path]:
    models, pictures = tmp_path / "models", tmp_path / "input"
    models.mkdir()
    pictures.mkdir()
    # The command line reads its folders from the environment, as a user's shell sets them.
    monkeypatch.setenv("NODESTUDIO_MODELS", str(models))
    monkeypatch.setenv("NODESTUDIO_INPUT", str(pictures))
    return models, pictures


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[path.stem for path in WORKFLOWS])
def test_cli_api_and_window_report_the_same_problems(workflow, folders, make_window, capsys,
                                                     tmp_path):
    models, pictures = folders
    settings = Settings(models_dirs=[models], input_dir=pictures,
                        output_dir=tmp_path / "output", user_packs_dir=tmp_path / "packs",
                        device="cpu")
    session = Session(settings=settings)
    path, broken = _break(workflow, session, tmp_path)

    api = sorted(_key(problem.to_json()) for problem in session.validate(session.load_graph(path)))

    assert main(["validate", str(path), "--json"]) == 2
    cli = sorted(_key(problem) for problem in json.loads(capsys.readouterr().out)["problems"])

    window = make_window(session.registry, choices=ChoiceProvider(session.models, pictures))
    assert window.open_file(path, ask=False)
    controller = install_run_support(window, session)
    try:
        shown = sorted(_key(problem.to_json()) for problem in controller.problems())
    finally:
        controller.shutdown()

    assert api == cli == shown
    # … and they are the problems made: each missing model and picture is named on its input.
    named = {(node_id, name) for _kind, node_id, name, _message in api}
    assert broken <= named
