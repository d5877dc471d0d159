"""Mapping rules for the nodes of ComfyUI's SD3 and Flux workflows (the split-file loaders,
Flux Guidance, the model-sampling nodes and the SD3 empty latent); the custom-sampling nodes
they sample with are in ``custom_sampling.py``.

* Load CLIP, DualCLIPLoader and TripleCLIPLoader are all NodeStudio's Load Text Encoders with
  one, two or three files: NodeStudio reads which file is which encoder from the files (as
  ComfyUI does), so the order is kept as it is. Writing back picks the loader by the count.
* ModelSamplingFlux fixes the shift for the width and height it is given; NodeStudio's node
  does the same, and also knows 0 × 0 ("the size being sampled"), which ComfyUI cannot say.
"""

from __future__ import annotations

from typing import Any

from nodestudio.graph.model import Node
from nodestudio.interop.comfy.diffusion import EmptyLatentRule
from nodestudio.interop.comfy.names import CLIP_TYPES, WEIGHT_DTYPES
from nodestudio.interop.comfy.rules import Direct, Exporter, Rule, Unexportable

TEXT_ENCODERS = "diffusion.load_text_encoders"
_ENCODER_INPUTS = ("text_encoder_1", "text_encoder_2", "text_encoder_3")


class TextEncodersRule(Direct):
    """A CLIP loader with ``files`` file inputs; exports the Load Text Encoders nodes with that
    many files (and a type the ComfyUI loader takes: ``types``)."""

    files: int = 1
    types: tuple[str, ...] = ("flux", "sd3")

    def accepts(self, node: Node, exporter: Exporter) -> bool:
        values = exporter.values(node)
        used = [name for name in _ENCODER_INPUTS if values.get(name)]
        return used == list(_ENCODER_INPUTS[:self.files]) and values.get("type") in self.types


class ClipLoaderRule(TextEncodersRule):
    # ComfyUI's Load CLIP has no "flux" type (Flux needs two files): only SD3 writes back.
    types = ("sd3",)


class DualClipLoaderRule(TextEncodersRule):
    files = 2


class TripleClipLoaderRule(TextEncodersRule):
    files = 3
    types = ("sd3",)


class ModelSamplingFluxRule(Direct):
    """ModelSamplingFlux; a NodeStudio node left at 0 × 0 (the sampled size) has no ComfyUI
    equivalent."""

    def export(self, node: Node, exporter: Exporter) -> dict[str, Any]:
        values = exporter.values(node)
        if not values.get("width") or not values.get("height"):
            raise Unexportable("width and height 0 mean \"the size being sampled\", which "
                               "ComfyUI's ModelSamplingFlux cannot say: set the size")
        return super().export(node, exporter)


class FlowEmptyLatentRule(EmptyLatentRule):
    """EmptySD3LatentImage: NodeStudio's Empty Latent takes its 16 channels from the model."""

    flow = True


def flow_rules() -> list[Rule]:
    return [
        Direct("UNETLoader", "diffusion.load_diffusion_model",
               {"unet_name": "model_name", "weight_dtype": "weight_dtype"}, ("model",),
               convert={"weight_dtype": WEIGHT_DTYPES}),
        ClipLoaderRule("CLIPLoader", TEXT_ENCODERS,
                       {"clip_name": "text_encoder_1", "type": "type"}, ("clip",),
                       convert={"type": CLIP_TYPES}, comfy_fixed={"device": "default"}),
        DualClipLoaderRule("DualCLIPLoader", TEXT_ENCODERS,
                           {"clip_name1": "text_encoder_1", "clip_name2": "text_encoder_2",
                            "type": "type"}, ("clip",),
                           convert={"type": CLIP_TYPES}, comfy_fixed={"device": "default"}),
        # TripleCLIPLoader is SD3's: clip_l, clip_g, t5xxl.
        TripleClipLoaderRule("TripleCLIPLoader", TEXT_ENCODERS,
                             {"clip_name1": "text_encoder_1", "clip_name2": "text_encoder_2",
                              "clip_name3": "text_encoder_3"}, ("clip",),
                             ns_fixed={"type": "sd3"}),
        FlowEmptyLatentRule("EmptySD3LatentImage", "diffusion.empty_latent",
                            {"width": "width", "height": "height", "batch_size": "batch_size"},
                            ("latent",), ns_free_links=("model", "vae")),
        Direct("FluxGuidance", "diffusion.flux_guidance",
               {"conditioning": "conditioning", "guidance": "guidance"}, ("conditioning",)),
        Direct("ModelSamplingSD3", "diffusion.model_sampling_shift",
               {"model": "model", "shift": "shift"}, ("model",)),
        ModelSamplingFluxRule("ModelSamplingFlux", "diffusion.model_sampling_flux",
                              {"model": "model", "max_shift": "max_shift",
                               "base_shift": "base_shift", "width": "width", "height": "height"},
                              ("model",)),
    ]
