"""Conditioning (Zero Out / Concat / Average): ComfyUI's arithmetic on encoded prompts."""

from __future__ import annotations

import pytest
import torch

from nodestudio.api import NodeError


@pytest.fixture(scope="module")
def prompts(sd_checkpoint, run_node):
    _, clip, _ = sd_checkpoint
    long_text = " ".join(["a red fox in the snow"] * 20)  # two CLIP chunks: 154 tokens
    return (run_node("diffusion.text_encode", clip=clip, text="a red fox"),
            run_node("diffusion.text_encode", clip=clip, text="a blue bird"),
            run_node("diffusion.text_encode", clip=clip, text=long_text))


def test_zero_out_zeroes_the_embeddings_and_keeps_the_rest(prompts, run_node):
    fox = prompts[0]
    zero = run_node("diffusion.conditioning_zero_out", conditioning=fox)
    assert zero.embeds.shape == fox.embeds.shape and not zero.embeds.any()
    assert zero.family is fox.family and fox.embeds.any()  # the input is left as it was


def test_concat_appends_the_second_prompts_tokens(prompts, run_node):
    fox, bird, _ = prompts
    joined = run_node("diffusion.conditioning_concat", conditioning_to=fox,
                      conditioning_from=bird)
    assert joined.embeds.shape[1] == fox.embeds.shape[1] + bird.embeds.shape[1]
    assert torch.equal(joined.embeds[:, :77], fox.embeds)
    assert torch.equal(joined.embeds[:, 77:], bird.embeds)


def test_average_blends_and_fits_the_second_to_the_firsts_length(prompts, run_node):
    fox, bird, long = prompts

    def average(to, source, strength):
        return run_node("diffusion.conditioning_average", conditioning_to=to,
                        conditioning_from=source, conditioning_to_strength=strength).embeds

    assert torch.equal(average(fox, bird, 1.0), fox.embeds)
    assert torch.equal(average(fox, bird, 0.0), bird.embeds)
    torch.testing.assert_close(average(fox, bird, 0.25), 0.25 * fox.embeds + 0.75 * bird.embeds)
    # A longer second prompt is cut to the first's 77 tokens; a shorter one padded with zeros.
    torch.testing.assert_close(average(fox, long, 0.0), long.embeds[:, :77])
    padded = average(long, fox, 0.0)
    assert padded.shape == long.embeds.shape
    assert torch.equal(padded[:, :77], fox.embeds) and not padded[:, 77:].any()


def test_prompts_of_different_models_are_refused(prompts, run_node, tiny_models):
    from nodestudio.runtime.checkpoints import load_checkpoint

    clip = load_checkpoint(tiny_models.checkpoint(tiny_models.sdxl_folder), "cpu").clip
    sdxl = run_node("diffusion.text_encode", clip=clip, text="a red fox")
    with pytest.raises(NodeError, match="different models"):
        run_node("diffusion.conditioning_concat", conditioning_to=prompts[0],
                 conditioning_from=sdxl)
