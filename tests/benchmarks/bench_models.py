"""The models bench_sampler.py measures, each saved once as a diffusers folder.

``tiny``, ``tiny-sdxl``, ``tiny-sd3``, ``tiny-flux``: the seeded test models
(nodestudio.runtime.tiny, nodestudio.runtime.tiny_dit), for a quick check on a CPU.

``sd15``, ``sdxl``, ``sd3`` (SD3 medium), ``sd35-large``, ``flux`` (FLUX.1-dev),
``flux-schnell``: the released architectures (resources/model_configs) with seeded random
weights, in the precision the graph loads them in on the device (fp16 UNets on CUDA, bf16 for
SD3/Flux on CUDA, fp32 on the CPU). Their speed and memory are those of the real models; their
pictures are noise.

How a released diffusion transformer is made without holding it in CPU RAM (FLUX.1-dev's
transformer is 11.9 B parameters, 48 GB in fp32): one component at a time (transformer, VAE,
each text encoder), each constructed inside :func:`materialised`, i.e. with
``torch.device(device)`` as the default device and the target dtype as torch's default dtype,
after ``torch.manual_seed``. Every parameter is then allocated once, on the target device, in
the target dtype, and initialised there by the module's own seeded initialisation (no fp32
copy, no CPU copy, no meta-device step to fill in afterwards); the component is saved
(``save_pretrained``, safetensors) and freed before the next is built, so the device holds at
most one component (Flux: 24 GB in bf16) and the CPU at most one safetensors shard in
transit. The same code on ``device="meta"`` allocates nothing: :func:`released_parameter_counts`
counts the parameters that way (``python tests/benchmarks/bench_models.py``).

The T5 tokenizer: the released one cannot be had offline, so the folders carry
``tiny_dit.tiny_t5_tokenizer()`` (a few hundred pieces). The token ids then differ from the
real T5's, the sequence length and so the speed do not; the T5 encoder keeps the released
vocabulary (32128 rows).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: --model → resources/model_configs folder of the released diffusion transformers.
RELEASED_DIT = {"sd3": "sd3_medium", "sd35-large": "sd35_large", "flux": "flux_dev",
                "flux-schnell": "flux_schnell"}
TINY_DIT = ("tiny-sd3", "tiny-flux")
MODELS = ("tiny", "tiny-sdxl", "sd15", "sdxl", *TINY_DIT, *RELEASED_DIT)
#: Published transformer sizes (resources/model_configs/README-dit.md).
PUBLISHED_PARAMETERS = {"sd3": 2_028_328_000, "sd35-large": 8_056_627_520,
                        "flux": 11_901_408_320, "flux-schnell": 11_891_178_560,
                        "CLIPTextModelWithProjection-768": 123_650_304,
                        "CLIPTextModelWithProjection-1280": 694_659_840,
                        "T5EncoderModel": 4_762_310_656}


def family(kind: str) -> str:
    """"sd3", "flux" or "unet": which pipeline and graph a --model needs."""
    if kind in ("tiny-sd3", "sd3", "sd35-large"):
        return "sd3"
    return "flux" if "flux" in kind else "unet"


def build_model(kind: str, root: Path, device: str, layers: int | None = None) -> str:
    """Save the --model ``kind`` under ``root``/checkpoints (unless there); returns its name."""
    name = kind if layers is None or kind not in RELEASED_DIT else f"{kind}-{layers}-blocks"
    folder = root / "checkpoints" / name
    if kind in ("tiny", "tiny-sdxl"):
        from nodestudio.runtime import tiny

        models = tiny.build_tiny_models(root)
        return models.sd_folder if kind == "tiny" else models.sdxl_folder
    if (folder / "model_index.json").is_file():
        return name  # built by an earlier run in the same --workdir
    if kind in TINY_DIT:
        from nodestudio.runtime import tiny_dit

        if kind == "tiny-sd3":
            tiny_dit.save_pipeline_folder("StableDiffusion3Pipeline",
                                          tiny_dit.tiny_sd3_components(), folder)
        else:
            tiny_dit.save_pipeline_folder("FluxPipeline", tiny_dit.tiny_flux_components(), folder)
    elif kind in RELEASED_DIT:
        build_random_dit(kind, folder, device, layers)
    else:
        build_random_unet(kind, folder, device)
    return name


def _configs(name: str) -> Path:
    from nodestudio.paths import resources_dir

    return resources_dir() / "model_configs" / name


def _config(configs: Path, part: str) -> dict[str, Any]:
    name = "scheduler_config.json" if part == "scheduler" else "config.json"
    return json.loads((configs / part / name).read_text())


def build_random_unet(kind: str, folder: Path, device: str) -> None:
    """The released SD1.5 / SDXL architecture with random weights, saved as a diffusers folder."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from nodestudio.runtime.tiny import save_sd_folder, save_sdxl_folder
    from nodestudio.runtime.tokenizers import OPEN_CLIP_PAD_TOKEN, clip_tokenizer

    configs = _configs("sdxl" if kind == "sdxl" else "sd15")
    dtype = torch.float16 if device.startswith("cuda") else torch.float32

    def config(part: str) -> dict[str, Any]:
        return _config(configs, part)

    # Built on the device in the target precision, as the DiTs are: no fp32 copy of SDXL's
    # 3.5 B parameters initialised on the CPU first.
    with materialised(device, dtype, seed=0):
        parts: dict[str, Any] = {
            "unet": UNet2DConditionModel.from_config(config("unet")),
            "vae": AutoencoderKL.from_config(config("vae")),
            "text_encoder": CLIPTextModel(CLIPTextConfig.from_dict(config("text_encoder"))),
            "tokenizer": clip_tokenizer(),
            "scheduler": EulerDiscreteScheduler.from_config(config("scheduler")),
        }
        if kind == "sdxl":
            parts["text_encoder_2"] = CLIPTextModelWithProjection(
                CLIPTextConfig.from_dict(config("text_encoder_2")))
            parts["tokenizer_2"] = clip_tokenizer(pad_token=OPEN_CLIP_PAD_TOKEN)
    if kind == "sdxl":
        save_sdxl_folder(parts, folder)
    else:
        save_sd_folder(parts, folder)


@contextmanager
def materialised(device: str, dtype: Any, seed: int) -> Iterator[None]:
    """Modules built inside allocate their weights on ``device``, in ``dtype``, and initialise
    them there from ``seed`` (on "meta" nothing is allocated)."""
    import torch

    previous = torch.get_default_dtype()
    torch.manual_seed(seed)  # seeds the CPU and every CUDA device
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            yield
    finally:
        torch.set_default_dtype(previous)


def dit_parts(kind: str, layers: int | None = None
              ) -> list[tuple[str, Callable[[], Any]]]:
    """(component, constructor) of a released SD3/Flux folder's models, from its configs.

    ``layers`` cuts every transformer and text encoder to that many blocks (released widths):
    a CPU check of the released-shape path only, never a benchmark.
    """
    import diffusers
    import transformers

    configs = _configs(RELEASED_DIT[kind])
    index = json.loads((configs / "model_index.json").read_text())
    parts: list[tuple[str, Callable[[], Any]]] = []
    for component in ("transformer", "vae", "text_encoder", "text_encoder_2", "text_encoder_3"):
        if component not in index:
            continue
        library, class_name = index[component]
        config = _config(configs, component)
        if layers is not None:
            for key in ("num_layers", "num_single_layers", "num_hidden_layers"):
                if key in config:
                    config[key] = min(config[key], layers)
        if library == "diffusers":
            cls = getattr(diffusers, class_name)
            parts.append((component, lambda cls=cls, config=config: cls.from_config(config)))
        else:
            # A stated dtype would override the default one for nested models (CLIP's tower).
            config.pop("torch_dtype", None)
            cls = getattr(transformers, class_name)
            parts.append((component, lambda cls=cls, config=config: cls(
                cls.config_class.from_dict(config)).eval()))
    return parts


def build_random_dit(kind: str, folder: Path, device: str, layers: int | None = None,
                     seed: int = 0) -> None:
    """A released SD3/Flux architecture with seeded random weights, saved as a diffusers folder
    in the precision the graph loads it in on ``device``, one component at a time (see the
    module's docstring). model_index.json is written last: a folder that has it is complete."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler

    from nodestudio.runtime.devices import compute_dtype
    from nodestudio.runtime.tiny_dit import tiny_t5_tokenizer
    from nodestudio.runtime.tokenizers import OPEN_CLIP_PAD_TOKEN, clip_tokenizer

    configs = _configs(RELEASED_DIT[kind])
    dtype = compute_dtype(device)  # bf16 on CUDA: bench_sampler sets NODESTUDIO_PRECISION
    for offset, (component, construct) in enumerate(dit_parts(kind, layers)):
        with materialised(device, dtype, seed + offset):
            model = construct()
        model.save_pretrained(folder / component)
        del model
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
        print(f"built {kind} {component}", file=sys.stderr)
    index = json.loads((configs / "model_index.json").read_text())
    t5_tokenizer = tiny_t5_tokenizer()
    tokenizers = {"tokenizer": clip_tokenizer()}
    if index["_class_name"] == "StableDiffusion3Pipeline":
        tokenizers["tokenizer_2"] = clip_tokenizer(pad_token=OPEN_CLIP_PAD_TOKEN)
        tokenizers["tokenizer_3"] = t5_tokenizer
    else:
        tokenizers["tokenizer_2"] = t5_tokenizer
    for component, tokenizer in tokenizers.items():
        tokenizer.save_pretrained(folder / component)
        index[component] = ["transformers", type(tokenizer).__name__]
    FlowMatchEulerDiscreteScheduler.from_config(_config(configs, "scheduler")).save_pretrained(
        folder / "scheduler")
    (folder / "model_index.json").write_text(json.dumps(index, indent=2))


def released_parameter_counts(kind: str) -> dict[str, tuple[str, int]]:
    """component → (class, parameters) of a released folder, built on the meta device."""
    import torch

    counts = {}
    for offset, (component, construct) in enumerate(dit_parts(kind)):
        with materialised("meta", torch.float32, offset):
            model = construct()
        counts[component] = (type(model).__name__, sum(p.numel() for p in model.parameters()))
    return counts


def main() -> None:
    """Build each released SD3/Flux architecture on the meta device; check the sizes."""
    for kind in RELEASED_DIT:
        configs = _configs(RELEASED_DIT[kind])
        counts = released_parameter_counts(kind)
        print(f"{kind}: {sum(n for _, n in counts.values()):,} parameters")
        for component, (class_name, count) in counts.items():
            key = kind if component == "transformer" else class_name
            if class_name == "CLIPTextModelWithProjection":
                key = f"{class_name}-{_config(configs, component)['hidden_size']}"
            published = PUBLISHED_PARAMETERS.get(key)
            check = "" if published is None else (
                "  = published" if count == published else f"  ≠ published {published:,}")
            print(f"  {component:15s} {class_name:28s} {count:15,}{check}")


if __name__ == "__main__":
    main()
