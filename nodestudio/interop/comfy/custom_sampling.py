"""ComfyUI's custom sampling, folded into NodeStudio's one Sampler node.

ComfyUI takes a KSampler apart into pieces that Flux workflows wire together:
SamplerCustomAdvanced(noise, guider, sampler, sigmas, latent_image) with RandomNoise (the
seed) or DisableNoise (no noise added), BasicGuider (model + one prompt, no CFG) or CFGGuider
(model, both prompts, cfg), KSamplerSelect (the sampler) and BasicScheduler (scheduler, steps,
denoise: the sigmas KSampler would compute). SamplerCustom is the older all-in-one form with
the model, prompts, noise and cfg on itself and only the sampler and sigmas apart.

Put back together these are exactly a KSampler, so each custom sampler becomes one Sampler and
the pieces disappear into it: their values become the Sampler's, links into them (a seed from
an Int node, the model, the prompts) are wired into the Sampler. A piece NodeStudio cannot
fold — sigmas from another scheduler node or split/flipped, another guider (PerpNeg, dual
CFG …), a custom noise — would change what is computed: the custom sampler then stays a
placeholder (with the pieces) and the import says why, rather than run something else.
ComfyUI's ``denoised_output`` (the model's last prediction) has no counterpart: a link from it
is dropped with a warning. Writing back, the Sampler is a KSampler.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nodestudio.interop.comfy.diffusion import COMFY_MODE, SAMPLER, sampling_converters
from nodestudio.interop.comfy.families import comfy_family
from nodestudio.interop.comfy.ir import ComfyGraph, ComfyNode
from nodestudio.interop.comfy.names import SAMPLERS, SCHEDULERS
from nodestudio.interop.comfy.rules import Builder, Convert, Note, Placement, Rule


@dataclass(frozen=True)
class Part:
    """A ComfyUI node that folds into a Sampler."""

    #: The custom sampler input it feeds.
    feeds: str
    #: Its ComfyUI inputs -> the Sampler inputs they become.
    inputs: Mapping[str, str] = field(default_factory=dict)
    #: Sampler values that the part sets by being what it is.
    fixed: Mapping[str, Any] = field(default_factory=dict)


PARTS: dict[str, Part] = {
    "RandomNoise": Part("noise", {"noise_seed": "seed"}),
    "DisableNoise": Part("noise", fixed={"add_noise": False}),
    # BasicGuider runs the model on the one prompt: cfg 1 (NodeStudio then needs no negative).
    "BasicGuider": Part("guider", {"model": "model", "conditioning": "positive"},
                        fixed={"cfg": 1.0}),
    "CFGGuider": Part("guider", {"model": "model", "positive": "positive",
                                 "negative": "negative", "cfg": "cfg"}),
    "KSamplerSelect": Part("sampler", {"sampler_name": "sampler"}),
    # BasicScheduler's sigmas are KSampler's for the same scheduler, steps and denoise (also
    # below 1: both take the last steps of a longer schedule). Its model only decides the
    # model sampling (shift) the sigmas are computed with: see _check_scheduler_model.
    "BasicScheduler": Part("sigmas", {"scheduler": "scheduler", "steps": "steps",
                                      "denoise": "denoise"}),
}

#: The custom samplers, and which of their inputs come from parts.
FOLDED_INPUTS: dict[str, tuple[str, ...]] = {
    "SamplerCustomAdvanced": ("noise", "guider", "sampler", "sigmas"),
    "SamplerCustom": ("sampler", "sigmas"),
}
_SAMPLER_NAMES: dict[str, Convert] = {"sampler_name": SAMPLERS, "scheduler": SCHEDULERS}


def _feeder(comfy: ComfyGraph, node: ComfyNode, input_name: str) -> ComfyNode | None:
    link = node.links.get(input_name)
    return comfy.nodes.get(link.node_id) if link is not None else None


def fold_refusal(comfy: ComfyGraph, node: ComfyNode) -> str | None:
    """Why custom sampler ``node`` cannot become one Sampler (None when it can)."""
    for input_name in FOLDED_INPUTS.get(node.class_type, ()):
        source = _feeder(comfy, node, input_name)
        if source is None:
            return f"ComfyUI {node.class_type}: its {input_name} input is not linked"
        part = PARTS.get(source.class_type)
        if part is None or part.feeds != input_name or node.links[input_name].slot != 0:
            takes = ", ".join(name for name, part in PARTS.items() if part.feeds == input_name)
            return (f"ComfyUI {node.class_type}: its {input_name} input is fed by "
                    f"{source.class_type}, which cannot be folded into NodeStudio's Sampler "
                    f"(only {takes} can)")
    return None


def _custom_samplers(comfy: ComfyGraph, part: ComfyNode) -> list[ComfyNode]:
    """The custom samplers that ``part`` folds into: those it feeds as the piece they take
    and that fold as a whole."""
    kind = PARTS[part.class_type]
    found = []
    for node in comfy.nodes.values():
        link = node.links.get(kind.feeds)
        if (link is not None and link.node_id == part.id and link.slot == 0
                and kind.feeds in FOLDED_INPUTS.get(node.class_type, ())
                and fold_refusal(comfy, node) is None):
            found.append(node)
    return found


@dataclass
class PartRule(Rule):
    """A custom-sampling piece: no node of its own; its inputs go to the Samplers it feeds."""

    comfy: str = ""
    needs: tuple[str, ...] = (SAMPLER,)

    def refuse(self, node: ComfyNode, comfy: ComfyGraph) -> str | None:
        if _custom_samplers(comfy, node):
            return None
        feeds = PARTS[self.comfy].feeds
        return (f"ComfyUI {self.comfy} folds into the {feeds} of a SamplerCustomAdvanced "
                "(or SamplerCustom) that becomes a NodeStudio Sampler, and none takes it here")

    def build(self, node: ComfyNode, builder: Builder) -> Placement:
        part = PARTS[self.comfy]
        placement = Placement(None, folded=set(node.links))
        for sampler in _custom_samplers(builder.comfy, node):
            for comfy_input, ours in part.inputs.items():
                placement.inputs.setdefault(comfy_input, []).append((sampler.id, ours))
        return placement


@dataclass
class CustomSamplerRule(Rule):
    """SamplerCustomAdvanced / SamplerCustom as one Sampler; ``direct`` are the custom
    sampler's own inputs -> the Sampler's."""

    comfy: str = ""
    direct: Mapping[str, str] = field(default_factory=dict)
    needs: tuple[str, ...] = (SAMPLER,)

    def refuse(self, node: ComfyNode, comfy: ComfyGraph) -> str | None:
        return fold_refusal(comfy, node)

    def build(self, node: ComfyNode, builder: Builder) -> Placement:
        comfy = builder.comfy
        pieces = [comfy.nodes[node.links[name].node_id] for name in FOLDED_INPUTS[self.comfy]]
        chosen = next((piece.values.get("sampler_name") for piece in pieces
                       if piece.class_type == "KSamplerSelect"), None)
        converters = sampling_converters(comfy_family(comfy, node.id), chosen, _SAMPLER_NAMES)
        values: dict[str, Any] = dict(COMFY_MODE)
        controls: dict[str, str] = {}
        for source, mapping in [(node, self.direct),
                                *((piece, PARTS[piece.class_type].inputs) for piece in pieces)]:
            if source is not node:
                values.update(PARTS[source.class_type].fixed)
            for name, value in source.values.items():
                ours = mapping.get(name)
                if ours is None:
                    builder.note(f"{source.class_type} input {name!r} is not supported; its "
                                 f"value {value!r} is ignored", node.id, kind="ignored_input")
                    continue
                converter = converters.get(name)
                values[ours] = value if converter is None else converter.to_ns(
                    value, _noter(builder, node.id, ours))
            controls.update({mapping[name]: control for name, control in source.controls.items()
                             if name in mapping})
        self._check_scheduler_model(node, pieces, builder)
        sampler = builder.add(node, SAMPLER, values, controls=controls)
        return Placement(
            sampler.id,
            inputs={comfy_input: [(sampler.id, ours)] for comfy_input, ours in self.direct.items()},
            outputs={0: (sampler.id, "latent")},
            folded=set(FOLDED_INPUTS[self.comfy]),
        )

    def _check_scheduler_model(self, node: ComfyNode, pieces: list[ComfyNode],
                               builder: Builder) -> None:
        """NodeStudio spaces the steps by the Sampler's model; ComfyUI's BasicScheduler by its
        own model input, which is nearly always the same (else the shift may differ)."""
        holder = next((piece for piece in pieces if PARTS[piece.class_type].feeds == "guider"),
                      node)
        scheduler = next(piece for piece in pieces if piece.class_type == "BasicScheduler")
        used, spaced = holder.links.get("model"), scheduler.links.get("model")
        if used is not None and spaced is not None and used != spaced:
            builder.note(f"{self.comfy}: BasicScheduler takes its model from another node "
                         f"({spaced.node_id}) than the sampling does ({used.node_id}); NodeStudio "
                         "spaces the steps by the sampling model (the same unless the two have "
                         "different model sampling, e.g. shift)", node.id, "model",
                         kind="approximated")


def _noter(builder: Builder, node_id: str, input_name: str) -> Note:
    return lambda message: builder.note(message, node_id, input_name, kind="unsupported_value")


def custom_sampling_rules() -> list[Rule]:
    return [
        CustomSamplerRule("SamplerCustomAdvanced", direct={"latent_image": "latent"}),
        CustomSamplerRule("SamplerCustom", direct={
            "model": "model", "add_noise": "add_noise", "noise_seed": "seed", "cfg": "cfg",
            "positive": "positive", "negative": "negative", "latent_image": "latent"}),
        *(PartRule(name) for name in PARTS),
    ]
