"""Fidelity tests: real graphs run by a Session against the diffusers pipelines, tiny models."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import nodestudio
from nodestudio.app.packs import create_registry
from nodestudio.app.settings import Settings
from nodestudio.graph.model import Graph
from tests.fidelity.pipelines import shared_pipeline

#: The acceptance bound: the graph's image equals the pipeline's to 2/255 per channel.
MAX_PIXEL_DIFFERENCE = 2 / 255


#: ``NODESTUDIO_TEST_ACCELERATOR=offload`` (or keep, sequential, fp8, auto): run every
#: fidelity test's Session on the virtual accelerator (tests/virtual_accelerator.py) in that
#: memory mode, and fail a test in which a model ran while its weights were off the device —
#: what would fail on a GPU. By hand; CI runs tests/runtime/test_virtual_accelerator.py.
VIRTUAL_MODE = os.environ.get("NODESTUDIO_TEST_ACCELERATOR", "")


@pytest.fixture(scope="session")
def _virtual_residency() -> Iterator[Any]:
    if not VIRTUAL_MODE:
        yield None
        return
    from virtual_accelerator import virtual_accelerator

    with pytest.MonkeyPatch.context() as patcher, virtual_accelerator(patcher) as record:
        yield record


@pytest.fixture(autouse=True)
def _ran_on_the_device(_virtual_residency) -> Iterator[None]:
    before = len(_virtual_residency.violations) if _virtual_residency else 0
    yield
    if _virtual_residency is not None:
        seen = sorted(set(_virtual_residency.violations[before:]))
        assert not seen, "ran off the device: " + "; ".join(seen)


@pytest.fixture(scope="session")
def fidelity_registry() -> Any:
    """The built-in nodes, read once for every Session of the fidelity tests (a registry is
    read-only once built; each Session keeps its own model cache)."""
    registry = create_registry(entry_points=False)
    assert not registry.failures, registry.failures[0].traceback
    return registry


@pytest.fixture(scope="session")
def new_session(fidelity_registry, tmp_path_factory) -> Callable[..., nodestudio.Session]:
    """``new_session(models_root, name, pictures={file: PIL image})``: a CPU Session on
    ``models_root`` with fresh output and input folders (the pictures saved in the input)."""

    def make(models_root: Path, name: str, pictures: dict[str, Any] | None = None,
             **options: Any) -> nodestudio.Session:
        folder = tmp_path_factory.mktemp(name)
        (folder / "input").mkdir()
        for file_name, picture in (pictures or {}).items():
            picture.save(folder / "input" / file_name)
        settings = Settings(memory_mode=VIRTUAL_MODE) if VIRTUAL_MODE else Settings()
        return nodestudio.Session(device="cpu:0" if VIRTUAL_MODE else "cpu",
                                  models_dir=models_root,
                                  output_dir=folder / "output", input_dir=folder / "input",
                                  registry=fidelity_registry, settings=settings, **options)

    return make


@pytest.fixture(scope="session")
def session(tiny_models, new_session, tmp_path_factory) -> nodestudio.Session:
    # Tests build further models in their own temporary folders and name them by path: allowed
    # as a user would with --allow-path.
    return new_session(tiny_models.root, "fidelity",
                       allowed_paths=[tmp_path_factory.getbasetemp()])


@pytest.fixture(scope="session")
def flow_session(tiny_dit_models, new_session) -> nodestudio.Session:
    """A Session on the tiny SD3/Flux models (tests/conftest.py: tiny_dit_models)."""
    return new_session(tiny_dit_models.root, "flow-fidelity")


def _built_once(tmp_path_factory, build: Callable[..., Any], prefix: str
                ) -> Callable[[str], Any]:
    """``get(kind)``: the models root ``build(root, which=(kind,))`` fills, built on the first
    call only, so modules that run the same tiny model share one copy."""
    built: dict[str, Any] = {}

    def get(kind: str) -> Any:
        if kind not in built:
            built[kind] = build(tmp_path_factory.mktemp(f"{prefix}-{kind}"), which=(kind,))
        return built[kind]

    return get


@pytest.fixture(scope="session")
def tiny_motion(tmp_path_factory) -> Callable[[str], Any]:
    """``tiny_motion("animatediff" | "svd")``: a ``TinyMotionModels`` root, one per session."""
    from nodestudio.runtime.tiny_motion import build_tiny_motion_models

    return _built_once(tmp_path_factory, build_tiny_motion_models, "tiny-motion")


@pytest.fixture(scope="session")
def tiny_video(tmp_path_factory) -> Callable[[str], Any]:
    """``tiny_video("wan" | "wan_i2v" | "wan22_a14b" | "ltxv")``: a ``TinyVideoModels`` root,
    one per session."""
    from nodestudio.runtime.tiny_video import build_tiny_video_models

    return _built_once(tmp_path_factory, build_tiny_video_models, "tiny-video")


@pytest.fixture(scope="session")
def pictures(session) -> dict[str, Path]:
    """Seeded random pictures in the session's input folder: RGB ones and one with a hole."""
    rng = np.random.default_rng(7)
    made = {}
    for name in ("photo", "hint_a", "hint_b"):
        pixels = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
        made[name] = session.settings.input_dir / f"{name}.png"
        Image.fromarray(pixels).save(made[name])
    # Transparent where to repaint: Load Image's mask is 1 there.
    rgba = np.concatenate([(rng.random((64, 64, 3)) * 255).astype(np.uint8),
                           np.full((64, 64, 1), 255, np.uint8)], axis=-1)
    rgba[16:48, 8:40, 3] = 0
    made["holed"] = session.settings.input_dir / "holed.png"
    Image.fromarray(rgba, "RGBA").save(made["holed"])
    return made


@dataclass
class Chain:
    """Builds the usual graph: checkpoint → prompts → [latent] → sampler → decode → preview."""

    graph: Graph

    @classmethod
    def start(cls, checkpoint: str, prompt: str, negative: str, **prompt_values: Any) -> Chain:
        graph = Graph()
        graph.add_node("diffusion.load_checkpoint", {"checkpoint": checkpoint}, id="checkpoint")
        graph.add_node("diffusion.text_encode", {"text": prompt, **prompt_values}, id="positive")
        graph.add_node("diffusion.text_encode", {"text": negative}, id="negative")
        graph.connect("checkpoint", "clip", "positive", "clip")
        graph.connect("checkpoint", "clip", "negative", "clip")
        return cls(graph)

    def empty_latent(self, width: int, height: int, batch_size: int = 1) -> str:
        self.graph.add_node("diffusion.empty_latent",
                            {"width": width, "height": height, "batch_size": batch_size},
                            id="latent")
        self.graph.connect("checkpoint", "model", "latent", "model")
        return "latent"

    def encoded(self, picture: str, with_mask: bool = False) -> str:
        self.graph.add_node("image.load", {"image": picture}, id="load")
        self.graph.add_node("diffusion.vae_encode", {}, id="encode")
        self.graph.connect("checkpoint", "vae", "encode", "vae")
        self.graph.connect("load", "image", "encode", "image")
        if with_mask:
            self.graph.connect("load", "mask", "encode", "mask")
        return "encode"

    def sample(self, latent: str, model: tuple[str, str] = ("checkpoint", "model"),
               suffix: str = "", **values: Any) -> str:
        sampler, decode = "sampler" + suffix, "decode" + suffix
        self.graph.add_node("diffusion.sampler", values, id=sampler)
        self.graph.connect(*model, sampler, "model")
        self.graph.connect("positive", "conditioning", sampler, "positive")
        self.graph.connect("negative", "conditioning", sampler, "negative")
        self.graph.connect(latent, "latent", sampler, "latent")
        self.graph.add_node("diffusion.vae_decode", {}, id=decode)
        self.graph.connect("checkpoint", "vae", decode, "vae")
        self.graph.connect(sampler, "latent", decode, "latent")
        self.graph.add_node("image.preview", {}, id="preview" + suffix)
        self.graph.connect(decode, "image", "preview" + suffix, "images")
        return decode


def pipeline_output(pipeline: Any, **arguments: Any) -> np.ndarray:
    pipeline.set_progress_bar_config(disable=True)
    return pipeline(output_type="np", **arguments).images


def assert_same_image(graph_image: np.ndarray, pipeline_image: np.ndarray) -> None:
    assert graph_image.shape == pipeline_image.shape
    assert graph_image.std() > 0.01, "a blank image proves nothing"
    difference = float(np.abs(graph_image - pipeline_image).max())
    assert difference <= MAX_PIXEL_DIFFERENCE, f"max pixel difference {difference * 255:.2f}/255"


@pytest.fixture(scope="session")
def chain() -> type[Chain]:
    return Chain


@pytest.fixture(scope="session")
def same_image():
    return assert_same_image


@pytest.fixture(scope="session")
def run_pipeline():
    return pipeline_output


@pytest.fixture(scope="session")
def pipeline_parts(tiny_models):
    """Pipelines over the tiny folders' modules (read once: ``shared_pipeline``), with the
    scheduler the Sampler node builds; ``fresh=True`` reads the folder again, for a test that
    changes the modules (a LoRA)."""
    from nodestudio.runtime.schedulers import build_scheduler

    loaded: dict[Any, Any] = {}

    def parts(folder_name: str, pipeline_class: Any, sampler: str, seed: int,
              schedule: str = "normal", fresh: bool = False, **extra: Any) -> Any:
        options = {"safety_checker": None, "requires_safety_checker": False}
        if "XL" in pipeline_class.__name__:
            options = {"add_watermarker": False}
        folder = tiny_models.checkpoint(folder_name)
        if fresh:
            pipeline = pipeline_class.from_pretrained(folder, local_files_only=True, **options,
                                                      **extra)
        else:
            pipeline = shared_pipeline(loaded, folder, pipeline_class, **options, **extra)
        pipeline.scheduler = build_scheduler(sampler, schedule, pipeline.scheduler.config, seed)
        return pipeline

    return parts
