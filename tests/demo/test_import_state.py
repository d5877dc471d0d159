"""The shipped demo folders turn back into training state that the training stages load."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nodestudio.paths import demo_models_dir
from tools.demo_model import models
from tools.demo_model.export import CHECKPOINT_NAME, import_to_state
from tools.demo_model.tokenizer import make_tokenizer


def test_import_gives_the_shipped_weights_in_the_stage_formats(tmp_path: Path) -> None:
    from diffusers import UNet2DConditionModel

    written = import_to_state(None, tmp_path)
    assert sorted(path.name for path in written) == ["controlnet.pt", "unet_shipped.pt",
                                                     "vae.pt"]
    vae = torch.load(tmp_path / "vae.pt", weights_only=False)
    assert vae["finished"]
    models.make_vae(vae["sizes"]).load_state_dict(vae["model"])
    unet_state = torch.load(tmp_path / "unet_shipped.pt", weights_only=False)
    models.make_text_encoder(make_tokenizer(), unet_state["sizes"]).load_state_dict(
        unet_state["ema_text_encoder"])
    shipped = UNet2DConditionModel.from_pretrained(
        str(demo_models_dir() / CHECKPOINT_NAME / "unet")).state_dict()
    assert all(torch.equal(unet_state["ema_unet"][name], value.float())
               for name, value in shipped.items())
    controlnet = torch.load(tmp_path / "controlnet.pt", weights_only=False)
    unet = models.make_unet(controlnet["sizes"])
    models.make_controlnet(unet, controlnet["sizes"]).load_state_dict(controlnet["controlnet"])


def test_import_refuses_folders_of_another_size(tmp_path: Path) -> None:
    other = tmp_path / "models" / CHECKPOINT_NAME / "vae"
    models.make_vae(models.Sizes(vae_channels=(8, 16, 16))).save_pretrained(str(other))
    with pytest.raises(ValueError, match="the VAE does not have"):
        import_to_state(tmp_path / "models", tmp_path / "state")
