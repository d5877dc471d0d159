"""ComfyUI's latent tools nodes: their definitions (inputs in order) and their mapping rules.

Outpainting, latent compositing and batches, and the mask tools of shared workflows
(``nodes.py``, ``comfy_extras/nodes_mask.py``, ``comfy_extras/nodes_post_processing.py``):
each maps one to one onto a NodeStudio node that computes what ComfyUI's does, and is written
back as it came.
"""

from __future__ import annotations

from nodestudio.interop.comfy.catalog import ComfyInput, ComfyNodeDef
from nodestudio.interop.comfy.names import IMAGE_RESIZE_METHODS
from nodestudio.interop.comfy.rules import Direct, Names, Rule

_in = ComfyInput
_RESIZE = ("nearest-exact", "bilinear", "area", "bicubic", "lanczos")

#: ComfyUI's node definitions for this area, merged into catalog.CORE_NODES.
DEFINITIONS: tuple[ComfyNodeDef, ...] = (
    ComfyNodeDef("ImagePadForOutpaint", "Pad Image for Outpainting",
                 (_in("image", "IMAGE"), _in("left", "INT", 0), _in("top", "INT", 0),
                  _in("right", "INT", 0), _in("bottom", "INT", 0),
                  _in("feathering", "INT", 40)),
                 (("IMAGE", "IMAGE"), ("MASK", "MASK"))),
    ComfyNodeDef("LatentComposite", "Latent Composite",
                 (_in("samples_to", "LATENT"), _in("samples_from", "LATENT"),
                  _in("x", "INT", 0), _in("y", "INT", 0), _in("feather", "INT", 0)),
                 (("LATENT", "LATENT"),)),
    ComfyNodeDef("LatentCompositeMasked", "LatentCompositeMasked",
                 (_in("destination", "LATENT"), _in("source", "LATENT"), _in("x", "INT", 0),
                  _in("y", "INT", 0), _in("resize_source", "BOOLEAN", False),
                  _in("mask", "MASK", optional=True)),
                 (("LATENT", "LATENT"),)),
    ComfyNodeDef("RepeatLatentBatch", "Repeat Latent Batch",
                 (_in("samples", "LATENT"), _in("amount", "INT", 1)),
                 (("LATENT", "LATENT"),)),
    ComfyNodeDef("LatentFromBatch", "Latent From Batch",
                 (_in("samples", "LATENT"), _in("batch_index", "INT", 0),
                  _in("length", "INT", 1)),
                 (("LATENT", "LATENT"),)),
    # Newer versions add resolution_steps (older files have one value less).
    ComfyNodeDef("ImageScaleToTotalPixels", "ImageScaleToTotalPixels",
                 (_in("image", "IMAGE"), _in("upscale_method", "COMBO", _RESIZE[0]),
                  _in("megapixels", "FLOAT", 1.0),
                  _in("resolution_steps", "INT", 1, optional=True)),
                 (("IMAGE", "IMAGE"),)),
    # The frontend appends an upload button's value after the widgets, as for LoadImage.
    ComfyNodeDef("LoadImageMask", "Load Image (as Mask)",
                 (_in("image", "COMBO"), _in("channel", "COMBO", "alpha")),
                 (("MASK", "MASK"),), trailing_widgets=1),
    ComfyNodeDef("ImageToMask", "Convert Image to Mask",
                 (_in("image", "IMAGE"), _in("channel", "COMBO", "red")),
                 (("MASK", "MASK"),)),
    ComfyNodeDef("MaskToImage", "Convert Mask to Image", (_in("mask", "MASK"),),
                 (("IMAGE", "IMAGE"),)),
    ComfyNodeDef("SolidMask", "SolidMask",
                 (_in("value", "FLOAT", 1.0), _in("width", "INT", 512),
                  _in("height", "INT", 512)),
                 (("MASK", "MASK"),)),
)

#: ImageToMask ``channel`` -> image.to_mask ``channel``. ComfyUI's images have no alpha
#: channel either (its "alpha" fails on them); NodeStudio's "luminance" has no ComfyUI twin.
IMAGE_CHANNELS = Names("image channel", exact={name: name for name in ("red", "green", "blue")})


def rules() -> list[Rule]:
    # mapping imports this module; by the time the rule table is built it is loaded.
    from nodestudio.interop.comfy.mapping import FileName

    return [
        Direct("ImagePadForOutpaint", "image.pad_for_outpaint",
               {name: name for name in ("image", "left", "top", "right", "bottom",
                                        "feathering")}, ("image", "mask")),
        Direct("LatentComposite", "diffusion.latent_composite",
               {"samples_to": "destination", "samples_from": "source", "x": "x", "y": "y",
                "feather": "feather"}, ("latent",)),
        Direct("LatentCompositeMasked", "diffusion.latent_composite_masked",
               {name: name for name in ("destination", "source", "x", "y", "resize_source",
                                        "mask")}, ("latent",)),
        Direct("RepeatLatentBatch", "diffusion.latent_repeat_batch",
               {"samples": "latent", "amount": "amount"}, ("latent",)),
        Direct("LatentFromBatch", "diffusion.latent_from_batch",
               {"samples": "latent", "batch_index": "batch_index", "length": "length"},
               ("latent",)),
        Direct("ImageScaleToTotalPixels", "image.scale_to_total_pixels",
               {"image": "image", "upscale_method": "method", "megapixels": "megapixels",
                "resolution_steps": "resolution_steps"}, ("image",),
               convert={"upscale_method": IMAGE_RESIZE_METHODS}),
        Direct("LoadImageMask", "mask.load", {"image": "image", "channel": "channel"},
               ("mask",), convert={"image": FileName()}),
        Direct("ImageToMask", "image.to_mask", {"image": "image", "channel": "channel"},
               ("mask",), convert={"channel": IMAGE_CHANNELS}),
        Direct("MaskToImage", "mask.to_image", {"mask": "mask"}, ("image",)),
        Direct("SolidMask", "mask.solid", {"value": "value", "width": "width",
                                           "height": "height"}, ("mask",)),
    ]
