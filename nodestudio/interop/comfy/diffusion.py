"""Mapping rules for ComfyUI's diffusion nodes onto NodeStudio's ``diffusion.*`` nodes.

Most map one to one. Where ComfyUI spells a thing differently, the nearest faithful
construction is built (and written back on export):

* CLIP Set Last Layer modifies a CLIP; NodeStudio sets the layer on Text Encode
  (``clip_skip = -1 - stop_at_clip_layer``), so the node folds into every Text Encode its
  CLIP reaches (through Load LoRA nodes too).
* Empty Latent Image in NodeStudio needs the model (the latent's channels and scale depend on
  it): the model of the sampler the latent goes to is linked in.
* VAE Encode (for Inpainting) = Grow Mask (by half of ``grow_mask_by``: ComfyUI's square
  kernel of that width grows each side by about half) + VAE Encode with the mask.
* The old Apply ControlNet has only a positive prompt, but ComfyUI applies its ControlNet to
  the negative one too (``control_apply_to_uncond``): the sampler's negative prompt is routed
  through NodeStudio's Apply ControlNet as well.
* KSampler (Advanced) is the Sampler with its stage settings (add noise, start and end step,
  leftover noise); a Sampler that uses them is written back as one, a plain one as KSampler.
  Where the sampler's model is an SD3 or Flux one (families.py reads it from the nodes around
  it), its sampler and scheduler names are read and written with the flow tables (names.py),
  and an Empty Latent for it is written back as EmptySD3LatentImage.

The SD3/Flux nodes are in ``flow.py``, ComfyUI's custom sampling in ``custom_sampling.py``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from nodestudio.graph.model import Graph, Node
from nodestudio.interop.comfy.families import comfy_family, graph_family
from nodestudio.interop.comfy.ir import ComfyNode
from nodestudio.interop.comfy.names import FLOW_SAMPLERS, SAMPLERS, SCHEDULERS, FlowSchedules
from nodestudio.interop.comfy.rules import (
    Builder,
    Convert,
    Direct,
    Exporter,
    Names,
    Placement,
    Rule,
    Switch,
    Unexportable,
    Wiring,
)

SAMPLER = "diffusion.sampler"
TEXT_ENCODE = "diffusion.text_encode"
APPLY_CONTROLNET = "diffusion.apply_controlnet"
VAE_ENCODE = "diffusion.vae_encode"
LATENT_UPSCALE = "diffusion.latent_upscale"

#: Upscale Latent methods: the same torch interpolation modes, and bislerp (NodeStudio runs
#: ComfyUI's algorithm, nodestudio.runtime.bislerp).
LATENT_METHODS = Names("latent upscale method", exact={
    name: name for name in ("nearest-exact", "bilinear", "area", "bicubic", "bislerp")})

_SAMPLER_INPUTS = {
    "model": "model", "seed": "seed", "steps": "steps", "cfg": "cfg",
    "sampler_name": "sampler", "scheduler": "scheduler", "positive": "positive",
    "negative": "negative", "latent_image": "latent", "denoise": "denoise",
}
_SAMPLER_NAMES = {"sampler_name": SAMPLERS, "scheduler": SCHEDULERS}
_ADVANCED_SAMPLER_INPUTS = {
    **{comfy: ours for comfy, ours in _SAMPLER_INPUTS.items() if comfy not in ("seed", "denoise")},
    "noise_seed": "seed", "add_noise": "add_noise", "start_at_step": "start_step",
    "end_at_step": "end_step", "return_with_leftover_noise": "return_with_leftover_noise",
}
_ADVANCED_SAMPLER_NAMES = {
    **_SAMPLER_NAMES, "add_noise": Switch("add_noise"),
    "return_with_leftover_noise": Switch("return_with_leftover_noise"),
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


#: Text Encode's SDXL inputs: their values when unused.
_SDXL_FIELDS = {"text_2": "", "original_width": 0, "original_height": 0, "crop_left": 0,
                "crop_top": 0, "target_width": 0, "target_height": 0}


class TextEncodeRule(Direct):
    """CLIP Text Encode; a CLIP skip is written back as a CLIP Set Last Layer before it."""

    def accepts(self, node: Node, exporter: Exporter) -> bool:
        values = exporter.values(node)
        return all(values.get(name) == unused for name, unused in _SDXL_FIELDS.items())

    def export(self, node: Node, exporter: Exporter) -> dict[str, Any]:
        entry = super().export(node, exporter)
        skip = exporter.values(node).get("clip_skip", 0)
        if skip:
            if not _is_int(skip) or skip < 0:
                raise Unexportable(f"clip_skip={skip!r}")
            clip_id = f"{node.id}-clip_skip"
            exporter.add_entry(clip_id, {"class_type": "CLIPSetLastLayer", "inputs": {
                "clip": entry["inputs"].get("clip"), "stop_at_clip_layer": -1 - skip}})
            entry["inputs"]["clip"] = [clip_id, 0]
        return entry


class SdxlTextEncodeRule(TextEncodeRule):
    """CLIPTextEncodeSDXL: ``text_l`` for the first (CLIP-L) encoder, ``text_g`` for the second
    (OpenCLIP-G), and the size conditioning."""

    def accepts(self, node: Node, exporter: Exporter) -> bool:
        return not super().accepts(node, exporter)

    def export(self, node: Node, exporter: Exporter) -> dict[str, Any]:
        values = exporter.values(node)
        unset = [name for name in ("original_width", "original_height", "target_width",
                                   "target_height") if not values.get(name)]
        if unset:
            raise Unexportable(f"{', '.join(unset)} 0 means \"the generated size\", which "
                               "ComfyUI's CLIPTextEncodeSDXL cannot say: set the sizes")
        return super().export(node, exporter)


class ClipSkipRule(Rule):
    """CLIP Set Last Layer, folded into the Text Encode nodes its CLIP reaches."""

    comfy = "CLIPSetLastLayer"
    needs = (TEXT_ENCODE,)
    finishes = True

    def build(self, node: ComfyNode, builder: Builder) -> Placement:
        return Placement(None, forward={0: "clip"})

    def finish(self, node: ComfyNode, placement: Placement, wiring: Wiring) -> None:
        stop = node.values.get("stop_at_clip_layer", -1)
        if not _is_int(stop) or not -24 <= stop <= -1:
            wiring.note(f"stop_at_clip_layer={stop!r} is not a layer between -24 and -1; "
                        "ignored", node.id, "stop_at_clip_layer", kind="unsupported_value")
            return
        self._push(node.id, 0, -1 - stop, wiring, {node.id})

    def _push(self, comfy_id: str, slot: int, skip: int, wiring: Wiring, seen: set[str]) -> None:
        for consumer, input_name in wiring.consumers(comfy_id, slot):
            if consumer.id in seen or consumer.class_type == self.comfy:
                continue  # a later CLIP Set Last Layer decides for itself
            seen.add(consumer.id)
            if consumer.class_type == "LoraLoader" and input_name == "clip":
                self._push(consumer.id, 1, skip, wiring, seen)
                continue
            targets = [target for target in wiring.targets(consumer.id, input_name)
                       if wiring.graph.node(target[0]).type == TEXT_ENCODE]
            if consumer.class_type not in ("CLIPTextEncode", "CLIPTextEncodeSDXL") or not targets:
                wiring.note(f"CLIP Set Last Layer: {consumer.class_type} takes the CLIP; the "
                            "layer setting reaches only Text Encode nodes here", consumer.id,
                            input_name)
                continue
            for node_id, _ in targets:
                if skip:
                    wiring.graph.set_value(node_id, "clip_skip", skip)
                else:
                    wiring.graph.unset_value(node_id, "clip_skip")


def latent_consumers(graph: Graph, latent: str) -> Iterator[tuple[Node, str]]:
    """The nodes (and their inputs) that take the latent of node ``latent``, also through
    Upscale Latent, nearest first."""
    queue, seen = [latent], {latent}
    while queue:
        current = queue.pop(0)
        for link in graph.links_from(current):
            target = graph.node(link.target)
            if target.type == LATENT_UPSCALE and link.input == "latent":
                if target.id not in seen:
                    seen.add(target.id)
                    queue.append(target.id)
            else:
                yield target, link.input


def latent_family(graph: Graph, latent: str, exporter: Exporter) -> str | None:
    """The kind of model an empty latent is for: that of its own model, or of a node it goes
    to (a Sampler, or a ComfyUI custom sampler kept as it was)."""
    family = graph_family(graph, latent, exporter.values)
    for consumer, _ in latent_consumers(graph, latent):
        family = family or graph_family(graph, consumer.id, exporter.values)
    return family


class EmptyLatentRule(Direct):
    """Empty Latent Image, given the model of the sampler its latent goes to. ComfyUI's
    EmptyLatentImage has 4 channels, its EmptySD3LatentImage the 16 of SD3 and Flux: a latent
    for a flow model is written back as the latter (``flow``)."""

    finishes = True
    flow: bool = False

    def accepts(self, node: Node, exporter: Exporter) -> bool:
        return (latent_family(exporter.graph, node.id, exporter) is not None) == self.flow

    def finish(self, node: ComfyNode, placement: Placement, wiring: Wiring) -> None:
        graph, latent = wiring.graph, placement.main
        if latent is None or graph.link_into(latent, "model") or graph.link_into(latent, "vae"):
            return
        for sampler, input_name in latent_consumers(graph, latent):
            model = graph.link_into(sampler.id, "model")
            if sampler.type == SAMPLER and input_name == "latent" and model is not None:
                graph.connect(model.source, model.output, latent, "model")
                return
        wiring.note("NodeStudio's Empty Latent needs a model or VAE to know the latent's "
                    "shape, and no sampler reached from it has a model: link one", latent,
                    "model", kind="needs_link")


#: The Sampler's stage settings (KSampler Advanced's) and the values of a plain full run.
_STAGE_DEFAULTS: dict[str, Any] = {"add_noise": True, "start_step": 0, "end_step": 10000,
                                   "return_with_leftover_noise": False}


def _is_staged(node: Node, exporter: Exporter) -> bool:
    values = exporter.values(node)
    return any(values.get(name, plain) != plain for name, plain in _STAGE_DEFAULTS.items())


def sampling_converters(family: str | None, sampler: Any,
                        base: Mapping[str, Convert]) -> Mapping[str, Convert]:
    """``base`` (sampler and scheduler names of discrete models), or for a flow model
    (``family``) the flow tables: ``sampler`` is the ComfyUI sampler name."""
    if family is None:
        return base
    ours = FLOW_SAMPLERS.to_ns(sampler, lambda _: None)
    return {**base, "sampler_name": FLOW_SAMPLERS,
            "scheduler": FlowSchedules(family, ours if isinstance(ours, str) else "")}


#: The Sampler's compatibility mode for workflows from ComfyUI: its noise streams and sampler
#: definitions, so that the workflow gives the image its author saw (runtime.comfy_samplers).
COMFY_MODE = {"compatibility": "comfyui"}


#: Save Image's 8-bit conversion for workflows from ComfyUI, whose Save Image truncates.
COMFY_SAVING = {"to_8_bit": "truncate (ComfyUI)"}


class SaveImageRule(Direct):
    """Save Image; imported ones truncate to 8 bits as ComfyUI's does. Either conversion is
    written back as SaveImage (ComfyUI truncates; rounding differs by at most 1/255)."""

    def ns_values(self, node: ComfyNode, builder: Builder) -> dict[str, Any]:
        return {**super().ns_values(node, builder), **COMFY_SAVING}


class SamplerRule(Direct):
    """KSampler. On export a Sampler's mask becomes a Set Latent Noise Mask, and a missing
    negative prompt the positive one (what NodeStudio's Sampler uses then). Sampler and
    scheduler names are those of flow models where the workflow is for one.

    Imported Samplers run in the "comfyui" compatibility mode. ComfyUI has only that one, so
    a Sampler in either mode is written back as the same KSampler: one in the "diffusers" mode
    gives ComfyUI's image for the deterministic samplers (euler, dpmpp_2m …), but not for the
    ancestral, SDE and ddim samplers, whose noise or definition differ (README)."""

    def ns_values(self, node: ComfyNode, builder: Builder) -> dict[str, Any]:
        return {**super().ns_values(node, builder), **COMFY_MODE}

    def accepts(self, node: Node, exporter: Exporter) -> bool:
        return not _is_staged(node, exporter)

    def import_converters(self, node: ComfyNode, builder: Builder) -> Mapping[str, Convert]:
        return sampling_converters(comfy_family(builder.comfy, node.id),
                                   node.values.get("sampler_name"), self.convert)

    def export_converters(self, node: Node, exporter: Exporter) -> Mapping[str, Convert]:
        family = graph_family(exporter.graph, node.id, exporter.values)
        if family is None:
            return self.convert
        sampler = exporter.values(node).get("sampler")
        return {**self.convert, "scheduler": FlowSchedules(family, str(sampler))}

    def export(self, node: Node, exporter: Exporter) -> dict[str, Any]:
        entry = super().export(node, exporter)
        inputs = entry["inputs"]
        if "negative" not in inputs:
            inputs["negative"] = inputs.get("positive")
        mask = exporter.link(node, "mask")
        if mask is not None:
            mask_id = f"{node.id}-noise_mask"
            exporter.add_entry(mask_id, {"class_type": "SetLatentNoiseMask", "inputs": {
                "samples": inputs.get("latent_image"), "mask": mask}})
            inputs["latent_image"] = [mask_id, 0]
        return entry


class AdvancedSamplerRule(SamplerRule):
    """KSampler (Advanced): the Sampler with its stage settings; exports the Sampler nodes
    that use them (ComfyUI's node has no denoise: it must stay 1)."""

    def accepts(self, node: Node, exporter: Exporter) -> bool:
        return _is_staged(node, exporter)


class VaeEncodeRule(Direct):
    """VAE Encode: a NodeStudio VAE Encode without a mask."""

    def accepts(self, node: Node, exporter: Exporter) -> bool:
        return exporter.graph.link_into(node.id, "mask") is None


class InpaintEncodeRule(Rule):
    """VAE Encode (for Inpainting) = Grow Mask + VAE Encode with the mask."""

    comfy = "VAEEncodeForInpaint"
    needs = (VAE_ENCODE, "mask.grow")
    exports = (VAE_ENCODE,)

    def build(self, node: ComfyNode, builder: Builder) -> Placement:
        encode = builder.add(node, VAE_ENCODE, {})
        placement = Placement(encode.id, inputs={
            "pixels": [(encode.id, "image")], "vae": [(encode.id, "vae")],
            "mask": [(encode.id, "mask")]}, outputs={0: (encode.id, "latent")})
        grow = node.values.get("grow_mask_by", 6)
        if not _is_int(grow):
            builder.note(f"grow_mask_by={grow!r} is not a whole number; the mask is not grown",
                         node.id, "grow_mask_by", kind="unsupported_value")
        elif grow // 2 > 0:
            grown = builder.add(node, "mask.grow", {"pixels": grow // 2}, suffix="grow",
                                offset=(-40.0, 160.0))
            builder.graph.connect(grown.id, "mask", encode.id, "mask")
            placement.inputs["mask"] = [(grown.id, "mask")]
        return placement

    def accepts(self, node: Node, exporter: Exporter) -> bool:
        return exporter.graph.link_into(node.id, "mask") is not None

    def export(self, node: Node, exporter: Exporter) -> dict[str, Any]:
        inputs = {"pixels": exporter.link(node, "image"), "vae": exporter.link(node, "vae"),
                  "mask": exporter.link(node, "mask"), "grow_mask_by": 0}
        if None in inputs.values():
            raise Unexportable("image and vae must be linked")
        return {"class_type": self.comfy, "inputs": inputs}

    def output_slot(self, output: str) -> int | None:
        return 0 if output == "latent" else None


class OldApplyControlNetRule(Rule):
    """Apply ControlNet (old): one conditioning in and out, but applied to both halves."""

    comfy = "ControlNetApply"
    needs = (APPLY_CONTROLNET,)
    finishes = True

    def build(self, node: ComfyNode, builder: Builder) -> Placement:
        values = {"strength": node.values["strength"]} if "strength" in node.values else {}
        for name in set(node.values) - {"strength"}:
            builder.note(f"ControlNetApply input {name!r} is not supported; ignored", node.id,
                         kind="ignored_input")
        apply = builder.add(node, APPLY_CONTROLNET, values)
        return Placement(apply.id, inputs={
            "conditioning": [(apply.id, "positive")], "control_net": [(apply.id, "control_net")],
            "image": [(apply.id, "image")]}, outputs={0: (apply.id, "positive")})

    def finish(self, node: ComfyNode, placement: Placement, wiring: Wiring) -> None:
        graph, apply = wiring.graph, placement.main
        assert apply is not None
        consumers = [link for link in graph.links_from(apply) if link.output == "positive"]
        partners = set()
        for link in consumers:
            target = graph.node(link.target)
            negative = graph.link_into(target.id, "negative")
            if (link.input != "positive" or target.type not in (SAMPLER, APPLY_CONTROLNET)
                    or negative is None or negative.source == apply):
                partners.add(None)
            else:
                partners.add((negative.source, negative.output))
        if len(partners) == 1 and None not in partners:
            source, output = partners.pop()  # type: ignore[misc]
            graph.connect(source, output, apply, "negative")
            for link in consumers:
                graph.connect(apply, "negative", link.target, "negative")
            return
        positive = graph.link_into(apply, "positive")
        if positive is not None:
            graph.connect(positive.source, positive.output, apply, "negative")
        if consumers:
            wiring.note("Apply ControlNet (old): its prompt does not go straight to one "
                        "sampler's positive input, so the ControlNet acts on that prompt only "
                        "(ComfyUI also applies it to the negative prompt)", apply)


class LatentUpscaleRule(Direct):
    """Upscale Latent (to a size); NodeStudio's node also scales by a factor."""

    def accepts(self, node: Node, exporter: Exporter) -> bool:
        values = exporter.values(node)
        return bool(values.get("width") or values.get("height")) or values.get("scale_by") == 1

    def check_unmapped(self, node: Node, exporter: Exporter) -> None:
        # scale_by only counts when neither side is given (accepts() saw to that).
        plain = Node(node.id, node.type, node.type_version,
                     {**node.values, "scale_by": self.ns_fixed["scale_by"]})
        super().check_unmapped(plain, exporter)


class LatentUpscaleByRule(Direct):
    def accepts(self, node: Node, exporter: Exporter) -> bool:
        values = exporter.values(node)
        return not values.get("width") and not values.get("height")


def diffusion_rules() -> list[Rule]:
    return [
        Direct("CheckpointLoaderSimple", "diffusion.load_checkpoint",
               {"ckpt_name": "checkpoint"}, ("model", "clip", "vae")),
        Direct("VAELoader", "diffusion.load_vae", {"vae_name": "vae_name"}, ("vae",)),
        Direct("LoraLoader", "diffusion.load_lora",
               {"model": "model", "clip": "clip", "lora_name": "lora",
                "strength_model": "strength_model", "strength_clip": "strength_clip"},
               ("model", "clip")),
        Direct("ControlNetLoader", "diffusion.load_controlnet",
               {"control_net_name": "control_net"}, ("control_net",)),
        TextEncodeRule("CLIPTextEncode", TEXT_ENCODE, {"text": "text", "clip": "clip"},
                       ("conditioning",), handled=("clip_skip",)),
        SdxlTextEncodeRule("CLIPTextEncodeSDXL", TEXT_ENCODE,
                           {"clip": "clip", "text_l": "text", "text_g": "text_2",
                            "width": "original_width", "height": "original_height",
                            "crop_w": "crop_left", "crop_h": "crop_top",
                            "target_width": "target_width", "target_height": "target_height"},
                           ("conditioning",), handled=("clip_skip",)),
        Direct("CLIPTextEncodeSDXLRefiner", "diffusion.text_encode_sdxl_refiner",
               {"clip": "clip", "text": "text", "ascore": "aesthetic_score",
                "width": "width", "height": "height"}, ("conditioning",)),
        Direct("ConditioningZeroOut", "diffusion.conditioning_zero_out",
               {"conditioning": "conditioning"}, ("conditioning",)),
        Direct("ConditioningConcat", "diffusion.conditioning_concat",
               {"conditioning_to": "conditioning_to", "conditioning_from": "conditioning_from"},
               ("conditioning",)),
        Direct("ConditioningAverage", "diffusion.conditioning_average",
               {"conditioning_to": "conditioning_to", "conditioning_from": "conditioning_from",
                "conditioning_to_strength": "conditioning_to_strength"}, ("conditioning",)),
        ClipSkipRule(),
        EmptyLatentRule("EmptyLatentImage", "diffusion.empty_latent",
                        {"width": "width", "height": "height", "batch_size": "batch_size"},
                        ("latent",), ns_free_links=("model", "vae")),
        SamplerRule("KSampler", SAMPLER, _SAMPLER_INPUTS, ("latent",), convert=_SAMPLER_NAMES,
                    handled=("mask", "negative", "compatibility")),
        AdvancedSamplerRule("KSamplerAdvanced", SAMPLER, _ADVANCED_SAMPLER_INPUTS, ("latent",),
                            convert=_ADVANCED_SAMPLER_NAMES,
                            handled=("mask", "negative", "compatibility")),
        Direct("VAEDecode", "diffusion.vae_decode", {"samples": "latent", "vae": "vae"},
               ("image",)),
        VaeEncodeRule("VAEEncode", VAE_ENCODE, {"pixels": "image", "vae": "vae"}, ("latent",)),
        InpaintEncodeRule(),
        Direct("SetLatentNoiseMask", "diffusion.set_latent_mask",
               {"samples": "latent", "mask": "mask"}, ("latent",)),
        Direct("ControlNetApplyAdvanced", APPLY_CONTROLNET,
               {"positive": "positive", "negative": "negative", "control_net": "control_net",
                "image": "image", "strength": "strength", "start_percent": "start_percent",
                "end_percent": "end_percent", "vae": "vae"}, ("positive", "negative")),
        OldApplyControlNetRule(),
        LatentUpscaleRule("LatentUpscale", LATENT_UPSCALE,
                          {"samples": "latent", "upscale_method": "method", "width": "width",
                           "height": "height"}, ("latent",),
                          convert={"upscale_method": LATENT_METHODS}, ns_fixed={"scale_by": 1.0},
                          comfy_fixed={"crop": "disabled"}),
        LatentUpscaleByRule("LatentUpscaleBy", LATENT_UPSCALE,
                            {"samples": "latent", "upscale_method": "method",
                             "scale_by": "scale_by"}, ("latent",),
                            convert={"upscale_method": LATENT_METHODS}),
        Direct("GrowMask", "mask.grow", {"mask": "mask", "expand": "pixels"}, ("mask",),
               comfy_fixed={"tapered_corners": True}),
    ]
