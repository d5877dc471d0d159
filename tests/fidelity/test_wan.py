"""A Wan text-to-video graph equals ``WanPipeline`` (≤ 2/255 per frame) on a tiny model.

The graph (Load Checkpoint → prompts → Empty Video Latent → Sampler → VAE Decode) loads the
same diffusers folder the pipeline loads, with the release's UniPC/flow_shift scheduler left
as the folder has it, so the Sampler's flow UniPC must read the shift as the pipeline does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import nodestudio
from nodestudio.graph.model import Graph
from tests.fidelity.pipelines import assert_same_frames

SEED = 1234
PROMPT, NEGATIVE = "a red fox running in the snow", "blurry"


@pytest.fixture(scope="module")
def video_models(tiny_video):
    return tiny_video("wan")


@pytest.fixture(scope="module")
def video_session(video_models, new_session) -> nodestudio.Session:
    return new_session(video_models.root, "video-fidelity")


def video_graph(checkpoint: str, width: int, height: int, length: int,
                **sampler: Any) -> Graph:
    """checkpoint → prompts → Empty Video Latent → Sampler → VAE Decode."""
    g = Graph()
    g.add_node("diffusion.load_checkpoint", {"checkpoint": checkpoint}, id="checkpoint")
    for name, text in (("positive", PROMPT), ("negative", NEGATIVE)):
        g.add_node("diffusion.text_encode", {"text": text}, id=name)
        g.connect("checkpoint", "clip", name, "clip")
    g.add_node("diffusion.empty_video_latent", {"width": width, "height": height,
                                                "length": length}, id="latent")
    g.connect("checkpoint", "model", "latent", "model")
    g.add_node("diffusion.sampler", {"seed": SEED, "scheduler": "normal", **sampler},
               id="sampler")
    g.connect("checkpoint", "model", "sampler", "model")
    g.connect("positive", "conditioning", "sampler", "positive")
    g.connect("negative", "conditioning", "sampler", "negative")
    g.connect("latent", "latent", "sampler", "latent")
    g.add_node("diffusion.vae_decode", {}, id="decode")
    g.connect("checkpoint", "vae", "decode", "vae")
    g.connect("sampler", "latent", "decode", "latent")
    return g


def test_wan_graph_equals_the_pipeline(video_session, video_models):
    from diffusers import WanPipeline

    graph = video_graph(video_models.wan_folder, 32, 32, 9, steps=3, cfg=5.0,
                        sampler="uni_pc_bh2")
    frames = video_session.run(graph, outputs=["decode"]).outputs["decode"]["image"]
    assert frames.shape == (9, 32, 32, 3) and frames.dtype == np.float32

    pipeline = WanPipeline.from_pretrained(video_models.checkpoint(video_models.wan_folder),
                                           local_files_only=True)
    pipeline.set_progress_bar_config(disable=True)
    expected = pipeline(prompt=PROMPT, negative_prompt=NEGATIVE, height=32, width=32,
                        num_frames=9, num_inference_steps=3, guidance_scale=5.0,
                        generator=torch.Generator("cpu").manual_seed(SEED),
                        output_type="np").frames[0]
    assert_same_frames(frames, expected)


@pytest.fixture(scope="module")
def wan(video_models):
    from nodestudio.runtime.checkpoints import load_checkpoint

    return load_checkpoint(video_models.checkpoint(video_models.wan_folder), "cpu")


def _prompts(wan) -> tuple[Any, Any]:
    from nodestudio.runtime.families.base import PromptOptions

    family = wan.model.family
    return (family.encode_prompt(wan.clip, PROMPT, PromptOptions()),
            family.encode_prompt(wan.clip, NEGATIVE, PromptOptions()))


def test_steps_are_counted_and_previews_show_the_middle_frame(wan):
    from nodestudio.runtime.sampling import SamplerSettings, sample
    from nodestudio.runtime.types import Latent

    positive, negative = _prompts(wan)
    empty = Latent(torch.zeros(1, 16, 3, 2, 2), scale_factor=8, is_empty=True)
    seen: list[tuple[int, int, torch.Tensor]] = []
    result = sample(wan.model, positive, negative, empty,
                    SamplerSettings(seed=SEED, steps=3, cfg=5.0, sampler="euler"),
                    on_step=lambda done, total, preview: seen.append((done, total, preview)))
    assert [(done, total) for done, total, _ in seen] == [(1, 3), (2, 3), (3, 3)]
    assert tuple(result.samples.shape) == (1, 16, 3, 2, 2)
    # The last preview is the finished latent's middle frame (Euler's clean estimate).
    assert tuple(seen[-1][2].shape) == (1, 16, 2, 2)
    assert torch.allclose(seen[-1][2], result.samples[:, :, 1], atol=1e-5)


def test_cancel_stops_within_one_step(wan):
    from nodestudio.runtime.sampling import SamplerSettings, sample
    from nodestudio.runtime.types import Latent

    positive, negative = _prompts(wan)
    calls: list[int] = []
    hook = wan.model.denoiser.register_forward_hook(lambda *_: calls.append(1))
    checks = iter(range(100))

    def check_cancelled() -> None:
        if next(checks) == 1:
            raise InterruptedError("cancelled")

    try:
        with pytest.raises(InterruptedError):
            sample(wan.model, positive, negative,
                   Latent(torch.zeros(1, 16, 3, 2, 2), scale_factor=8, is_empty=True),
                   SamplerSettings(seed=SEED, steps=5, cfg=5.0), check_cancelled=check_cancelled)
    finally:
        hook.remove()
    assert len(calls) == 1  # one step (one batched CFG call) ran before the cancel


def test_a_missing_tokenizer_names_the_folder_to_fill(video_models, tmp_path):
    import shutil

    from nodestudio.api.errors import NodeError
    from nodestudio.runtime.checkpoints import load_checkpoint

    copy = tmp_path / "wan-copy"
    shutil.copytree(video_models.checkpoint(video_models.wan_folder), copy)
    (copy / "tokenizer" / "tokenizer.json").unlink()
    with pytest.raises(NodeError, match=f"put its tokenizer.json in {copy / 'tokenizer'}"):
        load_checkpoint(copy, "cpu")
    shutil.rmtree(copy / "vae")
    with pytest.raises(NodeError, match="lacks its vae folder"):
        load_checkpoint(copy, "cpu")


def test_an_image_latent_is_refused_with_the_node_to_use(wan):
    from nodestudio.api.errors import NodeError
    from nodestudio.runtime.sampling import SamplerSettings, sample
    from nodestudio.runtime.types import Latent

    positive, negative = _prompts(wan)
    with pytest.raises(NodeError, match="Empty Video Latent"):
        sample(wan.model, positive, negative,
               Latent(torch.zeros(1, 16, 2, 2), scale_factor=8, is_empty=True),
               SamplerSettings(seed=SEED, steps=2, cfg=5.0))
