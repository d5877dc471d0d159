"""Image prompts: CLIP vision loading and encoding against transformers' own forward, unCLIP
class labels and SDXL revision exactly as ComfyUI's formulas say, the unCLIP checkpoint loader,
and the errors users meet."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from nodestudio.api import ModelNotFoundError, NodeError
from nodestudio.app.models import ModelLibrary
from nodestudio.engine.cancel import CancelToken
from nodestudio.engine.context import RunContext, RunEnvironment
from nodestudio.runtime.clip_vision import CLIP_MEAN, CLIP_STD, vision_config_from_shapes
from nodestudio.runtime.families.base import (
    ClassifierFreeGuidance,
    DenoiseRequest,
    Geometry,
    NoGuidance,
)
from nodestudio.runtime.tiny_unclip import (
    EMBED_DIM,
    build_tiny_unclip_models,
    save_clip_vision,
    tiny_clip_vision,
    tiny_unclip_components,
)
from nodestudio.runtime.types import Conditioning


@pytest.fixture(scope="module")
def unclip_root(tmp_path_factory, tiny_models):
    """The tiny unCLIP files, a 64-wide CLIP vision model for the tiny SDXL (whose pooled
    prompt is 64 wide), and the tiny SD file in clip_vision (not a vision model)."""
    root = tmp_path_factory.mktemp("unclip-models")
    models = build_tiny_unclip_models(root)
    save_clip_vision(tiny_clip_vision(5, projection=64),
                     root / "clip_vision" / "tiny-g.safetensors")
    (root / "clip_vision" / "not-vision.safetensors").write_bytes(
        tiny_models.checkpoint(tiny_models.sd_file).read_bytes())
    return models


@pytest.fixture
def uctx(unclip_root, tiny_models, tmp_path) -> RunContext:
    environment = RunEnvironment(
        device="cpu", models=ModelLibrary([unclip_root.root, tiny_models.root],
                                          include_demo=False),
        output_dir=tmp_path / "output", input_dir=tmp_path / "input")
    return RunContext("node-under-test", environment, CancelToken(), lambda event: None,
                      "run-1", None)


def _picture(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((1, height, width, 3), dtype=np.float32)


def _reference_pixels(image: np.ndarray) -> torch.Tensor:
    """CLIP's input for a picture already at the model's size: 8-bit rounding, CLIP's
    mean and deviation (no resizing)."""
    pixels = torch.from_numpy(image).permute(0, 3, 1, 2)
    pixels = torch.round(pixels * 255) / 255
    return (pixels - torch.tensor(CLIP_MEAN)[:, None, None]) / torch.tensor(CLIP_STD)[:, None, None]


# -- CLIP vision --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tiny-clip-vision.safetensors",
                                  "tiny-clip-vision-open-clip.safetensors"])
def test_encoding_equals_transformers_forward(run_node, uctx, name):
    clip_vision = run_node("diffusion.load_clip_vision", clip_name=name, ctx=uctx)
    image = _picture(32, 32)  # the tiny model's input size: no resizing
    encoded = run_node("diffusion.clip_vision_encode", clip_vision=clip_vision, image=image,
                       crop="center")
    reference = tiny_clip_vision(0)
    with torch.no_grad():
        expected = reference(pixel_values=_reference_pixels(image), output_hidden_states=True)
    assert encoded.image_embeds.shape == (1, EMBED_DIM)
    assert encoded.last_hidden_state.shape == (1, 17, 32)  # 16 patches + the class token
    assert encoded.penultimate_hidden_states.shape == (1, 17, 32)
    torch.testing.assert_close(encoded.image_embeds, expected.image_embeds, atol=1e-5, rtol=0)
    torch.testing.assert_close(encoded.last_hidden_state, expected.last_hidden_state,
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(encoded.penultimate_hidden_states, expected.hidden_states[-2],
                               atol=1e-5, rtol=0)
    assert not torch.allclose(encoded.penultimate_hidden_states, encoded.last_hidden_state)


def test_center_crop_keeps_the_middle_and_none_squashes(run_node, uctx):
    clip_vision = run_node("diffusion.load_clip_vision",
                           clip_name="tiny-clip-vision.safetensors", ctx=uctx)
    wide = _picture(32, 64, seed=1)  # the short side is already 32: only the crop acts
    center = run_node("diffusion.clip_vision_encode", clip_vision=clip_vision, image=wide,
                      crop="center")
    middle = run_node("diffusion.clip_vision_encode", clip_vision=clip_vision,
                      image=np.ascontiguousarray(wide[:, :, 16:48]), crop="center")
    squashed = run_node("diffusion.clip_vision_encode", clip_vision=clip_vision, image=wide,
                        crop="none")
    torch.testing.assert_close(center.image_embeds, middle.image_embeds, atol=1e-4, rtol=0)
    assert (squashed.image_embeds - center.image_embeds).abs().max() > 1e-2
    batch = run_node("diffusion.clip_vision_encode", clip_vision=clip_vision,
                     image=np.concatenate([wide, wide[:, :, ::-1]]), crop="none")
    assert batch.image_embeds.shape == (2, EMBED_DIM)


def test_released_configs_are_read_from_shapes():
    def shapes(width, layers, positions, patch, mlp, projection):
        found = {
            "vision_model.embeddings.patch_embedding.weight": (width, 3, patch, patch),
            "vision_model.embeddings.position_embedding.weight": (positions, width),
            "vision_model.encoder.layers.0.mlp.fc1.weight": (mlp, width),
            "visual_projection.weight": (projection, width),
        }
        found.update({f"vision_model.encoder.layers.{i}.layer_norm1.weight": (width,)
                      for i in range(layers)})
        return found

    vit_h = vision_config_from_shapes(shapes(1280, 32, 257, 14, 5120, 1024))
    assert (vit_h["image_size"], vit_h["num_hidden_layers"], vit_h["num_attention_heads"],
            vit_h["projection_dim"], vit_h["hidden_act"]) == (224, 32, 16, 1024, "gelu")
    vit_l_336 = vision_config_from_shapes(shapes(1024, 24, 577, 14, 4096, 768))
    assert (vit_l_336["image_size"], vit_l_336["hidden_act"]) == (336, "quick_gelu")
    with pytest.raises(NodeError, match="released sizes"):
        vision_config_from_shapes(shapes(96, 2, 17, 8, 192, 16))


def test_missing_and_wrong_files_are_named(run_node, uctx):
    with pytest.raises(ModelNotFoundError, match="clip_vision"):
        run_node("diffusion.load_clip_vision", clip_name="clip_vision_g.safetensors", ctx=uctx)
    with pytest.raises(NodeError, match=r"not a CLIP vision model.*models/clip_vision"):
        run_node("diffusion.load_clip_vision", clip_name="not-vision.safetensors", ctx=uctx)
    with pytest.raises(NodeError, match="not an unCLIP checkpoint"):
        run_node("diffusion.load_unclip_checkpoint", checkpoint="tiny-sd.safetensors", ctx=uctx)


# -- unCLIP class labels ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def unclip_parts(unclip_root, tiny_models, diffusion_registry):
    environment = RunEnvironment(device="cpu", models=ModelLibrary([unclip_root.root],
                                                                   include_demo=False))
    context = RunContext("load", environment, CancelToken(), lambda event: None, "run-0", None)
    load = diffusion_registry.get("diffusion.load_unclip_checkpoint").function
    return load(checkpoint=unclip_root.checkpoint, ctx=context)


#: The sampler's seed of the requests below; ComfyUI augments with seed − 10.
SEED = 42


def _augmented_at(embeds: torch.Tensor, level: int) -> torch.Tensor:
    """The augmentation written out (diffusers' DDPM cosine schedule, ComfyUI's level
    embedding: cos then sin of level × 10000^(-i/half)), with its noise drawn on the CPU
    from the sampler's seed − 10 (ComfyUI's SD21UNCLIP.encode_adm and sdxl_pooled)."""
    steps = 1000

    def alpha_bar(t: float) -> float:
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    betas = [min(1 - alpha_bar((i + 1) / steps) / alpha_bar(i / steps), 0.999)
             for i in range(steps)]
    cumulative = math.prod(1 - beta for beta in betas[:level + 1])
    noise = torch.randn(embeds.shape, generator=torch.Generator("cpu").manual_seed(SEED - 10))
    noised = math.sqrt(cumulative) * embeds + math.sqrt(1 - cumulative) * noise
    half = embeds.shape[-1] // 2
    frequencies = torch.exp(-math.log(10000) * torch.arange(half) / half)
    angles = level * frequencies
    return torch.cat([noised, torch.cos(angles)[None], torch.sin(angles)[None]], dim=1)


def _request(model, positive, negative, batch=1):
    return DenoiseRequest(
        model=model, positive=positive, negative=negative,
        geometry=Geometry(batch, 64, 64, 8, 8),
        guidance=ClassifierFreeGuidance(5.0) if negative is not None else NoGuidance(),
        cfg=5.0, dtype=torch.float32, device=torch.device("cpu"), seed=SEED)


def _labels(model, positive, negative, batch=1):
    denoiser = model.family.denoiser(_request(model, positive, negative, batch))
    return denoiser, denoiser.extra_kwargs["class_labels"]


def test_the_unclip_checkpoint_gives_four_parts(unclip_parts):
    model, clip, vae, clip_vision = unclip_parts
    assert model.denoiser.config.class_embed_type == "projection"
    assert model.denoiser.class_embedding.linear_1.in_features == 2 * EMBED_DIM
    assert model.scheduler_config["prediction_type"] == "v_prediction"
    assert clip.encoders and vae.latent_channels == 4
    image = _picture(32, 32, seed=3)
    reference = tiny_unclip_components(10)["image_encoder"]
    with torch.no_grad():
        expected = reference(pixel_values=_reference_pixels(image)).image_embeds
    from nodestudio.runtime.clip_vision import encode_image

    torch.testing.assert_close(encode_image(clip_vision, image).image_embeds, expected,
                               atol=1e-5, rtol=0)


def test_class_labels_follow_the_augmentation_formula(run_node, unclip_parts):
    model, _, _, clip_vision = unclip_parts
    encoded = run_node("diffusion.clip_vision_encode", clip_vision=clip_vision,
                       image=_picture(32, 32, seed=4), crop="center")
    text = Conditioning(embeds=torch.randn(1, 77, 32, generator=torch.Generator().manual_seed(1)))
    prompted = run_node("diffusion.unclip_conditioning", conditioning=text,
                        clip_vision_output=encoded, strength=1.0, noise_augmentation=0.0)
    assert prompted.embeds is text.embeds and len(prompted.image_prompts) == 1
    denoiser, labels = _labels(model, prompted, text, batch=2)
    expected = _augmented_at(encoded.image_embeds, 0)
    assert labels.shape == (4, 2 * EMBED_DIM)
    torch.testing.assert_close(labels[:2], torch.zeros(2, 2 * EMBED_DIM))  # the negative
    torch.testing.assert_close(labels[2:], expected.repeat(2, 1), atol=1e-5, rtol=1e-5)

    stronger = run_node("diffusion.unclip_conditioning", conditioning=text,
                        clip_vision_output=encoded, strength=2.5, noise_augmentation=0.0)
    torch.testing.assert_close(_labels(model, stronger, None)[1], 2.5 * expected,
                               atol=1e-5, rtol=1e-5)
    noisy = run_node("diffusion.unclip_conditioning", conditioning=text,
                     clip_vision_output=encoded, strength=1.0, noise_augmentation=0.3)
    torch.testing.assert_close(_labels(model, noisy, None)[1],
                               _augmented_at(encoded.image_embeds, round(999 * 0.3)),
                               atol=1e-5, rtol=1e-5)

    # Strength 0 adds nothing: the model sees what a prompt without images gives.
    unchanged = run_node("diffusion.unclip_conditioning", conditioning=text,
                         clip_vision_output=encoded, strength=0.0, noise_augmentation=0.0)
    assert unchanged is text
    torch.testing.assert_close(_labels(model, unchanged, None)[1],
                               torch.zeros(1, 2 * EMBED_DIM))

    # The labels reach the UNet: its prediction changes with the image.
    latents = torch.randn(4, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    t = torch.tensor(500)
    with_image = denoiser(latents, t, 0, 1, latents[:2])
    without = model.family.denoiser(_request(model, text, text, 2))(latents, t, 0, 1, latents[:2])
    assert torch.equal(with_image[:2], without[:2])  # the negative halves match
    assert (with_image[2:] - without[2:]).abs().max() > 1e-4


def test_two_images_add_up_and_are_augmented_again(run_node, unclip_parts):
    model, _, _, clip_vision = unclip_parts
    first = run_node("diffusion.clip_vision_encode", clip_vision=clip_vision,
                     image=_picture(32, 32, seed=5), crop="center")
    second = run_node("diffusion.clip_vision_encode", clip_vision=clip_vision,
                      image=_picture(32, 32, seed=6), crop="center")
    text = Conditioning(embeds=torch.zeros(1, 77, 32))
    both = run_node("diffusion.unclip_conditioning", conditioning=text,
                    clip_vision_output=first, strength=1.0, noise_augmentation=0.0)
    both = run_node("diffusion.unclip_conditioning", conditioning=both,
                    clip_vision_output=second, strength=0.5, noise_augmentation=0.0)
    total = (_augmented_at(first.image_embeds, 0) + 0.5 * _augmented_at(second.image_embeds, 0))
    expected = _augmented_at(total[:, :EMBED_DIM], round(999 * 0.05))  # ComfyUI's merge level
    torch.testing.assert_close(_labels(model, both, None)[1], expected,
                               atol=1e-5, rtol=1e-5)


def test_image_prompts_on_a_model_without_image_input_are_refused(run_node, unclip_parts,
                                                                  sd_checkpoint):
    _, _, _, clip_vision = unclip_parts
    encoded = run_node("diffusion.clip_vision_encode", clip_vision=clip_vision,
                       image=_picture(32, 32), crop="center")
    sd_model = sd_checkpoint[0]
    prompted = run_node("diffusion.unclip_conditioning",
                        conditioning=Conditioning(embeds=torch.zeros(1, 77, 32)),
                        clip_vision_output=encoded, strength=1.0, noise_augmentation=0.0)
    with pytest.raises(NodeError, match="cannot use image prompts"):
        sd_model.family.denoiser(_request(sd_model, prompted, None))


# -- SDXL revision ------------------------------------------------------------------------------


def test_revision_replaces_the_pooled_prompt(run_node, uctx, tiny_models, diffusion_registry):
    load = diffusion_registry.get("diffusion.load_checkpoint").function
    model = load(checkpoint=tiny_models.sdxl_folder, ctx=uctx)[0]
    clip_vision = run_node("diffusion.load_clip_vision", clip_name="tiny-g.safetensors",
                           ctx=uctx)
    encoded = run_node("diffusion.clip_vision_encode", clip_vision=clip_vision,
                       image=_picture(48, 40, seed=7), crop="center")
    generator = torch.Generator().manual_seed(3)
    text = Conditioning(embeds=torch.randn(1, 77, 96, generator=generator),
                        pooled=torch.randn(1, 64, generator=generator))
    negative = replace(text, pooled=torch.randn(1, 64, generator=generator))
    prompted = run_node("diffusion.unclip_conditioning", conditioning=text,
                        clip_vision_output=encoded, strength=0.8, noise_augmentation=0.0)
    denoiser = model.family.denoiser(_request(model, prompted, negative))
    pooled = denoiser.added_cond["text_embeds"]
    torch.testing.assert_close(pooled[1:], 0.8 * _augmented_at(encoded.image_embeds, 0)[:, :64],
                               atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(pooled[:1], negative.pooled)  # the negative keeps its own
    assert "class_labels" not in denoiser.extra_kwargs

    small = run_node("diffusion.clip_vision_encode",
                     clip_vision=run_node("diffusion.load_clip_vision",
                                          clip_name="tiny-clip-vision.safetensors", ctx=uctx),
                     image=_picture(32, 32), crop="center")
    wrong = run_node("diffusion.unclip_conditioning", conditioning=text,
                     clip_vision_output=small, strength=1.0, noise_augmentation=0.0)
    with pytest.raises(NodeError, match="pooled prompt is 64 wide"):
        model.family.denoiser(_request(model, wrong, negative))
