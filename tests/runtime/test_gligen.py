"""GLIGEN on the tiny SD UNet: a ComfyUI-layout GLIGEN file, applied by NodeStudio, gives what
diffusers' own GLIGEN ("gated") UNet gives with the same weights and the inputs its GLIGEN
pipeline builds; the shared base UNet is never left changed.

The GLIGEN file comes from a diffusers gated UNet of the tiny SD UNet's shape (random GLIGEN
weights, gates opened), saved under ComfyUI's pruned key names (nodestudio.runtime.tiny_grounding).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nodestudio.api import NodeError
from nodestudio.runtime.families.base import (
    ClassifierFreeGuidance,
    DenoiseRequest,
    Geometry,
    NoGuidance,
)

SIZE = 64  # pixels; the tiny VAE's latent is 8 × 8
PHRASES = [("a red cube", (8, 16, 32, 24)), ("a blue ball", (40, 0, 24, 64))]


@pytest.fixture(scope="module")
def gligen_file(sd_checkpoint, tmp_path_factory):
    """(path of the GLIGEN file, the diffusers gated UNet holding the base UNet's weights)."""
    from nodestudio.runtime.tiny_grounding import save_tiny_gligen, tiny_gated_unet

    base = sd_checkpoint[0].denoiser
    gated = tiny_gated_unet(base.config, seed=50)
    path = save_tiny_gligen(gated, tmp_path_factory.mktemp("gligen") / "tiny-gligen.safetensors")
    result = gated.load_state_dict(base.state_dict(), strict=False)
    assert result.unexpected_keys == []
    assert result.missing_keys and all(".fuser." in key or key.startswith("position_net.")
                                       for key in result.missing_keys)
    return path, gated


@pytest.fixture(scope="module")
def gligen(gligen_file):
    from nodestudio.runtime.gligen import load_gligen

    return load_gligen(gligen_file[0], "cpu")


def _encode(run_node, clip, text):
    return run_node("diffusion.text_encode", clip=clip, text=text)


def _grounded(run_node, sd_checkpoint, gligen, text="a red cube and a blue ball",
              phrases=PHRASES):
    _, clip, _ = sd_checkpoint
    conditioning = _encode(run_node, clip, text)
    for phrase, (x, y, width, height) in phrases:
        conditioning = run_node("diffusion.gligen_textbox_apply", conditioning_to=conditioning,
                                clip=clip, gligen_textbox_model=gligen, text=phrase, x=x, y=y,
                                width=width, height=height)
    return conditioning


def _pipeline_inputs(sd_checkpoint, phrases, rows):
    """cross_attention_kwargs["gligen"] as StableDiffusionGLIGENPipeline builds it: phrases
    through the tokenizer and text encoder's pooler output, boxes as fractions of the image."""
    encoder = sd_checkpoint[1].encoders[0]
    tokens = encoder.tokenizer([text for text, _ in phrases], padding=True, return_tensors="pt")
    with torch.no_grad():
        embeddings = encoder.model(**tokens).pooler_output
    boxes = torch.zeros(rows, 30, 4)
    masks = torch.zeros(rows, 30)
    positive = torch.zeros(rows, 30, embeddings.shape[-1])
    for slot, (_, (x, y, width, height)) in enumerate(phrases):
        boxes[:, slot] = torch.tensor([x, y, x + width, y + height]) / SIZE
        masks[:, slot] = 1
        positive[:, slot] = embeddings[slot]
    return {"boxes": boxes, "masks": masks, "positive_embeddings": positive}


def _request(model, positive, negative=None):
    guidance = ClassifierFreeGuidance(5.0) if negative is not None else NoGuidance()
    return DenoiseRequest(model=model, positive=positive, negative=negative,
                          geometry=Geometry(1, SIZE, SIZE, SIZE // 8, SIZE // 8),
                          guidance=guidance, cfg=5.0 if negative is not None else 1.0,
                          dtype=torch.float32, device=torch.device("cpu"))


def _inputs(rows):
    generator = torch.Generator().manual_seed(7)
    latents = torch.randn(rows, 4, SIZE // 8, SIZE // 8, generator=generator)
    return latents, torch.tensor(500)


def _plain(unet, latents, timestep, embeds):
    with torch.no_grad():
        return unet(latents, timestep, encoder_hidden_states=embeds).sample


@torch.no_grad()
def test_grounded_prompt_equals_diffusers_gated_unet(gligen_file, gligen, sd_checkpoint,
                                                     run_node):
    model = sd_checkpoint[0]
    positive = _grounded(run_node, sd_checkpoint, gligen)
    assert len(positive.gligen) == 2
    denoiser = model.family.denoiser(_request(model, positive))
    latents, timestep = _inputs(1)
    got = denoiser(latents, timestep, 0, 1, latents)

    gated = gligen_file[1]
    expected = gated(latents, timestep, encoder_hidden_states=positive.embeds,
                     cross_attention_kwargs={"gligen": _pipeline_inputs(
                         sd_checkpoint, PHRASES, 1)}).sample
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    plain = _plain(model.denoiser, latents, timestep, positive.embeds)
    assert (got - plain).abs().max() > 1e-2  # the phrases act


@torch.no_grad()
def test_each_box_and_phrase_counts(gligen, sd_checkpoint, run_node):
    model = sd_checkpoint[0]
    latents, timestep = _inputs(1)

    def predict(phrases):
        positive = _grounded(run_node, sd_checkpoint, gligen, phrases=phrases)
        return model.family.denoiser(_request(model, positive))(latents, timestep, 0, 1, latents)

    base = predict(PHRASES[:1])
    moved = predict([(PHRASES[0][0], (32, 32, 32, 32))])
    other_text = predict([("a green tree", PHRASES[0][1])])
    # Boxes inside one latent cell are the same box (ComfyUI floors pixels to cells).
    same_cells = predict([(PHRASES[0][0], (15, 23, 39, 31))])
    # Random tiny weights move the output a little, far above float noise (~1e-6).
    assert (base - moved).abs().max() > 1e-4
    assert (base - other_text).abs().max() > 1e-4
    torch.testing.assert_close(same_cells, base)


@torch.no_grad()
def test_with_cfg_only_the_grounded_prompt_gets_the_fusers(gligen_file, gligen, sd_checkpoint,
                                                           run_node):
    """ComfyUI runs a negative prompt without phrases without the GLIGEN patch."""
    model = sd_checkpoint[0]
    positive = _grounded(run_node, sd_checkpoint, gligen)
    negative = _encode(run_node, sd_checkpoint[1], "blurry")
    denoiser = model.family.denoiser(_request(model, positive, negative))
    latents, timestep = _inputs(2)
    got = denoiser(latents, timestep, 0, 1, latents[1:])
    plain_negative = _plain(model.denoiser, latents[:1], timestep, negative.embeds)
    gated = gligen_file[1]
    grounded_positive = gated(latents[1:], timestep, encoder_hidden_states=positive.embeds,
                              cross_attention_kwargs={"gligen": _pipeline_inputs(
                                  sd_checkpoint, PHRASES, 1)}).sample
    torch.testing.assert_close(got[:1], plain_negative, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(got[1:], grounded_positive, rtol=1e-4, atol=1e-5)


def _sample(run_node, ctx, sd_checkpoint, positive, negative, seed=3):
    model, _, _ = sd_checkpoint
    latent = run_node("diffusion.empty_latent", model=model, width=SIZE, height=SIZE)
    out = run_node("diffusion.sampler", model=model, positive=positive, negative=negative,
                   latent=latent, seed=seed, steps=3, cfg=5.0, sampler="euler", ctx=ctx)
    return out.samples


def _snapshot(unet):
    return {key: value.clone() for key, value in unet.state_dict().items()}


def _assert_untouched(unet, before):
    from nodestudio.runtime.gligen import transformer_blocks

    assert "position_net" not in vars(unet) and not hasattr(unet, "position_net")
    blocks = transformer_blocks(unet)
    assert len(blocks) == 6
    for block in blocks:
        assert not hasattr(block, "fuser")
        for attention in (block.attn1, block.attn2):
            assert not attention.to_k._forward_pre_hooks
            assert not attention.to_v._forward_pre_hooks
    after = unet.state_dict()
    assert after.keys() == before.keys()
    for key, tensor in before.items():
        assert torch.equal(after[key], tensor), key


def test_sampling_leaves_the_shared_unet_as_it_was(gligen, sd_checkpoint, run_node, ctx):
    unet = sd_checkpoint[0].denoiser
    before = _snapshot(unet)
    positive = _encode(run_node, sd_checkpoint[1], "a red cube and a blue ball")
    negative = _encode(run_node, sd_checkpoint[1], "")
    plain = _sample(run_node, ctx, sd_checkpoint, positive, negative)
    grounded = _sample(run_node, ctx, sd_checkpoint,
                       _grounded(run_node, sd_checkpoint, gligen), negative)
    _assert_untouched(unet, before)
    again = _sample(run_node, ctx, sd_checkpoint, positive, negative)
    assert (grounded - plain).abs().max() > 1e-3
    np.testing.assert_array_equal(again.numpy(), plain.numpy())


@torch.no_grad()
def test_a_failing_call_detaches_too(gligen, sd_checkpoint, run_node):
    model = sd_checkpoint[0]
    before = _snapshot(model.denoiser)
    positive = _grounded(run_node, sd_checkpoint, gligen)
    denoiser = model.family.denoiser(_request(model, positive))
    wrong = torch.zeros(1, 3, SIZE // 8, SIZE // 8)  # 3 channels: conv_in refuses it
    with pytest.raises(RuntimeError):
        denoiser(wrong, torch.tensor(500), 0, 1, wrong)
    _assert_untouched(model.denoiser, before)


def test_bad_inputs_are_explained(gligen, sd_checkpoint, run_node, tmp_path, tiny_models,
                                  diffusion_registry, ctx):
    from safetensors.torch import save_file

    from nodestudio.api import ModelNotFoundError
    from nodestudio.runtime.gligen import GligenLoadError, load_gligen

    many = [("a cube", (0, 0, 8, 8))] * 30
    full = _grounded(run_node, sd_checkpoint, gligen, phrases=many)
    assert len(full.gligen) == 30
    with pytest.raises(NodeError, match="at most 30 phrases"):
        run_node("diffusion.gligen_textbox_apply", conditioning_to=full,
                 clip=sd_checkpoint[1], gligen_textbox_model=gligen, text="one more")
    not_gligen = tmp_path / "lora-like.safetensors"
    save_file({"lora_unet_down.weight": torch.zeros(2, 2)}, str(not_gligen))
    with pytest.raises(GligenLoadError, match="not a GLIGEN model"):
        load_gligen(not_gligen, "cpu")
    with pytest.raises(ModelNotFoundError, match="gligen"):
        run_node("diffusion.load_gligen", gligen_name="gligen_sd14_textbox_pruned.safetensors",
                 ctx=ctx)
    # An SDXL model: its CLIP-L reads the phrase (ComfyUI allows it), its UNet has no place
    # for SD 1.x fusers, which sampling names before anything runs.
    from nodestudio.app.models import ModelLibrary
    from nodestudio.engine.cancel import CancelToken
    from nodestudio.engine.context import RunContext, RunEnvironment

    environment = RunEnvironment(device="cpu", models=ModelLibrary([tiny_models.root],
                                                                   include_demo=False))
    loading = RunContext("load", environment, CancelToken(), lambda event: None, "run-g", None)
    model, clip, _ = diffusion_registry.get("diffusion.load_checkpoint").function(
        checkpoint=tiny_models.sdxl_folder, ctx=loading)
    positive = run_node("diffusion.gligen_textbox_apply",
                        conditioning_to=_encode(run_node, clip, "a cube"), clip=clip,
                        gligen_textbox_model=gligen, text="a cube")
    assert len(positive.gligen) == 1
    latent = run_node("diffusion.empty_latent", model=model, width=SIZE, height=SIZE)
    with pytest.raises(NodeError, match="made for another UNet"):
        run_node("diffusion.sampler", model=model, positive=positive,
                 negative=_encode(run_node, clip, ""), latent=latent, seed=1, steps=1,
                 cfg=5.0, sampler="euler", ctx=ctx)
