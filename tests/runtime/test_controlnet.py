"""Apply ControlNet: one side only, guess mode, strength 0, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from nodestudio.api import NodeError
from nodestudio.runtime.types import ControlNet


@pytest.fixture(scope="module")
def parts(sd_checkpoint, run_node, tiny_models):
    from nodestudio.runtime.checkpoints import load_controlnet

    model, clip, vae = sd_checkpoint
    positive = run_node("diffusion.text_encode", clip=clip, text="a tower")
    negative = run_node("diffusion.text_encode", clip=clip, text="")
    controlnet = load_controlnet(tiny_models.controlnet(tiny_models.controlnet_folder), "cpu")
    hint = np.random.default_rng(0).random((1, 32, 32, 3)).astype(np.float32)
    return model, vae, positive, negative, controlnet, hint


def _image(run_node, ctx, model, vae, positive, negative, batch_size=1):
    latent = run_node("diffusion.empty_latent", model=model, width=32, height=32,
                      batch_size=batch_size)
    out = run_node("diffusion.sampler", model=model, positive=positive, negative=negative,
                   latent=latent, seed=2, steps=2, cfg=5.0, ctx=ctx)
    return run_node("diffusion.vae_decode", vae=vae, latent=out, ctx=ctx)


def test_control_on_one_side_acts_on_that_half_only(run_node, ctx, parts):
    model, vae, positive, negative, controlnet, hint = parts
    both = run_node("diffusion.apply_controlnet", positive=positive, negative=negative,
                    control_net=controlnet, image=hint)
    assert len(both[0].controls) == len(both[1].controls) == 1
    assert both[0].controls[0] is both[1].controls[0]
    plain = _image(run_node, ctx, model, vae, positive, negative)
    on_both = _image(run_node, ctx, model, vae, *both)
    on_positive = _image(run_node, ctx, model, vae, both[0], negative)
    assert np.abs(on_both - plain).max() > 0.01
    assert np.abs(on_positive - plain).max() > 0.01
    assert np.abs(on_positive - on_both).max() > 0.01


def test_strength_zero_passes_the_prompts_through(run_node, parts):
    _, _, positive, negative, controlnet, hint = parts
    same = run_node("diffusion.apply_controlnet", positive=positive, negative=negative,
                    control_net=controlnet, image=hint, strength=0.0)
    assert same == (positive, negative)


def test_guess_mode_controlnets_run_on_the_positive_half(run_node, ctx, parts):
    from diffusers import ControlNetModel

    model, vae, positive, negative, controlnet, hint = parts
    pooled = ControlNetModel.from_config({**controlnet.model.config,
                                          "global_pool_conditions": True})
    pooled.load_state_dict(controlnet.model.state_dict())
    shuffle = ControlNet(pooled.eval(), controlnet.family, controlnet.device)
    applied = run_node("diffusion.apply_controlnet", positive=positive, negative=negative,
                       control_net=shuffle, image=hint)
    image = _image(run_node, ctx, model, vae, *applied)
    assert np.isfinite(image).all()
    assert np.abs(image - _image(run_node, ctx, model, vae, positive, negative)).max() > 0.01


def test_mistakes_are_explained(run_node, ctx, parts, tiny_models):
    from nodestudio.runtime.checkpoints import load_controlnet

    model, vae, positive, negative, controlnet, hint = parts
    with pytest.raises(NodeError, match="start percent"):
        run_node("diffusion.apply_controlnet", positive=positive, negative=negative,
                 control_net=controlnet, image=hint, start_percent=0.8, end_percent=0.2)
    two_hints = np.concatenate([hint, hint, hint])
    applied = run_node("diffusion.apply_controlnet", positive=positive, negative=negative,
                       control_net=controlnet, image=two_hints)
    with pytest.raises(NodeError, match="3 images but 2 are generated"):
        _image(run_node, ctx, model, vae, *applied, batch_size=2)
    sdxl_control = load_controlnet(tiny_models.controlnet(tiny_models.sdxl_controlnet_folder),
                                   "cpu")
    foreign = run_node("diffusion.apply_controlnet", positive=positive, negative=negative,
                       control_net=sdxl_control, image=hint)
    with pytest.raises(NodeError, match="another model family"):
        _image(run_node, ctx, model, vae, *foreign)
