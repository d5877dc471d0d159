"""Model families, one module each; this package is their registry.

:data:`FAMILIES` lists them in detection order (the first that recognises a file wins). To add
a family, write its module (a :class:`~nodestudio.runtime.families.base.ModelFamily`) and list
it here; nothing else branches on a family.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nodestudio.runtime.families import (
    flux,
    ltx,
    sd1,
    sd2,
    sd3,
    sdxl,
    sdxl_refiner,
    stable_audio,
    svd,
    wan,
)
from nodestudio.runtime.families.base import FamilyId, LatentFormat, ModelFamily
from nodestudio.runtime.families.shapes_latent import SHAPES_LATENT

SD1 = sd1.FAMILY
SD2 = sd2.FAMILY
SDXL = sdxl.FAMILY
SDXL_REFINER = sdxl_refiner.FAMILY
SD3 = sd3.FAMILY
FLUX = flux.FAMILY
WAN = wan.FAMILY
LTXV = ltx.FAMILY
STABLE_AUDIO = stable_audio.FAMILY
SVD = svd.FAMILY

# SVD before the UNet families: their loader takes any folder with a unet.
FAMILIES: tuple[ModelFamily, ...] = (FLUX, SD3, SVD, SDXL_REFINER, SDXL, SD2, SD1, WAN, LTXV,
                                     STABLE_AUDIO)


def by_id(family_id: str | FamilyId) -> ModelFamily:
    wanted = FamilyId(family_id)
    return next(family for family in FAMILIES if family.id is wanted)


def for_pipeline(model_index: Mapping[str, Any]) -> ModelFamily | None:
    """The family of a diffusers folder, from its ``model_index.json``."""
    return next((f for f in FAMILIES if f.matches_pipeline(model_index)), None)


def for_unet(unet_config: Any, encoder_count: int) -> ModelFamily:
    """The UNet family (SD1, SD2, SDXL) of a UNet's or UNet ControlNet's config."""
    from nodestudio.runtime.families.unet import UNetFamily

    return next(f for f in FAMILIES if isinstance(f, UNetFamily)
                and f.matches_unet(unet_config, encoder_count))


def for_checkpoint(shapes: Mapping[str, tuple[int, ...]]) -> ModelFamily | None:
    """The transformer family of an all-in-one single file (UNet files: see ``detection``)."""
    return next((f for f in FAMILIES if f.detect_checkpoint(shapes)), None)


def for_diffusion_model(shapes: Mapping[str, tuple[int, ...]]) -> ModelFamily | None:
    """The family of a diffusion-model-only file."""
    return next((f for f in FAMILIES if f.detect_diffusion_model(shapes)), None)


def latent_formats() -> dict[str, LatentFormat]:
    """Every family's latent format by name, and the embedded demo model's own."""
    formats = {family.latent.name: family.latent for family in FAMILIES}
    formats[SHAPES_LATENT.name] = SHAPES_LATENT
    return formats
