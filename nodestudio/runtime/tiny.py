"""Tiny, seeded Stable Diffusion models built from config: for tests and benchmarks, no downloads.

They have the real architectures (SD1.5-style UNet with cross-attention, SDXL-style UNet with two
text encoders and size conditioning, ControlNet, LoRA, a 9-channel inpainting UNet, an 8× VAE)
at a few thousand times fewer weights, so a whole graph runs on a CPU in well under a second.
The weights are random but seeded: the same call always writes the same files.

Each model is saved as a diffusers folder and, where artists also meet single files, as a
``.safetensors`` in the ORIGINAL Stable Diffusion key layout (see :mod:`original_layout`). Such
a file carries its own architecture in its safetensors metadata under
:data:`~nodestudio.runtime.model_configs.EMBEDDED_CONFIG_KEY` — the tiny sizes match no released
model, so they cannot be looked up by family.

Use :func:`build_tiny_models` to fill a models root (``checkpoints/``, ``controlnet/``,
``loras/``, ``vae/``); the pytest fixture ``tiny_models`` (tests/conftest.py) does it once per
session.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nodestudio.runtime import original_layout
from nodestudio.runtime.model_configs import EMBEDDED_CONFIG_KEY
from nodestudio.runtime.tokenizers import OPEN_CLIP_PAD_TOKEN, clip_tokenizer

#: The scheduler config of SD1.5 / SDXL base (DDPM-trained, scaled-linear betas).
SCHEDULER_CONFIG: dict[str, Any] = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "clip_sample": False,
    "set_alpha_to_one": False,
}

TINY_VOCAB_SIZE = 49408  # the real CLIP vocabulary: the tokenizer is the real one too


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Build under a fixed seed without disturbing the caller's random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _text_encoder_config(hidden: int, layers: int, act: str, projection: int | None = None):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=TINY_VOCAB_SIZE,
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        max_position_embeddings=77,
        hidden_act=act,
        projection_dim=projection or hidden,
        bos_token_id=0,
        eos_token_id=2,
        pad_token_id=1,
    )


def tiny_vae(
    seed: int, scaling_factor: float = 0.18215, force_upcast: bool = False, levels: int = 4
):
    """An AutoencoderKL with the SD layout (4 levels: 8× downsampling, 4 latent channels)."""
    from diffusers import AutoencoderKL

    with _seeded(seed):
        return AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * levels,
            up_block_types=("UpDecoderBlock2D",) * levels,
            block_out_channels=(16, 16, 32, 32, 32)[:levels],
            layers_per_block=1,
            norm_num_groups=8,
            latent_channels=4,
            sample_size=64,
            scaling_factor=scaling_factor,
            force_upcast=force_upcast,
        )


def tiny_sd_components(
    seed: int = 0, in_channels: int = 4, vae_factor: int = 8, max_length: int = 77
) -> dict[str, Any]:
    """UNet, VAE, text encoder, tokenizer and scheduler of an SD1.5-shaped model.

    ``vae_factor`` (2, 4, 8 or 16) and ``max_length`` (tokens the text encoder reads) make
    models shaped unlike SD, such as NodeStudio's demo model (4×, 32 tokens).
    """
    from diffusers import EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel

    with _seeded(seed):
        unet = UNet2DConditionModel(
            sample_size=8,
            in_channels=in_channels,
            out_channels=4,
            block_out_channels=(32, 64),
            layers_per_block=2,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=32,
            attention_head_dim=8,
            norm_num_groups=32,
        )
    with _seeded(seed + 1):
        config = _text_encoder_config(32, 3, "quick_gelu")
        config.max_position_embeddings = max_length
        text_encoder = CLIPTextModel(config)
    return {
        "unet": unet,
        "vae": tiny_vae(seed + 2, levels=vae_factor.bit_length()),
        "text_encoder": text_encoder,
        "tokenizer": clip_tokenizer(model_max_length=max_length),
        "scheduler": EulerDiscreteScheduler.from_config(SCHEDULER_CONFIG),
    }


def _tiny_sdxl_unet(context_width: int, pooled_width: int, size_numbers: int):
    """An SDXL-shaped UNet: size/pooled conditioning of ``size_numbers`` micro-conditioning
    values (SDXL base 6, the refiner 5) beside a ``pooled_width`` pooled prompt."""
    from diffusers import UNet2DConditionModel

    time_width = 8
    return UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        transformer_layers_per_block=(1, 2),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=time_width,
        projection_class_embeddings_input_dim=size_numbers * time_width + pooled_width,
        cross_attention_dim=context_width,
        norm_num_groups=32,
    )


def tiny_sdxl_components(seed: int = 0) -> dict[str, Any]:
    """UNet with size/pooled conditioning, two text encoders, VAE, tokenizers, scheduler."""
    from diffusers import EulerDiscreteScheduler
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    # The encoders differ in width (as in SDXL, 768 vs 1280): single-file loading tells them
    # apart by the width of their position embeddings.
    first_width, second_width = 32, 64
    with _seeded(seed):
        unet = _tiny_sdxl_unet(first_width + second_width, second_width, size_numbers=6)
    with _seeded(seed + 1):
        text_encoder = CLIPTextModel(_text_encoder_config(first_width, 3, "quick_gelu"))
    with _seeded(seed + 2):
        text_encoder_2 = CLIPTextModelWithProjection(
            _text_encoder_config(second_width, 3, "gelu", projection=second_width)
        )
    return {
        "unet": unet,
        "vae": tiny_vae(seed + 3, scaling_factor=0.13025, force_upcast=True),
        "text_encoder": text_encoder,
        "text_encoder_2": text_encoder_2,
        "tokenizer": clip_tokenizer(),
        "tokenizer_2": clip_tokenizer(pad_token=OPEN_CLIP_PAD_TOKEN),
        "scheduler": EulerDiscreteScheduler.from_config(SCHEDULER_CONFIG),
    }


def tiny_sdxl_refiner_components(seed: int = 0) -> dict[str, Any]:
    """The SDXL refiner's shape: OpenCLIP-bigG alone (the tiny SDXL's second encoder, 64 wide),
    five micro-conditioning numbers (original size, crop, aesthetic score)."""
    from diffusers import EulerDiscreteScheduler
    from transformers import CLIPTextModelWithProjection

    width = 64
    with _seeded(seed):
        unet = _tiny_sdxl_unet(width, width, size_numbers=5)
    with _seeded(seed + 2):
        text_encoder_2 = CLIPTextModelWithProjection(
            _text_encoder_config(width, 3, "gelu", projection=width)
        )
    return {
        "unet": unet,
        "vae": tiny_vae(seed + 3, scaling_factor=0.13025, force_upcast=True),
        "text_encoder": None,
        "text_encoder_2": text_encoder_2,
        "tokenizer": None,
        "tokenizer_2": clip_tokenizer(pad_token=OPEN_CLIP_PAD_TOKEN),
        "scheduler": EulerDiscreteScheduler.from_config(SCHEDULER_CONFIG),
    }


def save_sdxl_refiner_folder(components: dict[str, Any], folder: Path) -> Path:
    from diffusers import StableDiffusionXLImg2ImgPipeline

    StableDiffusionXLImg2ImgPipeline(**components, requires_aesthetics_score=True,
                                     add_watermarker=False).save_pretrained(folder)
    return folder


def save_sd_folder(components: dict[str, Any], folder: Path) -> Path:
    """Save SD1.x-style components as a diffusers folder (StableDiffusionPipeline layout)."""
    from diffusers import StableDiffusionPipeline

    pipeline = StableDiffusionPipeline(
        **components, safety_checker=None, feature_extractor=None, requires_safety_checker=False
    )
    pipeline.save_pretrained(folder)
    return folder


def save_sdxl_folder(components: dict[str, Any], folder: Path) -> Path:
    from diffusers import StableDiffusionXLPipeline

    StableDiffusionXLPipeline(**components, add_watermarker=False).save_pretrained(folder)
    return folder


def _folder_configs(folder: Path) -> dict[str, Any]:
    """model_index.json and every component's config of a diffusers folder, as one dict."""
    configs: dict[str, Any] = {"model_index": json.loads((folder / "model_index.json").read_text())}
    for component in folder.iterdir():
        for name in ("config.json", "scheduler_config.json"):
            if (component / name).is_file():
                configs[component.name] = json.loads((component / name).read_text())
    tokenizer_config = folder / "tokenizer" / "tokenizer_config.json"
    if tokenizer_config.is_file():
        configs["tokenizer"] = json.loads(tokenizer_config.read_text())
    return configs


def save_original_checkpoint(folder: Path, path: Path, open_clip_text: bool = False) -> Path:
    """Write the diffusers checkpoint ``folder`` as one file in the original SD key layout.

    ``open_clip_text`` stores a single text encoder under SD2's OpenCLIP names.
    """
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet")
    vae = AutoencoderKL.from_pretrained(folder, subfolder="vae")
    encoders = []
    if (folder / "text_encoder").is_dir():  # the SDXL refiner has only the second
        encoders.append(CLIPTextModel.from_pretrained(folder, subfolder="text_encoder"))
    if (folder / "text_encoder_2").is_dir():
        encoders.append(
            CLIPTextModelWithProjection.from_pretrained(folder, subfolder="text_encoder_2")
        )
    refiner = not (folder / "text_encoder").is_dir()
    weights = original_layout.checkpoint_to_original(unet, vae, encoders, open_clip_text,
                                                     refiner=refiner)
    metadata = {EMBEDDED_CONFIG_KEY: json.dumps(_folder_configs(folder))}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(path), metadata=metadata)
    return path


def tiny_controlnet(unet, seed: int):
    """A ControlNet for ``unet`` with every weight random (zero convs included, so it acts)."""
    from diffusers import ControlNetModel

    with _seeded(seed):
        controlnet = ControlNetModel.from_unet(
            unet, conditioning_embedding_out_channels=(4, 8, 16, 16), load_weights_from_unet=False
        )
        for name, parameter in controlnet.named_parameters():
            if "controlnet_down_blocks" in name or "controlnet_mid_block" in name or (
                "controlnet_cond_embedding.conv_out" in name
            ):
                # Released ControlNets start from zero convolutions; trained ones are not zero.
                torch.nn.init.normal_(parameter, std=0.2)
    return controlnet


def save_original_controlnet(folder: Path, path: Path) -> Path:
    from diffusers import ControlNetModel
    from safetensors.torch import save_file

    controlnet = ControlNetModel.from_pretrained(folder)
    weights = original_layout.controlnet_to_original(controlnet.state_dict(), controlnet.config)
    weights = {key: value.detach().contiguous().clone() for key, value in weights.items()}
    config = json.loads((folder / "config.json").read_text())
    metadata = {EMBEDDED_CONFIG_KEY: json.dumps({"controlnet": config})}
    save_file(weights, str(path), metadata=metadata)
    return path


def save_tiny_lora(folder: Path, path: Path, seed: int, rank: int = 4) -> Path:
    """A LoRA (diffusers/peft format) for UNet and text encoder of the SD model in ``folder``."""
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from peft import LoraConfig, get_peft_model_state_dict, inject_adapter_in_model
    from transformers import CLIPTextModel

    unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet")
    text_encoder = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder")
    with _seeded(seed):
        unet.add_adapter(
            LoraConfig(r=rank, lora_alpha=rank, target_modules=["to_q", "to_k", "to_v", "to_out.0"],
                       init_lora_weights=False)
        )
        # peft directly: transformers' own adapter API wants a newer peft than diffusers does.
        inject_adapter_in_model(
            LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False,
                       target_modules=["q_proj", "k_proj", "v_proj", "out_proj"]),
            text_encoder,
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    StableDiffusionPipeline.save_lora_weights(
        path.parent,
        unet_lora_layers=get_peft_model_state_dict(unet),
        text_encoder_lora_layers=get_peft_model_state_dict(text_encoder),
        weight_name=path.name,
    )
    return path


@dataclass(frozen=True)
class TinyModels:
    """Where :func:`build_tiny_models` put everything, and the names to pick them by."""

    root: Path
    #: Names as a ModelLocator lists them (relative to their kind folder).
    sd_folder: str = "tiny-sd"
    sd_file: str = "tiny-sd.safetensors"
    sd_inpaint_folder: str = "tiny-sd-inpaint"
    sdxl_folder: str = "tiny-sdxl"
    sdxl_file: str = "tiny-sdxl.safetensors"
    sdxl_refiner_folder: str = "tiny-sdxl-refiner"
    sdxl_refiner_file: str = "tiny-sdxl-refiner.safetensors"
    controlnet_folder: str = "tiny-controlnet"
    controlnet_folder_b: str = "tiny-controlnet-b"
    controlnet_file: str = "tiny-controlnet.safetensors"
    sdxl_controlnet_folder: str = "tiny-sdxl-controlnet"
    lora_file: str = "tiny-lora.safetensors"
    vae_folder: str = "tiny-vae"

    def checkpoint(self, name: str) -> Path:
        return self.root / "checkpoints" / name

    def controlnet(self, name: str) -> Path:
        return self.root / "controlnet" / name

    def lora(self, name: str) -> Path:
        return self.root / "loras" / name

    def vae(self, name: str) -> Path:
        return self.root / "vae" / name


def build_tiny_models(root: Path, seed: int = 0) -> TinyModels:
    """Fill ``root`` with the tiny models in the ComfyUI-style folder layout."""
    models = TinyModels(root)
    for kind in ("checkpoints", "controlnet", "loras", "vae", "vae_approx"):
        (root / kind).mkdir(parents=True, exist_ok=True)

    sd = tiny_sd_components(seed)
    sd_folder = save_sd_folder(sd, models.checkpoint(models.sd_folder))
    save_original_checkpoint(sd_folder, models.checkpoint(models.sd_file))
    inpaint = tiny_sd_components(seed, in_channels=9)
    save_sd_folder(inpaint, models.checkpoint(models.sd_inpaint_folder))
    sd["vae"].save_pretrained(models.vae(models.vae_folder))

    sdxl = tiny_sdxl_components(seed + 10)
    sdxl_folder = save_sdxl_folder(sdxl, models.checkpoint(models.sdxl_folder))
    save_original_checkpoint(sdxl_folder, models.checkpoint(models.sdxl_file))
    refiner_folder = save_sdxl_refiner_folder(
        tiny_sdxl_refiner_components(seed + 10), models.checkpoint(models.sdxl_refiner_folder))
    save_original_checkpoint(refiner_folder, models.checkpoint(models.sdxl_refiner_file))

    for offset, name in ((20, models.controlnet_folder), (21, models.controlnet_folder_b)):
        tiny_controlnet(sd["unet"], seed + offset).save_pretrained(models.controlnet(name))
    save_original_controlnet(
        models.controlnet(models.controlnet_folder), models.controlnet(models.controlnet_file)
    )
    tiny_controlnet(sdxl["unet"], seed + 22).save_pretrained(
        models.controlnet(models.sdxl_controlnet_folder)
    )
    save_tiny_lora(sd_folder, models.lora(models.lora_file), seed + 30)
    return models
