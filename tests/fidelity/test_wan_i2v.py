"""A Wan 2.1 image-to-video graph equals ``WanImageToVideoPipeline`` (≤ 2/255 per frame) on a
tiny model, with the CLIP vision states from the folder's own encoder or from CLIP Vision
Encode (ComfyUI's way: the folder's encoder with its projection in models/clip_vision)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import nodestudio
from nodestudio.graph.model import Graph
from tests.fidelity.pipelines import assert_same_frames

SEED, PROMPT, NEGATIVE = 77, "a red fox running in the snow", "blurry"
SIZE, LENGTH = 32, 9


@pytest.fixture(scope="module")
def models(tiny_video):
    return tiny_video("wan_i2v")


@pytest.fixture(scope="module")
def start_picture() -> Image.Image:
    # Smooth colours plus detail, so the video depends on where things are in the picture.
    y, x = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    noise = np.random.default_rng(3).random((SIZE, SIZE, 3))
    rgb = np.stack([x, y, 1 - x * y], axis=-1) * 0.7 + noise * 0.3
    return Image.fromarray((rgb * 255).round().astype(np.uint8))


@pytest.fixture(scope="module")
def session(models, start_picture, new_session) -> nodestudio.Session:
    return new_session(models.root, "wan-i2v-fidelity", {"start.png": start_picture})


@pytest.fixture(scope="module")
def pipeline(models):
    from diffusers import WanImageToVideoPipeline

    loaded = WanImageToVideoPipeline.from_pretrained(
        models.checkpoint(models.wan_i2v_folder), local_files_only=True)
    loaded.set_progress_bar_config(disable=True)
    return loaded


@pytest.fixture(scope="module")
def expected(pipeline, start_picture) -> np.ndarray:
    return pipeline(image=start_picture, prompt=PROMPT, negative_prompt=NEGATIVE, height=SIZE,
                    width=SIZE, num_frames=LENGTH, num_inference_steps=3, guidance_scale=5.0,
                    generator=torch.Generator("cpu").manual_seed(SEED),
                    output_type="np").frames[0]


def i2v_graph(models, clip_vision: bool) -> Graph:
    """checkpoint → prompts → Load Image → WanImageToVideo → Sampler → VAE Decode."""
    g = Graph()
    g.add_node("diffusion.load_checkpoint", {"checkpoint": models.wan_i2v_folder},
               id="checkpoint")
    for name, text in (("positive", PROMPT), ("negative", NEGATIVE)):
        g.add_node("diffusion.text_encode", {"text": text}, id=name)
        g.connect("checkpoint", "clip", name, "clip")
    g.add_node("image.load", {"image": "start.png"}, id="image")
    g.add_node("diffusion.wan_image_to_video", {"width": SIZE, "height": SIZE,
                                                "length": LENGTH, "batch_size": 1}, id="i2v")
    for name in ("positive", "negative"):
        g.connect(name, "conditioning", "i2v", name)
    g.connect("checkpoint", "vae", "i2v", "vae")
    g.connect("image", "image", "i2v", "start_image")
    if clip_vision:
        g.add_node("diffusion.load_clip_vision", {"clip_name": models.wan_clip_vision},
                   id="vision")
        g.add_node("diffusion.clip_vision_encode", {"crop": "none"}, id="encode")
        g.connect("vision", "clip_vision", "encode", "clip_vision")
        g.connect("image", "image", "encode", "image")
        g.connect("encode", "clip_vision_output", "i2v", "clip_vision_output")
    g.add_node("diffusion.sampler", {"seed": SEED, "scheduler": "normal", "steps": 3,
                                     "cfg": 5.0, "sampler": "uni_pc_bh2"}, id="sampler")
    g.connect("checkpoint", "model", "sampler", "model")
    for name in ("positive", "negative", "latent"):
        g.connect("i2v", name, "sampler", name)
    g.add_node("diffusion.vae_decode", {}, id="decode")
    g.connect("checkpoint", "vae", "decode", "vae")
    g.connect("sampler", "latent", "decode", "latent")
    return g


@pytest.mark.parametrize("clip_vision", [False, True], ids=["folder-encoder", "clip-vision"])
def test_wan_i2v_graph_equals_the_pipeline(session, models, expected, clip_vision):
    result = session.run(i2v_graph(models, clip_vision), outputs=["decode"])
    frames = result.outputs["decode"]["image"]
    assert_same_frames(frames, expected, (LENGTH, SIZE, SIZE, 3))


def test_the_condition_is_the_pipelines_mask_and_image_latents(session, models, pipeline,
                                                               start_picture):
    graph = i2v_graph(models, clip_vision=False)
    positive = session.run(graph, outputs=["i2v"]).outputs["i2v"]["positive"]
    condition = positive.extra["wan_i2v"]
    pixels = pipeline.video_processor.preprocess(start_picture, height=SIZE, width=SIZE)
    _, theirs = pipeline.prepare_latents(pixels.float(), 1, 16, SIZE, SIZE, LENGTH,
                                         torch.float32, torch.device("cpu"),
                                         torch.Generator("cpu").manual_seed(0))
    assert condition.concat.shape == theirs.shape == (1, 20, 3, SIZE // 8, SIZE // 8)
    # Mask channels: all four pixel frames of the first latent frame known, nothing after.
    assert torch.equal(condition.concat[:, :4], theirs[:, :4])
    assert condition.concat[:, :4, 0].eq(1).all() and condition.concat[:, :4, 1:].eq(0).all()
    assert torch.allclose(condition.concat[:, 4:], theirs[:, 4:], atol=1e-5)
    # CLIP Vision Encode's penultimate states equal the pipeline's encode_image.
    encoded = session.run(i2v_graph(models, clip_vision=True), outputs=["encode"])
    states = encoded.outputs["encode"]["clip_vision_output"].penultimate_hidden_states
    assert torch.allclose(states, pipeline.encode_image(start_picture, "cpu"), atol=1e-5)


def test_a_text_prompt_alone_is_refused_with_the_node_to_use(models):
    from nodestudio.api.errors import NodeError
    from nodestudio.runtime.checkpoints import load_checkpoint
    from nodestudio.runtime.families.base import PromptOptions
    from nodestudio.runtime.sampling import SamplerSettings, sample
    from nodestudio.runtime.types import Latent

    loaded = load_checkpoint(models.checkpoint(models.wan_i2v_folder), "cpu")
    assert loaded.model.family.label == "Wan" and loaded.model.image_encoder is not None
    prompt = loaded.model.family.encode_prompt(loaded.clip, PROMPT, PromptOptions())
    with pytest.raises(NodeError, match="must come from WanImageToVideo"):
        sample(loaded.model, prompt, prompt,
               Latent(torch.zeros(1, 16, 3, 4, 4), scale_factor=8, is_empty=True),
               SamplerSettings(seed=SEED, steps=2, cfg=5.0))
