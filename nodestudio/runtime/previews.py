"""Latent previews while sampling: a fast linear latent→RGB map, or TAESD when installed.

The linear maps are the published least-squares fits from a latent space's channels to RGB,
declared by each family's latent format (they apply to the latents the denoiser works on, i.e.
already scaled by the VAE's factors); the embedded demo model's VAE has a format of its own,
fitted to it (``families/shapes_latent.py``, ``tests/benchmarks/fit_demo_preview.py``). A
latent space without a map falls back to its first three channels, stretched: a stand-in whose
colours mean nothing. TAESD ("tiny autoencoder", madebyollin) decodes much
better pictures at a small cost; NodeStudio uses it when ``models/vae_approx`` holds ``taesd``
(SD1/SD2), ``taesdxl`` (SDXL), ``taesd3`` (SD3) or ``taef1`` (Flux) weights: a diffusers
folder (``config.json`` + weights) or the original ``*_decoder`` ``.safetensors``/``.pth``
file.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from nodestudio.runtime.families.base import LatentFormat


def _latent_format(name: str) -> LatentFormat | None:
    from nodestudio.runtime.families import latent_formats

    return latent_formats().get(name)


def taesd_name_matches(name: str, latent_format: str) -> bool:
    """Whether a vae_approx entry is the TAESD made for a latent format (its family declares
    the name prefixes: taesd, taesdxl, taesd3, taef1)."""
    stem = Path(name).name.lower()
    found = _latent_format(latent_format)
    if found is None:
        return False
    return stem.startswith(found.taesd_prefixes) and not stem.startswith(found.taesd_excludes)


def load_taesd(path: Path, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    """An AutoencoderTiny from a diffusers folder or an original ``taesd*_decoder`` file."""
    from diffusers import AutoencoderTiny

    if path.is_dir():
        model = AutoencoderTiny.from_pretrained(path, local_files_only=True)
    else:
        from nodestudio.runtime.checkpoints import read_state_dict

        weights, _ = read_state_dict(path)
        model = AutoencoderTiny()
        if not any(key.startswith("decoder.") for key in weights):
            # The original decoder is an nn.Sequential that starts with a parameter-free clamp
            # diffusers leaves out: original layer k is diffusers' decoder.layers.(k - 1).
            renamed = {}
            for key, value in weights.items():
                index, rest = key.split(".", 1)
                renamed[f"decoder.layers.{int(index) - 1}.{rest}"] = value
            weights = renamed
        missing, unexpected = model.load_state_dict(weights, strict=False)
        if unexpected or any(key.startswith("decoder.") for key in missing):
            raise ValueError(f"{path.name} is not a TAESD decoder")
    return model.to(device=device, dtype=dtype).eval()


class PreviewMaker:
    """Turns the latents of a sampling step into a small RGB preview, at most every so often."""

    def __init__(
        self,
        latent_format: str,
        taesd: torch.nn.Module | None = None,
        min_interval: float = 0.25,
    ) -> None:
        self.taesd = taesd
        self.min_interval = min_interval
        self._last = 0.0
        self._factors: torch.Tensor | None = None
        self._bias: torch.Tensor | None = None
        found = _latent_format(latent_format)
        if found is not None and found.rgb_factors:
            self._factors = torch.tensor(found.rgb_factors)
            self._bias = torch.tensor(found.rgb_bias)

    def due(self, last_step: bool = False) -> bool:
        return last_step or time.monotonic() - self._last >= self.min_interval

    @torch.inference_mode()
    def __call__(self, latents: torch.Tensor) -> np.ndarray:
        """[1, h, w, 3] float32 in [0, 1] for the first image of the batch."""
        self._last = time.monotonic()
        first = latents[:1]
        if self.taesd is not None:
            decoded = self.taesd.decode(first.to(self.taesd.dtype)).sample  # in [-1, 1]
            rgb = (decoded / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1)
        elif self._factors is not None:
            factors = self._factors.to(first.device, torch.float32)
            bias = self._bias.to(first.device, torch.float32)
            rgb = first.float().permute(0, 2, 3, 1) @ factors + bias
            rgb = ((rgb + 1) / 2).clamp(0, 1)
        else:
            # An unknown latent space: show its first three channels, each stretched to [0, 1].
            channels = first.float()[:, :3]
            if channels.shape[1] < 3:
                channels = channels[:, :1].expand(-1, 3, -1, -1)
            low = channels.amin(dim=(2, 3), keepdim=True)
            high = channels.amax(dim=(2, 3), keepdim=True)
            rgb = ((channels - low) / (high - low).clamp_min(1e-6)).permute(0, 2, 3, 1)
        return rgb.float().cpu().numpy()
