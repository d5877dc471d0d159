"""An LTX-Video text-to-video graph equals ``LTXPipeline`` (≤ 2/255 per frame) on a tiny model:
T5 with the attention mask on the transformer, packed patch tokens, the VAE's latent
statistics, sigmas shifted by the video sequence length."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nodestudio
from tests.fidelity.pipelines import assert_same_frames

from .test_wan import NEGATIVE, PROMPT, SEED, video_graph


@pytest.fixture(scope="module")
def video_models(tiny_video):
    return tiny_video("ltxv")


@pytest.fixture(scope="module")
def video_session(video_models, new_session) -> nodestudio.Session:
    return new_session(video_models.root, "ltx-fidelity")


def test_ltx_graph_equals_the_pipeline(video_session, video_models):
    from diffusers import LTXPipeline

    graph = video_graph(video_models.ltxv_folder, 32, 32, 9, steps=3, cfg=3.0, sampler="euler")
    frames = video_session.run(graph, outputs=["decode"]).outputs["decode"]["image"]
    assert frames.shape == (9, 32, 32, 3) and frames.dtype == np.float32

    pipeline = LTXPipeline.from_pretrained(video_models.checkpoint(video_models.ltxv_folder),
                                           local_files_only=True)
    pipeline.set_progress_bar_config(disable=True)
    expected = pipeline(prompt=PROMPT, negative_prompt=NEGATIVE, height=32, width=32,
                        num_frames=9, num_inference_steps=3, guidance_scale=3.0,
                        generator=torch.Generator("cpu").manual_seed(SEED),
                        output_type="np").frames[0]
    assert_same_frames(frames, expected)
