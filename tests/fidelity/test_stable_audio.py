"""Stable Audio Open: a graph (checkpoint folder → prompts → seconds → Empty Audio Latent →
Sampler → VAE Decode Audio) against ``StableAudioPipeline`` on a tiny seeded folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import nodestudio
from nodestudio.graph.model import Graph
from nodestudio.runtime.tiny_audio_3d import (
    AUDIO_HOP,
    AUDIO_RATE,
    AUDIO_SAMPLE_SIZE,
    save_stable_audio_folder,
)

SEED = 77
PROMPT, NEGATIVE = "a dog in the rain", "bad low quality"
#: The full latent is 16 frames × 4 samples at 64 Hz = 1 s.
FULL_SECONDS = AUDIO_SAMPLE_SIZE * AUDIO_HOP / AUDIO_RATE


@pytest.fixture(scope="module")
def audio_models(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("audio-models")
    save_stable_audio_folder(root / "checkpoints" / "tiny-stable-audio")
    return root


@pytest.fixture(scope="module")
def session(audio_models, new_session) -> nodestudio.Session:
    return new_session(audio_models, "audio-session")


def audio_graph(steps: int, cfg: float, seconds_total: float, seconds_start: float = 0.0,
                latent_seconds: float = FULL_SECONDS) -> Graph:
    g = Graph()
    g.add_node("diffusion.load_checkpoint", {"checkpoint": "tiny-stable-audio"}, id="ckpt")
    for name, text in (("positive", PROMPT), ("negative", NEGATIVE)):
        g.add_node("diffusion.text_encode", {"text": text}, id=name)
        g.connect("ckpt", "clip", name, "clip")
    g.add_node("diffusion.conditioning_stable_audio",
               {"seconds_start": seconds_start, "seconds_total": seconds_total}, id="seconds")
    g.connect("positive", "conditioning", "seconds", "positive")
    g.connect("negative", "conditioning", "seconds", "negative")
    g.add_node("diffusion.empty_audio_latent", {"seconds": latent_seconds}, id="latent")
    g.connect("ckpt", "vae", "latent", "vae")
    g.add_node("diffusion.sampler", {"seed": SEED, "steps": steps, "cfg": cfg}, id="sampler")
    g.connect("ckpt", "model", "sampler", "model")
    g.connect("seconds", "positive", "sampler", "positive")
    g.connect("seconds", "negative", "sampler", "negative")
    g.connect("latent", "latent", "sampler", "latent")
    g.add_node("diffusion.vae_decode_audio", {}, id="decode")
    g.connect("ckpt", "vae", "decode", "vae")
    g.connect("sampler", "latent", "decode", "latent")
    return g


def pipeline_audio(folder: Path, steps: int, cfg: float, start: float, end: float) -> np.ndarray:
    from diffusers import StableAudioPipeline

    pipe = StableAudioPipeline.from_pretrained(folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    audio = pipe(PROMPT, negative_prompt=NEGATIVE, num_inference_steps=steps,
                 guidance_scale=cfg, audio_start_in_s=start, audio_end_in_s=end,
                 generator=torch.Generator("cpu").manual_seed(SEED), output_type="pt").audios
    return audio[0].float().numpy()


@pytest.mark.parametrize(("cfg", "start", "total"), [(4.0, 0.0, 0.75), (4.0, 0.25, 1.0)])
def test_graph_audio_equals_the_pipeline(session, audio_models, cfg, start, total):
    result = session.run(audio_graph(3, cfg, total, start), outputs=["decode"])
    audio = result.outputs["decode"]["audio"]
    expected = pipeline_audio(audio_models / "checkpoints" / "tiny-stable-audio", 3, cfg,
                              start, total)
    assert audio.sample_rate == AUDIO_RATE
    assert audio.channels == 2  # stereo
    # The clip is cut to the seconds asked for, at the VAE's rate.
    assert audio.samples == int(total * AUDIO_RATE) - int(start * AUDIO_RATE)
    assert audio.waveform.shape == expected.shape
    assert np.abs(audio.waveform).max() > 0  # not silence
    np.testing.assert_allclose(audio.waveform, expected, atol=1e-4, rtol=0)


def test_seconds_change_the_sound(session):
    """The seconds tokens reach the model: the same seed and prompt with another total differ
    in the samples both keep."""
    short = session.run(audio_graph(2, 4.0, 0.5), outputs=["decode"]).outputs["decode"]["audio"]
    longer = session.run(audio_graph(2, 4.0, 0.75), outputs=["decode"]).outputs["decode"]["audio"]
    assert longer.samples > short.samples
    assert not np.allclose(short.waveform, longer.waveform[:, :short.samples], atol=1e-4)


def test_a_clip_longer_than_the_latent_is_a_clear_error(session):
    result = session.run(audio_graph(2, 4.0, 1.0, latent_seconds=0.5), outputs=["decode"],
                         check=False)
    assert result.status == "failed"
    assert "make Empty Audio Latent longer" in result.failed["sampler"]
    assert "Traceback" not in result.failed["sampler"]
