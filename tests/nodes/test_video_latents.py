"""Empty Video Latent takes its shape from the video VAE it is given: channels, spatial and
temporal compression, and refuses frame counts the causal VAEs cannot make."""

from __future__ import annotations

import pytest
import torch

from nodestudio.api import NodeError


@pytest.fixture(scope="module")
def vaes():
    from nodestudio.runtime.tiny_video import tiny_ltxv_components, tiny_wan_components
    from nodestudio.runtime.types import Vae

    cpu = torch.device("cpu")
    return {"wan": Vae(tiny_wan_components()["vae"], cpu),
            "ltxv": Vae(tiny_ltxv_components()["vae"], cpu)}


def _empty(**values):
    from nodestudio.app.packs import create_registry

    # The built-in pack as the app loads it (never a top-level ``nodes`` package).
    node_type = create_registry(entry_points=False).get("diffusion.empty_video_latent")
    return node_type.function(**values)


def test_wan_latents_have_a_frame_per_four_frames(vaes):
    latent = _empty(vae=vaes["wan"], width=64, height=32, length=9, batch_size=2)
    assert tuple(latent.samples.shape) == (2, 16, 3, 4, 8)
    assert latent.is_empty and latent.pixel_size == (32, 64)


def test_ltx_latents_have_a_frame_per_eight_frames(vaes):
    latent = _empty(vae=vaes["ltxv"], width=32, height=32, length=17, batch_size=1)
    assert tuple(latent.samples.shape) == (1, 8, 3, 4, 4)


def test_a_frame_count_off_the_grid_names_the_nearest_valid_ones(vaes):
    with pytest.raises(NodeError, match="set length to 9 or 13 instead of 10"):
        _empty(vae=vaes["wan"], width=32, height=32, length=10, batch_size=1)
    with pytest.raises(NodeError, match="set length to 9 or 17 instead of 13"):
        _empty(vae=vaes["ltxv"], width=32, height=32, length=13, batch_size=1)


def test_an_image_vae_is_refused_with_the_node_to_use():
    from nodestudio.runtime.tiny import tiny_vae
    from nodestudio.runtime.types import Vae

    with pytest.raises(NodeError, match="Empty Latent Image"):
        _empty(vae=Vae(tiny_vae(0), torch.device("cpu")), width=32, height=32, length=9,
               batch_size=1)


def test_without_model_or_vae_it_says_what_to_connect():
    with pytest.raises(NodeError, match="connect the model or the VAE"):
        _empty(width=32, height=32, length=9, batch_size=1)
