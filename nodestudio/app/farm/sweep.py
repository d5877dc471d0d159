"""Sweeps: ``--sweep seed=1..100``, ``--sweep positive.text=@prompts.txt``; several multiply.

A target is ``INPUT`` (every node that has that value input) or ``NODE.INPUT`` where NODE is a
node id or title. Values: ``A..B`` (integers, both ends included, optional ``:STEP``),
``@FILE`` (one value per non-empty line), ``a,b,c`` (a list), or one value.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodestudio.api.registry import NodeRegistry
from nodestudio.app.run_options import value_inputs
from nodestudio.graph.model import Graph
from nodestudio.graph.problems import GraphError, Problem, did_you_mean

#: Beyond this many runs a sweep is almost surely a typo (1..1000000).
MAX_RUNS = 100_000


@dataclass(frozen=True)
class Sweep:
    target: str  # as written: "seed", "positive.text", "Sampler.steps"
    values: tuple[Any, ...]


def parse_sweep(text: str, base_dir: Path | None = None) -> Sweep:
    """One ``TARGET=VALUES`` argument; ValueError with a one-sentence message when bad."""
    target, sep, spec = text.partition("=")
    target, spec = target.strip(), spec.strip()
    if not sep or not target or not spec:
        raise ValueError(f"--sweep {text!r}: expected INPUT=VALUES or NODE.INPUT=VALUES, "
                         "e.g. seed=1..100 or positive.text=@prompts.txt")
    return Sweep(target, _values(text, spec, base_dir or Path.cwd()))


def _values(text: str, spec: str, base_dir: Path) -> tuple[Any, ...]:
    if spec.startswith("@"):
        path = Path(spec[1:]).expanduser()
        path = path if path.is_absolute() else base_dir / path
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise ValueError(f"--sweep {text!r}: cannot read {path} "
                             f"({getattr(error, 'strerror', None) or 'not UTF-8 text'})") from None
        values = tuple(line.strip() for line in lines if line.strip())
        if not values:
            raise ValueError(f"--sweep {text!r}: {path} has no non-empty line")
        return values
    if ".." in spec:
        return _range(text, spec)
    return tuple(_scalar(part.strip()) for part in spec.split(",") if part.strip())


def _range(text: str, spec: str) -> tuple[int, ...]:
    bounds, _, step_text = spec.partition(":")
    low_text, _, high_text = bounds.partition("..")
    try:
        low, high, step = int(low_text), int(high_text), int(step_text or 1)
    except ValueError:
        raise ValueError(f"--sweep {text!r}: a range is FIRST..LAST[:STEP] with whole "
                         "numbers, e.g. 1..100") from None
    if step <= 0 or high < low:
        raise ValueError(f"--sweep {text!r}: the range is empty (LAST must be ≥ FIRST and "
                         "STEP > 0)")
    if (high - low) // step + 1 > MAX_RUNS:
        raise ValueError(f"--sweep {text!r}: more than {MAX_RUNS} values")
    return tuple(range(low, high + 1, step))


def _scalar(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def resolve_targets(graph: Graph, registry: NodeRegistry, target: str) -> list[tuple[str, str]]:
    """(node id, input) pairs ``target`` names; GraphError with one sentence when none."""
    node_part, dot, input_name = target.rpartition(".")
    if not dot:
        node_part, input_name = "", target
    found = []
    linked_from: list[str] = []  # sources of the named inputs a link feeds
    names: set[str] = set()  # the value inputs of the nodes named, for the hint
    for node in graph:
        if node_part and node.id != node_part and (node.title or "").lower() != \
                node_part.lower():
            continue
        specs = (value_inputs(graph, registry, node) or ("", {}))[1]
        names.update(specs)
        if input_name not in specs:
            continue
        link = graph.link_into(node.id, input_name)
        if link is None:
            found.append((node.id, input_name))
        else:
            linked_from.append(link.source)
    if not found and linked_from:
        sources = ", ".join(f"node {source!r}" for source in dict.fromkeys(linked_from))
        raise GraphError("invalid --sweep", [Problem(
            f"--sweep {target!r}: {input_name!r} takes its value through a link (from "
            f"{sources}); sweep a value of that node instead", kind="usage")])
    if not found:
        hint = did_you_mean(input_name, sorted(names))
        missing = (f"node {node_part!r} has no value input {input_name!r}{hint}" if node_part
                   else f"no node of the graph has a value input {input_name!r}{hint}")
        raise GraphError("invalid --sweep", [Problem(
            f"--sweep {target!r}: {missing}; name it as INPUT or NODE.INPUT (node id or "
            "title)", kind="usage")])
    return found


def expand(graph: Graph, registry: NodeRegistry, sweeps: list[Sweep]
           ) -> list[tuple[Graph, dict[str, Any]]]:
    """Every combination of the sweeps' values (their product), as graph copies, with the values
    each one got (for its metadata and file names)."""
    from nodestudio.api.schema import check_value, coerce_value
    from nodestudio.api.sockets import STRING

    targets = [resolve_targets(graph, registry, sweep.target) for sweep in sweeps]
    total = 1
    for sweep in sweeps:
        total *= len(sweep.values)
    if total > MAX_RUNS:
        raise GraphError("invalid --sweep", [Problem(
            f"the sweeps multiply to {total} runs, more than {MAX_RUNS}", kind="usage")])
    runs = []
    for combination in itertools.product(*(sweep.values for sweep in sweeps)):
        copy = graph.copy()
        chosen: dict[str, Any] = {}
        for sweep, pairs, value in zip(sweeps, targets, combination, strict=True):
            for node_id, input_name in pairs:
                spec = (value_inputs(copy, registry, copy.node(node_id)) or ("", {}))[1].get(
                    input_name)
                assert spec is not None  # resolve_targets found it
                if spec.type == STRING and not isinstance(value, str):
                    value = json.dumps(value)  # a prompt of digits ("2024") is text, as typed
                coerced = coerce_value(spec, value)
                problem = check_value(spec, coerced)
                if problem:
                    raise GraphError("invalid --sweep", [Problem(
                        f"--sweep {sweep.target}: {problem}", node_id, input_name,
                        kind="invalid_value")])
                copy.set_value(node_id, input_name, coerced)
            chosen[sweep.target] = value
        runs.append((copy, chosen))
    return runs
