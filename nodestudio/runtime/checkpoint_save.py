"""Writing a MODEL, CLIP and VAE as one single-file checkpoint (ComfyUI's CheckpointSave).

The file is what artists share: the original Stable Diffusion key layout
(:func:`~nodestudio.runtime.original_layout.checkpoint_to_original`), so that ComfyUI, A1111 and
diffusers' ``from_single_file`` read it too. NodeStudio reads it back exactly: the diffusers
configs of every part, and the scheduler config the model samples with (Model Sampling Discrete
included), travel in its metadata under
:data:`~nodestudio.runtime.model_configs.EMBEDDED_CONFIG_KEY`, as the tiny test models' files
do. As ComfyUI does, a v-prediction model gets an empty ``v_pred`` key and a zero-terminal-SNR
one a ``ztsnr`` key, which other tools read. Rescale CFG is a sampling setting and, as in
ComfyUI, not saved.

Only the UNet families (SD 1.x, SD 2.x, SDXL) have that layout here. Memory: the weights are
gathered in system memory for writing, about one copy of the checkpoint (two, briefly, for a
model that sits on the GPU), never a second copy on the GPU.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from nodestudio.api.errors import NodeError
from nodestudio.runtime import original_layout
from nodestudio.runtime.families.unet import UNetFamily
from nodestudio.runtime.merging import plain_state_dict
from nodestudio.runtime.model_configs import EMBEDDED_CONFIG_KEY
from nodestudio.runtime.types import DiffusionModel, TextEncoders, Vae

#: Text encoder slots written under OpenCLIP's names when a checkpoint has only one encoder.
_OPEN_CLIP_SLOTS = ("clip_h", "clip_g")
_FOLDER_NAMES = ("text_encoder", "text_encoder_2")


class CheckpointSaveError(NodeError):
    pass


class _OnCpu:
    """What the layout writer reads of a module (its weights and config), the weights on the
    CPU: the writer copies every tensor, and that copy must not double the model's VRAM."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.module = module

    @property
    def config(self) -> Any:
        return self.module.config

    def state_dict(self) -> dict[str, torch.Tensor]:
        # Plain weights: LoRA adapters another branch injected into a shared module stay out.
        return {key: tensor.detach().to("cpu")
                for key, tensor in plain_state_dict(self.module).items()}


def check_savable(model: DiffusionModel, clip: TextEncoders, vae: Vae) -> None:
    """Raise a NodeError when the three cannot be written as one checkpoint."""
    family = model.family
    if not isinstance(family, UNetFamily):
        raise CheckpointSaveError(
            f"Save Checkpoint writes SD 1.x, SD 2.x and SDXL checkpoints; this is a "
            f"{family.label} model"
        )
    if clip.family is not family:
        raise CheckpointSaveError(f"the CLIP is {clip.family.label}'s but the model is "
                                  f"{family.label}: save a model with its own text encoders")
    if vae.latent_channels != model.latent_channels:
        raise CheckpointSaveError(f"the VAE has {vae.latent_channels} latent channels but the "
                                  f"model uses {model.latent_channels}")
    for what, handle in (("model", model), ("CLIP", clip)):
        if handle.loras:
            raise CheckpointSaveError(
                f"the {what} has a LoRA applied, which Save Checkpoint cannot bake in yet: save "
                "the plain model and apply the LoRA when you load it"
            )
    if len(clip.encoders) not in (1, 2):
        raise CheckpointSaveError(f"a checkpoint holds one or two text encoders, not "
                                  f"{len(clip.encoders)}")


def _diffusers_config(module: Any) -> dict[str, Any]:
    return json.loads(module.to_json_string())


def embedded_configs(model: DiffusionModel, clip: TextEncoders, vae: Vae) -> dict[str, Any]:
    """The diffusers folder configs (``model_index``, ``unet``, ``vae``, ``text_encoder…``,
    ``scheduler``, ``tokenizer``) the single-file loader builds the parts from."""
    import diffusers

    scheduler = dict(model.scheduler_config)
    scheduler.setdefault("_class_name", "EulerDiscreteScheduler")
    index: dict[str, Any] = {
        "_class_name": ("StableDiffusionXLPipeline" if len(clip.encoders) == 2
                        else "StableDiffusionPipeline"),
        "_diffusers_version": diffusers.__version__,
        "unet": ["diffusers", type(model.denoiser).__name__],
        "vae": ["diffusers", type(vae.model).__name__],
        "scheduler": ["diffusers", scheduler["_class_name"]],
    }
    configs: dict[str, Any] = {
        "unet": _diffusers_config(model.denoiser),
        "vae": _diffusers_config(vae.model),
        "scheduler": scheduler,
        # One tokenizer length for all encoders: the loader reads it from "tokenizer".
        "tokenizer": {"model_max_length": int(clip.encoders[0].tokenizer.model_max_length)},
    }
    for name, encoder in zip(_FOLDER_NAMES, clip.encoders, strict=False):
        index[name] = ["transformers", type(encoder.model).__name__]
        index[name.replace("text_encoder", "tokenizer")] = ["transformers", "CLIPTokenizer"]
        configs[name] = json.loads(encoder.model.config.to_json_string(use_diff=False))
    return {"model_index": index, **configs}


def checkpoint_weights(model: DiffusionModel, clip: TextEncoders,
                       vae: Vae) -> dict[str, torch.Tensor]:
    """Every weight under its original-layout name (CPU tensors), with ComfyUI's marker keys."""
    encoders = [_OnCpu(encoder.model) for encoder in clip.encoders]
    open_clip = len(encoders) == 1 and clip.encoders[0].slot in _OPEN_CLIP_SLOTS
    with torch.no_grad():
        weights = original_layout.checkpoint_to_original(
            _OnCpu(model.denoiser), _OnCpu(vae.model), encoders, open_clip_text=open_clip
        )
    config = model.scheduler_config
    if config.get("prediction_type") == "v_prediction":
        weights["v_pred"] = torch.tensor([])
    if config.get("rescale_betas_zero_snr"):
        weights["ztsnr"] = torch.tensor([])
    return weights


def write_checkpoint(model: DiffusionModel, clip: TextEncoders, vae: Vae, path: Path,
                     metadata: Mapping[str, str] | None = None) -> Path:
    """Write the checkpoint to ``path`` (a ``.safetensors``); ``metadata`` (the graph that made
    it, …) is stored beside the configs. The file appears complete or not at all."""
    from safetensors.torch import save_file

    check_savable(model, clip, vae)
    weights = checkpoint_weights(model, clip, vae)
    header = {**(metadata or {}),
              EMBEDDED_CONFIG_KEY: json.dumps(embedded_configs(model, clip, vae))}
    temporary = path.with_name(f".{path.name}.partial")
    try:
        save_file(weights, str(temporary), metadata=header)
        os.replace(temporary, path)
    except OSError as error:
        raise CheckpointSaveError(f"cannot write the checkpoint {path}: {error}") from error
    finally:
        temporary.unlink(missing_ok=True)
    return path
