"""Load Hypernetwork on the tiny SD UNet: A1111-format files, ComfyUI's arithmetic on the key
and value contexts, strength 0 = the plain model, and the shared UNet left as it was."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nodestudio.api import NodeError

SIZE = 64


@pytest.fixture(scope="module")
def hypernetwork_root(tmp_path_factory):
    """A models root with hypernetworks/: one acting on the tiny UNet's 32-wide contexts
    (the text encoder's and the first level's self-attention), and one for widths it lacks."""
    from nodestudio.runtime.tiny_grounding import hypernetwork_state, save_tiny_hypernetwork

    root = tmp_path_factory.mktemp("hypernetwork-models")
    save_tiny_hypernetwork(root / "hypernetworks" / "tiny.pt", hypernetwork_state([32], seed=60))
    save_tiny_hypernetwork(root / "hypernetworks" / "sd15-sized.pt",
                           hypernetwork_state([768, 320], seed=61, hidden_factor=1))
    return root


@pytest.fixture
def hctx(tiny_models, hypernetwork_root, tmp_path):
    from nodestudio.app.models import ModelLibrary
    from nodestudio.engine.cancel import CancelToken
    from nodestudio.engine.context import RunContext, RunEnvironment

    environment = RunEnvironment(
        device="cpu", models=ModelLibrary([tiny_models.root, hypernetwork_root],
                                          include_demo=False),
        output_dir=tmp_path / "output", input_dir=tmp_path / "input")
    return RunContext("hypernetwork", environment, CancelToken(), lambda event: None, "run-h",
                      None)


def _sample(run_node, ctx, model, clip, seed=5):
    positive = run_node("diffusion.text_encode", clip=clip, text="a lighthouse")
    negative = run_node("diffusion.text_encode", clip=clip, text="")
    latent = run_node("diffusion.empty_latent", model=model, width=SIZE, height=SIZE)
    out = run_node("diffusion.sampler", model=model, positive=positive, negative=negative,
                   latent=latent, seed=seed, steps=3, cfg=5.0, sampler="euler", ctx=ctx)
    return out.samples.numpy()


def test_strength_zero_is_the_plain_model_and_others_change_it(sd_checkpoint, run_node, hctx):
    model, clip, _ = sd_checkpoint
    before = {key: value.clone() for key, value in model.denoiser.state_dict().items()}
    plain = _sample(run_node, hctx, model, clip)
    zero = run_node("diffusion.load_hypernetwork", model=model, hypernetwork_name="tiny.pt",
                    strength=0.0, ctx=hctx)
    np.testing.assert_array_equal(_sample(run_node, hctx, zero, clip), plain)
    applied = run_node("diffusion.load_hypernetwork", model=model, hypernetwork_name="tiny.pt",
                       strength=1.0, ctx=hctx)
    assert applied is not model and model.hypernetworks == ()
    shifted = _sample(run_node, hctx, applied, clip)
    assert np.abs(shifted - plain).max() > 1e-3
    # The shared UNet is as it was: same weights, no hooks left, the plain model samples alike.
    after = model.denoiser.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(after[key], value) for key, value in before.items())
    assert not any(module._forward_pre_hooks for module in model.denoiser.modules())
    np.testing.assert_array_equal(_sample(run_node, hctx, model, clip), plain)


def _linear(weight, bias):
    layer = torch.nn.Linear(weight.shape[1], weight.shape[0])
    layer.load_state_dict({"weight": weight, "bias": bias})
    return layer


@torch.no_grad()
def test_contexts_shift_as_comfyui_computes(sd_checkpoint, hypernetwork_root):
    """k' = k + mlp_k(k) × strength, v' = v + mlp_v(v) × strength, for every attention whose
    context has a width the file covers (here the cross-attention's text and the first
    level's self-attention); the MLP is Linear → ReLU → Linear (A1111's [1, 2, 1], relu)."""
    from nodestudio.runtime.gligen import transformer_blocks
    from nodestudio.runtime.hypernetwork import HypernetworkUse, applied, load_hypernetwork
    from nodestudio.runtime.tiny_grounding import hypernetwork_state

    state = hypernetwork_state([32], seed=60)
    hypernetwork = load_hypernetwork(hypernetwork_root / "hypernetworks" / "tiny.pt")
    strength = 0.7

    def by_hand(x, which):
        weights = state[32][which]
        first = _linear(weights["linear.0.weight"], weights["linear.0.bias"])
        last = _linear(weights["linear.2.weight"], weights["linear.2.bias"])
        return x + last(torch.relu(first(x))) * strength

    unet = sd_checkpoint[0].denoiser
    blocks = transformer_blocks(unet)
    seen: dict[str, torch.Tensor] = {}
    hooks = []
    watched = {"cross_k": blocks[0].attn2.to_k, "cross_v": blocks[0].attn2.to_v,
               "self_q": blocks[0].attn1.to_q, "self_k": blocks[0].attn1.to_k,
               "mid_self_q": blocks[2].attn1.to_q, "mid_self_k": blocks[2].attn1.to_k}
    for name, module in watched.items():
        hooks.append(module.register_forward_hook(
            lambda m, args, out, name=name: seen.__setitem__(name, args[0].clone())))
    inputs = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    text = torch.randn(1, 77, 32, generator=torch.Generator().manual_seed(3))
    try:
        with applied(unet, (HypernetworkUse(hypernetwork, strength),)):
            unet(inputs, torch.tensor(400), encoder_hidden_states=text)
    finally:
        for hook in hooks:
            hook.remove()
    torch.testing.assert_close(seen["cross_k"], by_hand(text, 0))
    torch.testing.assert_close(seen["cross_v"], by_hand(text, 1))
    # Self-attention at the first level: its keys come from the block's own (32-wide) normed
    # states, which its queries read unchanged.
    torch.testing.assert_close(seen["self_k"], by_hand(seen["self_q"], 0))
    # The mid block is 64 wide: the file has nothing for it.
    torch.testing.assert_close(seen["mid_self_k"], seen["mid_self_q"], rtol=0, atol=0)


@torch.no_grad()
def test_two_hypernetworks_apply_in_order(sd_checkpoint, hypernetwork_root):
    from nodestudio.runtime.gligen import transformer_blocks
    from nodestudio.runtime.hypernetwork import HypernetworkUse, applied, load_hypernetwork

    hypernetwork = load_hypernetwork(hypernetwork_root / "hypernetworks" / "tiny.pt")
    unet = sd_checkpoint[0].denoiser
    module = transformer_blocks(unet)[0].attn2.to_k
    text = torch.randn(1, 5, 32, generator=torch.Generator().manual_seed(4))
    mlp = hypernetwork.layers[32][0]
    once = text + mlp(text) * 0.5
    with applied(unet, (HypernetworkUse(hypernetwork, 0.5), HypernetworkUse(hypernetwork, 2.0))):
        got = module(text)
    torch.testing.assert_close(got, module(once + mlp(once) * 2.0))


def test_bad_files_and_models_are_explained(sd_checkpoint, run_node, hctx, hypernetwork_root,
                                            tmp_path):
    from nodestudio.api import ModelNotFoundError
    from nodestudio.runtime.hypernetwork import HypernetworkLoadError, load_hypernetwork
    from nodestudio.runtime.tiny_grounding import hypernetwork_state, save_tiny_hypernetwork

    model = sd_checkpoint[0]
    with pytest.raises(NodeError, match=r"widths \[320, 768\].*another model"):
        run_node("diffusion.load_hypernetwork", model=model, hypernetwork_name="sd15-sized.pt",
                 strength=1.0, ctx=hctx)
    with pytest.raises(ModelNotFoundError, match="hypernetworks"):
        run_node("diffusion.load_hypernetwork", model=model, hypernetwork_name="anime.pt",
                 strength=1.0, ctx=hctx)
    odd = save_tiny_hypernetwork(tmp_path / "gelu.pt",
                                 hypernetwork_state([32], seed=1, activation="gelu"))
    with pytest.raises(HypernetworkLoadError, match="'gelu' is not supported"):
        load_hypernetwork(odd)
    pickled = tmp_path / "pickled.pt"
    torch.save({32: [torch.nn.Linear(2, 2), {}]}, pickled)  # a module object: not weights only
    with pytest.raises(HypernetworkLoadError, match=r"pickled\.pt is a pickle that holds code"):
        load_hypernetwork(pickled)
    not_one = tmp_path / "lora.pt"
    torch.save({"lora_unet_x.weight": torch.zeros(2)}, not_one)
    with pytest.raises(HypernetworkLoadError, match="not a hypernetwork"):
        load_hypernetwork(not_one)
