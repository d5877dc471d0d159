"""unCLIP image prompts at sampling time: SD 2.1 unCLIP's class labels, SDXL's "revision".

unCLIP Conditioning appends an :class:`ImagePrompt` (a CLIP vision output, a strength, a noise
augmentation) to a prompt. What a model makes of it is ComfyUI's (``comfy/model_base.py``):

- **SD 2.1 unCLIP** (a UNet with ``class_embed_type="projection"``): each image embedding is
  noise-augmented as diffusers' ``StableUnCLIPImg2ImgPipeline.noise_image_embeddings`` does
  (normalised by a ``StableUnCLIPImageNormalizer``, noised by a cosine-schedule
  ``DDPMScheduler`` at level ``round(999 × noise_augmentation)``, un-normalised, followed by
  the sinusoidal embedding of that level) and multiplied by its strength; several are summed
  and, as ComfyUI's ``unclip_adm`` does, augmented once more at level ``round(999 × 0.05)``.
  The sum is the UNet's ``class_labels``. A prompt without images (the usual negative) gives
  zeros, as ComfyUI's ``SD21UNCLIP.encode_adm``.
- **SDXL** (``addition_embed_type="text_time"``): the same sum (merged at level 0), cut to the
  embedding's width, replaces the prompt's pooled text embedding (ComfyUI's
  ``sdxl_pooled``) — the image stands in for the prompt's summary.

The augmentation noise is drawn on the CPU from a generator seeded with the sampler's seed − 10,
as ComfyUI seeds it; the second augmentation of a merge (unseeded in ComfyUI) uses the same
seed, so a seed always gives the same image.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from nodestudio.api.errors import NodeError
from nodestudio.runtime.clip_vision import ClipVisionOutput

if TYPE_CHECKING:
    from nodestudio.runtime.families.base import DenoiseRequest
    from nodestudio.runtime.types import Conditioning

#: Noise levels of the augmentation schedule (the released unCLIP models' and ComfyUI's).
MAX_NOISE_LEVEL = 1000
#: ComfyUI's ``unclip_noise_augment_merge`` default for SD 2.1 unCLIP (SDXL merges at 0).
MERGE_AUGMENTATION = 0.05
#: ComfyUI seeds the augmentation with the sampler's seed minus this.
SEED_OFFSET = 10
_UNET_LABEL_KEY = "model.diffusion_model.label_emb.0.0.weight"


@dataclass(frozen=True, eq=False)
class ImagePrompt:
    """One unCLIP Conditioning: an encoded image, how strongly it counts, how much noise
    hides its details (0 = all of them, 1 = only the gist)."""

    output: ClipVisionOutput
    strength: float
    noise_augmentation: float


def noise_level(noise_augmentation: float) -> int:
    """ComfyUI's level for an augmentation fraction: ``round((max_noise_level - 1) × f)``."""
    return round((MAX_NOISE_LEVEL - 1) * noise_augmentation)


def augment(embeds: torch.Tensor, level: int, seed: int) -> torch.Tensor:
    """[1, D] image embedding → [1, 2D]: the embedding noised to ``level`` and the level's
    sinusoidal embedding (diffusers' ``noise_image_embeddings``)."""
    from diffusers import DDPMScheduler
    from diffusers.models.embeddings import get_timestep_embedding
    from diffusers.pipelines.stable_diffusion.stable_unclip_image_normalizer import (
        StableUnCLIPImageNormalizer,
    )

    embeds = embeds.float().cpu()
    width = embeds.shape[-1]
    # Released unCLIP checkpoints carry no embedding statistics (the original code keeps them
    # out of the state dict), so the normaliser is the identity the conversions build.
    normalizer = StableUnCLIPImageNormalizer(embedding_dim=width)
    scheduler = DDPMScheduler(num_train_timesteps=MAX_NOISE_LEVEL,
                              beta_schedule="squaredcos_cap_v2")
    generator = torch.Generator("cpu").manual_seed(seed)
    noise = torch.randn(embeds.shape, generator=generator, dtype=torch.float32)
    levels = torch.tensor([level] * embeds.shape[0])
    with torch.no_grad():
        noised = normalizer.unscale(scheduler.add_noise(normalizer.scale(embeds), noise, levels))
    level_embedding = get_timestep_embedding(levels, width, flip_sin_to_cos=True,
                                             downscale_freq_shift=0)
    return torch.cat([noised, level_embedding.to(noised.dtype)], dim=1)


def adm_embedding(prompts: Sequence[ImagePrompt], merge_augmentation: float,
                  seed: int) -> torch.Tensor:
    """ComfyUI's ``unclip_adm``: every image of every prompt augmented and weighted, summed;
    a sum of several augmented once more at ``merge_augmentation``. [1, 2D]."""
    parts = [
        augment(embeds[None], noise_level(prompt.noise_augmentation), seed) * prompt.strength
        for prompt in prompts for embeds in prompt.output.image_embeds
    ]
    if len(parts) == 1:
        return parts[0]
    total = torch.stack(parts).sum(0)
    width = total.shape[-1] // 2
    return augment(total[:, :width], noise_level(merge_augmentation), seed)


def _prompts(conditioning: Conditioning | None) -> tuple[ImagePrompt, ...]:
    return () if conditioning is None else tuple(conditioning.image_prompts)


def class_labels(request: DenoiseRequest) -> dict[str, torch.Tensor]:
    """``{"class_labels": …}`` for an unCLIP UNet (batch-doubled with CFG, negative first);
    nothing for other UNets — which must then have no image prompt to ignore."""
    unet = request.model.denoiser
    positive, negative = _prompts(request.positive), _prompts(request.negative)
    if unet.config.class_embed_type != "projection":
        if (positive or negative) and unet.config.addition_embed_type != "text_time":
            raise NodeError(
                f"this {request.model.family.label} model cannot use image prompts (unCLIP "
                "Conditioning): use an SD 2.1 unCLIP checkpoint or an SDXL model")
        return {}
    expected = unet.class_embedding.linear_1.in_features
    batch = request.geometry.batch

    def labels(prompts: tuple[ImagePrompt, ...]) -> torch.Tensor:
        if not prompts:
            return torch.zeros(1, expected)
        widths = {int(p.output.image_embeds.shape[-1]) for p in prompts}
        if widths != {expected // 2}:
            raise NodeError(
                f"the image prompt was encoded by a CLIP vision model {max(widths)} wide; "
                f"this unCLIP model expects {expected // 2}: use the CLIP vision model of its "
                "checkpoint (unCLIP Checkpoint Loader)")
        return adm_embedding(prompts, MERGE_AUGMENTATION, request.seed - SEED_OFFSET)

    values = labels(positive).repeat(batch, 1)
    if request.negative is not None:
        values = torch.cat([labels(negative).repeat(batch, 1), values])
    return {"class_labels": values.to(device=request.device, dtype=request.dtype)}


def _revised(conditioning: Conditioning | None, width: int, seed: int) -> Conditioning | None:
    prompts = _prompts(conditioning)
    if conditioning is None or not prompts:
        return conditioning
    widths = {int(p.output.image_embeds.shape[-1]) for p in prompts}
    if widths != {width}:
        raise NodeError(
            f"the image prompt was encoded by a CLIP vision model {max(widths)} wide; this "
            f"SDXL model's pooled prompt is {width} wide: use the CLIP vision model it was "
            "made with (ViT-bigG for SDXL revision)")
    pooled = adm_embedding(prompts, 0.0, seed)[:, :width]
    if conditioning.pooled is not None:
        pooled = pooled.to(conditioning.pooled.dtype)
    return replace(conditioning, pooled=pooled)


def with_revision(request: DenoiseRequest) -> DenoiseRequest:
    """SDXL "revision": prompts with image prompts get their pooled embedding replaced by the
    images' (see the module docstring); other models' requests are returned as they are."""
    unet = request.model.denoiser
    if unet.config.addition_embed_type != "text_time":
        return request
    if not (_prompts(request.positive) or _prompts(request.negative)):
        return request
    width = int(unet.config.projection_class_embeddings_input_dim
                - unet.config.addition_time_embed_dim * _time_id_count(request))
    seed = request.seed - SEED_OFFSET
    return replace(request, positive=_revised(request.positive, width, seed),
                   negative=_revised(request.negative, width, seed))


def _time_id_count(request: DenoiseRequest) -> int:
    family, positive = request.model.family, request.positive
    geometry = request.geometry
    return len(family.time_ids(positive, positive, geometry.height, geometry.width))


# -- unCLIP checkpoints -------------------------------------------------------------------------


def unet_overrides(shapes: Mapping[str, tuple[int, ...]],
                   unet_config: Mapping[str, Any]) -> dict[str, Any]:
    """Config changes that turn an SD 2.x UNet config into the unCLIP variant a single file
    holds (its ``label_emb`` takes the augmented image embedding), else nothing."""
    label = shapes.get(_UNET_LABEL_KEY)
    if label is None or unet_config.get("addition_embed_type") or unet_config.get(
            "class_embed_type") == "projection":
        return {}
    return {"class_embed_type": "projection", "projection_class_embeddings_input_dim": label[1]}


def load_checkpoint_clip_vision(path: Path, device: str | torch.device) -> Any:
    """The image encoder of an unCLIP checkpoint (``embedder.model.visual.*``)."""
    from nodestudio.runtime.clip_vision import ClipVisionError, load_clip_vision

    try:
        return load_clip_vision(path, device)
    except ClipVisionError:
        raise NodeError(
            f"{path.name} has no CLIP vision encoder (embedder.model.visual.*): it is not an "
            "unCLIP checkpoint; load it with Load Checkpoint") from None
