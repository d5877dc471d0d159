"""Upscale models through spandrel: loading by architecture, tiled upscaling that matches the
untiled network, known-weight output, progress and cancellation per tile, out-of-memory
fallback, the errors for files that are not upscale models, and a Session run.

The networks are spandrel's own architecture classes, tiny and seeded, saved as a user has
them (.pth, RealESRGAN's {"params_ema": …} wrapper, .safetensors).
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from spandrel.architectures.Compact import Compact
from spandrel.architectures.ESRGAN import ESRGAN
from spandrel.architectures.SPAN import SPAN

import nodestudio
from nodestudio.api import Cancelled, NodeError
from nodestudio.app.settings import Settings
from nodestudio.engine.sizing import footprint
from nodestudio.graph.model import Graph
from nodestudio.runtime.upscale import (
    UpscaleModel,
    load_upscale_model,
    model_dtype,
    seam_weights,
    tile_spans,
    upscale_image,
)

#: The (pattern) bias of the known-weight model's last convolution, one value per output
#: channel and sub-pixel: out[c, 2y+i, 2x+j] = in[c, y, x] + KNOWN_BIAS[4c + 2i + j].
KNOWN_BIAS = torch.linspace(-0.1, 0.1, 12)


def _esrgan(gain: float = 1.0) -> dict[str, torch.Tensor]:
    """A 4x RRDBNet (8 filters, one block), its output moved to mid-grey so nothing clamps;
    ``gain`` amplifies the block, widening what each output pixel depends on."""
    torch.manual_seed(0)
    state = ESRGAN(num_filters=8, num_blocks=1, scale=4).state_dict()
    for key in state:
        if ".sub.0." in key and key.endswith("weight"):
            state[key] = state[key] * gain
    state["model.10.bias"] = state["model.10.bias"] + 0.5  # the last convolution
    return state


def _compact() -> dict[str, torch.Tensor]:
    """A 2x RealESRGAN Compact (SRVGG): 4 convolutions deep, so each output pixel sees 4
    input pixels around it, less than the 8 the seams leave out."""
    torch.manual_seed(1)
    return Compact(num_feat=8, num_conv=2, upscale=2).state_dict()


def _known() -> dict[str, torch.Tensor]:
    """A 2x Compact with every weight zero: the network adds only its last bias (through the
    pixel shuffle) to the nearest-neighbour upscale Compact always adds."""
    state = {key: torch.zeros_like(value)
             for key, value in Compact(num_feat=4, num_conv=1, upscale=2).state_dict().items()}
    last = max((key for key in state if key.endswith(".bias")),
               key=lambda key: int(key.split(".")[1]))
    state[last] = KNOWN_BIAS.clone()
    return state


def _span() -> dict[str, torch.Tensor]:
    torch.manual_seed(2)
    return SPAN(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=2).state_dict()


class _Payload:
    """A pickle that makes a folder when unpickled without weights_only."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.makedirs, (str(self.folder),))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models root with tiny upscale models and files that are not upscale models."""
    root = tmp_path_factory.mktemp("upscale") / "models"
    folder = root / "upscale_models"
    folder.mkdir(parents=True)
    torch.save(_esrgan(), folder / "esrgan_x4.pth")
    torch.save({"params_ema": _esrgan()}, folder / "RealESRGAN_style_x4.pth")
    torch.save(_esrgan(gain=6.0), folder / "esrgan_deep_x4.pth")
    save_file(_compact(), folder / "compact_x2.safetensors")
    save_file(_known(), folder / "known_x2.safetensors")
    save_file(_span(), folder / "span_x2.safetensors")
    (folder / "noise.pth").write_bytes(np.random.default_rng(0).bytes(4096))
    (folder / "noise.safetensors").write_bytes(np.random.default_rng(1).bytes(4096))
    save_file({"encoder.weight": torch.rand(4, 4), "head.bias": torch.rand(4)},
              folder / "classifier.safetensors")
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.rand(8, 4, 3, 3),
               "first_stage_model.decoder.conv_in.weight": torch.rand(8, 4, 3, 3)},
              folder / "sd_checkpoint.safetensors")
    torch.save({"state_dict": _Payload(root / "payload-ran")}, folder / "payload.pth")
    return root


@pytest.fixture(scope="module")
def load(root: Path):
    cache: dict[str, UpscaleModel] = {}

    def get(name: str) -> UpscaleModel:
        if name not in cache:
            cache[name] = load_upscale_model(root / "upscale_models" / name, "cpu")
        return cache[name]

    return get


def _picture(height: int, width: int, batch: int = 1, seed: int = 0) -> np.ndarray:
    """A smooth picture with some detail (a random one would be all edges)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    images = []
    for _ in range(batch):
        phase = rng.random(3, dtype=np.float32) * 6.28
        image = np.stack([0.5 + 0.3 * np.sin(x / 7 + phase[c]) * np.cos(y / 11 - phase[c])
                          for c in range(3)], axis=-1)
        images.append(image + rng.normal(0, 0.05, image.shape).astype(np.float32))
    return np.clip(np.stack(images), 0, 1).astype(np.float32)


def _untiled(model: UpscaleModel, image: np.ndarray) -> np.ndarray:
    """The network on the whole image, called directly (spandrel's own clamp to 0..1)."""
    x = torch.from_numpy(image).permute(0, 3, 1, 2)
    with torch.no_grad():
        out = model.descriptor.model(x).clamp(0, 1)
    return out.permute(0, 2, 3, 1).numpy()


# -- loading ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "architecture", "scale"), [
    ("esrgan_x4.pth", "ESRGAN", 4),
    ("RealESRGAN_style_x4.pth", "ESRGAN", 4),
    ("compact_x2.safetensors", "Compact", 2),
    ("span_x2.safetensors", "SPAN", 2),
])
def test_the_loader_recognises_the_architecture_and_scale(load, name, architecture, scale):
    model = load(name)
    assert model.descriptor.architecture.id == architecture
    assert model.scale == scale and model.descriptor.input_channels == 3
    assert model.device == torch.device("cpu") and model.dtype == torch.float32
    assert not model.module.training
    assert model.describe().startswith(f"{model.architecture} {scale}x")


def test_a_wrapped_realesrgan_file_holds_the_same_network(load):
    image = _picture(20, 24)
    assert np.array_equal(upscale_image(load("esrgan_x4.pth"), image),
                          upscale_image(load("RealESRGAN_style_x4.pth"), image))


def test_precision_is_fp32_on_the_cpu_and_fp16_on_cuda_where_supported(load, monkeypatch):
    monkeypatch.delenv("NODESTUDIO_PRECISION", raising=False)
    descriptor = load("compact_x2.safetensors").descriptor
    assert model_dtype(descriptor, torch.device("cpu")) == torch.float32
    assert model_dtype(descriptor, torch.device("cuda")) == torch.float16
    monkeypatch.setattr(descriptor, "supports_half", False)
    assert model_dtype(descriptor, torch.device("cuda")) == torch.float32


def test_the_cache_sizes_the_weights_and_may_offload_them(load):
    model = load("esrgan_x4.pth")
    weights = sum(t.numel() * t.element_size()
                  for t in [*model.module.parameters(), *model.module.buffers()])
    assert footprint(model).ram >= weights and footprint(model).vram == 0
    model.offload_to_cpu()  # already there: nothing moves, nothing breaks
    assert model.on_cache_evict == model.offload_to_cpu
    assert next(model.module.parameters()).device.type == "cpu"


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "message"), [
    ("classifier.safetensors",
     "classifier.safetensors is not an upscale model spandrel knows: none of the"),
    ("sd_checkpoint.safetensors", "sd_checkpoint.safetensors is not an upscale model spandrel "
     "knows: it looks like a Stable Diffusion checkpoint: put it in models/checkpoints"),
    ("noise.pth", "upscale model file noise.pth is damaged or not a model file"),
    ("noise.safetensors", "upscale model file noise.safetensors cannot be read: "),
    ("payload.pth", "upscale model file payload.pth is a pickle that holds code"),
])
def test_files_that_are_not_upscale_models_say_so(root, name, message):
    with pytest.raises(NodeError) as raised:
        load_upscale_model(root / "upscale_models" / name, "cpu")
    assert str(raised.value).startswith(message), str(raised.value)
    assert not (root / "payload-ran").exists()  # nothing in the pickle ran


def test_an_unsupported_file_type_is_named(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\0" * 16)
    with pytest.raises(NodeError, match=r"model.onnx: unsupported file type '.onnx'"):
        load_upscale_model(path, "cpu")


# -- upscaling ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["esrgan_x4.pth", "compact_x2.safetensors",
                                  "span_x2.safetensors"])
def test_output_is_the_input_size_times_the_scale(load, name):
    model = load(name)
    image = _picture(23, 37, batch=2)
    out = upscale_image(model, image)
    assert out.shape == (2, 23 * model.scale, 37 * model.scale, 3)
    assert out.dtype == np.float32 and out.min() >= 0.0 and out.max() <= 1.0
    assert not np.array_equal(out[0], out[1])  # each picture upscaled on its own


@pytest.mark.parametrize("name", ["esrgan_x4.pth", "compact_x2.safetensors"])
def test_an_image_within_one_tile_is_the_network_output(load, name):
    model = load(name)
    image = _picture(40, 56)
    assert np.abs(upscale_image(model, image) - _untiled(model, image)).max() <= 1e-6


@pytest.mark.parametrize(("name", "tile", "tolerance"), [
    # Compact sees 4 input pixels around each output pixel, fewer than the 8 the seam
    # blending leaves out: the tiles compute what the whole image does (measured 2.4e-7 at
    # 64; ComfyUI's feathered seams, which keep the tile borders, give 6e-3 here).
    ("compact_x2.safetensors", 512, 1e-6),
    ("compact_x2.safetensors", 64, 1e-6),
    # The RRDB block reaches further but its far weights are tiny: measured 7e-7 at 512 and
    # at 128, the rounding of fp32 sums (ComfyUI's seams: 3e-4 and 1e-3).
    ("esrgan_x4.pth", 512, 1e-5),
    ("esrgan_x4.pth", 128, 1e-5),
])
def test_tiles_blend_into_the_untiled_result(load, name, tile, tolerance):
    model = load(name)
    image = _picture(150, 620, seed=3)
    seen: list[tuple[int, int]] = []
    out = upscale_image(model, image, tile, progress=lambda done, total: seen.append((done,
                                                                                     total)))
    overlap = min(32, tile // 4)
    tiles = len(tile_spans(150, tile, overlap)) * len(tile_spans(620, tile, overlap))
    assert tiles >= 2 and seen[-1] == (tiles, tiles)
    assert np.abs(out - _untiled(model, image)).max() <= tolerance


def test_a_deep_network_differs_only_at_the_seams(load):
    """Amplified, the RRDB block depends on pixels past the seam's margin: the blend then
    differs from the untiled output near the seams (measured 0.0038 at most, where ComfyUI's
    feathering gives 0.033), and nowhere else."""
    model = load("esrgan_deep_x4.pth")
    image = _picture(90, 700, seed=4)
    out, reference = upscale_image(model, image), _untiled(model, image)
    (_, width), (start, _) = tile_spans(700, 512, 32)  # two tiles side by side
    assert width - start >= 32
    difference = np.abs(out - reference)[0]
    assert difference.max() <= 0.02
    scale = model.scale
    seam = slice((start - 32) * scale, (width + 32) * scale)
    outside = np.delete(difference, np.r_[seam], axis=1)
    assert outside.max() <= 1e-5


def test_known_weights_give_the_nearest_upscale_plus_the_pixel_shuffled_bias(load):
    model = load("known_x2.safetensors")
    image = 0.2 + 0.6 * _picture(100, 150, seed=5)  # away from 0 and 1: nothing clamps
    bias = KNOWN_BIAS.numpy().reshape(3, 2, 2)  # [channel, sub-row, sub-column]
    expected = np.repeat(np.repeat(image, 2, axis=1), 2, axis=2)
    expected += np.tile(bias.transpose(1, 2, 0), (100, 150, 1))[None]
    assert expected.min() > 0 and expected.max() < 1
    for tile in (512, 64):  # one tile, and 2 x 3 tiles
        assert np.abs(upscale_image(model, image, tile) - expected).max() <= 1e-6


def test_progress_is_per_tile_and_cancellation_stops_between_tiles(load):
    model = load("compact_x2.safetensors")
    image = _picture(100, 100, batch=2)
    seen: list[tuple[int, int]] = []
    upscale_image(model, image, 64, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(done, 8) for done in range(1, 9)]  # 2 pictures x 2 x 2 tiles

    ran: list[int] = []

    def cancel_after_three() -> None:
        if len(ran) == 3:
            raise Cancelled()

    with pytest.raises(Cancelled):
        upscale_image(model, image, 64, progress=lambda done, total: ran.append(done),
                      check_cancelled=cancel_after_three)
    assert ran == [1, 2, 3]


class _RunsOutOfMemory:
    """A descriptor that has memory for ``limit`` pixels a side at most (records tile sizes)."""

    def __init__(self, descriptor: Any, limit: int) -> None:
        self._descriptor, self.limit, self.sizes = descriptor, limit, []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._descriptor, name)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(max(x.shape[-2:]))
        if max(x.shape[-2:]) > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory (test)")
        return self._descriptor(x)


def test_out_of_memory_halves_the_tile_until_it_fits(load):
    compact = load("compact_x2.safetensors")
    image = _picture(300, 300)
    tight = _RunsOutOfMemory(compact.descriptor, limit=128)
    model = UpscaleModel(tight, compact.device)  # type: ignore[arg-type]
    out = upscale_image(model, image, 512)
    assert tight.sizes[0] == 300 and tight.sizes[1] > 128  # 512, then 256: each too big
    assert max(tight.sizes[-9:]) <= 128  # then 128-pixel tiles: 3 x 3
    assert np.abs(out - _untiled(compact, image)).max() <= 1e-6

    hopeless = UpscaleModel(_RunsOutOfMemory(compact.descriptor, limit=16),  # type: ignore[arg-type]
                            compact.device)
    with pytest.raises(NodeError, match=r"out of memory .* even in 128-pixel tiles"):
        upscale_image(hopeless, image, 512)


def test_tiles_cover_the_axis_evenly_and_seams_always_have_weight():
    for length in range(1, 1400, 7):
        for tile, overlap in ((512, 32), (128, 32), (64, 16)):
            spans = tile_spans(length, tile, overlap)
            assert spans[0][0] == 0 and sum(spans[-1]) == length
            assert all(size <= tile for _, size in spans)
            assert len({size for _, size in spans}) == 1
            assert all(a + size - b >= min(overlap, length)
                       for (a, size), (b, _) in itertools.pairwise(spans))
            for scale in (1, 4):
                total = np.zeros(length * scale)
                for index, (start, size) in enumerate(spans):
                    total[start * scale:(start + size) * scale] += seam_weights(
                        size * scale, overlap * scale, index > 0, index < len(spans) - 1)
                assert total.min() > 0, (length, tile, scale)


# -- in a graph ---------------------------------------------------------------------------------


def test_a_session_loads_the_model_and_upscales(root, diffusion_registry, tmp_path):
    inputs, outputs = tmp_path / "input", tmp_path / "output"
    inputs.mkdir()
    picture = (_picture(24, 32)[0] * 255).round().astype(np.uint8)
    Image.fromarray(picture).save(inputs / "small.png")
    session = nodestudio.Session(device="cpu", models_dir=root, input_dir=inputs,
                                 output_dir=outputs, registry=diffusion_registry,
                                 settings=Settings())
    graph = Graph()
    graph.add_node("image.load", {"image": "small.png"}, id="load")
    graph.add_node("image.load_upscale_model", {"model_name": "known_x2.safetensors"},
                   id="model")
    graph.add_node("image.upscale_with_model", {}, id="upscale")
    graph.add_node("image.save", {"filename_prefix": "up"}, id="save")
    graph.connect("load", "image", "upscale", "image")
    graph.connect("model", "upscale_model", "upscale", "upscale_model")
    graph.connect("upscale", "image", "save", "images")
    assert session.validate(graph) == []

    result = session.run(graph)
    loaded = result.outputs["load"]["image"]
    upscaled = result.outputs["upscale"]["image"]
    expected = upscale_image(load_upscale_model(root / "upscale_models" / "known_x2.safetensors",
                                                "cpu"), loaded)
    assert upscaled.shape == (1, 48, 64, 3) and np.array_equal(upscaled, expected)
    with Image.open(result.files[0]) as saved:
        assert saved.size == (64, 48)
    assert session.run(graph).executed == []  # model and picture cached

    graph.set_value("model", "model_name", "missing.pth")
    assert any("missing.pth" in str(problem) for problem in session.validate(graph))
