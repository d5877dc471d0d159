"""One in-between form for both ComfyUI formats: nodes with named values and indexed links.

The UI workflow and the API prompt are both read into a :class:`ComfyGraph` first; the
mapping onto NodeStudio's node types (``build.py``) then works on that alone. Frontend-only
constructs (reroutes, primitive nodes) are already resolved here: a reroute becomes bend
points of the links through it, a primitive's value sits in the inputs it fed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from nodestudio.graph.layout import Group, NodeLayout, Point
from nodestudio.graph.problems import Problem

#: Node.extra key under which an imported node keeps what it was in ComfyUI.
EXTRA_KEY = "comfyui"


@dataclass(frozen=True)
class Source:
    """The output ``slot`` of ComfyUI node ``node_id``."""

    node_id: str
    slot: int


@dataclass
class ComfyNode:
    id: str
    class_type: str
    #: Widget values by input name (what an API prompt's ``inputs`` hold that are not links).
    values: dict[str, Any] = field(default_factory=dict)
    #: Linked inputs: input name -> the output feeding it.
    links: dict[str, Source] = field(default_factory=dict)
    mode: str = "normal"
    title: str | None = None
    #: control_after_generate per seed input ("fixed", "increment", "decrement", "randomize").
    controls: dict[str, str] = field(default_factory=dict)
    layout: NodeLayout | None = None
    #: Output names by slot, where the file says them (UI workflows do).
    output_names: list[str] = field(default_factory=list)
    #: The node's entry as the file had it (kept verbatim for nodes NodeStudio cannot map).
    entry: dict[str, Any] = field(default_factory=dict)
    #: "workflow" or "prompt": which ComfyUI format the node came from.
    origin: str = "prompt"
    #: Raw ``widgets_values`` when the names of the widgets are not known (unknown types).
    widget_list: list[Any] | None = None
    #: The node's inputs in the API prompt saved beside its workflow (PNG metadata).
    prompt_inputs: dict[str, Any] | None = None


@dataclass
class ComfyGraph:
    nodes: dict[str, ComfyNode] = field(default_factory=dict)
    groups: list[Group] = field(default_factory=list)
    #: Bend points of links, keyed by (target node id, input name).
    bends: dict[tuple[str, str], list[Point]] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)
    #: Whether the nodes carry positions (UI workflows) or need to be laid out (API prompts).
    has_layout: bool = False
    #: ComfyUI subgraph definitions (``definitions.subgraphs``, nested ones too) by id, as the
    #: file has them; built by subgraph_import.py.
    subgraphs: dict[str, Any] = field(default_factory=dict)
    #: Node id -> the model-family clue of nodes it stands for (families.py): in a subgraph
    #: definition's graph its virtual input node carries what feeds the instance; in any
    #: graph a subgraph instance carries the family of the loaders inside it.
    outer_clues: dict[str, str] = field(default_factory=dict)
    #: Node id -> the input names the family search goes on through (families.py): a
    #: subgraph instance passes only the inputs its definition's outputs read without a
    #: sampler or VAE encoder between, as the flat workflow's search would. Unlisted: all.
    passes: dict[str, frozenset[str]] = field(default_factory=dict)


def is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def node_id_text(value: Any) -> str | None:
    """A ComfyUI node id (an int, or a string for group/sub-graph nodes) as NodeStudio text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def slot_index(value: Any) -> int | None:
    """A slot number, which files write as an int or as a numeric string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    return None


def point(value: Any) -> Point | None:
    """``[x, y]`` (or litegraph's ``{"0": x, "1": y}``) as a float pair."""
    if isinstance(value, dict):
        value = [value.get("0"), value.get("1")]
    if isinstance(value, list | tuple) and len(value) >= 2 and all(is_number(v)
                                                                   for v in value[:2]):
        return (float(value[0]), float(value[1]))
    return None
