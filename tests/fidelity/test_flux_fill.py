"""Flux Fill in a graph equals FluxFillPipeline (≤ 2/255 per pixel) on the tiny Fill model.

The graph: Load Checkpoint → Text Encode → Flux Guidance (30, the pipeline's default) → Load
Image (transparent = repaint) → VAE Encode with the mask → Sampler (denoise 1) → VAE Decode.
The pipeline gets the same picture and mask and prepares the masked image and the 8 × 8 mask
fold itself, so the comparison checks NodeStudio's fold and concatenation order against its.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import nodestudio
from nodestudio.graph.model import Graph

pytestmark = pytest.mark.slow
SEED = 2468
PROMPT = "a red brick wall"
WIDTH, HEIGHT = 48, 32
#: Rows and columns of the hole; its edges cut through latent cells (8 × 8 pixels), so a fold
#: in the wrong order, or a mask taken per cell, would change the transformer's input.
HOLE = (slice(5, 27), slice(11, 36))


@pytest.fixture(scope="module")
def fill_folder(tiny_dit_models) -> str:
    if tiny_dit_models.flux_fill_folder is None:
        pytest.skip("this diffusers has no FluxFillPipeline")
    return tiny_dit_models.flux_fill_folder


@pytest.fixture(scope="module")
def session(flow_session) -> nodestudio.Session:
    return flow_session


@pytest.fixture(scope="module")
def holed(session) -> tuple[str, np.ndarray, np.ndarray]:
    """A seeded RGBA picture in the input folder, transparent where to repaint: its name, its
    RGB pixels and the mask (1 = repaint)."""
    from PIL import Image

    rng = np.random.default_rng(5)
    rgb = (rng.random((HEIGHT, WIDTH, 3)) * 255).astype(np.uint8)
    alpha = np.full((HEIGHT, WIDTH, 1), 255, np.uint8)
    alpha[HOLE] = 0
    session.settings.input_dir.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate([rgb, alpha], axis=-1), "RGBA").save(
        session.settings.input_dir / "holed.png")
    mask = np.zeros((HEIGHT, WIDTH), np.float32)
    mask[HOLE] = 1.0
    return "holed.png", rgb, mask


def generator() -> torch.Generator:
    return torch.Generator("cpu").manual_seed(SEED)


def fill_graph(checkpoint: str, picture: str, with_mask: bool = True, **sampler: Any) -> Graph:
    g = Graph()
    g.add_node("diffusion.load_checkpoint", {"checkpoint": checkpoint}, id="checkpoint")
    g.add_node("diffusion.text_encode", {"text": PROMPT}, id="positive")
    g.connect("checkpoint", "clip", "positive", "clip")
    g.add_node("diffusion.flux_guidance", {"guidance": 30.0}, id="guidance")
    g.connect("positive", "conditioning", "guidance", "conditioning")
    g.add_node("image.load", {"image": picture}, id="load")
    g.add_node("diffusion.vae_encode", {}, id="encode")
    g.connect("checkpoint", "vae", "encode", "vae")
    g.connect("load", "image", "encode", "image")
    if with_mask:
        g.connect("load", "mask", "encode", "mask")
    g.add_node("diffusion.sampler", {"seed": SEED, "scheduler": "normal", **sampler},
               id="sampler")
    g.connect("checkpoint", "model", "sampler", "model")
    g.connect("guidance", "conditioning", "sampler", "positive")
    g.connect("encode", "latent", "sampler", "latent")
    g.add_node("diffusion.vae_decode", {}, id="decode")
    g.connect("checkpoint", "vae", "decode", "vae")
    g.connect("sampler", "latent", "decode", "latent")
    g.add_node("image.preview", {}, id="preview")
    g.connect("decode", "image", "preview", "images")
    return g


def test_flux_fill_graph_equals_the_pipeline(session, tiny_dit_models, fill_folder, holed,
                                             same_image):
    from diffusers import FluxFillPipeline
    from diffusers.utils.torch_utils import randn_tensor
    from PIL import Image

    from nodestudio.runtime import families
    from nodestudio.runtime.families.flux import pack
    from nodestudio.runtime.schedulers import build_scheduler

    picture, rgb, mask = holed
    result = session.run(fill_graph(fill_folder, picture, steps=3, cfg=1.0, sampler="euler"))
    latent = result.outputs["encode"]["latent"]
    np.testing.assert_array_equal(latent.noise_mask[0, 0].numpy(), mask)  # Load Image's mask
    image = result.outputs["decode"]["image"]

    reference = FluxFillPipeline.from_pretrained(tiny_dit_models.checkpoint(fill_folder),
                                                 local_files_only=True)
    reference.scheduler = build_scheduler("euler", "normal", reference.scheduler.config, SEED,
                                          families.FLUX)
    reference.set_progress_bar_config(disable=True)
    # With strength 1 the pipeline starts from pure noise (scale_noise at σ = 1), as the
    # Sampler does with denoise 1 and a mask; but it draws the image's posterior sample from
    # the generator before the noise, so it is handed the noise the Sampler draws. The masked
    # image's posterior sample stays its own: the tiny VAE's posterior is narrow (≈ the mode).
    noise = pack(randn_tensor((1, 16, HEIGHT // 8, WIDTH // 8), generator=generator()))
    expected = reference(
        prompt=PROMPT, image=Image.fromarray(rgb), mask_image=Image.fromarray(
            (mask * 255).astype(np.uint8), "L"), width=WIDTH, height=HEIGHT,
        num_inference_steps=3, guidance_scale=30.0, latents=noise, generator=generator(),
        output_type="np").images
    same_image(image, expected)


def test_flux_fill_without_a_mask_asks_for_one(session, fill_folder, holed):
    from nodestudio.engine.executor import NodeExecutionError

    with pytest.raises(NodeExecutionError) as raised:
        session.run(fill_graph(fill_folder, holed[0], with_mask=False, steps=2, cfg=1.0,
                               sampler="euler"))
    message = raised.value.result.failed["sampler"]
    assert "this is an inpainting model" in message and "VAE Encode's mask input" in message
