"""What the text-to-video transformer families (Wan, LTX-Video) share: loading a diffusers
folder (transformer, video VAE, one T5-type encoder with its tokenizer), video latents
([B, C, F, h, w]) and the checks on them.

The sampling loop is the image one (``runtime/sampling.py``): latents keep their frames axis,
noise is drawn in that shape as the pipelines draw it, and each family's denoiser does what
its transformer needs (LTX-Video packs patches into tokens inside it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import torch

from nodestudio.api.errors import NodeError
from nodestudio.runtime.devices import compute_dtype
from nodestudio.runtime.families.base import Geometry, LoadedParts
from nodestudio.runtime.families.transformer import TokenizerMissingError, TransformerFamily
from nodestudio.runtime.memory_manager import loaded_to
from nodestudio.runtime.types import DiffusionModel, TextEncoder, TextEncoders, Vae


class VideoFamily(TransformerFamily):
    """Base of the text-to-video diffusion-transformer families."""

    #: diffusers class of the video VAE (``vae/``).
    vae_class: ClassVar[str]
    #: transformers class of the text encoder (``text_encoder/``) and its slot name.
    encoder_class: ClassVar[str]
    encoder_slot: ClassVar[str] = "t5"
    video = True
    #: Spatial cells per transformer token along each side (Wan: 2; LTX-Video: 1).
    patch_size = 1

    def image_sequence_length(self, geometry: Geometry) -> int:
        # Video transformers see every latent frame: the pipelines' "video sequence length".
        return geometry.frames * super().image_sequence_length(geometry)

    def lora_state_dict(self, weights: dict[str, torch.Tensor]) -> tuple[dict, dict | None]:
        raise NodeError(f"LoRAs for {self.label} are not supported yet: remove the Load LoRA "
                        "node")

    def check_video(self, samples: torch.Tensor) -> None:
        if samples.ndim != 5:
            raise NodeError(f"{self.label} makes videos: start from Empty Video Latent, not an "
                            "image latent")

    def scheduler_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The folder's scheduler config in the names every flow sampler reads.

        Wan's releases ship UniPC with ``flow_shift``; the Sampler's flow samplers read
        ``shift`` (and set ``flow_shift`` from it), so the shift is copied across.
        """
        config = dict(config)
        if "flow_shift" in config and "shift" not in config:
            config["shift"] = config["flow_shift"]
        return config

    def check_folder(self, path: Path, index: Mapping[str, Any]) -> None:
        """Refuse, by name, folders this family cannot run (raise NodeError)."""

    def load_folder(self, path: Path, index: Mapping[str, Any], device: torch.device,
                    progress: Callable[[], None]) -> LoadedParts:
        import diffusers
        import transformers

        from nodestudio.runtime.checkpoints import variant_of
        from nodestudio.runtime.model_configs import read_json

        self.check_folder(path, index)
        for component in ("transformer", "vae", "text_encoder", "scheduler"):
            if not (path / component).is_dir():
                raise NodeError(f"{path.name} lacks its {component} folder: copy the whole "
                                f"diffusers {self.label} folder into {path.parent}")
        dtype = compute_dtype(device)

        def load(component: str, cls: Any) -> Any:
            return cls.from_pretrained(path, subfolder=component, torch_dtype=dtype,
                                       local_files_only=True,
                                       variant=variant_of(path / component))

        transformer = load("transformer", getattr(diffusers, self.transformer_class))
        progress()
        vae = load("vae", getattr(diffusers, self.vae_class))
        progress()
        encoder = load("text_encoder", getattr(transformers, self.encoder_class))
        tokenizer = t5_folder_tokenizer(path / "tokenizer", self.label)
        progress()
        clip = TextEncoders((TextEncoder(loaded_to(encoder, device), tokenizer,
                                         slot=self.encoder_slot),), self, device, str(path))
        scheduler = self.scheduler_config(read_json(path / "scheduler" / "scheduler_config.json"))
        vae_handle = Vae(loaded_to(vae, device), device, str(path))
        model = DiffusionModel(
            denoiser=loaded_to(transformer, device), scheduler_config=scheduler, family=self,
            latent_channels=vae_handle.latent_channels,
            vae_scale_factor=vae_handle.scale_factor, device=device, source=str(path),
            latent_format=self.latent.name, vae_temporal_factor=vae_handle.temporal_factor,
        )
        return LoadedParts(model, clip, vae_handle)


def t5_folder_tokenizer(folder: Path, label: str) -> Any:
    """The (U)T5 tokenizer of a diffusers folder, read from its tokenizer.json."""
    from transformers import T5TokenizerFast

    if not (folder / "tokenizer.json").is_file():
        raise TokenizerMissingError(
            f"the {label} tokenizer is missing: put its tokenizer.json in {folder} "
            "(NodeStudio cannot read spiece.model without sentencepiece)")
    return T5TokenizerFast.from_pretrained(folder, local_files_only=True)


def encoder_of(clip: TextEncoders, family: VideoFamily) -> TextEncoder:
    encoder = clip.slot(family.encoder_slot)
    if encoder is None or clip.family is not family:
        raise NodeError(f"these text encoders are {clip.family.label}'s; a {family.label} "
                        f"prompt needs the CLIP output of a {family.label} model")
    return encoder


def batched(halves: list[torch.Tensor], batch: int) -> torch.Tensor:
    """[halves × B, …]: each prompt's tensor repeated for every video of the batch."""
    return torch.cat([h.repeat(batch, *([1] * (h.ndim - 1))) for h in halves])
