"""Text Encode: the pipelines' embeddings for short prompts; chunks, CLIP skip and emphasis."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from nodestudio.runtime.checkpoints import load_checkpoint
from nodestudio.runtime.prompt_weights import parse_weighted_prompt
from nodestudio.runtime.text_encoding import encode_prompt
from nodestudio.runtime.types import TextEncoder


@pytest.fixture(scope="module")
def sdxl(tiny_models):
    return load_checkpoint(tiny_models.checkpoint(tiny_models.sdxl_folder), "cpu")


def _pipeline(cls, folder):
    return cls.from_pretrained(folder, local_files_only=True, **(
        {"add_watermarker": False} if "XL" in cls.__name__ else
        {"safety_checker": None, "requires_safety_checker": False}))


def test_sd_prompt_equals_the_pipelines_embedding(sd_checkpoint, tiny_models):
    from diffusers import StableDiffusionPipeline

    _, clip, _ = sd_checkpoint
    pipeline = _pipeline(StableDiffusionPipeline, tiny_models.checkpoint(tiny_models.sd_folder))
    expected, _ = pipeline.encode_prompt("a cat on a sofa", "cpu", 1, False)
    got = encode_prompt(clip, "a cat on a sofa")
    assert got.pooled is None
    torch.testing.assert_close(got.embeds, expected, rtol=0, atol=0)


def test_sdxl_prompt_and_pooled_equal_the_pipelines(sdxl, tiny_models):
    from diffusers import StableDiffusionXLPipeline

    pipeline = _pipeline(StableDiffusionXLPipeline, tiny_models.checkpoint(tiny_models.sdxl_folder))
    embeds, negative, pooled, _ = pipeline.encode_prompt(
        "a cat on a sofa", prompt_2="an oil painting", device="cpu", num_images_per_prompt=1,
        do_classifier_free_guidance=True, negative_prompt="dark",
    )
    got = encode_prompt(sdxl.clip, "a cat on a sofa", text_2="an oil painting")
    assert got.embeds.shape == (1, 77, 96)  # both encoders side by side (32 + 64 wide)
    torch.testing.assert_close(got.embeds, embeds, rtol=0, atol=0)
    torch.testing.assert_close(got.pooled, pooled, rtol=0, atol=0)
    torch.testing.assert_close(encode_prompt(sdxl.clip, "dark").embeds, negative, rtol=0, atol=0)


def test_clip_skip_uses_an_earlier_layer_through_the_final_norm(sd_checkpoint):
    _, clip, _ = sd_checkpoint
    encoder = clip.encoders[0]
    ids = encoder.tokenizer("a cat", padding="max_length", max_length=77,
                            return_tensors="pt").input_ids
    with torch.inference_mode():
        hidden = encoder.model(ids, output_hidden_states=True).hidden_states
        expected = encoder.model.final_layer_norm(hidden[-2])
    got = encode_prompt(clip, "a cat", clip_skip=1)
    torch.testing.assert_close(got.embeds, expected, rtol=0, atol=0)
    assert not torch.equal(got.embeds, encode_prompt(clip, "a cat").embeds)
    with pytest.raises(ValueError, match="CLIP skip must be between 0 and 2"):
        encode_prompt(clip, "a cat", clip_skip=3)


def test_sdxl_clip_skip_moves_from_the_penultimate_layer(sdxl):
    encoder = sdxl.clip.encoders[0]
    ids = encoder.tokenizer("a cat", padding="max_length", max_length=77,
                            return_tensors="pt").input_ids
    with torch.inference_mode():
        expected = encoder.model(ids, output_hidden_states=True).hidden_states[-3]
    got = encode_prompt(sdxl.clip, "a cat", clip_skip=1)
    torch.testing.assert_close(got.embeds[..., :32], expected, rtol=0, atol=0)


def _with_max_length(clip, length: int):
    """The same encoders with tokenizers that read at most ``length`` tokens (like the demo's)."""
    encoders = []
    for encoder in clip.encoders:
        tokenizer = copy.copy(encoder.tokenizer)
        tokenizer.model_max_length = length
        encoders.append(dataclasses.replace(encoder, tokenizer=tokenizer))
    return dataclasses.replace(clip, encoders=tuple(encoders))


def test_long_prompts_are_chunked_by_the_tokenizers_own_length(sd_checkpoint):
    _, clip, _ = sd_checkpoint
    short_clip = _with_max_length(clip, 12)  # 10 prompt tokens per chunk
    words = " ".join(["red"] * 10 + ["blue"] * 5)
    got = encode_prompt(short_clip, words)
    assert got.embeds.shape == (1, 24, 32)
    # Each chunk is encoded on its own, wrapped in start/end/padding.
    first = encode_prompt(short_clip, " ".join(["red"] * 10))
    second = encode_prompt(short_clip, " ".join(["blue"] * 5))
    torch.testing.assert_close(got.embeds[:, :12], first.embeds, rtol=0, atol=0)
    torch.testing.assert_close(got.embeds[:, 12:], second.embeds, rtol=0, atol=0)
    # 77-token tokenizers take the whole prompt in one chunk.
    assert encode_prompt(clip, words).embeds.shape == (1, 77, 32)


def test_sdxl_encoders_with_different_prompt_lengths_get_the_same_chunk_count(sdxl):
    long = " ".join(["word"] * 100)
    got = encode_prompt(sdxl.clip, "short", text_2=long)
    assert got.embeds.shape == (1, 154, 96)


def test_emphasis_changes_only_weighted_prompts_and_keeps_the_mean(sd_checkpoint):
    _, clip, _ = sd_checkpoint
    plain = encode_prompt(clip, "a red cat")
    weighted = encode_prompt(clip, "a (red:1.5) cat")
    neutral = encode_prompt(clip, "a (red:1.0) cat")
    assert not torch.allclose(plain.embeds, weighted.embeds)
    torch.testing.assert_close(weighted.embeds.mean(), plain.embeds.mean(), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(neutral.embeds, plain.embeds, rtol=0, atol=1e-6)
    # Escaped brackets are text, not emphasis.
    assert parse_weighted_prompt(r"a \(red\) cat") == [("a (red) cat", 1.0)]


def test_size_conditioning_travels_with_the_prompt(run_node, sdxl):
    conditioning = run_node("diffusion.text_encode", clip=sdxl.clip, text="x", original_width=1024,
                            original_height=768, crop_left=8, crop_top=16)
    assert conditioning.size.original_size == (768, 1024)
    assert conditioning.size.crop_top_left == (16, 8)
    assert conditioning.size.target_size is None


def test_text_encoder_slots_describe_sdxl(sdxl):
    first, second = sdxl.clip.encoders
    assert isinstance(first, TextEncoder) and first.penultimate and not first.pooled
    assert second.pooled and second.tokenizer.pad_token == "!"
    assert first.tokenizer.pad_token == "<|endoftext|>"


def test_a_long_prompt_raises_no_library_warning(sd_checkpoint, caplog):
    # transformers warns when tokenized text is longer than the encoder takes; NodeStudio
    # chunks long prompts, so that warning would be wrong: it must not reach the user.
    import transformers.utils.logging as hf_logging

    _, clip, _ = sd_checkpoint
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_warning()
    hf_logging.enable_propagation()
    try:
        with caplog.at_level("WARNING"):
            got = encode_prompt(clip, " ".join(["a red fox in the snow"] * 30))
    finally:
        hf_logging.disable_propagation()
        hf_logging.set_verbosity(verbosity)
    assert got.embeds.shape[1] == 3 * 77  # 180 tokens: three chunks
    assert not [record for record in caplog.records if "sequence length" in record.getMessage()]
