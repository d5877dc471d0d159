"""ControlNets with AnimateDiff: the graph equals ``AnimateDiffControlNetPipeline`` (≤ 2/255 per
frame) on a tiny SD 1.5 model, a tiny MotionAdapter and a tiny ControlNet, with one hint image
per frame (a video's frames through Get Video Components) and with one hint for all frames.

The graph: Load Checkpoint → Apply AnimateDiff → prompts → Apply ControlNet → Empty Video
Latent → Sampler → VAE Decode, loading the same files the pipeline loads.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import nodestudio
from nodestudio.engine.executor import NodeExecutionError
from nodestudio.graph.model import Graph
from tests.fidelity.pipelines import assert_same_frames

SEED = 91
PROMPT, NEGATIVE = "a kite over the dunes", "dark"
FRAMES, SIZE, STEPS, CFG = 3, 32, 2, 4.0
STRENGTH = 0.9
CONTROLNET = "tiny-motion-controlnet"


@pytest.fixture(scope="module")
def models(tiny_motion):
    from diffusers import UNet2DConditionModel

    from nodestudio.runtime.tiny import tiny_controlnet

    # The AnimateDiff models test_animatediff.py runs, plus a ControlNet of their UNet.
    built = tiny_motion("animatediff")
    unet = UNet2DConditionModel.from_pretrained(built.root / "checkpoints" / built.sd_folder,
                                                subfolder="unet")
    hint_sensitive(tiny_controlnet(unet, 7)).save_pretrained(built.root / "controlnet" /
                                                            CONTROLNET)
    return built


def hint_sensitive(controlnet):
    """The tiny ControlNet with a hint embedding that reacts: default-initialised, its stacked
    convolutions shrink the hint to ~1e-3, so which hint a frame gets would not show."""
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, parameter in controlnet.controlnet_cond_embedding.named_parameters():
            if name.endswith("weight"):
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
    return controlnet


def hint_frames(count: int) -> list[Image.Image]:
    """Distinct hint frames: a dark first frame, then ever brighter block patterns (the tiny
    random ControlNet reads coarse brightness, not fine edges)."""
    generator = np.random.default_rng(5)
    frames = []
    for index in range(count):
        blocks = generator.random((SIZE // 8, SIZE // 8, 3)) * (0.2 + 0.8 * index / max(1, count))
        pixels = np.kron(blocks, np.ones((8, 8, 1))) * 255
        frames.append(Image.fromarray(pixels.astype(np.uint8)))
    return frames


@pytest.fixture(scope="module")
def session(models, new_session) -> nodestudio.Session:
    made = new_session(models.root, "animatediff-controlnet")
    first, *rest = hint_frames(FRAMES)
    first.save(made.settings.input_dir / "hints.apng", format="PNG", save_all=True,
               append_images=rest, duration=125, loop=0)
    first.save(made.settings.input_dir / "hint.png")
    return made


def controlled_graph(models, per_frame: bool) -> Graph:
    g = Graph()
    g.add_node("diffusion.load_checkpoint", {"checkpoint": models.sd_folder}, id="checkpoint")
    g.add_node("diffusion.load_animatediff_model", {"model_name": models.motion_folder},
               id="motion")
    g.add_node("diffusion.apply_animatediff", {}, id="animated")
    g.connect("checkpoint", "model", "animated", "model")
    g.connect("motion", "motion_model", "animated", "motion_model")
    for name, text in (("positive", PROMPT), ("negative", NEGATIVE)):
        g.add_node("diffusion.text_encode", {"text": text}, id=name)
        g.connect("checkpoint", "clip", name, "clip")
    g.add_node("diffusion.load_controlnet", {"control_net": CONTROLNET}, id="controlnet")
    if per_frame:
        g.add_node("video.load", {"file": "hints.apng"}, id="video")
        g.add_node("video.components", {}, id="hints")
        g.connect("video", "video", "hints", "video")
        hint = ("hints", "images")
    else:
        g.add_node("image.load", {"image": "hint.png"}, id="hints")
        hint = ("hints", "image")
    g.add_node("diffusion.apply_controlnet", {"strength": STRENGTH}, id="control")
    g.connect("positive", "conditioning", "control", "positive")
    g.connect("negative", "conditioning", "control", "negative")
    g.connect("controlnet", "control_net", "control", "control_net")
    g.connect(*hint, "control", "image")
    g.add_node("diffusion.empty_video_latent",
               {"width": SIZE, "height": SIZE, "length": FRAMES, "batch_size": 1}, id="latent")
    g.connect("animated", "model", "latent", "model")
    g.add_node("diffusion.sampler", {"seed": SEED, "steps": STEPS, "cfg": CFG,
                                     "sampler": "euler", "scheduler": "normal"}, id="sampler")
    g.connect("animated", "model", "sampler", "model")
    g.connect("control", "positive", "sampler", "positive")
    g.connect("control", "negative", "sampler", "negative")
    g.connect("latent", "latent", "sampler", "latent")
    g.add_node("diffusion.vae_decode", {}, id="decode")
    g.connect("checkpoint", "vae", "decode", "vae")
    g.connect("sampler", "latent", "decode", "latent")
    return g


def pipeline_frames(models, hints: list[Image.Image]) -> np.ndarray:
    from diffusers import AnimateDiffControlNetPipeline, ControlNetModel, MotionAdapter

    from nodestudio.runtime.schedulers import build_scheduler

    adapter = MotionAdapter.from_pretrained(models.root / "animatediff_models" /
                                            models.motion_folder, local_files_only=True)
    controlnet = ControlNetModel.from_pretrained(models.root / "controlnet" / CONTROLNET,
                                                 local_files_only=True)
    pipeline = AnimateDiffControlNetPipeline.from_pretrained(
        models.root / "checkpoints" / models.sd_folder, motion_adapter=adapter,
        controlnet=controlnet, local_files_only=True)
    pipeline.scheduler = build_scheduler("euler", "normal", pipeline.scheduler.config, SEED)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline(prompt=PROMPT, negative_prompt=NEGATIVE, num_frames=FRAMES, height=SIZE,
                    width=SIZE, num_inference_steps=STEPS, guidance_scale=CFG,
                    conditioning_frames=hints, controlnet_conditioning_scale=STRENGTH,
                    generator=torch.Generator("cpu").manual_seed(SEED),
                    output_type="np").frames[0]


@pytest.fixture(scope="module")
def same_hint_frames(models) -> np.ndarray:
    # The pipeline takes one hint per frame: "one hint for all frames" is that hint repeated.
    return pipeline_frames(models, hint_frames(1) * FRAMES)


def test_one_hint_per_frame_equals_the_pipeline(session, models, same_hint_frames):
    graph = controlled_graph(models, per_frame=True)
    result = session.run(graph, outputs=["decode", "hints"])
    hints = result.outputs["hints"]["images"]
    assert hints.shape == (FRAMES, SIZE, SIZE, 3)  # the video's frames, one hint per frame
    frames = result.outputs["decode"]["image"]
    assert_same_frames(frames, pipeline_frames(models, hint_frames(FRAMES)),
                       (FRAMES, SIZE, SIZE, 3))

    # The hints act frame by frame: the same run with one hint for all frames differs.
    assert float(np.abs(frames - same_hint_frames).max()) > 4 / 255


def test_one_hint_for_all_frames_equals_the_pipeline(session, models, same_hint_frames):
    graph = controlled_graph(models, per_frame=False)
    frames = session.run(graph, outputs=["decode"]).outputs["decode"]["image"]
    assert_same_frames(frames, same_hint_frames, (FRAMES, SIZE, SIZE, 3))


def test_a_hint_count_that_fits_no_frame_count_is_refused(session, models):
    first, *rest = hint_frames(2)
    first.save(session.settings.input_dir / "two.apng", format="PNG", save_all=True,
               append_images=rest, duration=125, loop=0)
    graph = controlled_graph(models, per_frame=True)
    graph.set_value("video", "file", "two.apng")
    with pytest.raises(NodeExecutionError, match="one per frame"):
        session.run(graph, outputs=["decode"])


def test_per_frame_hints_repeat_for_every_video_of_a_batch():
    from nodestudio.runtime.control import _hint_frames

    hints = torch.arange(3, dtype=torch.float32).view(3, 1, 1, 1).expand(3, 3, 4, 4)
    batch = _hint_frames(hints, batch=2, frames=3, size=(4, 4))
    # Frame-major per video, as the motion UNet flattens [B, C, F, h, w] latents.
    assert batch[:, 0, 0, 0].tolist() == [0, 1, 2, 0, 1, 2]
    assert _hint_frames(hints[:1], batch=2, frames=3, size=(4, 4)).shape[0] == 6
