"""The `nodestudio` command line: a contract, exit codes included."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from nodestudio.graph import Graph, save


@pytest.fixture
def graph_file(tmp_path):
    (tmp_path / "input").mkdir()
    Image.fromarray(np.full((20, 20, 3), 200, dtype=np.uint8)).save(tmp_path / "input" / "a.png")
    graph = Graph()
    load = graph.add_node("image.load", {"image": "a.png"})
    resize = graph.add_node("image.resize", {"width": 10, "height": 10})
    out = graph.add_node("image.save", {"filename_prefix": "cli"})
    graph.connect(load.id, "image", resize.id, "image")
    graph.connect(resize.id, "image", out.id, "images")
    return save(graph, tmp_path / "graph.json")


def nodestudio(*args, cwd):
    environment = dict(os.environ)
    environment["NODESTUDIO_INPUT"] = str(cwd / "input")
    return subprocess.run([sys.executable, "-m", "nodestudio.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, env=environment, timeout=120)


def test_run_writes_a_png_carrying_its_graph_and_set_changes_it(graph_file, tmp_path):
    out = tmp_path / "out"
    done = nodestudio("run", graph_file, "--output", out, "--set", "2.width=6", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    written = out / "cli_00001_.png"
    assert f"wrote {written}" in done.stdout
    assert "Resize Image (node 2)" in done.stdout
    with Image.open(written) as image:
        assert image.size == (6, 10)
        embedded = json.loads(image.text["nodestudio"])
    assert next(n for n in embedded["nodes"] if n["id"] == "2")["values"]["width"] == 6


def test_json_events_one_per_line(graph_file, tmp_path):
    done = nodestudio("run", graph_file, "--output", tmp_path / "o", "--json", cwd=tmp_path)
    assert done.returncode == 0
    events = [json.loads(line) for line in done.stdout.splitlines()]
    kinds = [event["event"] for event in events]
    assert kinds[0] == "run_started" and kinds[1] == "plan"
    assert kinds.count("node_finished") == 3 and "run_finished" in kinds
    assert events[-1] == {"event": "files", "files": [str(tmp_path / "o" / "cli_00001_.png")]}


def test_invalid_graph_exits_2_with_every_problem_and_no_traceback(graph_file, tmp_path):
    done = nodestudio("run", graph_file, "--set", "2.width=-1", "--set", "2.height=x",
                      "--set", "7.a=1", cwd=tmp_path)
    assert done.returncode == 2
    assert "node 2, input 'width'" in done.stderr and "node 2, input 'height'" in done.stderr
    assert "no node '7'" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    done = nodestudio("validate", broken, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stdout + done.stderr


def test_failing_node_exits_1_naming_the_node(graph_file, tmp_path):
    done = nodestudio("run", graph_file, "--set", "1.image=nothing.png", cwd=tmp_path)
    assert done.returncode == 1
    assert "Load Image (node 1)" in done.stderr and "nothing.png" in done.stderr


def test_validate_and_nodes(graph_file, tmp_path):
    assert nodestudio("validate", graph_file, cwd=tmp_path).returncode == 0
    listed = nodestudio("nodes", "--json", cwd=tmp_path)
    data = json.loads(listed.stdout)
    ids = {entry["id"] for entry in data["nodes"]}
    assert {"image.load", "image.save", "primitive.seed", "math.float"} <= ids
    assert data["failed_packs"] == []


def test_nodes_finds_types_by_words_and_shows_one_in_full(tmp_path):
    found = nodestudio("nodes", "LoRA", "load", cwd=tmp_path)
    assert found.returncode == 0
    assert "  diffusion.load_lora                Load LoRA" in found.stdout.splitlines()
    assert "image.save" not in found.stdout  # only the types that have both words
    full = nodestudio("nodes", "Save Image", cwd=tmp_path)  # a display name, any case
    lines = full.stdout.splitlines()
    assert lines[0] == "Save Image (image.save, version 1): image, from nodestudio"
    assert "  images           IMAGE" in lines
    assert any(line.startswith('  filename_prefix  STRING = "NodeStudio": Start of the file '
                               "names") for line in lines)
    assert lines[-1] == "outputs: none (it saves or shows)"
    picked = json.loads(nodestudio("nodes", "--json", "image.resize", cwd=tmp_path).stdout)
    assert [entry["id"] for entry in picked["nodes"]] == ["image.resize"]
    sampler = nodestudio("nodes", "diffusion.sampler", cwd=tmp_path).stdout
    assert "a name from" not in sampler and "and 10 more" in sampler  # long choice lists cut
    lora = nodestudio("nodes", "diffusion.load_lora", cwd=tmp_path).stdout
    assert "lora            STRING, a name from models/loras" in lora
    missing = nodestudio("nodes", "no-such-word", cwd=tmp_path)
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr == "nodestudio nodes: no node type has all of: no-such-word\n"


def test_nodes_knows_comfyui_class_names_and_a_slip_of_a_word(tmp_path):
    comfy = nodestudio("nodes", "ksampler", cwd=tmp_path)  # what a ComfyUI user types
    assert comfy.returncode == 0
    lines = comfy.stdout.splitlines()
    assert lines[0] == ("ComfyUI's KSampler becomes Sampler (diffusion.sampler) when a workflow "
                        "is imported:")
    assert lines[1] == "Sampler (diffusion.sampler, version 1): sampling, from nodestudio"
    listed = json.loads(nodestudio("nodes", "--json", "CheckpointLoaderSimple",
                                   cwd=tmp_path).stdout)
    assert [entry["id"] for entry in listed["nodes"]] == ["diffusion.load_checkpoint"]
    slip = nodestudio("nodes", "samplr", cwd=tmp_path)
    assert slip.returncode == 2
    assert slip.stderr == ("nodestudio nodes: no node type has all of: samplr (did you mean "
                           "'sampler'?)\n")


#: `nodestudio run` as the command runs it, with Pillow's decompression-bomb note lowered to
#: 300 pixels so that the 20 × 20 picture of `graph_file` raises it as a 100-megapixel one does.
_RUN_WITH_A_BIG_PICTURE = (
    "import sys, PIL.Image; PIL.Image.MAX_IMAGE_PIXELS = 300\n"
    "from nodestudio.cli import main; sys.exit(main(sys.argv[1:]))")


@pytest.mark.parametrize(("asked", "printed"), [("", False), ("default", True)])
def test_library_warnings_stay_out_of_the_terminal_unless_asked_for(graph_file, tmp_path,
                                                                     asked, printed):
    environment = dict(os.environ, NODESTUDIO_INPUT=str(tmp_path / "input"),
                       PYTHONWARNINGS=asked)
    done = subprocess.run(
        [sys.executable, "-c", _RUN_WITH_A_BIG_PICTURE, "run", str(graph_file), "--output",
         str(tmp_path / "out")], capture_output=True, text=True, env=environment, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("wrote ")
    # Pillow's "…/PIL/Image.py:3593: DecompressionBombWarning: …" and its source line.
    assert ("DecompressionBombWarning" in done.stderr) is printed
    if not printed:
        assert done.stderr == ""


def test_validate_names_a_missing_model_and_image_as_the_window_does(tmp_path):
    from nodestudio.graph import files
    from nodestudio.graph.model import Graph

    graph = Graph()
    graph.add_node("diffusion.load_checkpoint", {"checkpoint": "sd_xl_base_1.0.safetensors"},
                   id="checkpoint")
    graph.add_node("image.load", {"image": "missing.png"}, id="picture")
    graph.add_node("diffusion.vae_encode", {}, id="encode")
    graph.connect("checkpoint", "vae", "encode", "vae")
    graph.connect("picture", "image", "encode", "image")
    graph.add_node("diffusion.vae_decode", {}, id="decode")
    graph.connect("checkpoint", "vae", "decode", "vae")
    graph.connect("encode", "latent", "decode", "latent")
    graph.add_node("image.preview", {}, id="preview")
    graph.connect("decode", "image", "preview", "images")
    path = tmp_path / "missing.json"
    files.save(graph, path)
    checked = nodestudio("validate", str(path), "--json", cwd=tmp_path)
    assert checked.returncode == 2
    problems = {(p["node_id"], p["input"]): p for p in json.loads(checked.stdout)["problems"]}
    assert problems[("checkpoint", "checkpoint")]["kind"] == "missing_choice"
    assert problems[("picture", "image")]["kind"] == "missing_choice"
    # The pictures of the example workflows count as there (Load Image falls back to them).
    graph.set_value("picture", "image", "controlnet_shape.png")
    files.save(graph, path)
    problems = json.loads(nodestudio("validate", str(path), "--json", cwd=tmp_path).stdout)
    assert ("picture", "image") not in {(p["node_id"], p["input"]) for p in problems["problems"]}


def test_interrupt_exits_130(tmp_path):
    # A graph with a slow node from a user pack; SIGINT while it runs.
    packs = tmp_path / "home" / "packs"
    packs.mkdir(parents=True)
    (packs / "slow.py").write_text(
        "import time\n"
        "from nodestudio.api import FLOAT, Float, NodePack, node\n"
        "@node('slow.wait', inputs=[Float('seconds', 30.0)], output_node=True)\n"
        "def wait(seconds, ctx):\n"
        "    print('started', flush=True)\n"
        "    for step in range(int(seconds * 100)):\n"
        "        time.sleep(0.01)\n"
        "        ctx.progress(step, int(seconds * 100))\n"
        "pack = NodePack('slow', [wait])\n")
    graph = Graph()
    graph.add_node("slow.wait")
    path = save(graph, tmp_path / "slow.json")
    environment = dict(os.environ, NODESTUDIO_HOME=str(tmp_path / "home"))
    process = subprocess.Popen([sys.executable, "-m", "nodestudio.cli", "run", str(path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=environment)
    assert process.stdout.readline().strip() == "started"
    process.send_signal(2)
    _stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "cancelled" in stderr
