"""What NodeStudio knows about ComfyUI's own node types: inputs in order, outputs, defaults.

A UI workflow stores widget values as a bare list (``widgets_values``) in the order the node
class declares its widget inputs (``INPUT_TYPES``: required, then optional), with the
frontend's ``control_after_generate`` value right after a seed. An API prompt names inputs
but refers to outputs by index. Both need this table to be read; it describes ComfyUI's core
nodes (``nodes.py``, ``comfy_extras``) as published, and nothing of NodeStudio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Input kinds that are widgets on a ComfyUI node (their values live in ``widgets_values``).
WIDGET_KINDS = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})
#: The frontend's choices for the widget it adds after a seed.
SEED_CONTROLS = ("fixed", "increment", "decrement", "randomize")

#: Frontend-only node types: they never reach ComfyUI's server (nor an API prompt).
REROUTE = "Reroute"
PRIMITIVE = "PrimitiveNode"
NOTE_TYPES = frozenset({"Note", "MarkdownNote"})


@dataclass(frozen=True)
class ComfyInput:
    name: str
    #: A socket type ("MODEL", "IMAGE" …) for linked inputs, or a widget kind (WIDGET_KINDS).
    kind: str
    default: Any = None
    optional: bool = False
    #: The frontend stores a control_after_generate value ("randomize" …) after this widget.
    seed_control: bool = False

    @property
    def is_widget(self) -> bool:
        return self.kind in WIDGET_KINDS


@dataclass(frozen=True)
class ComfyNodeDef:
    class_type: str
    display_name: str
    inputs: tuple[ComfyInput, ...]
    #: (name, type) of each output, in slot order.
    outputs: tuple[tuple[str, str], ...] = ()
    #: Values the frontend appends after the real widgets (e.g. LoadImage's upload button).
    trailing_widgets: int = 0
    #: Inputs that only the frontend has (LoadImage's "upload" button), which API prompts may
    #: still carry: nothing to import, nothing to warn about.
    frontend_inputs: tuple[str, ...] = ()

    def input(self, name: str) -> ComfyInput | None:
        return next((spec for spec in self.inputs if spec.name == name), None)

    @property
    def widgets(self) -> tuple[ComfyInput, ...]:
        return tuple(spec for spec in self.inputs if spec.is_widget)


def _in(name: str, kind: str, default: Any = None, **flags: Any) -> ComfyInput:
    return ComfyInput(name, kind, default, **flags)


_SEED = {"default": 0, "seed_control": True}
_UPSCALE = ("nearest-exact", "bilinear", "area", "bicubic", "bislerp")

CORE_NODES: dict[str, ComfyNodeDef] = {
    definition.class_type: definition
    for definition in (
        ComfyNodeDef("CheckpointLoaderSimple", "Load Checkpoint",
                     (_in("ckpt_name", "COMBO"),),
                     (("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE"))),
        ComfyNodeDef("CLIPTextEncode", "CLIP Text Encode (Prompt)",
                     (_in("text", "STRING", ""), _in("clip", "CLIP")),
                     (("CONDITIONING", "CONDITIONING"),)),
        # comfy_extras/nodes_clip_sdxl.py
        ComfyNodeDef("CLIPTextEncodeSDXL", "CLIPTextEncodeSDXL",
                     (_in("clip", "CLIP"), _in("width", "INT", 1024), _in("height", "INT", 1024),
                      _in("crop_w", "INT", 0), _in("crop_h", "INT", 0),
                      _in("target_width", "INT", 1024), _in("target_height", "INT", 1024),
                      _in("text_g", "STRING", ""), _in("text_l", "STRING", "")),
                     (("CONDITIONING", "CONDITIONING"),)),
        ComfyNodeDef("CLIPTextEncodeSDXLRefiner", "CLIPTextEncodeSDXLRefiner",
                     (_in("ascore", "FLOAT", 6.0), _in("width", "INT", 1024),
                      _in("height", "INT", 1024), _in("text", "STRING", ""),
                      _in("clip", "CLIP")),
                     (("CONDITIONING", "CONDITIONING"),)),
        ComfyNodeDef("ConditioningZeroOut", "ConditioningZeroOut",
                     (_in("conditioning", "CONDITIONING"),),
                     (("CONDITIONING", "CONDITIONING"),)),
        ComfyNodeDef("ConditioningConcat", "Conditioning (Concat)",
                     (_in("conditioning_to", "CONDITIONING"),
                      _in("conditioning_from", "CONDITIONING")),
                     (("CONDITIONING", "CONDITIONING"),)),
        ComfyNodeDef("ConditioningAverage", "Conditioning (Average)",
                     (_in("conditioning_to", "CONDITIONING"),
                      _in("conditioning_from", "CONDITIONING"),
                      _in("conditioning_to_strength", "FLOAT", 1.0)),
                     (("CONDITIONING", "CONDITIONING"),)),
        ComfyNodeDef("CLIPSetLastLayer", "CLIP Set Last Layer",
                     (_in("clip", "CLIP"), _in("stop_at_clip_layer", "INT", -1)),
                     (("CLIP", "CLIP"),)),
        ComfyNodeDef("EmptyLatentImage", "Empty Latent Image",
                     (_in("width", "INT", 512), _in("height", "INT", 512),
                      _in("batch_size", "INT", 1)),
                     (("LATENT", "LATENT"),)),
        ComfyNodeDef("KSampler", "KSampler",
                     (_in("model", "MODEL"), _in("seed", "INT", **_SEED),
                      _in("steps", "INT", 20), _in("cfg", "FLOAT", 8.0),
                      _in("sampler_name", "COMBO", "euler"), _in("scheduler", "COMBO", "normal"),
                      _in("positive", "CONDITIONING"), _in("negative", "CONDITIONING"),
                      _in("latent_image", "LATENT"), _in("denoise", "FLOAT", 1.0)),
                     (("LATENT", "LATENT"),)),
        ComfyNodeDef("KSamplerAdvanced", "KSampler (Advanced)",
                     (_in("model", "MODEL"), _in("add_noise", "COMBO", "enable"),
                      _in("noise_seed", "INT", **_SEED), _in("steps", "INT", 20),
                      _in("cfg", "FLOAT", 8.0), _in("sampler_name", "COMBO", "euler"),
                      _in("scheduler", "COMBO", "normal"), _in("positive", "CONDITIONING"),
                      _in("negative", "CONDITIONING"), _in("latent_image", "LATENT"),
                      _in("start_at_step", "INT", 0), _in("end_at_step", "INT", 10000),
                      _in("return_with_leftover_noise", "COMBO", "disable")),
                     (("LATENT", "LATENT"),)),
        ComfyNodeDef("VAEDecode", "VAE Decode",
                     (_in("samples", "LATENT"), _in("vae", "VAE")), (("IMAGE", "IMAGE"),)),
        ComfyNodeDef("VAEEncode", "VAE Encode",
                     (_in("pixels", "IMAGE"), _in("vae", "VAE")), (("LATENT", "LATENT"),)),
        ComfyNodeDef("VAEEncodeForInpaint", "VAE Encode (for Inpainting)",
                     (_in("pixels", "IMAGE"), _in("vae", "VAE"), _in("mask", "MASK"),
                      _in("grow_mask_by", "INT", 6)),
                     (("LATENT", "LATENT"),)),
        ComfyNodeDef("VAELoader", "Load VAE", (_in("vae_name", "COMBO"),), (("VAE", "VAE"),)),
        ComfyNodeDef("LoraLoader", "Load LoRA",
                     (_in("model", "MODEL"), _in("clip", "CLIP"), _in("lora_name", "COMBO"),
                      _in("strength_model", "FLOAT", 1.0), _in("strength_clip", "FLOAT", 1.0)),
                     (("MODEL", "MODEL"), ("CLIP", "CLIP"))),
        ComfyNodeDef("ControlNetLoader", "Load ControlNet Model",
                     (_in("control_net_name", "COMBO"),), (("CONTROL_NET", "CONTROL_NET"),)),
        ComfyNodeDef("ControlNetApply", "Apply ControlNet (OLD)",
                     (_in("conditioning", "CONDITIONING"), _in("control_net", "CONTROL_NET"),
                      _in("image", "IMAGE"), _in("strength", "FLOAT", 1.0)),
                     (("CONDITIONING", "CONDITIONING"),)),
        ComfyNodeDef("ControlNetApplyAdvanced", "Apply ControlNet",
                     (_in("positive", "CONDITIONING"), _in("negative", "CONDITIONING"),
                      _in("control_net", "CONTROL_NET"), _in("image", "IMAGE"),
                      _in("strength", "FLOAT", 1.0), _in("start_percent", "FLOAT", 0.0),
                      _in("end_percent", "FLOAT", 1.0), _in("vae", "VAE", optional=True)),
                     (("positive", "CONDITIONING"), ("negative", "CONDITIONING"))),
        ComfyNodeDef("LoadImage", "Load Image", (_in("image", "COMBO"),),
                     (("IMAGE", "IMAGE"), ("MASK", "MASK")), trailing_widgets=1,
                     frontend_inputs=("upload",)),
        ComfyNodeDef("SaveImage", "Save Image",
                     (_in("images", "IMAGE"), _in("filename_prefix", "STRING", "ComfyUI"))),
        ComfyNodeDef("PreviewImage", "Preview Image", (_in("images", "IMAGE"),)),
        ComfyNodeDef("LatentUpscale", "Upscale Latent",
                     (_in("samples", "LATENT"), _in("upscale_method", "COMBO", _UPSCALE[0]),
                      _in("width", "INT", 512), _in("height", "INT", 512),
                      _in("crop", "COMBO", "disabled")),
                     (("LATENT", "LATENT"),)),
        ComfyNodeDef("LatentUpscaleBy", "Upscale Latent By",
                     (_in("samples", "LATENT"), _in("upscale_method", "COMBO", _UPSCALE[0]),
                      _in("scale_by", "FLOAT", 1.5)),
                     (("LATENT", "LATENT"),)),
        ComfyNodeDef("ImageScale", "Upscale Image",
                     (_in("image", "IMAGE"), _in("upscale_method", "COMBO", _UPSCALE[0]),
                      _in("width", "INT", 512), _in("height", "INT", 512),
                      _in("crop", "COMBO", "disabled")),
                     (("IMAGE", "IMAGE"),)),
        ComfyNodeDef("ImageScaleBy", "Upscale Image By",
                     (_in("image", "IMAGE"), _in("upscale_method", "COMBO", _UPSCALE[0]),
                      _in("scale_by", "FLOAT", 1.0)),
                     (("IMAGE", "IMAGE"),)),
        ComfyNodeDef("ImageInvert", "Invert Image", (_in("image", "IMAGE"),),
                     (("IMAGE", "IMAGE"),)),
        ComfyNodeDef("Canny", "Canny",
                     (_in("image", "IMAGE"), _in("low_threshold", "FLOAT", 0.4),
                      _in("high_threshold", "FLOAT", 0.8)),
                     (("IMAGE", "IMAGE"),)),
        ComfyNodeDef("SetLatentNoiseMask", "Set Latent Noise Mask",
                     (_in("samples", "LATENT"), _in("mask", "MASK")), (("LATENT", "LATENT"),)),
        ComfyNodeDef("GrowMask", "Grow Mask",
                     (_in("mask", "MASK"), _in("expand", "INT", 0),
                      _in("tapered_corners", "BOOLEAN", True)),
                     (("MASK", "MASK"),)),
        # Models kept as separate files (SD3, Flux …): nodes.py. The loaders' "device" widget
        # is an advanced, optional one of newer versions (older files have one value less).
        ComfyNodeDef("UNETLoader", "Load Diffusion Model",
                     (_in("unet_name", "COMBO"), _in("weight_dtype", "COMBO", "default")),
                     (("MODEL", "MODEL"),)),
        ComfyNodeDef("CLIPLoader", "Load CLIP",
                     (_in("clip_name", "COMBO"), _in("type", "COMBO", "stable_diffusion"),
                      _in("device", "COMBO", "default", optional=True)),
                     (("CLIP", "CLIP"),)),
        ComfyNodeDef("DualCLIPLoader", "DualCLIPLoader",
                     (_in("clip_name1", "COMBO"), _in("clip_name2", "COMBO"),
                      _in("type", "COMBO", "sdxl"),
                      _in("device", "COMBO", "default", optional=True)),
                     (("CLIP", "CLIP"),)),
        ComfyNodeDef("TripleCLIPLoader", "TripleCLIPLoader",
                     (_in("clip_name1", "COMBO"), _in("clip_name2", "COMBO"),
                      _in("clip_name3", "COMBO")),
                     (("CLIP", "CLIP"),)),
        # comfy_extras/nodes_sd3.py, nodes_flux.py, nodes_model_advanced.py
        ComfyNodeDef("EmptySD3LatentImage", "EmptySD3LatentImage",
                     (_in("width", "INT", 1024), _in("height", "INT", 1024),
                      _in("batch_size", "INT", 1)),
                     (("LATENT", "LATENT"),)),
        ComfyNodeDef("FluxGuidance", "FluxGuidance",
                     (_in("conditioning", "CONDITIONING"), _in("guidance", "FLOAT", 3.5)),
                     (("CONDITIONING", "CONDITIONING"),)),
        ComfyNodeDef("ModelSamplingSD3", "ModelSamplingSD3",
                     (_in("model", "MODEL"), _in("shift", "FLOAT", 3.0)),
                     (("MODEL", "MODEL"),)),
        ComfyNodeDef("ModelSamplingFlux", "ModelSamplingFlux",
                     (_in("model", "MODEL"), _in("max_shift", "FLOAT", 1.15),
                      _in("base_shift", "FLOAT", 0.5), _in("width", "INT", 1024),
                      _in("height", "INT", 1024)),
                     (("MODEL", "MODEL"),)),
        # comfy_extras/nodes_custom_sampler.py: sampling taken apart into its pieces.
        ComfyNodeDef("SamplerCustomAdvanced", "SamplerCustomAdvanced",
                     (_in("noise", "NOISE"), _in("guider", "GUIDER"), _in("sampler", "SAMPLER"),
                      _in("sigmas", "SIGMAS"), _in("latent_image", "LATENT")),
                     (("output", "LATENT"), ("denoised_output", "LATENT"))),
        ComfyNodeDef("SamplerCustom", "SamplerCustom",
                     (_in("model", "MODEL"), _in("add_noise", "BOOLEAN", True),
                      _in("noise_seed", "INT", **_SEED), _in("cfg", "FLOAT", 8.0),
                      _in("positive", "CONDITIONING"), _in("negative", "CONDITIONING"),
                      _in("sampler", "SAMPLER"), _in("sigmas", "SIGMAS"),
                      _in("latent_image", "LATENT")),
                     (("output", "LATENT"), ("denoised_output", "LATENT"))),
        ComfyNodeDef("RandomNoise", "RandomNoise", (_in("noise_seed", "INT", **_SEED),),
                     (("NOISE", "NOISE"),)),
        ComfyNodeDef("DisableNoise", "DisableNoise", (), (("NOISE", "NOISE"),)),
        ComfyNodeDef("BasicGuider", "BasicGuider",
                     (_in("model", "MODEL"), _in("conditioning", "CONDITIONING")),
                     (("GUIDER", "GUIDER"),)),
        ComfyNodeDef("CFGGuider", "CFGGuider",
                     (_in("model", "MODEL"), _in("positive", "CONDITIONING"),
                      _in("negative", "CONDITIONING"), _in("cfg", "FLOAT", 8.0)),
                     (("GUIDER", "GUIDER"),)),
        ComfyNodeDef("KSamplerSelect", "KSamplerSelect",
                     (_in("sampler_name", "COMBO", "euler"),), (("SAMPLER", "SAMPLER"),)),
        ComfyNodeDef("BasicScheduler", "BasicScheduler",
                     (_in("model", "MODEL"), _in("scheduler", "COMBO", "normal"),
                      _in("steps", "INT", 20), _in("denoise", "FLOAT", 1.0)),
                     (("SIGMAS", "SIGMAS"),)),
        # comfy_extras/nodes_primitive.py: real nodes that hold one value.
        ComfyNodeDef("PrimitiveInt", "Int", (_in("value", "INT", 0, seed_control=True),),
                     (("INT", "INT"),)),
        ComfyNodeDef("PrimitiveFloat", "Float", (_in("value", "FLOAT", 0.0),),
                     (("FLOAT", "FLOAT"),)),
        ComfyNodeDef("PrimitiveString", "String", (_in("value", "STRING", ""),),
                     (("STRING", "STRING"),)),
        ComfyNodeDef("PrimitiveStringMultiline", "String (Multiline)",
                     (_in("value", "STRING", ""),), (("STRING", "STRING"),)),
        ComfyNodeDef("PrimitiveBoolean", "Boolean", (_in("value", "BOOLEAN", False),),
                     (("BOOLEAN", "BOOLEAN"),)),
        # The frontend's notes: one text widget, no sockets; never part of a prompt.
        ComfyNodeDef("Note", "Note", (_in("text", "STRING", ""),)),
        ComfyNodeDef("MarkdownNote", "Markdown Note", (_in("text", "STRING", ""),)),
    )
}


def area_modules() -> tuple[Any, ...]:
    """The modules that keep an area's node definitions beside their mapping rules
    (``DEFINITIONS`` and ``rules()``): the one list of them, for this table and mapping's."""
    from nodestudio.interop.comfy import (
        adapters,
        audio_models,
        conditioning_areas,
        gligen,
        latent_tools,
        media,
        model_tools,
        unclip,
        upscale,
        video_conditioning,
        video_models,
    )

    return (conditioning_areas, latent_tools, model_tools, upscale, adapters, unclip, gligen,
            media, video_models, audio_models, video_conditioning)


def _merge_area_tables() -> None:
    """Areas import this module's types, so their definitions are merged in here, at the end."""
    for area in area_modules():
        for definition in area.DEFINITIONS:
            CORE_NODES.setdefault(definition.class_type, definition)


def node_def(class_type: str) -> ComfyNodeDef | None:
    return CORE_NODES.get(class_type)


def strip_annotation(name: str) -> str:
    """``"photo.png [input]"`` → ``"photo.png"``: ComfyUI may suffix file names with their
    folder type; the file is the same."""
    for suffix in (" [input]", " [output]", " [temp]"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


_merge_area_tables()
