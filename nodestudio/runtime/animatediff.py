"""AnimateDiff: a motion module (diffusers ``MotionAdapter``) beside any SD 1.5 UNet.

The motion model is ``UNetMotionModel`` as ``AnimateDiffPipeline`` builds it
(``UNetMotionModel.from_unet2d``), except that its image layers are the loaded UNet's own
modules, not copies: LoRAs injected into the checkpoint's UNet (before or after Apply
AnimateDiff) are the same peft layers in both, so ``lora.applied`` switches them for the motion
model too, and a 1 GB UNet is never held twice. The family stays SD 1.x: prompts, guidance,
LoRA keys and the denoiser call are the UNet family's; the latents are [B, C, F, h, w], the
layout the pipeline samples, and VAE Decode decodes them frame by frame as the pipeline does.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nodestudio.api.errors import NodeError
from nodestudio.runtime.types import DiffusionModel, Latent, Vae

#: The released motion modules' key names (guoyww/AnimateDiff) → diffusers' names, as
#: diffusers' ``convert_animatediff_motion_module_to_diffusers.py`` renames them.
_ORIGINAL_NAMES = (
    (".norms.0", ".norm1"), (".norms.1", ".norm2"), (".ff_norm", ".norm3"),
    (".attention_blocks.0", ".attn1"), (".attention_blocks.1", ".attn2"),
    (".temporal_transformer", ""),
)


@functools.cache
def _motion_unet_class() -> type:
    from diffusers import UNetMotionModel

    class MotionUNet(UNetMotionModel):
        """UNetMotionModel taking the UNet family's call (which names T2I-Adapter residuals
        and gives one prompt per video, where the motion UNet reads one per frame)."""

        def forward(self, sample: torch.Tensor, timestep: Any, encoder_hidden_states: Any,
                    *args: Any, down_intrablock_additional_residuals: Any = None,
                    **kwargs: Any) -> Any:
            if down_intrablock_additional_residuals is not None:
                raise NodeError("T2I-Adapters do not work with AnimateDiff yet: remove the "
                                "T2I-Adapter from the prompts")
            if sample.ndim != 5:
                raise NodeError("an AnimateDiff model makes videos: start from Empty "
                                "Video Latent, not an image latent")
            frames = sample.shape[2]
            if encoder_hidden_states.shape[0] == sample.shape[0]:
                # As AnimateDiffPipeline: [negative, positive] each repeated per frame.
                encoder_hidden_states = encoder_hidden_states.repeat_interleave(frames, dim=0)
            return super().forward(sample, timestep, encoder_hidden_states, *args, **kwargs)

    return MotionUNet


def _motion_config(weights: dict[str, torch.Tensor]) -> dict[str, Any]:
    """A MotionAdapter config read from a single file's tensor shapes."""
    blocks = sorted({int(m.group(1)) for key in weights
                     if (m := re.match(r"down_blocks\.(\d+)\.motion_modules\.", key))})
    widths, layers = [], []
    for block in blocks:
        modules = {int(m.group(1)) for key in weights
                   if (m := re.match(rf"down_blocks\.{block}\.motion_modules\.(\d+)\.", key))}
        widths.append(int(weights[f"down_blocks.{block}.motion_modules.0.proj_in.weight"]
                          .shape[0]))
        layers.append(len(modules))
    positions = [v for k, v in weights.items() if k.endswith("pos_embed.pe")]
    if not blocks or not positions:
        raise NodeError("this file holds no AnimateDiff motion module (no motion_modules "
                        "weights): put a motion module such as mm_sd_v15_v2 in "
                        "models/animatediff_models")
    return {
        "block_out_channels": widths,
        "motion_layers_per_block": layers[0],
        "motion_mid_block_layers_per_block": 1,
        "use_motion_mid_block": any(k.startswith("mid_block.motion_modules") for k in weights),
        "motion_max_seq_length": int(positions[0].shape[1]),
        # The released modules use 8 heads; the shapes cannot tell.
        "motion_num_attention_heads": 8,
        "motion_norm_num_groups": 32,
    }


def _diffusers_names(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    converted = {}
    for key, value in weights.items():
        for old, new in _ORIGINAL_NAMES:
            key = key.replace(old, new)
        if key.endswith(".pos_encoder.pe"):
            key = key.replace(".pos_encoder.pe", ".pos_embed.pe")
        converted[key] = value
    return converted


def load_motion_adapter(path: Path) -> Any:
    """A MotionAdapter from a diffusers folder or a single file (original or diffusers keys)."""
    from diffusers import MotionAdapter

    from nodestudio.runtime.checkpoints import read_state_dict
    from nodestudio.runtime.model_files import explained

    if path.is_dir():
        if not (path / "config.json").is_file():
            raise NodeError(f"{path.name} is not a diffusers motion adapter folder (no "
                            "config.json): copy the whole folder into models/animatediff_models")
        with explained(path, "motion module"):
            return MotionAdapter.from_pretrained(path, local_files_only=True).eval()
    weights, _ = read_state_dict(path, "motion module")
    weights = _diffusers_names(weights)
    config = _motion_config(weights)
    with explained(path, "motion module"):
        adapter = MotionAdapter(**config)
        missing, unexpected = adapter.load_state_dict(weights, strict=False)
    wanted = [key for key in missing if not key.endswith("pos_embed.pe")]
    if wanted or unexpected:
        raise NodeError(f"motion module {path.name} does not fit diffusers' MotionAdapter "
                        f"({len(wanted)} weights missing, {len(unexpected)} unknown): use an "
                        "SD 1.5 AnimateDiff motion module (v1, v2 or v3)")
    return adapter.eval()


def _share(target: torch.nn.Module, name: str, source: torch.nn.Module | None) -> None:
    if source is not None:
        setattr(target, name, source)


def motion_unet(unet: torch.nn.Module, adapter: Any) -> torch.nn.Module:
    """``UNetMotionModel.from_unet2d(unet, adapter)`` whose layers ARE ``unet``'s and
    ``adapter``'s modules (built on the meta device, then the real modules put in)."""
    if adapter.config.get("conv_in_channels"):
        raise NodeError("PIA-style motion modules (with their own conv_in) are not supported: "
                        "use an AnimateDiff motion module")
    with torch.device("meta"):
        model = _motion_unet_class().from_unet2d(unet, adapter, load_weights=False)
    for name in ("conv_in", "time_proj", "time_embedding", "conv_norm_out", "conv_act",
                 "conv_out", "class_embedding", "encoder_hid_proj"):
        _share(model, name, getattr(unet, name, None))
    for ours, theirs in ((model.down_blocks, unet.down_blocks), (model.up_blocks, unet.up_blocks),
                         ([model.mid_block], [unet.mid_block])):
        for block, source in zip(ours, theirs, strict=True):
            for part in ("resnets", "attentions", "downsamplers", "upsamplers"):
                if hasattr(block, part):
                    _share(block, part, getattr(source, part, None))
    for ours, theirs in ((model.down_blocks, adapter.down_blocks),
                         (model.up_blocks, adapter.up_blocks)):
        for block, source in zip(ours, theirs, strict=True):
            block.motion_modules = source.motion_modules
    if hasattr(model.mid_block, "motion_modules"):
        model.mid_block.motion_modules = adapter.mid_block.motion_modules
    # The UNet family's code reads UNet2DConditionModel settings the motion config lacks
    # (class_embed_type …): they are the shared UNet's.
    model.register_to_config(**{key: value for key, value in unet.config.items()
                                if key not in model.config and not key.startswith("_")})
    left = [name for name, tensor in [*model.named_parameters(), *model.named_buffers()]
            if tensor.is_meta]
    if left:
        raise NodeError(f"this motion module does not fit the model's UNet ({left[0]} has no "
                        "weights): use an SD 1.5 checkpoint with an SD 1.5 motion module")
    return model.eval()


def apply_motion(model: DiffusionModel, adapter: Any) -> DiffusionModel:
    """The MODEL handle of ``model`` with the motion module: samples [B, C, F, h, w] latents."""
    from dataclasses import replace

    from diffusers import UNet2DConditionModel

    unet = model.denoiser
    if not isinstance(unet, UNet2DConditionModel):
        raise NodeError(f"AnimateDiff needs an SD 1.5 UNet model; this is a {model.family.label} "
                        f"model{' that already has a motion module' if _is_motion(unet) else ''}")
    widths = tuple(unet.config.block_out_channels)
    if widths != tuple(adapter.config.block_out_channels):
        raise NodeError(f"the motion module is made for UNet widths "
                        f"{tuple(adapter.config.block_out_channels)}, this model's are {widths}: "
                        "use a motion module for this model's family (SD 1.5 or SDXL)")
    adapter = adapter.to(device=unet.device, dtype=unet.dtype)
    return replace(model, denoiser=motion_unet(unet, adapter))


def _is_motion(module: torch.nn.Module) -> bool:
    from diffusers import UNetMotionModel

    return isinstance(module, UNetMotionModel)


def is_motion_model(model: DiffusionModel) -> bool:
    """Whether the model samples video latents through a motion module."""
    return _is_motion(model.denoiser)


def decode_frames(vae: Vae, latent: Latent, chunk: int = 16,
                  progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """[B, C, F, h, w] LATENT → IMAGE frames [B × F, H, W, 3] with a per-frame VAE.

    An image VAE (AnimateDiff) decodes frames in chunks as ``AnimateDiffPipeline.decode_latents``
    does; SVD's temporal decoder decodes each video's frames together (``num_frames``), as
    ``StableVideoDiffusionPipeline.decode_latents`` does with its default chunk (all frames).
    ``progress`` hears (chunks done, chunks) after each chunk, so long decodes move the bar.
    """
    from nodestudio.runtime.devices import ensure_on, module_dtype

    model = ensure_on(vae.model, vae.device)
    latents = latent.samples.to(device=vae.device, dtype=module_dtype(model))
    batch, channels, frames, rows, columns = latents.shape
    flat = latents.permute(0, 2, 1, 3, 4).reshape(batch * frames, channels, rows, columns)
    flat = flat / vae.config.scaling_factor
    temporal = "num_frames" in inspect.signature(model.decode).parameters
    step = frames if temporal else chunk
    pieces = []
    starts = range(0, flat.shape[0], step)
    if progress is not None:
        progress(0, len(starts))
    for start in starts:
        piece = flat[start : start + step]
        extra = {"num_frames": piece.shape[0]} if temporal else {}
        pieces.append(model.decode(piece, **extra, return_dict=False)[0])
        if progress is not None:
            progress(len(pieces), len(starts))
    image = (torch.cat(pieces) / 2 + 0.5).clamp(0, 1)
    return image.cpu().permute(0, 2, 3, 1).float().numpy()


def max_frames(model: DiffusionModel) -> int:
    """Frames the motion module's position embeddings cover."""
    return int(model.denoiser.config.motion_max_seq_length)
