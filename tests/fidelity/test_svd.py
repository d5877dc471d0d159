"""A Stable Video Diffusion graph equals ``StableVideoDiffusionPipeline`` (≤ 2/255 per frame)
on a tiny model: Image Only Checkpoint Loader → SVD img2vid Conditioning (Load Image) →
Video Linear CFG Guidance → Sampler (euler, the folder's EDM schedule) → VAE Decode.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import nodestudio
from nodestudio.graph.model import Graph
from tests.fidelity.pipelines import assert_same_frames

SEED = 4321
FRAMES, SIZE, STEPS = 3, 32, 3


@pytest.fixture(scope="module")
def svd_models(tiny_motion):
    return tiny_motion("svd")


@pytest.fixture(scope="module")
def start_image() -> Image.Image:
    rows, columns = np.mgrid[0:SIZE, 0:SIZE]
    pixels = np.stack([rows * 7, columns * 7, (rows + columns) * 3], axis=-1) % 256
    picture = Image.fromarray(pixels.astype(np.uint8))
    return picture


@pytest.fixture(scope="module")
def session(svd_models, start_image, new_session) -> nodestudio.Session:
    return new_session(svd_models.root, "svd-fidelity", {"start.png": start_image})


def svd_graph(models, min_cfg: float | None, cfg: float, augmentation: float) -> Graph:
    g = Graph()
    g.add_node("diffusion.image_only_checkpoint_loader", {"ckpt_name": models.svd_folder},
               id="checkpoint")
    g.add_node("image.load", {"image": "start.png"}, id="image")
    g.add_node("diffusion.svd_img2vid_conditioning", {
        "width": SIZE, "height": SIZE, "video_frames": FRAMES, "motion_bucket_id": 100,
        "fps": 8, "augmentation_level": augmentation}, id="conditioning")
    g.connect("checkpoint", "clip_vision", "conditioning", "clip_vision")
    g.connect("checkpoint", "vae", "conditioning", "vae")
    g.connect("image", "image", "conditioning", "init_image")
    model = ("checkpoint", "model")
    if min_cfg is not None:
        g.add_node("diffusion.video_linear_cfg_guidance", {"min_cfg": min_cfg}, id="linear")
        g.connect("checkpoint", "model", "linear", "model")
        model = ("linear", "model")
    g.add_node("diffusion.sampler", {"seed": SEED, "steps": STEPS, "cfg": cfg,
                                     "sampler": "euler", "scheduler": "karras"}, id="sampler")
    g.connect(*model, "sampler", "model")
    for name in ("positive", "negative", "latent"):
        g.connect("conditioning", name, "sampler", name)
    g.add_node("diffusion.vae_decode", {}, id="decode")
    g.connect("checkpoint", "vae", "decode", "vae")
    g.connect("sampler", "latent", "decode", "latent")
    return g


@pytest.fixture(scope="module")
def pipeline(svd_models):
    from diffusers import StableVideoDiffusionPipeline

    loaded = StableVideoDiffusionPipeline.from_pretrained(
        svd_models.root / "checkpoints" / svd_models.svd_folder, local_files_only=True)
    loaded.set_progress_bar_config(disable=True)
    return loaded


def pipeline_frames(pipeline, image, min_cfg: float, cfg: float,
                    augmentation: float) -> np.ndarray:
    return pipeline(image, height=SIZE, width=SIZE, num_frames=FRAMES,
                    num_inference_steps=STEPS, min_guidance_scale=min_cfg,
                    max_guidance_scale=cfg, fps=8, motion_bucket_id=100,
                    noise_aug_strength=augmentation,
                    generator=torch.Generator("cpu").manual_seed(SEED),
                    output_type="np").frames[0]


def test_svd_graph_equals_the_pipeline(session, svd_models, pipeline, start_image):
    graph = svd_graph(svd_models, min_cfg=1.0, cfg=3.0, augmentation=0.02)
    frames = session.run(graph, outputs=["decode"]).outputs["decode"]["image"]
    assert_same_frames(frames, pipeline_frames(pipeline, start_image, 1.0, 3.0, 0.02),
                       (FRAMES, SIZE, SIZE, 3))


def test_constant_guidance_without_the_linear_node(session, svd_models, pipeline,
                                                   start_image):
    graph = svd_graph(svd_models, min_cfg=None, cfg=2.5, augmentation=0.1)
    frames = session.run(graph, outputs=["decode"]).outputs["decode"]["image"]
    assert_same_frames(frames, pipeline_frames(pipeline, start_image, 2.5, 2.5, 0.1),
                       (FRAMES, SIZE, SIZE, 3))
