"""Stable Video Diffusion (image → video): ``UNetSpatioTemporalConditionModel`` (EDM,
v-prediction, continuous timesteps) with ``AutoencoderKLTemporalDecoder`` and a CLIP vision
encoder, as ``StableVideoDiffusionPipeline`` runs it.

The image is the prompt: SVD_img2vid_Conditioning holds the CLIP image embedding (the
pipeline's ``_encode_image``: antialiased 224 × 224, CLIP normalisation) and the picture itself;
this family's denoiser encodes the picture with the VAE after adding the augmentation noise —
drawn, as the pipeline draws it, first from the Sampler's seeded generator, so
:meth:`SVD.initial_noise` skips that draw before drawing the latents in the pipeline's
[B, F, C, h, w] order. The latents stay [B, C, F, h, w] (one LATENT layout for every video
family) and are permuted around the UNet call; the image latents are concatenated on the
channel axis, the added time ids are (fps − 1, motion bucket, augmentation). The negative half
is zeros (embedding and image latents), and guidance rises linearly from the model's
``video_min_cfg`` (Video Linear CFG Guidance) on the first frame to cfg on the last.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nodestudio.api.errors import NodeError
from nodestudio.runtime.devices import compute_dtype, ensure_on, torch_device
from nodestudio.runtime.families.base import (
    DenoiseRequest,
    FamilyId,
    Geometry,
    LoadedParts,
    ModelFamily,
    NoGuidance,
    Prediction,
    PromptOptions,
    Scheduling,
)
from nodestudio.runtime.families.sd1 import SD_LATENT
from nodestudio.runtime.memory_manager import loaded_to
from nodestudio.runtime.types import Conditioning, DiffusionModel, TextEncoders, Vae

#: Conditioning.extra key of the SVD image conditioning.
KEY = "svd"


@dataclass(frozen=True)
class SvdImage:
    """What SVD_img2vid_Conditioning gives the sampler for one half of the guidance."""

    pixels: torch.Tensor  # [1, 3, H, W] in −1…1, at the video's size
    vae: Vae
    augmentation: float
    fps: int
    motion_bucket_id: int
    #: The negative half: zero embedding and zero image latents, as the pipeline's.
    zero: bool = False


@dataclass(frozen=True)
class FrameLinearGuidance:
    """Classifier-free guidance whose scale goes linearly over the frames (the pipeline's
    ``min_guidance_scale`` → ``max_guidance_scale``; ComfyUI's VideoLinearCFGGuidance)."""

    low: float
    high: float
    halves: int = 2

    def combine(self, prediction: torch.Tensor) -> torch.Tensor:
        uncond, cond = prediction.chunk(2)
        frames = prediction.shape[2]
        scale = torch.linspace(self.low, self.high, frames).to(prediction)
        return uncond + scale.view(1, 1, frames, 1, 1) * (cond - uncond)


@dataclass
class SvdDenoiser:
    unet: torch.nn.Module
    embeds: torch.Tensor  # [halves × B, 1, D]
    image_latents: torch.Tensor  # [halves × B, F, C, h, w]
    time_ids: torch.Tensor  # [halves × B, 3]

    def __call__(self, latents: torch.Tensor, timestep: torch.Tensor, step: int, total: int,
                 unscaled: torch.Tensor) -> torch.Tensor:
        FAMILY.check_video(latents)
        frames_first = latents.permute(0, 2, 1, 3, 4)
        model_input = torch.cat([frames_first, self.image_latents], dim=2)
        prediction = self.unet(model_input, timestep, encoder_hidden_states=self.embeds,
                               added_time_ids=self.time_ids, return_dict=False)[0]
        return prediction.permute(0, 2, 1, 3, 4)


def _image_of(conditioning: Conditioning, name: str) -> SvdImage:
    image = conditioning.extra.get(KEY)
    if image is None:
        raise NodeError(f"the {name} input of a Stable Video Diffusion model must come from "
                        "SVD_img2vid_Conditioning (SVD takes an image, not a text prompt)")
    return image


class SVD(ModelFamily):
    id = FamilyId.SVD
    label = "Stable Video Diffusion"
    prediction = Prediction.V
    scheduling = Scheduling.DISCRETE
    latent = SD_LATENT
    video = True

    def matches_pipeline(self, model_index: Mapping[str, Any]) -> bool:
        return (model_index.get("unet") or [None, None])[1] == "UNetSpatioTemporalConditionModel"

    def check_video(self, samples: torch.Tensor) -> None:
        if samples.ndim != 5:
            raise NodeError("Stable Video Diffusion makes videos: take the latent from "
                            "SVD_img2vid_Conditioning, not an image latent")

    def encode_prompt(self, clip: TextEncoders, text: str, options: PromptOptions) -> Conditioning:
        raise NodeError("Stable Video Diffusion has no text encoder: condition it with "
                        "SVD_img2vid_Conditioning")

    def check_conditioning(self, model: DiffusionModel, conditioning: Conditioning,
                           name: str) -> None:
        _image_of(conditioning, name)

    def guidance(self, model: DiffusionModel, cfg: float) -> Any:
        if cfg <= 1.0:
            return NoGuidance()
        low = model.video_min_cfg
        return FrameLinearGuidance(cfg if low is None else low, cfg)

    def initial_noise(self, shape: tuple[int, ...], generator: torch.Generator,
                      device: torch.device, dtype: torch.dtype,
                      geometry: Geometry) -> torch.Tensor:
        from diffusers.utils.torch_utils import randn_tensor

        # The pipeline's first draw is the augmentation noise (the denoiser redraws it).
        randn_tensor((1, 3, geometry.height, geometry.width), generator=generator,
                     device=device, dtype=torch.float32)
        batch, channels, frames, rows, columns = shape
        noise = randn_tensor((batch, frames, channels, rows, columns), generator=generator,
                             device=device, dtype=dtype)
        return noise.permute(0, 2, 1, 3, 4)

    @torch.inference_mode()
    def denoiser(self, request: DenoiseRequest) -> SvdDenoiser:
        from diffusers.utils.torch_utils import randn_tensor

        device, dtype, geometry = request.device, request.dtype, request.geometry
        unet = ensure_on(request.model.denoiser, device)
        halves = [request.positive] if request.negative is None else [request.negative,
                                                                       request.positive]
        positive = _image_of(request.positive, "positive")
        pixels = positive.pixels.to(device)
        if tuple(pixels.shape[-2:]) != (geometry.height, geometry.width):
            raise NodeError("the latent and SVD_img2vid_Conditioning's image differ in size: "
                            "use the latent SVD_img2vid_Conditioning gives")
        generator = torch.Generator("cpu").manual_seed(request.seed)
        noise = randn_tensor(pixels.shape, generator=generator, device=device,
                             dtype=pixels.dtype)
        vae = ensure_on(positive.vae.model, device)
        vae_dtype = next(vae.parameters()).dtype
        encoded = vae.encode((pixels + positive.augmentation * noise).to(vae_dtype))
        latents = encoded.latent_dist.mode().to(dtype)
        batch, frames = geometry.batch, geometry.frames
        image_latents, embeds = [], []
        for name, half in zip(("negative", "positive")[-len(halves):], halves, strict=True):
            image = _image_of(half, name)
            own = torch.zeros_like(latents) if image.zero else latents
            image_latents.append(own.unsqueeze(1).repeat(batch, frames, 1, 1, 1))
            embeds.append(half.embeds.to(device, dtype).repeat(batch, 1, 1))
        ids = [positive.fps - 1, positive.motion_bucket_id, positive.augmentation]
        expected = unet.add_embedding.linear_1.in_features
        if unet.config.addition_time_embed_dim * len(ids) != expected:
            raise NodeError("this SVD UNet expects other added time ids: its folder's config "
                            "does not match the released models")
        time_ids = torch.tensor([ids], dtype=dtype, device=device).repeat(
            batch * len(halves), 1)
        return SvdDenoiser(unet, torch.cat(embeds), torch.cat(image_latents), time_ids)

    def lora_state_dict(self, weights: dict[str, torch.Tensor]) -> tuple[dict, dict | None]:
        raise NodeError("LoRAs for Stable Video Diffusion are not supported yet: remove the "
                        "Load LoRA node")

    def load_folder(self, path: Path, index: Mapping[str, Any], device: torch.device,
                    progress: Callable[[], None]) -> LoadedParts:
        model, _, vae = load_svd_folder(path, device, progress)
        # Load Checkpoint's CLIP output needs a value: an empty one of this family, so Text
        # Encode says that SVD takes an image (encode_prompt), not that a value is missing.
        return LoadedParts(model, TextEncoders((), self, model.device, str(path)), vae)


def load_svd_folder(path: Path, device: torch.device,
                    progress: Callable[[], None] = lambda: None) -> tuple[Any, Any, Vae]:
    """(MODEL, CLIP_VISION, VAE) of a StableVideoDiffusionPipeline folder."""
    from diffusers import AutoencoderKLTemporalDecoder, UNetSpatioTemporalConditionModel
    from transformers import CLIPVisionModelWithProjection

    from nodestudio.runtime.checkpoints import variant_of
    from nodestudio.runtime.clip_vision import ClipVision
    from nodestudio.runtime.model_configs import read_json

    for component in ("unet", "vae", "image_encoder", "scheduler"):
        if not (path / component).is_dir():
            raise NodeError(f"{path.name} lacks its {component} folder: copy the whole diffusers "
                            f"Stable Video Diffusion folder into {path.parent}")
    device = torch_device(device)
    dtype = compute_dtype(device)

    def load(component: str, cls: Any) -> Any:
        loaded = cls.from_pretrained(path, subfolder=component, torch_dtype=dtype,
                                     local_files_only=True, variant=variant_of(path / component))
        progress()
        return loaded_to(loaded, device)

    unet = load("unet", UNetSpatioTemporalConditionModel)
    vae = Vae(load("vae", AutoencoderKLTemporalDecoder), device, str(path))
    encoder = ClipVision(load("image_encoder", CLIPVisionModelWithProjection), device, str(path))
    model = DiffusionModel(
        denoiser=unet, scheduler_config=read_json(path / "scheduler" / "scheduler_config.json"),
        family=FAMILY, latent_channels=vae.latent_channels, vae_scale_factor=vae.scale_factor,
        device=device, source=str(path), latent_format=FAMILY.latent.name,
    )
    return model, encoder, vae


def clip_embedding(clip_vision: Any, image: torch.Tensor) -> torch.Tensor:
    """[1, 1, D]: the pipeline's ``_encode_image`` of a [1, 3, H, W] 0–1 picture."""
    from diffusers.pipelines.stable_video_diffusion.pipeline_stable_video_diffusion import (
        _resize_with_antialiasing,
    )
    from transformers import CLIPImageProcessor

    model = ensure_on(clip_vision.model, clip_vision.device)
    resized = (_resize_with_antialiasing(image * 2.0 - 1.0, (224, 224)) + 1.0) / 2.0
    pixels = CLIPImageProcessor()(images=resized, do_normalize=True, do_center_crop=False,
                                  do_resize=False, do_rescale=False,
                                  return_tensors="pt").pixel_values
    pixels = pixels.to(clip_vision.device, next(model.parameters()).dtype)
    return model(pixels).image_embeds.unsqueeze(1)


FAMILY = SVD()
