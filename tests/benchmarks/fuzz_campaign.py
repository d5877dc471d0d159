"""Fuzz campaign over graph files (issue 14): mutated files through load, validate, save, reload.

    python tests/benchmarks/fuzz_campaign.py [--cases 10000] [--seed 1]

Starts from the shipped graphs and ComfyUI examples, changes 1–4 places in each copy (issue
14's hostile classes weighted in: integers beyond float range, NaN / Infinity, deep nesting,
empty names, cycles through muted and bypassed nodes) and counts what must stay at zero:

- tracebacks: any exception other than GraphFileError, from load, modes, validation or save;
- unsavable: a graph that loaded but whose save raised;
- unreopenable: a saved graph that was refused on reload or reopened different;
- export_traceback: writing a loaded graph for ComfyUI (API prompt, UI workflow) raised
  anything but the GraphError that names what ComfyUI cannot express;
- export_unreadable: a ComfyUI workflow NodeStudio wrote that NodeStudio cannot read back.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import random
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

from nodestudio.app.formats import read_graph_bytes
from nodestudio.app.packs import create_registry
from nodestudio.engine.modes import resolve_modes
from nodestudio.engine.validate import validate
from nodestudio.graph import files
from nodestudio.graph.problems import GraphError, GraphFileError
from nodestudio.paths import resources_dir


def _nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value] if levels % 2 else {"k": value}
    return value


def _replacement(rng: random.Random) -> Any:
    """A value to put somewhere: mostly ordinary, often one of the hostile classes."""
    choices: list[Any] = [
        10 ** 400, -(10 ** 400), 10 ** 20, float("nan"), float("inf"), float("-inf"), "",
        _nested(rng.choice([31, 32, 33, 200, 900])), None, True, 0, -1, 1.5, "x", [], {},
        [1, 2], ["1", 0], {"": 1}, "bypassed", "muted", "normal", 2, 4,
    ]
    return rng.choice(choices)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Places to mutate; not inside a deep value put there earlier (it stays as it is)."""
    found = [prefix]
    if len(prefix) > 40:
        return found
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_paths(item, (*prefix, index)))
    return found


def mutate(document: Any, rng: random.Random) -> Any:
    """A copy of ``document`` with 1–4 places replaced, removed, or (native files) a link
    turned back into a cycle through a node set to muted or bypassed."""
    document = copy.deepcopy(document)
    for _ in range(rng.randint(1, 4)):
        paths = [path for path in _paths(document) if path]
        if not paths:
            break
        *parents, key = rng.choice(paths)
        container = document
        for part in parents:
            container = container[part]
        if rng.random() < 0.15 and isinstance(container, dict):
            del container[key]
        elif rng.random() < 0.1 and isinstance(container, dict) and not isinstance(key, int):
            container[""] = container.pop(key)  # an empty name
        else:
            container[key] = _replacement(rng)
    if isinstance(document, dict) and document.get("format") == files.FORMAT_NAME \
            and rng.random() < 0.3:
        _add_mode_cycle(document, rng)
    return document


def _add_mode_cycle(document: dict[str, Any], rng: random.Random) -> None:
    """Feed a linked node's output back into its source, and mute or bypass one of them."""
    links, nodes = document.get("links"), document.get("nodes")
    if not isinstance(links, list) or not links or not isinstance(nodes, list):
        return
    link = rng.choice(links)
    try:
        (source, _output), (target, _input) = link["from"], link["to"]
        links.append({"from": [target, "out"], "to": [source, "loop"]})
    except (TypeError, KeyError, ValueError):
        return
    for node in nodes:
        if isinstance(node, dict) and node.get("id") == target:
            node["mode"] = rng.choice(["muted", "bypassed"])


def run_case(raw: bytes, registry: Any) -> str:
    """"refused", "ok", "traceback", "unsavable" or "unreopenable"."""
    try:
        graph = read_graph_bytes(raw, registry)
    except GraphFileError as error:
        # An importer's guard turns its own crash into "NodeStudio failed on this file".
        internal = any(problem.kind == "internal_error" for problem in error.problems)
        return "traceback" if internal else "refused"
    try:
        effective, notes = resolve_modes(graph, registry)
        validate(effective, registry, notes=notes)
        graph.copy()
    except Exception:
        return "traceback"
    try:
        text = files.dumps(graph)
    except Exception:
        return "unsavable"
    try:
        again = files.loads(text, registry)
    except GraphFileError:
        return "unreopenable"
    if again != graph:
        return "unreopenable"
    return _export_case(graph, registry)


def _export_case(graph: Any, registry: Any) -> str:
    """Both ComfyUI exports of a loaded graph; the workflow must read back."""
    from nodestudio.interop.comfy import export_api_prompt, export_ui_workflow

    for export in (export_api_prompt, export_ui_workflow):
        try:
            written = export(graph, registry)
        except GraphError:
            continue
        except Exception:
            return "export_traceback"
        if export is export_ui_workflow:
            try:
                read_graph_bytes(json.dumps(written, allow_nan=False).encode(), registry)
            except (GraphFileError, ValueError):
                return "export_unreadable"
    return "ok"


def _seeds(registry: Any) -> list[Any]:
    folders = [resources_dir() / "workflows", resources_dir() / "examples" / "comfy"]
    found = [json.loads(path.read_text()) for folder in folders
             for path in sorted(Path(folder).glob("*.json"))]
    return [*found, *_subgraph_seeds(registry)]


def _subgraph_seeds(registry: Any) -> list[Any]:
    """A NodeStudio graph holding a subgraph instance (seed promoted, a second instance
    with its own seed) and the ComfyUI workflow it exports, with ``definitions.subgraphs``."""
    from nodestudio.app.recipes import text_to_image
    from nodestudio.graph import files
    from nodestudio.graph.subgraphs import add_instance, make_subgraph
    from nodestudio.interop.comfy import export_ui_workflow

    graph, ids = text_to_image("nodestudio-shapes", "a red fox", "blurry")
    packed, definition, first = make_subgraph(graph, [ids["sampler"], ids["decode"]],
                                              name="Render", registry=registry,
                                              promote=[(ids["sampler"], "seed")])
    second = add_instance(packed, definition, values={"seed": 9}).id
    for link in packed.links_into(first):
        packed.connect(link.source, link.output, second, link.input)
    return [json.loads(files.dumps(packed)), export_ui_workflow(packed, registry)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--show", type=int, default=3, help="failures to print in full")
    args = parser.parse_args()
    registry = create_registry(entry_points=False)
    rng = random.Random(args.seed)
    seeds = _seeds(registry)
    counts: Counter[str] = Counter()
    shown = 0
    started = time.perf_counter()
    for _ in range(args.cases):
        document = mutate(rng.choice(seeds), rng)
        try:  # NaN / Infinity as Python (and others) write them
            raw = json.dumps(document).encode()
        except RecursionError:
            raw = b"[" * 5000  # too deep even to write: a reader must refuse it all the same
        try:
            outcome = run_case(raw, registry)
        except Exception:  # read_graph_bytes itself raised something else
            outcome = "traceback"
        counts[outcome] += 1
        if outcome not in ("ok", "refused") and shown < args.show:
            shown += 1
            print(f"--- {outcome}:", raw[:300])
            traceback.print_exc()
    elapsed = time.perf_counter() - started
    print(f"{args.cases} cases in {elapsed:.0f} s on {platform.node()} "
          f"({platform.processor() or platform.machine()}, Python {platform.python_version()}),"
          f" {time.strftime('%Y-%m-%d')}, seed {args.seed}")
    for name in ("ok", "refused", "traceback", "unsavable", "unreopenable", "export_traceback",
                 "export_unreadable"):
        print(f"  {name:13} {counts[name]}")


if __name__ == "__main__":
    main()
