"""ComfyUI's empty video latents: their definitions (inputs in order) and mapping rules.

EmptyHunyuanLatentVideo (comfy_extras/nodes_hunyuan.py; ComfyUI's Wan 2.1 workflows use it
too: 16 channels, 8× spatial, 4× temporal) and EmptyLTXVLatentVideo (nodes_lt.py) both become
NodeStudio's Empty Video Latent, which takes channels and compression from the model; the
model is linked from the sampler the latent goes to, as for Empty Latent Image. Writing back
gives EmptyHunyuanLatentVideo (an LTX-Video graph's latent then needs its node swapped).
"""

from __future__ import annotations

from nodestudio.graph.model import Node
from nodestudio.interop.comfy.catalog import ComfyNodeDef, _in
from nodestudio.interop.comfy.diffusion import EmptyLatentRule
from nodestudio.interop.comfy.rules import Exporter, Rule

EMPTY_VIDEO_LATENT = "diffusion.empty_video_latent"
_SIZE = {"width": "width", "height": "height", "length": "length", "batch_size": "batch_size"}

#: ComfyUI's node definitions for this area, merged into catalog.CORE_NODES.
DEFINITIONS: tuple[ComfyNodeDef, ...] = (
    ComfyNodeDef("EmptyHunyuanLatentVideo", "EmptyHunyuanLatentVideo",
                 (_in("width", "INT", 848), _in("height", "INT", 480), _in("length", "INT", 25),
                  _in("batch_size", "INT", 1)),
                 (("LATENT", "LATENT"),)),
    ComfyNodeDef("EmptyLTXVLatentVideo", "EmptyLTXVLatentVideo",
                 (_in("width", "INT", 768), _in("height", "INT", 512), _in("length", "INT", 97),
                  _in("batch_size", "INT", 1)),
                 (("LATENT", "LATENT"),)),
)


class VideoLatentRule(EmptyLatentRule):
    """An empty video latent: the model comes from its sampler on import (``finish``)."""

    def accepts(self, node: Node, exporter: Exporter) -> bool:
        return True


def rules() -> list[Rule]:
    return [
        VideoLatentRule("EmptyHunyuanLatentVideo", EMPTY_VIDEO_LATENT, dict(_SIZE), ("latent",),
                        ns_free_links=("model", "vae")),
        VideoLatentRule("EmptyLTXVLatentVideo", EMPTY_VIDEO_LATENT, dict(_SIZE), ("latent",),
                        ns_free_links=("model", "vae"), export_rule=False),
    ]
