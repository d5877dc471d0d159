"""Which kind of model a sampler works with, read from the nodes around it.

ComfyUI's scheduler names mean different spacings for flow-matching models (SD3, Flux) than
for the discrete ones (SD1.x, SDXL), and its Empty Latent Image has the wrong channel count for
them; a workflow does not say which kind its checkpoint is, but its nodes usually do: Flux
Guidance, the split-file loaders, the model-sampling nodes, the SD3 empty latent. The search
goes upstream from the sampler (or latent) and stops at the nodes where another model's work
comes in (another sampler, a VAE encoder), so that an SD1.x pass after a Flux one is read as
SD1.x. A ComfyUI subgraph instance on the way lets the search through only the inputs its
definition's outputs read without such a node between (``ComfyGraph.passes``).

The answer is "flux", "sd3", "flow" (one of the two, not which) or None (no sign: a discrete
model as far as the workflow tells).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from nodestudio.graph.model import Graph, Node
from nodestudio.interop.comfy.ir import ComfyGraph, ComfyNode, Source

FLUX, SD3, FLOW = "flux", "sd3", "flow"

#: ComfyUI classes where another model's latent comes in: the search does not pass them.
_COMFY_BOUNDARY = frozenset({"KSampler", "KSamplerAdvanced", "SamplerCustom",
                             "SamplerCustomAdvanced", "VAEEncode", "VAEEncodeForInpaint"})
_COMFY_CLUES = {"FluxGuidance": FLUX, "ModelSamplingFlux": FLUX, "TripleCLIPLoader": SD3,
                "UNETLoader": FLOW, "ModelSamplingSD3": FLOW, "EmptySD3LatentImage": FLOW}
_COMFY_TYPED_LOADERS = frozenset({"CLIPLoader", "DualCLIPLoader"})

_NS_BOUNDARY = frozenset({"diffusion.sampler", "diffusion.vae_encode"})
_NS_CLUES = {"diffusion.flux_guidance": FLUX, "diffusion.model_sampling_flux": FLUX,
             "diffusion.load_diffusion_model": FLOW, "diffusion.model_sampling_shift": FLOW}
_NS_TYPED_LOADER = "diffusion.load_text_encoders"
#: A node id -> its type and the (id, node)s feeding it that the search goes on to.
_Feeders = Callable[[str], tuple[str, list[tuple[str, Any]]]]


def combine(clues: Iterable[str]) -> str | None:
    """One answer from the signs found: Flux and SD3 signs together say only "flow"."""
    found = set(clues)
    if FLUX in found and SD3 not in found:
        return FLUX
    if SD3 in found and FLUX not in found:
        return SD3
    return FLOW if found else None


def _comfy_clue(node: ComfyNode) -> str | None:
    if node.class_type in _COMFY_TYPED_LOADERS:
        kind = node.values.get("type")
        return kind if kind in (FLUX, SD3) else None
    return _COMFY_CLUES.get(node.class_type)


def comfy_family(comfy: ComfyGraph, node_id: str) -> str | None:
    """The kind of model ComfyUI node ``node_id`` works with, from the nodes upstream."""
    return combine(clue for node in _walk(node_id, _comfy_feeders(comfy, node_id),
                                          _COMFY_BOUNDARY)
                   if (clue := comfy.outer_clues.get(node.id) or _comfy_clue(node)) is not None)


def comfy_read_slots(comfy: ComfyGraph, node_id: str, source_id: str) -> set[int]:
    """The output slots of node ``source_id`` that the search from ``node_id`` reads (in a
    subgraph definition: the inputs whose feeders outside stand upstream of an output)."""
    passed = {node_id} | {node.id for node in _walk(node_id, _comfy_feeders(comfy, node_id),
                                                    _COMFY_BOUNDARY)
                          if node.class_type not in _COMFY_BOUNDARY}
    return {link.slot for passing in passed if passing in comfy.nodes
            for link in _comfy_links(comfy, passing, node_id) if link.node_id == source_id}


def _comfy_links(comfy: ComfyGraph, node_id: str, start: str) -> list[Source]:
    """The links the search follows out of ``node_id``: a subgraph instance passed on the way
    only those its definition lets through (a sampler inside stops the others as one outside
    does); where the search starts, all of them (what feeds it is what it works with)."""
    node = comfy.nodes[node_id]
    through = comfy.passes.get(node_id) if node_id != start else None
    return [link for name, link in node.links.items() if through is None or name in through]


def _comfy_feeders(comfy: ComfyGraph, start: str) -> _Feeders:
    def feeders(node_id: str) -> tuple[str, list[tuple[str, Any]]]:
        sources = [(link.node_id, comfy.nodes[link.node_id])
                   for link in _comfy_links(comfy, node_id, start) if link.node_id in comfy.nodes]
        return comfy.nodes[node_id].class_type, sources

    return feeders


def graph_family(graph: Graph, node_id: str,
                 values: Callable[[Node], dict[str, Any]]) -> str | None:
    """The kind of model NodeStudio node ``node_id`` works with, from the nodes upstream;
    ``values`` gives a node's values with the defaults filled in."""
    clues = []
    for node in _walk(node_id, _graph_feeders(graph), _NS_BOUNDARY):
        if node.type == _NS_TYPED_LOADER:
            kind = values(node).get("type")
            clues += [kind] if kind in (FLUX, SD3) else []
        elif node.type in _NS_CLUES:
            clues.append(_NS_CLUES[node.type])
    return combine(clues)


def _graph_feeders(graph: Graph) -> _Feeders:
    def feeders(node_id: str) -> tuple[str, list[tuple[str, Any]]]:
        return graph.node(node_id).type, [(link.source, graph.node(link.source))
                                          for link in graph.links_into(node_id)]

    return feeders


def _walk(start: str, feeders: _Feeders,
          boundary: frozenset[str]) -> Iterator[Any]:
    """Every node upstream of ``start`` (not itself), not passing boundary nodes."""
    seen, queue = {start}, [start]
    while queue:
        current = queue.pop()
        kind, sources = feeders(current)
        if kind in boundary and current != start:
            continue
        for source_id, source in sources:
            if source_id not in seen:
                seen.add(source_id)
                queue.append(source_id)
                yield source
