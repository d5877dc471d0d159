"""The normal Load Checkpoint opens a Stable Video Diffusion diffusers folder as the SVD family
(not down the SD UNet path, which would fail on its spatio-temporal UNet), and a graph taking
the model and VAE from it makes the same frames as one taking them from Image Only Checkpoint
Loader.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import nodestudio
from nodestudio.engine.executor import NodeExecutionError
from nodestudio.graph.model import Graph

SEED = 17
FRAMES, SIZE, STEPS = 3, 32, 2


@pytest.fixture(scope="module")
def svd_models(tiny_motion):
    return tiny_motion("svd")  # the model test_svd.py runs


@pytest.fixture(scope="module")
def session(svd_models, new_session) -> nodestudio.Session:
    rows, columns = np.mgrid[0:SIZE, 0:SIZE]
    pixels = np.stack([rows * 7, columns * 5, (rows + columns) * 3], axis=-1) % 256
    return new_session(svd_models.root, "svd-load-checkpoint",
                       {"start.png": Image.fromarray(pixels.astype(np.uint8))})


def svd_graph(models, loader: str) -> Graph:
    """Image Only Checkpoint Loader gives CLIP vision; ``loader`` gives the model and VAE."""
    g = Graph()
    g.add_node("diffusion.image_only_checkpoint_loader", {"ckpt_name": models.svd_folder},
               id="image_only")
    if loader == "load_checkpoint":
        g.add_node("diffusion.load_checkpoint", {"checkpoint": models.svd_folder},
                   id="checkpoint")
    source = "checkpoint" if loader == "load_checkpoint" else "image_only"
    g.add_node("image.load", {"image": "start.png"}, id="image")
    g.add_node("diffusion.svd_img2vid_conditioning", {
        "width": SIZE, "height": SIZE, "video_frames": FRAMES, "motion_bucket_id": 100,
        "fps": 8, "augmentation_level": 0.0}, id="conditioning")
    g.connect("image_only", "clip_vision", "conditioning", "clip_vision")
    g.connect(source, "vae", "conditioning", "vae")
    g.connect("image", "image", "conditioning", "init_image")
    g.add_node("diffusion.sampler", {"seed": SEED, "steps": STEPS, "cfg": 2.5,
                                     "sampler": "euler", "scheduler": "karras"}, id="sampler")
    g.connect(source, "model", "sampler", "model")
    for name in ("positive", "negative", "latent"):
        g.connect("conditioning", name, "sampler", name)
    g.add_node("diffusion.vae_decode", {}, id="decode")
    g.connect(source, "vae", "decode", "vae")
    g.connect("sampler", "latent", "decode", "latent")
    return g


def test_load_checkpoint_opens_svd_as_its_family(session, svd_models):
    from nodestudio.runtime.families.base import FamilyId

    result = session.run(svd_graph(svd_models, "load_checkpoint"),
                         outputs=["decode", "checkpoint"])
    loaded = result.outputs["checkpoint"]
    assert loaded["model"].family.id == FamilyId.SVD
    assert loaded["clip"].encoders == ()  # SVD has no text encoder
    frames = result.outputs["decode"]["image"]
    assert frames.shape == (FRAMES, SIZE, SIZE, 3) and frames.std() > 0.01

    expected = session.run(svd_graph(svd_models, "image_only"),
                           outputs=["decode"]).outputs["decode"]["image"]
    assert float(np.abs(frames - expected).max()) <= 1e-5


def test_text_prompts_on_svd_are_refused_clearly(session, svd_models):
    graph = svd_graph(svd_models, "load_checkpoint")
    graph.add_node("diffusion.text_encode", {"text": "a cat"}, id="prompt")
    graph.connect("checkpoint", "clip", "prompt", "clip")
    with pytest.raises(NodeExecutionError,
                       match=r"has no text encoder.*SVD_img2vid_Conditioning"):
        session.run(graph, outputs=["prompt"])
