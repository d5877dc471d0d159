"""SD3 and Flux as people keep them: single files, split or all-in-one, in the original layout.

* **Diffusion model alone** (``models/diffusion_models``): Stability's MMDiT or Black Forest
  Labs' Flux key layout (bare or under ``model.diffusion_model.``), also stored as fp8
  (``float8_e4m3fn``, upcast on load), or a diffusers ``transformer`` folder.
* **Text encoders alone** (``models/text_encoders``): transformers' own key names, one file per
  encoder (CLIP-L, OpenCLIP-bigG, T5-XXL); which is which is read from the weights.
* **All-in-one checkpoints** (``models/checkpoints``): ComfyUI's bundles of the above under
  fixed prefixes (``text_encoders.clip_l.transformer.`` …) with the VAE.

Architectures come from the file's embedded config (:mod:`model_configs`) or from the released
configs shipped in ``resources/model_configs`` (picked by the family from the key shapes).
Tokenizers: CLIP's is built offline; T5's must be in ``models/tokenizers/t5`` (tokenizer.json),
since single files carry none and nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nodestudio.api.errors import ModelNotFoundError, NodeError
from nodestudio.runtime import families, model_configs
from nodestudio.runtime.devices import compute_dtype, torch_device
from nodestudio.runtime.families.transformer import (
    TokenizerMissingError,
    TransformerFamily,
    clip_tokenizer_for,
    folder_tokenizer,
)
from nodestudio.runtime.memory_manager import loaded_to
from nodestudio.runtime.types import DiffusionModel, TextEncoder, TextEncoders

#: ``progress(done, total)``
Progress = Callable[[int, int], None]

_STORAGE_DTYPES = {"fp8_e4m3fn": torch.float8_e4m3fn, "fp8_e5m2": torch.float8_e5m2}
_COMPUTE_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
#: Keys that tell a text encoder file's kind.
_T5_KEY = "encoder.block.0.layer.0.SelfAttention.q.weight"
_CLIP_KEY = "text_model.embeddings.token_embedding.weight"


class SplitFileError(NodeError):
    """A model file that cannot be used as asked; the message says what fits."""


def _shapes(weights: Mapping[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in weights.items()}


def _strip(weights: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}


def _dtype_for(device: torch.device, weight_dtype: str) -> torch.dtype:
    return _COMPUTE_DTYPES.get(weight_dtype) or compute_dtype(device)


def _config_folder(family: TransformerFamily, embedded: Mapping[str, Any] | None,
                   shapes: Mapping[str, tuple[int, ...]]):
    """A folder with ``transformer/config.json`` (and, if known, the scheduler's)."""
    return model_configs.config_folder_for(embedded, family.released_config(shapes))


def build_transformer(family: TransformerFamily, weights: Mapping[str, torch.Tensor],
                      config_dir: Path, dtype: torch.dtype) -> torch.nn.Module:
    """The family's transformer with ``weights`` (original layout) at ``dtype``."""
    import diffusers
    from accelerate import init_empty_weights

    config = model_configs.read_json(config_dir / "transformer" / "config.json")
    model_class = getattr(diffusers, family.transformer_class)
    converted = family.transformer_from_original(weights, config)
    with init_empty_weights():
        model = model_class.from_config(config)
    result = model.load_state_dict(converted, strict=False, assign=True)
    if result.missing_keys or result.unexpected_keys:
        found = (result.missing_keys or result.unexpected_keys)[:3]
        raise SplitFileError(f"the weights do not fit the {family.label} architecture they "
                             f"look like (first mismatches: {found})")
    return model.to(dtype).eval()


def _scheduler_config(config_dir: Path) -> dict[str, Any]:
    path = config_dir / "scheduler" / "scheduler_config.json"
    return model_configs.read_json(path) if path.is_file() else {}


def load_diffusion_model(path: Path, device: str | torch.device, weight_dtype: str = "default",
                         progress: Progress | None = None) -> DiffusionModel:
    """MODEL from a diffusion-model-only file or a diffusers transformer folder."""
    from nodestudio.runtime.checkpoints import quiet_loading_bars, read_state_dict

    quiet_loading_bars()
    target = torch_device(device)
    dtype = _dtype_for(target, weight_dtype)
    if path.is_dir():
        raise SplitFileError(f"{path.name} is a folder: put a diffusers model folder in the "
                             "checkpoints folder and use Load Checkpoint")
    weights, metadata = read_state_dict(path, "diffusion model")
    if progress is not None:
        progress(1, 2)
    shapes = _shapes(weights)
    family = families.for_diffusion_model(shapes)
    if not isinstance(family, TransformerFamily):
        raise SplitFileError(
            f"{path.name} is not an SD3 or Flux diffusion model; whole checkpoints go in the "
            "checkpoints folder (Load Checkpoint)"
        )
    embedded = model_configs.embedded_configs(metadata)
    with _config_folder(family, embedded, shapes) as config_dir:
        transformer = build_transformer(family, weights, config_dir, dtype)
        scheduler_config = _scheduler_config(config_dir) or family.default_scheduler_config(
            transformer.config)
    del weights
    storage = _STORAGE_DTYPES.get(weight_dtype)
    if storage is not None:
        # Weights stay in 8 bits and each layer is upcast as it runs (diffusers' layerwise
        # casting): half the memory of bf16 for about the same picture.
        transformer.enable_layerwise_casting(storage_dtype=storage, compute_dtype=dtype)
    if progress is not None:
        progress(2, 2)
    loaded = family.assemble(transformer, scheduler_config, None, (), target, str(path))
    return loaded.model


# -- text encoders ------------------------------------------------------------------------------


def _encoder_kind(weights: Mapping[str, torch.Tensor]) -> str:
    if _T5_KEY in weights:
        return "t5"
    if _CLIP_KEY in weights:
        return "clip"
    return "unknown"


def _text_config(kind: str, weights: Mapping[str, torch.Tensor],
                 embedded: Mapping[str, Any] | None) -> dict[str, Any]:
    if embedded is not None and "text_encoder" in embedded:
        return dict(embedded["text_encoder"])
    if kind == "t5":
        width = weights["shared.weight"].shape[1] if "shared.weight" in weights else 0
        name = "t5xxl" if width == 4096 else None
    else:
        width = weights[_CLIP_KEY].shape[1]
        name = {768: "clip_l", 1280: "clip_g"}.get(width)
    if name is None:
        raise SplitFileError(f"a {kind.upper()} text encoder {width} wide is not a released "
                             "shape NodeStudio knows (CLIP-L 768, CLIP-G 1280, T5-XXL 4096)")
    folder = model_configs.shipped_config_dir("text_encoders") / name
    return model_configs.read_json(folder / "config.json")


def build_text_encoder(kind: str, class_name: str, weights: dict[str, torch.Tensor],
                       config: Mapping[str, Any], dtype: torch.dtype) -> torch.nn.Module:
    """A transformers text encoder from its own-named weights, without a second copy."""
    import transformers
    from accelerate import init_empty_weights

    model_class = getattr(transformers, class_name)
    config_class = transformers.T5Config if kind == "t5" else transformers.CLIPTextConfig
    known = {k: v for k, v in config.items() if k not in ("architectures", "_name_or_path")}
    text_config = config_class(**known)
    weights = dict(weights)
    if kind == "t5":
        # T5 files keep the shared embedding once, under either name.
        shared = weights.get("shared.weight", weights.get("encoder.embed_tokens.weight"))
        weights.setdefault("shared.weight", shared)
        weights.setdefault("encoder.embed_tokens.weight", shared)
    elif class_name == "CLIPTextModelWithProjection":
        if "text_projection.weight" not in weights:
            # SD3 pools CLIP-L unprojected; files without a projection get the identity.
            width = weights[_CLIP_KEY].shape[1]
            weights["text_projection.weight"] = torch.eye(width, dtype=weights[_CLIP_KEY].dtype)
    else:
        weights.pop("text_projection.weight", None)
    with init_empty_weights():
        model = model_class(text_config)
    if not hasattr(model, "text_model") and kind == "clip":
        # transformers ≥ 5.6 flattened CLIPTextModel (no text_model level).
        weights = {k.removeprefix("text_model."): v for k, v in weights.items()}
    result = model.load_state_dict(weights, strict=False, assign=True)
    missing = [k for k in result.missing_keys if "position_ids" not in k]
    if missing:
        raise SplitFileError(f"the text encoder lacks weights: {missing[:3]}")
    return model.to(dtype).eval()


@dataclass(frozen=True)
class EncoderFile:
    """A text encoder's weights (transformers names) and config, read from one file."""

    kind: str  # "clip" or "t5"
    weights: dict[str, torch.Tensor]
    config: dict[str, Any]
    name: str

    @property
    def width(self) -> int:
        key = _CLIP_KEY if self.kind == "clip" else "shared.weight"
        tensor = self.weights.get(key, self.weights.get("encoder.embed_tokens.weight"))
        return int(tensor.shape[1])


def read_encoder(weights: dict[str, torch.Tensor], embedded: Mapping[str, Any] | None,
                 name: str) -> EncoderFile:
    kind = _encoder_kind(weights)
    if kind == "unknown":
        raise SplitFileError(f"{name} is not a CLIP or T5 text encoder")
    return EncoderFile(kind, weights, _text_config(kind, weights, embedded), name)


def _assign_slots(family: TransformerFamily, files: list[EncoderFile]
                  ) -> list[tuple[str, EncoderFile]]:
    """(slot, file): a T5 fills "t5", the CLIPs the family's CLIP slots by width (the
    narrower is CLIP-L)."""
    clips = sorted((file for file in files if file.kind == "clip"), key=lambda f: f.width)
    t5s = [file for file in files if file.kind == "t5"]
    clip_slots = [slot for slot in family.text_encoder_slots if slot != "t5"]
    wanted = " + ".join(family.text_encoder_slots)
    if len(clips) > len(clip_slots) or len(t5s) > ("t5" in family.text_encoder_slots):
        raise SplitFileError(f"{family.label} takes {wanted}; got "
                             f"{len(clips)} CLIP and {len(t5s)} T5 files")
    assigned = list(zip(clip_slots, clips, strict=False)) + [("t5", file) for file in t5s]
    required = [s for s in family.text_encoder_slots if s not in family.optional_text_encoders]
    missing = [slot for slot in required if slot not in {slot for slot, _ in assigned}]
    if missing:
        raise SplitFileError(f"{family.label} needs {wanted}: {', '.join(missing)} is missing")
    return assigned


def _t5_tokenizer(source: Path | Exception | None) -> Any:
    if isinstance(source, Path):
        return folder_tokenizer(source, "t5")
    where = str(source) if source is not None else "put it in models/tokenizers/t5"
    raise TokenizerMissingError(f"a T5 text encoder needs its tokenizer (tokenizer.json), which "
                                f"single files do not carry: {where}")


def make_text_encoders(family: TransformerFamily, files: list[EncoderFile],
                       device: torch.device, dtype: torch.dtype,
                       t5_tokenizer: Path | Exception | None, source: str) -> TextEncoders:
    """CLIP (the TextEncoders handle) from the family's encoder files."""
    classes = {slot: class_name for _, slot, class_name in family.folder_encoders}
    assigned = dict(_assign_slots(family, files))
    tokenizer = _t5_tokenizer(t5_tokenizer) if "t5" in assigned else None
    encoders = []
    for slot in family.text_encoder_slots:
        file = assigned.get(slot)
        if file is None:
            continue
        model = build_text_encoder(file.kind, classes[slot], file.weights, file.config, dtype)
        encoders.append(TextEncoder(
            loaded_to(model, device), tokenizer if slot == "t5" else clip_tokenizer_for(slot),
            slot=slot, pooled=slot.startswith("clip"),
        ))
    return TextEncoders(tuple(encoders), family, device, source)


def load_text_encoders(paths: list[Path], family_name: str, device: str | torch.device,
                       t5_tokenizer: Path | ModelNotFoundError | None,
                       progress: Progress | None = None) -> TextEncoders:
    """CLIP from text encoder files for ``family_name`` ("flux", "sd3")."""
    from nodestudio.runtime.checkpoints import quiet_loading_bars, read_state_dict

    quiet_loading_bars()
    family = families.by_id(family_name)
    if not isinstance(family, TransformerFamily):
        raise SplitFileError(f"text encoders from separate files are for SD3 and Flux, "
                             f"not {family.label}")
    target = torch_device(device)
    files = []
    for done, path in enumerate(paths, 1):
        weights, metadata = read_state_dict(path, "text encoder")
        files.append(read_encoder(weights, model_configs.embedded_configs(metadata), path.name))
        if progress is not None:
            progress(done, len(paths) + 1)
    clip = make_text_encoders(family, files, target, compute_dtype(target), t5_tokenizer,
                              " + ".join(str(path) for path in paths))
    if progress is not None:
        progress(len(paths) + 1, len(paths) + 1)
    return clip


def load_all_in_one(family: TransformerFamily, weights: dict[str, torch.Tensor],
                    metadata: Mapping[str, str], device: torch.device,
                    t5_tokenizer: Path | Exception | None, source: str,
                    finished: Callable[[], None]) -> Any:
    """MODEL, CLIP and VAE from one of ComfyUI's SD3/Flux bundles (see the family's
    ``checkpoint_prefixes``). Returns the family's LoadedParts."""
    from diffusers import AutoencoderKL

    shapes = _shapes(weights)
    embedded = model_configs.embedded_configs(metadata)
    dtype = compute_dtype(device)
    prefixes = family.checkpoint_prefixes
    with _config_folder(family, embedded, shapes) as config_dir:
        transformer = build_transformer(family, _strip(weights, prefixes["transformer"]),
                                        config_dir, dtype)
        scheduler_config = _scheduler_config(config_dir) or family.default_scheduler_config(
            transformer.config)
        finished()
        vae_weights = _strip(weights, prefixes["vae"])
        vae = None
        if vae_weights:
            vae = AutoencoderKL.from_single_file(
                vae_weights, config=str(config_dir), subfolder="vae", torch_dtype=dtype,
                local_files_only=True,
            )
        finished()
        files = []
        for slot in family.text_encoder_slots:
            part = _strip(weights, prefixes[slot])
            if part:
                component = next(c for c, s, _ in family.folder_encoders if s == slot)
                config = (embedded or {}).get(component)
                folder_config = config_dir / component / "config.json"
                if config is None and folder_config.is_file():
                    config = model_configs.read_json(folder_config)
                entry = {"text_encoder": config} if config is not None else None
                files.append(read_encoder(part, entry, f"{slot} of {Path(source).name}"))
        clip = make_text_encoders(family, files, device, dtype, t5_tokenizer, source)
        finished()
    return family.assemble(transformer, scheduler_config, vae, clip.encoders, device, source)
