"""An AnimateDiff graph equals ``AnimateDiffPipeline`` (≤ 2/255 per frame) on a tiny SD 1.5
model and a tiny MotionAdapter, with and without a LoRA.

The graph: Load Checkpoint → (Load LoRA) → Apply AnimateDiff (Load AnimateDiff Model) →
prompts → Empty Video Latent → Sampler → VAE Decode, loading the same files the
pipeline loads; the released single-file layout of the motion module gives the same frames.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nodestudio
from nodestudio.engine.executor import NodeExecutionError
from nodestudio.graph.model import Graph
from tests.fidelity.pipelines import assert_same_frames

SEED = 77
PROMPT, NEGATIVE = "a paper boat drifting on a pond", "blurry"
FRAMES, SIZE, STEPS, CFG = 4, 32, 3, 5.0


@pytest.fixture(scope="module")
def motion_models(tiny_motion):
    return tiny_motion("animatediff")


@pytest.fixture(scope="module")
def session(motion_models, new_session) -> nodestudio.Session:
    return new_session(motion_models.root, "animatediff-fidelity")


def animatediff_graph(models, motion: str, lora: str | None = None) -> Graph:
    g = Graph()
    g.add_node("diffusion.load_checkpoint", {"checkpoint": models.sd_folder}, id="checkpoint")
    model, clip = ("checkpoint", "model"), ("checkpoint", "clip")
    if lora is not None:
        g.add_node("diffusion.load_lora", {"lora": lora}, id="lora")
        g.connect("checkpoint", "model", "lora", "model")
        g.connect("checkpoint", "clip", "lora", "clip")
        model, clip = ("lora", "model"), ("lora", "clip")
    g.add_node("diffusion.load_animatediff_model", {"model_name": motion}, id="motion")
    g.add_node("diffusion.apply_animatediff", {}, id="animated")
    g.connect(*model, "animated", "model")
    g.connect("motion", "motion_model", "animated", "motion_model")
    for name, text in (("positive", PROMPT), ("negative", NEGATIVE)):
        g.add_node("diffusion.text_encode", {"text": text}, id=name)
        g.connect(*clip, name, "clip")
    g.add_node("diffusion.empty_video_latent",
               {"width": SIZE, "height": SIZE, "length": FRAMES, "batch_size": 1}, id="latent")
    g.connect("animated", "model", "latent", "model")
    g.add_node("diffusion.sampler", {"seed": SEED, "steps": STEPS, "cfg": CFG,
                                     "sampler": "euler", "scheduler": "normal"}, id="sampler")
    g.connect("animated", "model", "sampler", "model")
    g.connect("positive", "conditioning", "sampler", "positive")
    g.connect("negative", "conditioning", "sampler", "negative")
    g.connect("latent", "latent", "sampler", "latent")
    g.add_node("diffusion.vae_decode", {}, id="decode")
    g.connect("checkpoint", "vae", "decode", "vae")
    g.connect("sampler", "latent", "decode", "latent")
    return g


def pipeline_frames(models, lora: str | None = None) -> np.ndarray:
    from diffusers import AnimateDiffPipeline, MotionAdapter

    from nodestudio.runtime.schedulers import build_scheduler

    adapter = MotionAdapter.from_pretrained(models.root / "animatediff_models" /
                                            models.motion_folder, local_files_only=True)
    pipeline = AnimateDiffPipeline.from_pretrained(
        models.root / "checkpoints" / models.sd_folder, motion_adapter=adapter,
        local_files_only=True)
    pipeline.scheduler = build_scheduler("euler", "normal", pipeline.scheduler.config, SEED)
    if lora is not None:
        pipeline.load_lora_weights(models.root / "loras", weight_name=lora)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline(prompt=PROMPT, negative_prompt=NEGATIVE, num_frames=FRAMES, height=SIZE,
                    width=SIZE, num_inference_steps=STEPS, guidance_scale=CFG,
                    generator=torch.Generator("cpu").manual_seed(SEED),
                    output_type="np").frames[0]


@pytest.fixture(scope="module")
def plain_frames(motion_models) -> np.ndarray:
    return pipeline_frames(motion_models)


def test_animatediff_graph_equals_the_pipeline(session, motion_models, plain_frames):
    graph = animatediff_graph(motion_models, motion_models.motion_folder)
    frames = session.run(graph, outputs=["decode"]).outputs["decode"]["image"]
    assert_same_frames(frames, plain_frames, (FRAMES, SIZE, SIZE, 3))
    # The motion layers mix the frames: they differ from one another, as the pipeline's do.
    assert float(np.abs(frames[0] - frames[-1]).max()) > 0.01


def test_released_single_file_gives_the_same_frames(session, motion_models, plain_frames):
    graph = animatediff_graph(motion_models, motion_models.motion_file)
    frames = session.run(graph, outputs=["decode"]).outputs["decode"]["image"]
    assert_same_frames(frames, plain_frames, (FRAMES, SIZE, SIZE, 3))


def test_a_lora_applies_as_with_the_pipeline(session, motion_models, plain_frames):
    graph = animatediff_graph(motion_models, motion_models.motion_folder,
                              lora=motion_models.lora_file)
    frames = session.run(graph, outputs=["decode"]).outputs["decode"]["image"]
    assert float(np.abs(frames - plain_frames).max()) > 4 / 255, "the LoRA changed nothing"
    assert_same_frames(frames, pipeline_frames(motion_models, lora=motion_models.lora_file),
                       (FRAMES, SIZE, SIZE, 3))


def test_image_latent_and_plain_model_are_refused_clearly(session, motion_models):
    graph = animatediff_graph(motion_models, motion_models.motion_folder)
    graph.connect("checkpoint", "model", "latent", "model")  # no motion module
    with pytest.raises(NodeExecutionError, match=r"image model.*through Apply AnimateDiff"):
        session.run(graph, outputs=["decode"])


def test_saved_empty_animatediff_latent_opens_as_empty_video_latent(session, motion_models):
    """The former node id still loads (legacy id) and makes the same latent shape."""
    from nodestudio.graph.files import dumps, loads

    graph = animatediff_graph(motion_models, motion_models.motion_folder)
    document = dumps(graph)
    document = document.replace('"diffusion.empty_video_latent"',
                                '"diffusion.empty_animatediff_latent"')
    assert "diffusion.empty_animatediff_latent" in document
    loaded = loads(document, registry=session.registry)
    assert loaded.nodes["latent"].type == "diffusion.empty_video_latent"
    latent = session.run(loaded, outputs=["latent"]).outputs["latent"]["latent"]
    assert tuple(latent.samples.shape) == (1, 4, FRAMES, SIZE // 8, SIZE // 8)
