"""The mapping of ComfyUI's core nodes onto NodeStudio's: the rule table.

The README section "ComfyUI interoperability" documents this table for artists; keep the two
in step.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nodestudio.interop.comfy.catalog import area_modules, strip_annotation
from nodestudio.interop.comfy.custom_sampling import custom_sampling_rules
from nodestudio.interop.comfy.diffusion import SaveImageRule, diffusion_rules
from nodestudio.interop.comfy.flow import flow_rules
from nodestudio.interop.comfy.ir import ComfyNode
from nodestudio.interop.comfy.names import IMAGE_RESIZE_METHODS
from nodestudio.interop.comfy.rules import (
    Builder,
    Direct,
    Exporter,
    Note,
    Placement,
    Rule,
    Scaled,
)


class FileName:
    """ComfyUI may write a load-image name as ``"photo.png [input]"``; the file is the same."""

    def to_ns(self, value: Any, note: Note) -> Any:
        return strip_annotation(value) if isinstance(value, str) else value

    def to_comfy(self, value: Any) -> Any:
        return value


class PrimitiveIntRule(Direct):
    """PrimitiveInt: a fixed integer → Integer; one re-rolled after each run → Seed."""

    def build(self, node: ComfyNode, builder: Builder) -> Placement:
        control = node.controls.get("value", "fixed")
        value = node.values.get("value", 0)
        if control == "fixed" or "primitive.seed" not in builder.registry or not (
                isinstance(value, int) and value >= 0):
            return super().build(node, builder)
        added = builder.add(node, "primitive.seed", {"seed": value},
                            controls={"seed": control})
        return Placement(added.id, inputs={"value": [(added.id, "seed")]},
                         outputs={0: (added.id, "seed")})


class SeedExportRule(Rule):
    """NodeStudio's Seed node written back as ComfyUI's PrimitiveInt."""

    exports = ("primitive.seed",)

    def export(self, node: Any, exporter: Exporter) -> dict[str, Any]:
        link = exporter.link(node, "seed")
        value = link if link is not None else exporter.values(node).get("seed")
        return {"class_type": "PrimitiveInt", "inputs": {"value": value}}

    def output_slot(self, output: str) -> int | None:
        return 0 if output == "seed" else None


def generic_rules() -> list[Rule]:
    """Images, preprocessors and primitives: nodes of NodeStudio's generic packs."""
    return [
        Direct("LoadImage", "image.load", {"image": "image"}, ("image", "mask"),
               convert={"image": FileName()}),
        SaveImageRule("SaveImage", "image.save", {"images": "images",
                                                  "filename_prefix": "filename_prefix"},
                      handled=("to_8_bit",)),
        Direct("PreviewImage", "image.preview", {"images": "images"}),
        Direct("ImageScale", "image.resize",
               {"image": "image", "upscale_method": "method", "width": "width",
                "height": "height", "crop": "crop"}, ("image",),
               convert={"upscale_method": IMAGE_RESIZE_METHODS},
               ns_fixed={"keep_proportion": False}),
        Direct("ImageScaleBy", "image.scale_by",
               {"image": "image", "upscale_method": "method", "scale_by": "scale"}, ("image",),
               convert={"upscale_method": IMAGE_RESIZE_METHODS}),
        Direct("ImageInvert", "image.invert", {"image": "image"}, ("image",)),
        # ComfyUI's Canny thresholds are gradient strengths of a 0..1 image; opencv's are of
        # a 0..255 image: the same edges at 255 times the number.
        Direct("Canny", "preprocess.canny",
               {"image": "image", "low_threshold": "low_threshold",
                "high_threshold": "high_threshold"}, ("image",),
               convert={"low_threshold": Scaled(255), "high_threshold": Scaled(255)}),
        PrimitiveIntRule("PrimitiveInt", "primitive.int", {"value": "value"}, ("value",)),
        SeedExportRule(),
        Direct("PrimitiveFloat", "primitive.float", {"value": "value"}, ("value",)),
        Direct("PrimitiveString", "primitive.string", {"value": "value"}, ("value",)),
        Direct("PrimitiveStringMultiline", "primitive.string", {"value": "value"}, ("value",),
               export_rule=False),
        Direct("PrimitiveBoolean", "primitive.boolean", {"value": "value"}, ("value",)),
        # Notes never reach a prompt (export leaves out nodes that never run).
        Direct("Note", "utils.note", {"text": "text"}, export_rule=False),
        Direct("MarkdownNote", "utils.note", {"text": "text"}, export_rule=False),
    ]


def import_rules(rules: Iterable[Rule]) -> dict[str, Rule]:
    """ComfyUI class -> rule (the first rule for a class wins)."""
    table: dict[str, Rule] = {}
    for rule in rules:
        if rule.comfy:
            table.setdefault(rule.comfy, rule)
    return table


def export_rules(rules: Iterable[Rule]) -> dict[str, list[Rule]]:
    """NodeStudio type -> the rules that can write it (tried in order, see Rule.accepts)."""
    table: dict[str, list[Rule]] = {}
    for rule in rules:
        for type_id in rule.exports:
            table.setdefault(type_id, []).append(rule)
    return table


def all_rules() -> list[Rule]:
    return [*diffusion_rules(), *flow_rules(), *custom_sampling_rules(), *generic_rules(),
            *(rule for area in area_modules() for rule in area.rules())]
