"""Upscale models (ESRGAN, RealESRGAN, SwinIR, SPAN, HAT …) through spandrel, run in tiles.

spandrel reads an architecture and its hyper-parameters from the weights alone, as ComfyUI's
Load Upscale Model does; no network is written here. Files are read without running pickled
code (``weights_only``), and only spandrel's main registry is consulted: the architectures it
keeps apart for their non-commercial licences (``spandrel_extra_arches``) are not loaded.

Images are upscaled in overlapping tiles, as ComfyUI does (512 px, 32 px overlap, the tile
halved on out-of-memory down to 128 px). Where NodeStudio differs: tiles are spread evenly over
the image instead of a short one at the end, and the seams are blended with weights that are
zero in the outer quarter of the overlap (the pixels that saw the tile's zero padding rather
than the image) and ramp up over its middle half. A network whose receptive field fits in that
quarter (8 input pixels) gives exactly the untiled result; deeper ones differ only near seams.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from nodestudio.api.errors import NodeError
from nodestudio.runtime import devices, memory_manager
from nodestudio.runtime.checkpoints import ModelLoadError, read_state_dict
from nodestudio.runtime.memory_manager import loaded_to

if TYPE_CHECKING:
    from spandrel import ImageModelDescriptor

_logger = logging.getLogger("nodestudio.runtime.upscale")

#: ComfyUI's tiling: 512-pixel tiles overlapping by 32, halved on out-of-memory down to 128.
DEFAULT_TILE = 512
OVERLAP = 32
MIN_TILE = 128
UPSCALE_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".safetensors")
_PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")

#: Key prefixes of files that belong in another models folder, with the folder to name.
_OTHER_MODELS = (
    (("model.diffusion_model.", "first_stage_model.", "cond_stage_model.", "conditioner."),
     "a Stable Diffusion checkpoint: put it in models/checkpoints"),
    (("double_blocks.", "joint_blocks.", "transformer_blocks."),
     "a diffusion model: put it in models/diffusion_models"),
    (("lora_unet_", "lora_te", "lora_down", "lora_A"), "a LoRA: put it in models/loras"),
    (("encoder.down_blocks.", "decoder.up_blocks.", "encoder.down.", "decoder.up."),
     "a VAE: put it in models/vae"),
    (("control_model.", "controlnet_"), "a ControlNet: put it in models/controlnet"),
)

Progress = Callable[[int, int], None]


@dataclass(frozen=True, eq=False)
class UpscaleModel:
    """UPSCALE_MODEL: a spandrel single-image model (its network, scale and channels)."""

    descriptor: ImageModelDescriptor[Any]
    device: torch.device
    source: str = ""

    @property
    def scale(self) -> int:
        return int(self.descriptor.scale)

    @property
    def architecture(self) -> str:
        return str(self.descriptor.architecture.name)

    @property
    def module(self) -> torch.nn.Module:
        return self.descriptor.model

    @property
    def dtype(self) -> torch.dtype:
        return devices.module_dtype(self.module)

    def describe(self) -> str:
        tags = ", ".join(self.descriptor.tags)
        return (f"{self.architecture} {self.scale}x" + (f" ({tags})" if tags else "")
                + f", {str(self.dtype).removeprefix('torch.')}")

    def offload_to_cpu(self) -> None:
        devices.offload_to_cpu(self.module)

    on_cache_evict = offload_to_cpu


# -- loading ------------------------------------------------------------------------------------


def load_upscale_model(path: Path, device: str | torch.device) -> UpscaleModel:
    """The upscale model in ``path`` on ``device``: fp16 on accelerators where the architecture
    allows it, fp32 on the CPU. Raises NodeError naming the file when it is not one."""
    path = Path(path)
    state_dict = read_weights(path)
    descriptor = describe_weights(state_dict, path.name)
    target = devices.torch_device(device)
    dtype = model_dtype(descriptor, target)
    # .model.to: the descriptor's own .to would refuse a dtype we already checked it takes.
    loaded_to(descriptor.model.to(dtype=dtype), target)
    return UpscaleModel(descriptor, target, source=str(path))


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of an upscale model file, unwrapped the way spandrel canonicalises them."""
    from spandrel import canonicalize_state_dict

    suffix = path.suffix.lower()
    if suffix not in UPSCALE_SUFFIXES:
        raise NodeError(f"{path.name}: unsupported file type {path.suffix!r}; upscale models "
                        f"are {', '.join(UPSCALE_SUFFIXES)} files")
    if suffix == ".safetensors":
        tensors, _ = read_state_dict(path, "upscale model")  # errors name the file (model_files)
    else:
        tensors = _read_pickle(path)
    # ComfyUI's own fix-up for SwinIR files saved from a DataParallel wrapper, where only
    # some keys carry the prefix (spandrel strips a prefix only when every key has it).
    if "module.layers.0.residual_group.blocks.0.norm1.weight" in tensors:
        tensors = {key.removeprefix("module."): value for key, value in tensors.items()}
    return canonicalize_state_dict(tensors)


def _read_pickle(path: Path) -> dict[str, Any]:
    """A pickled state dict, read with ``weights_only`` so that no code in it runs.

    Not checkpoints.read_state_dict: that keeps only the top level's tensors, and released
    upscale models nest theirs (RealESRGAN's ``{"params_ema": {...}}``, BasicSR's
    ``{"params": ...}``), which spandrel's canonicalisation unwraps.
    """
    from nodestudio.runtime.model_files import load_pickle

    loaded = load_pickle(path, "upscale model")  # one sentence naming the file, no code run
    if not isinstance(loaded, Mapping):
        raise ModelLoadError(f"{path.name} does not contain a state dict")
    return _tensors_of(loaded)


def _tensors_of(loaded: Mapping[str, Any]) -> dict[str, Any]:
    """Tensors and nested dicts (spandrel unwraps those); other values are training state."""
    return {str(key): value if isinstance(value, torch.Tensor) else _tensors_of(value)
            for key, value in loaded.items()
            if isinstance(value, torch.Tensor | Mapping)}


def describe_weights(state_dict: Mapping[str, Any], name: str) -> ImageModelDescriptor[Any]:
    """spandrel's descriptor for these weights, or a NodeError saying why there is none."""
    import spandrel

    tensors = {key: value for key, value in state_dict.items()
               if isinstance(value, torch.Tensor)}
    if not tensors:
        raise NodeError(f"{name} is not an upscale model spandrel knows: it holds no weights")
    try:
        descriptor = spandrel.ModelLoader().load_from_state_dict(tensors)
    except spandrel.UnsupportedModelError:
        raise NodeError(f"{name} is not an upscale model spandrel knows: "
                        f"{_unrecognised(tensors)}") from None
    except Exception as error:  # an architecture matched but its hyper-parameters did not
        raise NodeError(f"{name} looks like an upscale model but spandrel "
                        f"{spandrel.__version__} cannot build it ({type(error).__name__}: "
                        f"{error}); the file may be damaged or of a newer variant") from None
    if not isinstance(descriptor, spandrel.ImageModelDescriptor):
        raise NodeError(f"{name} is a {descriptor.architecture.name} {descriptor.purpose} "
                        "model, not a single-image model: Upscale Image (using Model) "
                        "cannot run it")
    return descriptor


def _unrecognised(tensors: Mapping[str, Any]) -> str:
    import spandrel

    keys = list(tensors)
    for prefixes, what in _OTHER_MODELS:
        if any(key.startswith(prefixes) for key in keys):
            return f"it looks like {what}"
    names = sorted({support.architecture.name for support in spandrel.MAIN_REGISTRY})
    shown = ", ".join(keys[:3]) + (", …" if len(keys) > 3 else "")
    return (f"none of the {len(names)} architectures of spandrel {spandrel.__version__} "
            f"({', '.join(names[:6])} …) matches its {len(keys)} weights ({shown}); "
            "architectures with non-commercial licences (spandrel_extra_arches) are not "
            "loaded")


def model_dtype(descriptor: ImageModelDescriptor[Any], device: torch.device) -> torch.dtype:
    """The session's precision for ``device`` (devices.compute_dtype), where the architecture
    supports it: some (e.g. SwinIR variants) overflow in half precision, spandrel says which."""
    wanted = devices.compute_dtype(device)
    if wanted == torch.bfloat16 and not descriptor.supports_bfloat16:
        wanted = torch.float16
    if wanted == torch.float16 and not descriptor.supports_half:
        return torch.float32
    return wanted


# -- running ------------------------------------------------------------------------------------


def upscale_image(
    model: UpscaleModel,
    image: np.ndarray,
    tile_size: int = DEFAULT_TILE,
    *,
    progress: Progress | None = None,
    check_cancelled: Callable[[], None] | None = None,
) -> np.ndarray:
    """``image`` ([B, H, W, 3] float in 0–1) upscaled by the model: float32
    [B, H·scale, W·scale, 3] in 0–1. Tiles of ``tile_size`` pixels, halved on out-of-memory."""
    pixels = np.asarray(image, dtype=np.float32)
    if pixels.ndim != 4 or pixels.shape[-1] != 3:
        raise NodeError(f"expected an image batch [B, H, W, 3], got shape {pixels.shape}")
    if tile_size < 16:
        raise NodeError(f"tile size {tile_size} is too small (16 pixels at least)")
    tile = _whole_image_tile(model, pixels, tile_size)
    while True:
        try:
            # Held as the memory mode says for this node (offload: back to system memory).
            with memory_manager.models_in_use([model.module], model.device):
                return _upscale_tiled(model, pixels, tile, progress, check_cancelled)
        except torch.OutOfMemoryError:
            if model.device.type == "cuda":
                torch.cuda.empty_cache()
            if tile // 2 < min(MIN_TILE, tile_size):
                raise NodeError(
                    f"out of memory upscaling with {model.architecture} even in {tile}-pixel "
                    "tiles: free memory (fewer models loaded) or run on the CPU") from None
            tile //= 2
            _logger.info("out of memory: upscaling again in %d-pixel tiles", tile)


def _whole_image_tile(model: UpscaleModel, pixels: np.ndarray, tile_size: int) -> int:
    """Models that tile internally (spandrel's ModelTiling.INTERNAL) get the whole image."""
    from spandrel import ModelTiling

    if model.descriptor.tiling == ModelTiling.INTERNAL:
        return max(tile_size, *pixels.shape[1:3])
    return tile_size


def _upscale_tiled(model: UpscaleModel, pixels: np.ndarray, tile: int,
                   progress: Progress | None,
                   check_cancelled: Callable[[], None] | None) -> np.ndarray:
    batch, height, width, _ = pixels.shape
    scale = model.scale
    overlap = min(OVERLAP, tile // 4)
    rows, cols = tile_spans(height, tile, overlap), tile_spans(width, tile, overlap)
    total, done = batch * len(rows) * len(cols), 0
    result = np.empty((batch, height * scale, width * scale, 3), np.float32)
    for index in range(batch):
        if len(rows) == 1 and len(cols) == 1:
            # One tile: the model sees the image exactly as untiled (no blending at all).
            if check_cancelled is not None:
                check_cancelled()
            result[index] = _run(model, pixels[index])
            done += 1
            if progress is not None:
                progress(done, total)
            continue
        summed = np.zeros((height * scale, width * scale, 3), np.float32)
        weights = np.zeros((height * scale, width * scale, 1), np.float32)
        for top, tile_height in rows:
            row_weight = seam_weights(tile_height * scale, overlap * scale,
                                      top > 0, top + tile_height < height)
            for left, tile_width in cols:
                if check_cancelled is not None:
                    check_cancelled()
                col_weight = seam_weights(tile_width * scale, overlap * scale,
                                          left > 0, left + tile_width < width)
                out = _run(model, pixels[index, top:top + tile_height, left:left + tile_width])
                weight = (row_weight[:, None] * col_weight[None, :])[..., None]
                y, x = top * scale, left * scale
                summed[y:y + out.shape[0], x:x + out.shape[1]] += out * weight
                weights[y:y + out.shape[0], x:x + out.shape[1]] += weight
                done += 1
                if progress is not None:
                    progress(done, total)
        # Every pixel has a positive weight (seam_weights keeps the overlaps covered).
        result[index] = summed / weights
    return np.clip(result, 0.0, 1.0, out=result)


def tile_spans(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """(start, size) of the tiles along an axis: as few as ``tile``-sized tiles overlapping by
    ``overlap`` need, all the same size and spread evenly, so that no thin last tile runs the
    network on a sliver (ComfyUI's last tile is whatever is left)."""
    if length <= tile:
        return [(0, length)]
    count = math.ceil((length - overlap) / (tile - overlap))
    size = math.ceil((length + (count - 1) * overlap) / count)
    step = (length - size) / (count - 1)
    return [(round(i * step), size) for i in range(count)]


def seam_weights(size: int, overlap: int, low_seam: bool, high_seam: bool) -> np.ndarray:
    """Blending weights along one axis of a tile (output pixels).

    On a side that meets another tile, the outer quarter of the overlap gets weight 0 (those
    pixels were computed next to the tile's zero padding, not the image) and the middle half
    ramps to 1; sides on the image's border keep weight 1. Two neighbours overlapping by at
    least ``overlap`` then cover every pixel with a positive total weight.
    """
    margin, ramp = overlap / 4, overlap / 2
    centres = np.arange(size, dtype=np.float32) + 0.5
    rising = np.clip((centres - margin) / ramp, 0.0, 1.0)
    weight = np.ones(size, np.float32)
    if low_seam:
        weight = np.minimum(weight, rising)
    if high_seam:
        weight = np.minimum(weight, rising[::-1])
    return weight


def _run(model: UpscaleModel, tile: np.ndarray) -> np.ndarray:
    """One tile ([h, w, 3]) through the network: [h·scale, w·scale, 3] float32 on the CPU."""
    descriptor = model.descriptor
    x = torch.from_numpy(np.ascontiguousarray(tile)).permute(2, 0, 1)[None]
    x = _to_model_channels(x, descriptor.input_channels)
    x = x.to(device=model.device, dtype=model.dtype)
    # spandrel pads to the architecture's size requirements, crops back and clamps to 0..1.
    out = descriptor(x)
    out = _to_rgb(out.float(), descriptor.output_channels)
    return out[0].permute(1, 2, 0).cpu().numpy()


def _to_model_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    if channels == 3:
        return x
    if channels == 1:  # grayscale models: the image's luma (ITU-R BT.601, as PIL's "L")
        luma = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype).view(1, 3, 1, 1)
        return (x * luma).sum(dim=1, keepdim=True)
    if channels == 4:  # RGBA models: the image is opaque
        return torch.cat([x, torch.ones_like(x[:, :1])], dim=1)
    raise NodeError(f"upscale models with {channels} input channels are not supported")


def _to_rgb(out: torch.Tensor, channels: int) -> torch.Tensor:
    if channels == 1:
        return out.expand(-1, 3, -1, -1)
    return out[:, :3]
