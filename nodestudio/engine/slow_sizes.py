"""Warnings for sizes the device cannot render in reasonable time (a warning, never an error).

A shared graph may ask for 16384 × 16384: allowed, but on a CPU one sampling step of a
diffusion model at a few megapixels already takes minutes. Validation says so before the
run, naming the size and what to do. No torch here: the app layer says which device kind
runs the graph ("cpu", "cuda", "mps").
"""

from __future__ import annotations

from nodestudio.api.registry import NodeRegistry
from nodestudio.api.schema import NodeType
from nodestudio.graph.model import Graph
from nodestudio.graph.problems import Problem

#: Pixels (width × height × batch) beyond which a render is far from reasonable, per device.
CPU_SLOW_PIXELS = 4_000_000
#: Accelerators do far more; beyond this even a large GPU needs minutes per step.
ACCELERATOR_SLOW_PIXELS = 64_000_000


def slow_pixels(device: str) -> int:
    return CPU_SLOW_PIXELS if device.split(":")[0] == "cpu" else ACCELERATOR_SLOW_PIXELS


def slow_size_warnings(graph: Graph, registry: NodeRegistry, device: str) -> list[Problem]:
    """A "slow" warning per node that makes a latent far larger than ``device`` handles well
    (Empty Latent Image and every node with width, height and a LATENT output)."""
    limit = slow_pixels(device)
    warnings = []
    for node in graph:
        node_type = registry.get(node.type)
        if node_type is None or node.mode != "normal" or not _makes_sized_latent(node_type):
            continue
        width = _value(graph, node.id, node.values, node_type, "width")
        height = _value(graph, node.id, node.values, node_type, "height")
        batch = _value(graph, node.id, node.values, node_type, "batch_size") or 1
        if not width or not height or width * height * batch <= limit:
            continue
        size = f"{width} × {height}" + (f" × {batch} images" if batch > 1 else "")
        advice = "; on a GPU it is much faster" if limit == CPU_SLOW_PIXELS else ""
        warnings.append(Problem(
            f"{size} is {width * height * batch / 1e6:.1f} megapixels, far more than the "
            f"{device} renders in reasonable time (about {limit / 1e6:.0f}): each step may take "
            f"minutes; generate smaller and upscale afterwards{advice}", node.id, "width",
            kind="slow"))
    return warnings


def _makes_sized_latent(node_type: NodeType) -> bool:
    names = {spec.name for spec in node_type.inputs}
    return ({"width", "height"} <= names
            and any(output.type == "LATENT" for output in node_type.outputs))


def _value(graph: Graph, node_id: str, values: dict[str, object], node_type: NodeType,
           name: str) -> int:
    """The widget's integer value, 0 when linked, absent or not an integer (nothing to judge)."""
    spec = node_type.input(name)
    if spec is None or graph.link_into(node_id, name) is not None:
        return 0
    value = values.get(name, spec.default)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
