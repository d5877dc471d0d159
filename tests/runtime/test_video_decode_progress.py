"""VAE Decode of a video reports progress while it decodes (the window's bar moves): per frame
chunk for per-frame VAEs (AnimateDiff), per latent frame for Wan's frame-stepping decoder —
and reporting it changes no pixel.
"""

from __future__ import annotations

import numpy as np
import torch

from nodestudio.runtime.animatediff import decode_frames
from nodestudio.runtime.tiny import _seeded, tiny_vae
from nodestudio.runtime.types import Latent, Vae
from nodestudio.runtime.vae import decode
from nodestudio.runtime.video_vae import decode_video

CPU = torch.device("cpu")


def recorder() -> tuple[list[tuple[int, int]], object]:
    events: list[tuple[int, int]] = []
    return events, lambda done, total: events.append((done, total))


def video_latent(channels: int, frames: int, size: int = 4, batch: int = 1) -> Latent:
    generator = torch.Generator().manual_seed(3)
    samples = torch.randn((batch, channels, frames, size, size), generator=generator)
    return Latent(samples=samples, scale_factor=8)


def test_per_frame_vae_reports_each_chunk_and_decodes_the_same():
    vae = Vae(tiny_vae(1).eval(), CPU)
    latent = video_latent(4, frames=5)
    events, progress = recorder()
    with torch.no_grad():
        chunked = decode_frames(vae, latent, chunk=2, progress=progress)
        whole = decode_frames(vae, latent)
    assert events == [(0, 3), (1, 3), (2, 3), (3, 3)]  # 5 frames in chunks of 2
    assert chunked.shape == (5, 32, 32, 3)
    assert float(np.abs(chunked - whole).max()) < 1e-5


def test_vae_decode_passes_progress_on_for_animatediff_latents():
    vae = Vae(tiny_vae(1).eval(), CPU)
    events, progress = recorder()
    with torch.no_grad():
        frames = decode(vae, video_latent(4, frames=3, batch=2), progress=progress)
    assert frames.shape == (6, 32, 32, 3)
    assert events == [(0, 1), (1, 1)]  # 6 frames: one chunk of the pipeline's 16


def test_wan_decoder_reports_each_latent_frame():
    from diffusers import AutoencoderKLWan

    with _seeded(5):
        model = AutoencoderKLWan(base_dim=8, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                                 temperal_downsample=[False, True, True]).eval()
    vae = Vae(model, CPU)
    latent = video_latent(16, frames=3)
    events, progress = recorder()
    frames = decode(vae, latent, progress=progress)
    assert events == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert frames.shape == (9, 32, 32, 3)  # 4 × (3 − 1) + 1 frames
    # The hook only listens: the frames are those of a decode without it.
    assert float(np.abs(frames - decode_video(vae, latent)).max()) == 0.0
    assert not model.decoder._forward_hooks  # and it is gone afterwards
