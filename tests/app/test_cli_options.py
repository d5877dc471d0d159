"""Issue 13, items 3, 10 and 17 (its command-line part): `nodestudio validate` refuses graphs
whose models or pictures are missing; `nodestudio run` refuses bad options (a device that is
not there, an output folder that cannot be written) before anything runs, exit 2; `--only`
runs the named output nodes and what they need."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nodestudio.app.recipes import text_to_image
from nodestudio.graph import Graph, save


def nodestudio(*args, cwd: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NODESTUDIO_INPUT=str(cwd / "input"), **environment)
    return subprocess.run([sys.executable, "-m", "nodestudio.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=180)


@pytest.fixture
def two_branches(tmp_path) -> Path:
    """Load Image → Resize → Save Image "small" (node 3), and Load Image → Save Image "full"
    (node 4)."""
    (tmp_path / "input").mkdir()
    Image.fromarray(np.full((20, 20, 3), 90, dtype=np.uint8)).save(tmp_path / "input" / "a.png")
    graph = Graph()
    load = graph.add_node("image.load", {"image": "a.png"})
    resize = graph.add_node("image.resize", {"width": 10, "height": 10})
    small = graph.add_node("image.save", {"filename_prefix": "small"})
    full = graph.add_node("image.save", {"filename_prefix": "full"})
    graph.connect(load.id, "image", resize.id, "image")
    graph.connect(resize.id, "image", small.id, "images")
    graph.connect(load.id, "image", full.id, "images")
    assert (small.id, full.id) == ("3", "4")
    return save(graph, tmp_path / "graph.json")


# -- item 3: validate ----------------------------------------------------------------------------


def test_validate_exits_2_naming_a_missing_checkpoint_lora_and_picture(tmp_path):
    graph, ids = text_to_image("no_such_model.safetensors", "a red circle")
    lora = graph.add_node("diffusion.load_lora", {"lora": "no_such_lora.safetensors"}).id
    graph.connect(ids["checkpoint"], "model", lora, "model")
    graph.connect(ids["checkpoint"], "clip", lora, "clip")
    graph.connect(lora, "model", ids["sampler"], "model")
    picture = graph.add_node("image.load", {"image": "no_such_picture.png"}).id
    graph.connect(picture, "image", graph.add_node("image.preview").id, "images")
    path = save(graph, tmp_path / "missing.json")
    (tmp_path / "input").mkdir()

    checked = nodestudio("validate", path, "--models", tmp_path / "models", cwd=tmp_path)
    assert checked.returncode == 2, checked.stdout
    report = checked.stdout
    assert "valid" not in report.splitlines()[0].split(":")[-1]
    for name in ("no_such_model.safetensors", "no_such_lora.safetensors",
                 "no_such_picture.png"):
        assert name in report, report
    assert f"node {ids['checkpoint']}" in report and f"node {lora}" in report
    assert f"node {picture}" in report
    assert "Traceback" not in checked.stdout + checked.stderr
    # Each missing file is told where it belongs, not the name of the list it was sought in.
    models = tmp_path / "models"
    assert (f"'no_such_model.safetensors' is not in {models / 'checkpoints'}; put the file "
            "there or choose one that is") in report
    assert (f"'no_such_lora.safetensors' is not in {models / 'loras'}; put the file there or "
            "choose one that is") in report
    assert f"'no_such_picture.png' is not in {tmp_path / 'input'}" in report
    assert "(models:" not in report


def test_validate_says_where_a_model_goes_when_none_is_chosen(tmp_path):
    from nodestudio.app.session import Session

    graph, ids = text_to_image("", "a red circle")
    session = Session(device="cpu", models_dir=tmp_path / "models")
    assert [str(p) for p in session.validate(graph)] == [
        f"node {ids['checkpoint']}, input 'checkpoint': no model chosen: pick one, or put one "
        f"in {tmp_path / 'models' / 'checkpoints'}"]


# -- item 10: bad options, before anything runs ------------------------------------------------


def test_device_cuda_without_a_gpu_exits_2_before_running(two_branches, tmp_path):
    out = tmp_path / "out"
    done = nodestudio("run", two_branches, "--device", "cuda", "--output", out, cwd=tmp_path,
                      CUDA_VISIBLE_DEVICES="")  # no GPU for this process
    assert done.returncode == 2, done.stdout + done.stderr
    assert "cuda" in done.stderr.lower() and "not available" in done.stderr
    assert "Traceback" not in done.stderr
    assert "[1/" not in done.stdout  # no node ran
    assert not out.exists() or not any(out.iterdir())


def test_a_device_that_is_no_device_is_one_line_and_a_second_card_is_taken(two_branches,
                                                                          tmp_path):
    done = nodestudio("run", two_branches, "--device", "gpu", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "nodestudio run: error: argument --device: 'gpu' is not a device NodeStudio knows: "
        "use auto, cpu, cuda (cuda:1 for a second card) or mps")
    # cuda:1 is a device name (argparse's choices refused it before); with no GPU it is
    # refused as the plain "cuda" is, before anything runs.
    second = nodestudio("run", two_branches, "--device", "cuda:1", cwd=tmp_path,
                        CUDA_VISIBLE_DEVICES="")
    assert second.returncode == 2
    assert "--device: device 'cuda:1' was asked for, but CUDA is not available here" in (
        second.stderr)


def test_validate_and_run_warn_of_a_value_no_input_takes(two_branches, tmp_path):
    document = json.loads(two_branches.read_text())
    resize = next(node for node in document["nodes"] if node["type"] == "image.resize")
    resize["values"]["widht"] = 5  # a hand edit's typo
    two_branches.write_text(json.dumps(document))
    warning = (f"warning: node {resize['id']}, input 'widht': Resize Image has no such input, "
               "so its value 5 is not used (did you mean 'width'?)")
    checked = nodestudio("validate", two_branches, cwd=tmp_path)
    assert checked.returncode == 0 and warning in checked.stderr.splitlines()
    as_json = nodestudio("validate", two_branches, "--json", cwd=tmp_path)
    assert as_json.returncode == 0 and as_json.stderr == ""  # in the document, not beside it
    assert json.loads(as_json.stdout)["warnings"] == [{
        "kind": "unused_value", "node_id": resize["id"], "input": "widht",
        "message": warning.partition("'widht': ")[2]}]
    ran = nodestudio("run", two_branches, "--output", tmp_path / "out", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr.splitlines().count(warning) == 1  # once, and no Python UserWarning
    assert "UserWarning" not in ran.stderr


def test_an_output_folder_that_cannot_be_created_exits_2_before_running(two_branches,
                                                                       tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    out = blocker / "renders"
    done = nodestudio("run", two_branches, "--output", out, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert str(out) in done.stderr and "Traceback" not in done.stderr
    assert "[1/" not in done.stdout
    # The same, for a program reading --json.
    done = nodestudio("run", two_branches, "--output", out, "--json", cwd=tmp_path)
    assert done.returncode == 2
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert [event["event"] for event in events] == ["invalid_graph"]
    assert str(out) in json.dumps(events[0]["problems"])


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="permissions do not stop root (or Windows this way)")
def test_a_read_only_output_folder_exits_2(two_branches, tmp_path):
    out = tmp_path / "locked"
    out.mkdir()
    out.chmod(0o500)
    try:
        done = nodestudio("run", two_branches, "--output", out, cwd=tmp_path)
    finally:
        out.chmod(0o700)
    assert done.returncode == 2 and str(out) in done.stderr
    assert not any(out.iterdir())


# -- item 17: --only ----------------------------------------------------------------------------


def test_only_runs_the_named_outputs_and_what_they_need(two_branches, tmp_path):
    out = tmp_path / "out"
    done = nodestudio("run", two_branches, "--only", "3", "--output", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["small_00001_.png"]
    assert "(node 4)" not in done.stdout and "Resize Image (node 2)" in done.stdout
    both = tmp_path / "both"
    done = nodestudio("run", two_branches, "--only", "4", "--only", "3", "--output", both,
                      cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in both.iterdir()) == ["full_00001_.png", "small_00001_.png"]


def test_only_with_an_unknown_node_exits_2_naming_it(two_branches, tmp_path):
    out = tmp_path / "out"
    done = nodestudio("run", two_branches, "--only", "3", "--only", "99", "--output", out,
                      cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "'99'" in done.stderr and "--only" in done.stderr
    assert "Save Image (node 3)" in done.stderr  # it says which outputs there are
    assert "[1/" not in done.stdout and not out.exists()


def test_bad_set_and_a_missing_graph_file_are_said_as_the_command_s_own_refusal(two_branches,
                                                                             tmp_path):
    done = nodestudio("run", two_branches, "--set", "2.width=wide", "--set", "2.colour=1",
                      "--set", "9.width=3", "--output", tmp_path / "out", cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "nodestudio run: invalid --set",  # not "invalid graph": the graph is fine
        "  - node 2, input 'width': expected a whole number, got 'wide'",
        "  - node 2, input 'colour': Resize Image has no value input 'colour'",
        "  - there is no node '9'"]
    done = nodestudio("run", tmp_path / "gone.json", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"nodestudio run: cannot read {tmp_path / 'gone.json'}", "  - there is no such file"]


def test_a_slip_in_set_only_or_sweep_names_what_was_likely_meant(tmp_path):
    graph, _ = text_to_image("shapes.safetensors", "a red circle")
    path = save(graph, tmp_path / "t2i.json")
    done = nodestudio("run", path, "--set", "samplr.seed=1", "--set", "sampler.Seed=2",
                      "--only", "sav", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "nodestudio run: invalid --set",
        "  - there is no node 'samplr' (did you mean 'sampler'?)",
        "  - node sampler, input 'Seed': Sampler has no value input 'Seed' (did you mean "
        "'seed'?)"]
    only = nodestudio("run", path, "--only", "sav", cwd=tmp_path)
    assert only.stderr.splitlines()[1:] == ["  - there is no node 'sav' (did you mean 'save'?)"]
    sweep = nodestudio("run", path, "--sweep", "sead=1,2", cwd=tmp_path)
    assert sweep.returncode == 2
    assert sweep.stderr.splitlines()[1] == (
        "  - --sweep 'sead': no node of the graph has a value input 'sead' (did you mean "
        "'seed'?); name it as INPUT or NODE.INPUT (node id or title)")


def test_set_takes_digits_as_text_and_a_whole_float_as_a_whole_number(two_branches, tmp_path):
    # Before: "expected text, got 2024" and "expected a whole number, got 10.0".
    out = tmp_path / "out"
    done = nodestudio("run", two_branches, "--set", "3.filename_prefix=2024", "--set",
                      "2.width=10.0", "--only", "3", "--output", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in out.iterdir()] == ["2024_00001_.png"]
    assert Image.open(out / "2024_00001_.png").size == (10, 10)


def test_a_value_a_link_feeds_is_refused_and_the_source_named(tmp_path):
    # As ComfyUI workflows wire seeds: a Seed node feeds the sampler's seed. Before, --set
    # sampler.seed=9 did nothing at all, and --sweep said the sampler had no such input.
    graph, _ = text_to_image("shapes.safetensors", "a red circle")
    graph.add_node("primitive.seed", {"seed": 5}, id="seeds")
    graph.connect("seeds", "seed", "sampler", "seed")
    path = save(graph, tmp_path / "linked.json")
    done = nodestudio("run", path, "--set", "sampler.seed=9", cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "nodestudio run: invalid --set",
        "  - node sampler, input 'seed': takes its value through a link from Seed (node "
        "seeds): --set seeds.seed=9 there"]
    swept = nodestudio("run", path, "--sweep", "sampler.seed=1,2", cwd=tmp_path)
    assert swept.returncode == 2
    assert swept.stderr.splitlines()[1] == (
        "  - --sweep 'sampler.seed': 'seed' takes its value through a link (from node "
        "'seeds'); sweep a value of that node instead")


@pytest.mark.parametrize(("content", "reason"), [
    ("a: [\n", "it is not valid YAML (line 2, column 1: expected the node content, but found "
               "'<stream end>')"),
    (None, "there is no such file"),
])
def test_an_extra_model_paths_file_that_cannot_be_read_is_said_on_one_line(two_branches,
                                                                          tmp_path, content,
                                                                          reason):
    yaml_file = tmp_path / "extra_model_paths.yaml"
    if content is not None:
        yaml_file.write_text(content)
    done = nodestudio("run", two_branches, "--extra-model-paths", yaml_file, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"nodestudio run: cannot read {yaml_file}: {reason}"]


def test_a_models_or_input_folder_that_is_not_there_is_a_warning(two_branches, tmp_path):
    (tmp_path / "notes.txt").write_text("not a folder")
    done = nodestudio("validate", two_branches, "--models", tmp_path / "modles", "--models",
                      tmp_path / "notes.txt", cwd=tmp_path)
    assert done.returncode == 0  # the graph needs no model: it can run
    assert done.stderr.splitlines() == [
        f"warning: --models {tmp_path / 'modles'}: there is no such folder",
        f"warning: --models {tmp_path / 'notes.txt'}: it is a file, not a folder"]
    done = nodestudio("run", two_branches, "--input", tmp_path / "inptu", "--output",
                      tmp_path / "out", cwd=tmp_path)
    assert f"warning: --input {tmp_path / 'inptu'}: there is no such folder" in done.stderr


def test_a_graph_that_only_previews_says_so_and_save_previews_keeps_the_pictures(two_branches,
                                                                                  tmp_path):
    # Shared ComfyUI workflows often end in a Preview Image: a headless run made the picture
    # and printed "done (nothing new written)".
    document = json.loads(two_branches.read_text())
    for node in document["nodes"]:
        if node["type"] == "image.save":
            node["type"], node["values"] = "image.preview", {}
    two_branches.write_text(json.dumps(document))
    out = tmp_path / "out"
    done = nodestudio("run", two_branches, "--output", out, cwd=tmp_path)
    assert done.returncode == 0
    assert done.stderr.splitlines()[-1] == (
        "warning: Preview Image (node 3), Preview Image (node 4) made 2 pictures, which a "
        "Preview Image only shows (in the window): run with --save-previews to save them in "
        "the output folder")
    kept = nodestudio("run", two_branches, "--output", out, "--save-previews", cwd=tmp_path)
    assert kept.returncode == 0 and "warning" not in kept.stderr
    assert sorted(p.name for p in out.iterdir()) == ["preview_00001_.png", "preview_00002_.png"]
    sizes = sorted(Image.open(out / name).size for name in ("preview_00001_.png",
                                                           "preview_00002_.png"))
    assert sizes == [(10, 10), (20, 20)]


def test_set_reaches_a_subgraphs_promoted_widget_and_checks_it_as_the_inner_input(
        two_branches, tmp_path):
    from nodestudio.app.packs import create_registry
    from nodestudio.graph import load
    from nodestudio.graph.subgraphs import make_subgraph

    registry = create_registry(entry_points=False)
    packed, _, instance = make_subgraph(load(two_branches, registry), ["2"], name="Shrink",
                                        registry=registry, promote=[("2", "width")])
    packed.add_node("acme.glow", id="glow")  # a pack this machine lacks
    path = save(packed, tmp_path / "packed.json")
    refused = nodestudio("run", path, "--set", f"{instance}.widht=12", "--set",
                         f"{instance}.width=-1", "--set", "glow.power=3", cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.splitlines()[1:] == [
        f"  - node {instance}, input 'widht': the subgraph 'Shrink' has no value input 'widht' "
        "(did you mean 'width'?)",
        f"  - node {instance}, input 'width': -1 is below the minimum 0",
        "  - node glow, input 'power': its type 'acme.glow' is not installed, so no value of "
        "it is used"]
    out = tmp_path / "out"
    done = nodestudio("run", path, "--set", f"{instance}.width=12", "--only", "3", "--output",
                      out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert Image.open(out / "small_00001_.png").size == (12, 10)


def test_set_and_only_take_a_nodes_title_as_sweep_does(two_branches, tmp_path):
    document = json.loads(two_branches.read_text())
    for node in document["nodes"]:
        node["title"] = {"2": "Shrink v1.5", "3": "Small"}.get(node["id"])
    two_branches.write_text(json.dumps(document))
    out = tmp_path / "out"
    done = nodestudio("run", two_branches, "--set", "shrink v1.5.width=8", "--only", "SMALL",
                      "--output", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in out.iterdir()] == ["small_00001_.png"]  # only node 3 ran
    assert Image.open(out / "small_00001_.png").size == (8, 10)
    slip = nodestudio("run", two_branches, "--only", "Smal", cwd=tmp_path)
    assert slip.stderr.splitlines()[1:] == ["  - there is no node 'Smal' (did you mean 'Small'?)"]
