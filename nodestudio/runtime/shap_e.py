"""Shap-E text → 3D: the prior's latents as ``ShapEPipeline`` makes them, and a mesh from them.

Shap-E is not an image-latent family (no VAE, no Sampler schedule of its own to share), so it
is one module here rather than one in ``families``. The prior (a ``PriorTransformer``) denoises
``[B, tokens, width]`` latents under the CLIP text embedding with Heun, as the pipeline does.

The mesh goes the way ``ShapERenderer.decode_to_mesh`` goes up to its marching cubes: the latent
is projected into the weights of the renderer's MLP, the MLP's signed distance is queried on a
regular grid over the renderer's volume, the grid gets a −1 border (closing every surface), and
the vertices' colours are the MLP's texture channels there. The marching cubes themselves are
scikit-image's: a renderer built from its config has empty marching-cubes tables (the released
one loads them with its weights), and scikit-image's are the same algorithm.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nodestudio.api.errors import NodeError
from nodestudio.runtime import devices
from nodestudio.runtime.devices import ensure_on
from nodestudio.runtime.memory_manager import loaded_to

#: The components a Shap-E text-to-3D folder (openai/shap-e) holds.
COMPONENTS = ("prior", "text_encoder", "shap_e_renderer", "scheduler")


@dataclass(frozen=True, eq=False)
class ShapEModel:
    """A loaded Shap-E folder (the MODEL output of Load Shap-E)."""

    prior: torch.nn.Module
    text_encoder: torch.nn.Module
    tokenizer: Any
    renderer: torch.nn.Module
    scheduler_config: dict[str, Any]
    device: torch.device
    source: str = ""

    @property
    def family(self) -> Any:
        return SHAP_E_MODEL_FAMILY

    def offload_to_cpu(self) -> None:
        for module in (self.prior, self.text_encoder, self.renderer):
            devices.offload_to_cpu(module)

    on_cache_evict = offload_to_cpu


class _ShapEFamily:
    """What the Sampler and the image nodes find as a Shap-E model's family: a clear refusal."""

    label = "Shap-E"

    def sample(self, *args: Any, **kwargs: Any) -> Any:
        raise NodeError("a Shap-E model is sampled with Shap-E Text to Latent, not the Sampler")

    def __getattr__(self, name: str) -> Any:
        raise NodeError("a Shap-E model only works with the Shap-E nodes (Shap-E Text to "
                        "Latent, Shap-E Latent to Mesh)")


SHAP_E_MODEL_FAMILY = _ShapEFamily()


def load_shap_e(path: Path, device: torch.device | str,
                progress: Callable[[], None] | None = None) -> ShapEModel:
    """Load a ShapEPipeline folder; a missing part is one sentence naming the folder."""
    from diffusers import PriorTransformer
    from diffusers.pipelines.shap_e import ShapERenderer
    from transformers import CLIPTextModelWithProjection, CLIPTokenizer

    from nodestudio.runtime.model_configs import read_json
    from nodestudio.runtime.tokenizers import clip_tokenizer

    device = torch.device(device)
    index_file = path / "model_index.json"
    if not index_file.is_file():
        raise NodeError(f"{path} is not a Shap-E folder (no model_index.json): put the "
                        "openai/shap-e diffusers folder in models/checkpoints")
    if read_json(index_file).get("_class_name") != "ShapEPipeline":
        raise NodeError(f"{path.name} is not a Shap-E text-to-3D model: load it with Load "
                        "Checkpoint, and pick a ShapEPipeline folder here")
    for component in COMPONENTS:
        if not (path / component).is_dir():
            raise NodeError(f"{path.name} lacks its {component} folder: put the {component} "
                            f"folder of openai/shap-e in {path}")
    prior = PriorTransformer.from_pretrained(path, subfolder="prior", local_files_only=True)
    text_encoder = CLIPTextModelWithProjection.from_pretrained(
        path, subfolder="text_encoder", local_files_only=True)
    renderer = ShapERenderer.from_pretrained(path, subfolder="shap_e_renderer",
                                             local_files_only=True)
    # Its tokenizer is CLIP's, which NodeStudio builds offline when the folder has none.
    tokenizer_folder = path / "tokenizer"
    tokenizer = (CLIPTokenizer.from_pretrained(tokenizer_folder, local_files_only=True)
                 if tokenizer_folder.is_dir() else clip_tokenizer())
    if progress is not None:
        progress()
    return ShapEModel(loaded_to(prior, device), loaded_to(text_encoder, device), tokenizer,
                      loaded_to(renderer, device),
                      dict(read_json(path / "scheduler" / "scheduler_config.json")), device,
                      str(path))


@torch.inference_mode()
def encode_prompt(model: ShapEModel, prompt: str, batch: int, guided: bool) -> torch.Tensor:
    """``ShapEPipeline._encode_prompt``: the normalised projected CLIP embedding × √width,
    zeros for the unconditional half."""
    tokenizer = model.tokenizer
    tokens = tokenizer(prompt, padding="max_length", max_length=tokenizer.model_max_length,
                       truncation=True, return_tensors="pt")
    # The pipeline sets its tokenizer's pad id to 0: the padding is id 0 whatever the pad
    # token (done on the ids, so the cached tokenizer is not changed).
    ids = torch.where(tokens.attention_mask.bool(), tokens.input_ids, 0)
    encoder = ensure_on(model.text_encoder, model.device)
    embeds = encoder(ids.to(model.device)).text_embeds
    embeds = embeds.repeat_interleave(batch, dim=0)
    embeds = embeds / torch.linalg.norm(embeds, dim=-1, keepdim=True)
    if guided:
        embeds = torch.cat([torch.zeros_like(embeds), embeds])
    return math.sqrt(embeds.shape[1]) * embeds


@torch.inference_mode()
def sample_latents(model: ShapEModel, prompt: str, steps: int, guidance: float, seed: int,
                   batch: int = 1, on_step: Callable[[int, int], None] | None = None,
                   check_cancelled: Callable[[], None] | None = None) -> torch.Tensor:
    """``ShapEPipeline(prompt, output_type="latent")``'s latents: [batch, tokens, width]."""
    from diffusers import HeunDiscreteScheduler
    from diffusers.utils.torch_utils import randn_tensor

    guided = guidance > 1.0
    embeds = encode_prompt(model, prompt, batch, guided)
    prior = ensure_on(model.prior, model.device)
    scheduler = HeunDiscreteScheduler.from_config(model.scheduler_config)
    scheduler.set_timesteps(steps, device=model.device)
    tokens, width = prior.config.num_embeddings, prior.config.embedding_dim
    generator = torch.Generator("cpu").manual_seed(seed)
    latents = randn_tensor((batch, tokens * width), generator=generator, device=model.device,
                           dtype=embeds.dtype) * scheduler.init_noise_sigma
    latents = latents.reshape(batch, tokens, width)
    timesteps = scheduler.timesteps
    for i, t in enumerate(timesteps):
        if check_cancelled is not None:
            check_cancelled()
        model_input = torch.cat([latents] * 2) if guided else latents
        scaled = scheduler.scale_model_input(model_input, t)
        prediction = prior(scaled, timestep=t, proj_embedding=embeds).predicted_image_embedding
        prediction, _ = prediction.split(scaled.shape[2], dim=2)  # drop the variance
        if guided:
            uncond, cond = prediction.chunk(2)
            prediction = uncond + guidance * (cond - uncond)
        latents = scheduler.step(prediction, timestep=t, sample=latents).prev_sample
        if on_step is not None:
            on_step(i + 1, len(timesteps))
    return latents


def _field_mlp(renderer: torch.nn.Module, latent: torch.Tensor) -> torch.nn.Module:
    """A copy of the renderer's MLP with the latent's projected weights (decode_to_mesh's
    steps 1–2, on a copy so the cached renderer is never changed)."""
    projected = renderer.params_proj(latent[None])
    mlp = copy.deepcopy(renderer.mlp)
    for name, param in mlp.state_dict().items():
        key = f"nerstf.{name}"
        if key in projected:
            param.copy_(projected[key].squeeze(0))
    return mlp


def _query(mlp: torch.nn.Module, points: torch.Tensor, chunk: int) -> tuple[torch.Tensor,
                                                                             torch.Tensor]:
    """(signed distance [N], texture channels [N, 3]) of the MLP at ``points`` [N, 3]."""
    distances, colours = [], []
    for start in range(0, points.shape[0], chunk):
        out = mlp(position=points[None, start:start + chunk], direction=None, ts=None,
                  nerf_level="fine", rendering_mode="stf")
        distances.append(out.signed_distance[0, :, 0])
        colours.append(out.channels[0])
    return torch.cat(distances).float(), torch.cat(colours).float()


@torch.inference_mode()
def sdf_grid(renderer: torch.nn.Module, latent: torch.Tensor, grid_size: int,
             chunk: int = 4096) -> torch.Tensor:
    """The signed distance field decode_to_mesh builds: [G + 2]³ with a −1 border."""
    from diffusers.pipelines.shap_e.renderer import volume_query_points

    mlp = _field_mlp(renderer, latent)
    points = volume_query_points(renderer.volume, grid_size).to(latent.device, latent.dtype)
    distances, _ = _query(mlp, points, chunk)
    field = torch.full((grid_size + 2,) * 3, -1.0, dtype=torch.float32, device=latent.device)
    field[1:-1, 1:-1, 1:-1] = distances.reshape((grid_size,) * 3)
    return field


@torch.inference_mode()
def latent_to_mesh(model: ShapEModel, latent: torch.Tensor, grid_size: int) -> Any:
    """MESH of one Shap-E latent ([tokens, width]): marching cubes on :func:`sdf_grid` at 0,
    scaled into the renderer's volume, coloured by its texture channels (linear RGB)."""
    from diffusers.pipelines.shap_e.renderer import _convert_srgb_to_linear
    from skimage.measure import marching_cubes

    from nodestudio.api.media import Mesh

    renderer = ensure_on(model.renderer, model.device)
    latent = latent.to(model.device, devices.module_dtype(renderer))
    field = sdf_grid(renderer, latent, grid_size).cpu().numpy()
    if field.max() <= 0.0:
        raise NodeError("the Shap-E latent describes no surface at this grid size (its signed "
                        "distance never crosses 0): raise grid_size or try another seed")
    vertices, faces, _, _ = marching_cubes(field, level=0.0)
    volume = renderer.volume
    low = volume.bbox_min.float().cpu().numpy()
    size = (volume.bbox_max - volume.bbox_min).float().cpu().numpy()
    # Grid index → position, as diffusers' MeshDecoder maps its (padded) grid.
    positions = vertices / (field.shape[0] - 1) * size + low
    mlp = _field_mlp(renderer, latent)
    points = torch.from_numpy(positions.astype(np.float32)).to(latent.device, latent.dtype)
    _, colours = _query(mlp, points, 4096)
    colours = _convert_srgb_to_linear(colours).clamp(0, 1).cpu().numpy()
    return Mesh(positions.astype(np.float32), faces.astype(np.int64), colours)
