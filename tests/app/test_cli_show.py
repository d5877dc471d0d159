"""`nodestudio show GRAPH`: a graph's nodes in run order, with the ids, inputs and values
that `--set` and `--only` take, so a workflow from elsewhere can be driven from a script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from nodestudio.app.recipes import text_to_image
from nodestudio.graph import save
from nodestudio.paths import resources_dir


def nodestudio(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nodestudio.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, env=dict(os.environ),
                          timeout=120)


def _graph(tmp_path: Path) -> Path:
    graph, _ = text_to_image("shapes.safetensors", "a red circle " * 10, steps=12)
    graph.add_node("primitive.seed", {"seed": 5}, id="seeds", title="Seed for all")
    graph.connect("seeds", "seed", "sampler", "seed")
    graph.set_value("sampler", "start_step", 2)  # an advanced input, changed: always shown
    graph.set_value("save", "filename_prefx", "x")  # a value no input takes
    graph.set_mode("negative", "muted")
    return save(graph, tmp_path / "graph.json")


def test_show_lists_nodes_in_run_order_with_what_set_takes(tmp_path):
    shown = nodestudio("show", _graph(tmp_path), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "8 nodes; output nodes: save"
    headings = [line for line in lines[1:] if not line.startswith(" ")]
    assert headings == [
        "checkpoint  Load Checkpoint (diffusion.load_checkpoint)",
        "positive  Text Encode (Prompt) (diffusion.text_encode)",
        "negative  Text Encode (Prompt) (diffusion.text_encode)  [muted]",
        "latent  Empty Latent Image (diffusion.empty_latent)",
        'seeds  "Seed for all": Seed (primitive.seed)',
        "sampler  Sampler (diffusion.sampler)",
        "decode  VAE Decode (diffusion.vae_decode)",
        "save  Save Image (image.save)  [output]"]
    sampler = lines[lines.index("sampler  Sampler (diffusion.sampler)") + 1:
                    lines.index("decode  VAE Decode (diffusion.vae_decode)")]
    assert sampler[:6] == ["    model ← checkpoint.model", "    positive ← positive.conditioning",
                           "    negative ← negative.conditioning", "    latent ← latent.latent",
                           "    seed ← seeds.seed", "    steps = 12"]
    assert "    start_step = 2" in sampler
    assert sampler[-1] == "    (+4 advanced inputs at their defaults)"
    assert '    text = "a red circle a red circle a red circle a red circle a red circle a red…' \
        in lines  # a long prompt is cut; --json has it whole
    assert '    filename_prefx = "x"  (not an input of this type: not used)' in lines
    assert shown.stderr.splitlines() == [
        "warning: node save, input 'filename_prefx': Save Image has no such input, so its "
        "value 'x' is not used (did you mean 'filename_prefix'?)"]


def test_show_json_gives_every_value_a_run_uses_and_every_link(tmp_path):
    shown = nodestudio("show", _graph(tmp_path), "--json", cwd=tmp_path)
    assert shown.returncode == 0 and shown.stderr == ""
    document = json.loads(shown.stdout)
    nodes = {node["id"]: node for node in document["nodes"]}
    assert document["outputs"] == ["save"]
    sampler = nodes["sampler"]
    assert sampler["links"]["seed"] == ["seeds", "seed"] and "seed" not in sampler["values"]
    assert sampler["values"]["steps"] == 12 and sampler["values"]["cfg"] == 7.0  # a default
    assert nodes["positive"]["values"]["text"] == "a red circle " * 10
    assert (nodes["negative"]["mode"], nodes["seeds"]["title"]) == ("muted", "Seed for all")
    assert [w["kind"] for w in document["warnings"]] == ["unused_value"]


def test_show_names_the_ids_of_a_comfyui_workflow(tmp_path):
    workflow = resources_dir() / "examples" / "comfy" / "text_to_image.json"
    lines = nodestudio("show", workflow, cwd=tmp_path).stdout.splitlines()
    start = lines.index("3  Sampler (diffusion.sampler)")
    assert "    seed = 8566257" in lines[start:start + 8]  # so: --set 3.seed=…
    assert lines[0] == "7 nodes; output nodes: 9"


def test_show_refuses_a_file_that_is_no_graph_in_words(tmp_path):
    (tmp_path / "notes.txt").write_text("not a graph")
    shown = nodestudio("show", tmp_path / "notes.txt", cwd=tmp_path)
    assert shown.returncode == 2 and shown.stdout == ""
    assert shown.stderr.startswith(f"nodestudio show: {tmp_path / 'notes.txt'}: not a graph "
                                   "file")


def test_a_subgraph_instance_lists_its_inputs_and_promoted_widgets():
    from nodestudio.app.graph_listing import graph_lines
    from nodestudio.app.packs import create_registry
    from nodestudio.graph.subgraphs import make_subgraph

    registry = create_registry(entry_points=False)
    graph, _ = text_to_image("shapes.safetensors", "a red circle", steps=12)
    packed, _, instance = make_subgraph(graph, ["sampler", "decode"], name="Render",
                                        registry=registry, promote=[("sampler", "steps")])
    lines = graph_lines(packed, registry)
    start = lines.index(f"{instance}  subgraph 'Render'")
    assert lines[start + 1:start + 7] == [
        "    model ← checkpoint.model", "    positive ← positive.conditioning",
        "    negative ← negative.conditioning", "    latent ← latent.latent",
        "    vae ← checkpoint.vae", "    steps = 12"]  # the inner sampler's, until set here
    assert lines[-1] == "    (+1 advanced input at its default)"
