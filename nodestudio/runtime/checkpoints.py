"""Loading checkpoints, VAEs and ControlNets from diffusers folders or single files, offline.

A checkpoint is either a diffusers folder (``model_index.json`` + component folders) or a single
``.safetensors`` (or, only through ``torch.load(weights_only=True)``, ``.ckpt``/``.pt``) file in
the original Stable Diffusion layout. For single files the family is detected from the keys
(:mod:`detection`) and the architecture comes from the shipped config folders or from configs
embedded in the file (:mod:`model_configs`); the weights are converted by diffusers'
``from_single_file``. Nothing is downloaded: every ``from_pretrained``/``from_single_file`` call
is ``local_files_only``.

Loaders take an optional ``progress(done, total)`` called as the parts of a model finish (the
config or the weights file, the UNet, the VAE, each text encoder), so that a progress bar moves
while a large checkpoint loads.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nodestudio.api.errors import NodeError
from nodestudio.runtime import families, model_configs, unclip
from nodestudio.runtime.detection import (
    NotACheckpointError,
    detect_checkpoint,
    detect_controlnet,
)
from nodestudio.runtime.devices import compute_dtype, torch_device
from nodestudio.runtime.families.base import ModelFamily
from nodestudio.runtime.memory_manager import loaded_to
from nodestudio.runtime.model_files import ModelLoadError, describe_load_error, open_weights
from nodestudio.runtime.tokenizers import END_TOKEN, OPEN_CLIP_PAD_TOKEN, clip_tokenizer
from nodestudio.runtime.types import ControlNet, DiffusionModel, TextEncoder, TextEncoders, Vae

SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
_DIFFUSERS_WEIGHTS = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin",
                      "model.safetensors", "pytorch_model.bin")


#: ``progress(parts_done, parts_total)``, called each time a part of a model has loaded.
LoadProgress = Callable[[int, int], None]


class _Parts:
    """Counts the parts of a load as they finish and reports them."""

    def __init__(self, progress: LoadProgress | None, total: int = 0) -> None:
        self._progress = progress
        self._done = 0
        self.total = total

    def finished(self) -> None:
        self._done += 1
        if self._progress is not None:
            self._progress(self._done, max(self.total, self._done))


@dataclass(frozen=True)
class Checkpoint:
    model: DiffusionModel
    clip: TextEncoders
    vae: Vae


# -- reading files ----------------------------------------------------------------------------


def read_state_dict(path: Path, kind: str = "model"
                    ) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Weights and safetensors metadata of a single file (pickles only with weights_only); a
    broken file raises a ModelLoadError naming it (see :mod:`model_files`)."""
    return open_weights(path, kind)


def variant_of(folder: Path) -> str | None:
    """"fp16" when a diffusers component folder only has fp16 weights."""
    if any((folder / name).is_file() for name in _DIFFUSERS_WEIGHTS):
        return None
    if any(p.name.split(".")[-2:-1] == ["fp16"] for p in folder.glob("*.fp16.*")):
        return "fp16"
    return None


def _vae_dtype(vae_config: Mapping[str, Any], dtype: torch.dtype) -> torch.dtype:
    # SDXL's VAE overflows in fp16 (its config says force_upcast): keep it in fp32 for good.
    if dtype == torch.float16 and vae_config.get("force_upcast", False):
        return torch.float32
    return dtype


def latent_format_of(vae_config: Any) -> str:
    """The name of the released latent space a VAE encodes into ("sd", "sdxl", "sd3",
    "flux"), told by its channels and scaling; "unknown" for any other."""
    channels = getattr(vae_config, "latent_channels", 4)
    scaling = round(float(getattr(vae_config, "scaling_factor", 0.0)), 4)
    for latent in families.latent_formats().values():
        if latent.channels == channels and round(latent.scaling_factor, 4) == scaling:
            return latent.name
    return "unknown"


def _pad_token(family: ModelFamily, slot: str) -> str:
    # OpenCLIP encoders (SD2's only one, SDXL's and SD3's second) were trained with "!" padding.
    return OPEN_CLIP_PAD_TOKEN if slot in ("clip_h", "clip_g") else END_TOKEN


def _slots(family: ModelFamily, count: int) -> tuple[str, ...]:
    return family.text_encoder_slots[:count]


def _finish(
    unet: Any,
    vae_model: Any,
    encoders: list[tuple[Any, Any]],
    scheduler_config: Mapping[str, Any],
    device: torch.device,
    source: str,
    family: ModelFamily | None = None,
) -> Checkpoint:
    family = family or families.for_unet(unet.config, len(encoders))
    slots = tuple(
        TextEncoder(
            model=loaded_to(model, device),
            tokenizer=tokenizer,
            penultimate=family.penultimate,
            pooled=slot == family.pooled_slot,
            slot=slot,
        )
        for (model, tokenizer), slot in zip(encoders, _slots(family, len(encoders)),
                                            strict=True)
    )
    vae = Vae(loaded_to(vae_model, device), device, source)
    model = DiffusionModel(
        denoiser=loaded_to(unet, device),
        scheduler_config=dict(scheduler_config),
        family=family,
        latent_channels=vae.latent_channels,
        vae_scale_factor=vae.scale_factor,
        device=device,
        source=source,
        latent_format=latent_format_of(vae_model.config),
    )
    return Checkpoint(model, TextEncoders(slots, family, device, source), vae)


# -- checkpoints --------------------------------------------------------------------------------



def quiet_loading_bars() -> None:
    """The node reports loading itself (and the CLI prints one line per node): the libraries'
    own "Loading weights" bars would only interleave with it on stderr, and their loading
    warnings ("modules that should be kept in float32: []") say nothing an artist can act on —
    what goes wrong is raised as a NodeError naming the file."""
    import diffusers.utils.logging
    import transformers.utils.logging

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.set_verbosity_error()


def load_checkpoint(path: Path, device: str | torch.device,
                    progress: LoadProgress | None = None,
                    t5_tokenizer: Path | Exception | None = None) -> Checkpoint:
    """Load a checkpoint (diffusers folder or single file) onto ``device``.

    ``t5_tokenizer`` is the folder with T5's tokenizer.json for single files that hold a T5
    (or the error saying where it should be).
    """
    quiet_loading_bars()
    target = torch_device(device)
    parts = _Parts(progress)
    try:
        if path.is_dir():
            return _load_checkpoint_folder(path, target, parts)
        return _load_checkpoint_file(path, target, parts, t5_tokenizer)
    except (NodeError, MemoryError):
        raise
    except NotACheckpointError as error:
        raise ModelLoadError(f"{path.name}: {error}") from None
    except Exception as error:  # library text (diffusers, torch) becomes one sentence
        raise ModelLoadError(describe_load_error(path, error, "checkpoint")) from None


def _load_checkpoint_folder(path: Path, device: torch.device, parts: _Parts) -> Checkpoint:
    import transformers
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTokenizer

    if not (path / "model_index.json").is_file():
        raise ModelLoadError(f"{path} is a folder but not a diffusers model (no model_index.json)")
    index = model_configs.read_json(path / "model_index.json")
    family = families.for_pipeline(index)
    if family is None:
        raise ModelLoadError(f"{path.name} holds a {index.get('_class_name', 'diffusers')} "
                             "model, which NodeStudio cannot run")
    # Video families on a UNet (SVD's spatio-temporal one) load themselves, like transformers.
    if "unet" not in index or family.video:
        encoders = sum(1 for component, _, _ in getattr(family, "folder_encoders", ())
                       if (index.get(component) or [None])[0])
        parts.total = 3 + encoders  # the model index, the transformer, the VAE, each encoder
        parts.finished()
        loaded = family.load_folder(path, index, device, parts.finished)
        return Checkpoint(loaded.model, loaded.clip, loaded.vae)
    names = [n for n in ("text_encoder", "text_encoder_2") if (index.get(n) or [None])[0]]
    parts.total = 3 + len(names)  # the model index, the UNet, the VAE, each text encoder
    parts.finished()
    dtype = compute_dtype(device)
    unet = UNet2DConditionModel.from_pretrained(
        path, subfolder="unet", torch_dtype=dtype, local_files_only=True,
        variant=variant_of(path / "unet"),
    )
    parts.finished()
    vae_config = AutoencoderKL.load_config(path, subfolder="vae", local_files_only=True)
    vae = AutoencoderKL.from_pretrained(
        path, subfolder="vae", local_files_only=True, variant=variant_of(path / "vae"),
        torch_dtype=_vae_dtype(vae_config, dtype),
    )
    parts.finished()
    family = families.for_unet(unet.config, len(names))
    encoders = []
    for position, name in enumerate(names):
        model_class = getattr(transformers, index[name][1])
        model = model_class.from_pretrained(
            path, subfolder=name, torch_dtype=dtype, local_files_only=True,
            variant=variant_of(path / name),
        )
        tokenizer_folder = path / name.replace("text_encoder", "tokenizer")
        if tokenizer_folder.is_dir():
            tokenizer = CLIPTokenizer.from_pretrained(tokenizer_folder, local_files_only=True)
        else:
            tokenizer = clip_tokenizer(
                _pad_token(family, _slots(family, len(names))[position]),
                model.config.max_position_embeddings,
            )
        encoders.append((model, tokenizer))
        parts.finished()
    scheduler_config = model_configs.read_json(path / "scheduler" / "scheduler_config.json")
    return _finish(unet, vae, encoders, scheduler_config, device, str(path))


def _load_checkpoint_file(path: Path, device: torch.device, parts: _Parts,
                          t5_tokenizer: Path | Exception | None = None) -> Checkpoint:
    from diffusers import AutoencoderKL, UNet2DConditionModel

    state_dict, metadata = read_state_dict(path, "checkpoint")
    shapes = {key: tuple(value.shape) for key, value in state_dict.items()}
    transformer_family = families.for_checkpoint(shapes)
    if transformer_family is not None:
        from nodestudio.runtime.split_files import load_all_in_one

        parts.total = 4  # the file, the transformer, the VAE, the text encoders
        parts.finished()
        loaded = load_all_in_one(transformer_family, state_dict, metadata, device,
                                 t5_tokenizer, str(path), parts.finished)
        return Checkpoint(loaded.model, loaded.clip, loaded.vae)
    kind = detect_checkpoint(shapes, state_dict.__getitem__, metadata, path.with_suffix(".yaml"))
    embedded = model_configs.embedded_configs(metadata)
    dtype = compute_dtype(device)
    with model_configs.config_folder_for(embedded, kind.config_name) as config_dir:
        config = str(config_dir)
        index = model_configs.read_json(config_dir / "model_index.json")
        # The refiner's index lists text_encoder as null: it has only the second.
        names = [n for n in ("text_encoder", "text_encoder_2") if (index.get(n) or [None])[0]]
        parts.total = 3 + len(names)  # the weights file, the UNet, the VAE, each text encoder
        parts.finished()
        unet_config = model_configs.read_json(config_dir / "unet" / "config.json")
        overrides = {}
        if unet_config.get("in_channels") != kind.in_channels:
            overrides["in_channels"] = kind.in_channels  # inpainting variants (9 channels)
        overrides.update(unclip.unet_overrides(shapes, unet_config))  # SD 2.1 unCLIP
        unet = UNet2DConditionModel.from_single_file(
            state_dict, config=config, subfolder="unet", torch_dtype=dtype,
            local_files_only=True, **overrides,
        )
        parts.finished()
        vae_config = model_configs.read_json(config_dir / "vae" / "config.json")
        vae = AutoencoderKL.from_single_file(
            state_dict, config=config, subfolder="vae", local_files_only=True,
            torch_dtype=_vae_dtype(vae_config, dtype),
        )
        parts.finished()
        encoders = _clip_encoders(state_dict, config_dir, {name: index[name][1]
                                                           for name in names},
                                  families.by_id(kind.family), dtype,
                                  (embedded or {}).get("tokenizer", {}), parts)
        scheduler_config = model_configs.read_json(
            config_dir / "scheduler" / "scheduler_config.json"
        )
    if embedded is None or kind.prediction_declared:
        # Shipped configs are per family; a file's own config already says what it predicts.
        scheduler_config["prediction_type"] = kind.prediction_type
    if kind.zero_terminal_snr:
        scheduler_config["rescale_betas_zero_snr"] = True
    del state_dict
    return _finish(unet, vae, encoders, scheduler_config, device, str(path),
                   families.by_id(kind.family))


def _clip_encoders(state_dict: dict[str, torch.Tensor], config_dir: Path,
                   classes: dict[str, str], family: ModelFamily, dtype: torch.dtype,
                   tokenizer_config: dict[str, Any], parts: _Parts) -> list[tuple[Any, Any]]:
    """The checkpoint's CLIP text encoders (``classes``: folder → transformers class, in slot
    order) with the family's tokenizer for each."""
    import transformers
    from diffusers.loaders.single_file_utils import create_diffusers_clip_model_from_ldm

    encoders = []
    slots = _slots(family, len(classes))
    for position, (name, class_name) in enumerate(classes.items()):
        model = create_diffusers_clip_model_from_ldm(
            getattr(transformers, class_name), state_dict, subfolder=name,
            config=str(config_dir), torch_dtype=dtype, local_files_only=True,
        )
        tokenizer = clip_tokenizer(
            _pad_token(family, slots[position]),
            tokenizer_config.get("model_max_length", model.config.max_position_embeddings),
        )
        encoders.append((model, tokenizer))
        parts.finished()
    return encoders


# -- VAE --------------------------------------------------------------------------------------


def _is_sdxl_vae_file(path: Path, metadata: Mapping[str, str]) -> bool:
    """SD and SDXL VAEs have identical shapes; only their latent scaling differs."""
    architecture = metadata.get("modelspec.architecture", "").lower()
    if architecture:
        return "xl" in architecture
    return "xl" in path.name.lower()


def load_vae(path: Path, device: str | torch.device,
             progress: LoadProgress | None = None) -> Vae:
    """A VAE from a diffusers folder (``config.json``) or a single file (either key layout).

    For single files the latent scaling of SD (0.18215) is assumed unless the file declares an
    SDXL architecture in its metadata or has "xl" in its name (SDXL: 0.13025).
    """
    from diffusers import AutoencoderKL

    quiet_loading_bars()
    target = torch_device(device)
    dtype = compute_dtype(target)
    try:
        if path.is_dir():
            config = AutoencoderKL.load_config(path, local_files_only=True)
            model = AutoencoderKL.from_pretrained(
                path, local_files_only=True, torch_dtype=_vae_dtype(config, dtype),
                variant=variant_of(path),
            )
        else:
            parts = _Parts(progress, total=2)  # the file, the model made from it
            state_dict, metadata = read_state_dict(path, "VAE")
            parts.finished()
            embedded = model_configs.embedded_configs(metadata)
            shipped = "sdxl" if _is_sdxl_vae_file(path, metadata) else "sd15"
            with model_configs.config_folder_for(embedded, shipped) as config_dir:
                config = model_configs.read_json(config_dir / "vae" / "config.json")
                model = AutoencoderKL.from_single_file(
                    state_dict, config=str(config_dir), subfolder="vae", local_files_only=True,
                    torch_dtype=_vae_dtype(config, dtype),
                )
            parts.finished()
    except (NodeError, MemoryError):
        raise
    except Exception as error:  # library text (diffusers, torch) becomes one sentence
        raise ModelLoadError(describe_load_error(path, error, "VAE")) from None
    return Vae(loaded_to(model, target), target, str(path))


# -- ControlNet ---------------------------------------------------------------------------------


def load_controlnet(path: Path, device: str | torch.device,
                    progress: LoadProgress | None = None,
                    base: DiffusionModel | None = None) -> ControlNet:
    """A ControlNet from a diffusers folder or a single file (original or diffusers keys), or a
    T2I-Adapter (as ComfyUI's loader takes both). ``base``: the model a "diff" ControlNet's
    weights are differences to (Load ControlNet (diff))."""
    from diffusers import ControlNetModel

    from nodestudio.runtime import diff_controlnet, t2i_adapter

    quiet_loading_bars()
    target = torch_device(device)
    dtype = compute_dtype(target)
    try:
        if path.is_dir():
            transformer_controlnet = _transformer_controlnet(path, target, dtype)
            if transformer_controlnet is not None:
                return transformer_controlnet
            model = ControlNetModel.from_pretrained(
                path, torch_dtype=dtype, local_files_only=True, variant=variant_of(path)
            )
        else:
            parts = _Parts(progress, total=2)  # the file, the model made from it
            state_dict, metadata = read_state_dict(path, "ControlNet")
            parts.finished()
            if t2i_adapter.is_t2i_adapter(state_dict):
                return t2i_adapter.from_state_dict(state_dict, path, target, dtype)
            state_dict = diff_controlnet.resolve(state_dict, base, path)
            kind = detect_controlnet({k: tuple(v.shape) for k, v in state_dict.items()})
            embedded = model_configs.embedded_configs(metadata)
            with model_configs.config_folder_for(embedded, kind.config_name) as config_dir:
                model = ControlNetModel.from_single_file(
                    state_dict, config=str(config_dir), torch_dtype=dtype,
                    local_files_only=True, **dict(kind.overrides),
                )
            parts.finished()
    except (NodeError, MemoryError):
        raise
    except NotACheckpointError as error:
        raise ModelLoadError(f"{path.name}: {error}") from None
    except Exception as error:  # library text (diffusers, torch) becomes one sentence
        raise ModelLoadError(describe_load_error(path, error, "ControlNet")) from None
    family = families.for_unet(model.config, 0)
    return ControlNet(loaded_to(model, target), family, target, str(path))


#: ControlNet classes of the transformer families (a folder's config names its class).
_TRANSFORMER_CONTROLNETS = {"SD3ControlNetModel": "sd3", "FluxControlNetModel": "flux"}


def _transformer_controlnet(path: Path, device: torch.device,
                            dtype: torch.dtype) -> ControlNet | None:
    """An SD3 or Flux ControlNet or a T2I-Adapter folder, or None for a UNet ControlNet."""
    import diffusers

    config_file = path / "config.json"
    class_name = model_configs.read_json(config_file).get("_class_name") if (
        config_file.is_file()) else None
    from nodestudio.runtime import t2i_adapter

    adapter = t2i_adapter.from_folder(path, device, dtype, class_name, variant_of(path))
    if adapter is not None:
        return adapter
    if class_name not in _TRANSFORMER_CONTROLNETS:
        return None
    model = getattr(diffusers, class_name).from_pretrained(
        path, torch_dtype=dtype, local_files_only=True, variant=variant_of(path)
    )
    family = families.by_id(_TRANSFORMER_CONTROLNETS[class_name])
    return ControlNet(loaded_to(model, device), family, device, str(path))


def describe(checkpoint: Checkpoint) -> str:
    """One line for logs: family, precision, prediction type."""
    model = checkpoint.model
    return json.dumps({
        "family": model.family.id.value,
        "dtype": str(model.dtype).removeprefix("torch."),
        "prediction_type": model.scheduler_config.get("prediction_type",
                                                       model.family.prediction.value),
        "in_channels": model.denoiser.config.in_channels,
    })
