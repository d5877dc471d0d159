"""The memory policy holds text encoders and VAEs too (Text Encode, VAE Decode), as ComfyUI does.

On the CPU the device and system memory are one place, so where the weights are says nothing:
these tests record the placements the memory manager makes through ``devices.ensure_on`` and
``devices.offload_to_cpu`` (the real functions still run) and check which models it leaves on
the device between nodes, and that the pictures equal keep mode's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

from nodestudio.runtime import devices, memory_manager
from nodestudio.runtime.memory_manager import ENCODER_HEADROOM, parameter_bytes
from nodestudio.runtime.sampling import SamplerSettings, sample

CPU = torch.device("cpu")


@dataclass
class Placements:
    """The models the memory manager has put on the device and not yet sent back."""

    resident: dict[int, torch.nn.Module] = field(default_factory=dict)

    def names(self, models: dict[str, torch.nn.Module]) -> set[str]:
        return {name for name, module in models.items() if id(module) in self.resident}


@pytest.fixture
def placements(monkeypatch) -> Iterator[Placements]:
    record = Placements()
    ensure_on, offload_to_cpu = devices.ensure_on, devices.offload_to_cpu

    def placing(module, device):
        record.resident[id(module)] = module
        return ensure_on(module, device)

    def offloading(module):
        record.resident.pop(id(module), None)
        return offload_to_cpu(module)

    # memory_manager imports these from the devices module when it runs: it sees the spies.
    monkeypatch.setattr(devices, "ensure_on", placing)
    monkeypatch.setattr(devices, "offload_to_cpu", offloading)
    memory_manager.forget_prepared()
    yield record
    memory_manager.forget_prepared()


def _load(registry, root, folder):
    from nodestudio.app.models import ModelLibrary
    from nodestudio.engine.cancel import CancelToken
    from nodestudio.engine.context import RunContext, RunEnvironment

    environment = RunEnvironment(device="cpu", models=ModelLibrary([root], include_demo=False))
    context = RunContext("load", environment, CancelToken(), lambda event: None, "run-0", None)
    return registry.get("diffusion.load_checkpoint").function(checkpoint=folder, ctx=context)


@pytest.fixture(scope="module")
def sd(tiny_models, diffusion_registry):
    return _load(diffusion_registry, tiny_models.root, tiny_models.sd_folder)


@pytest.fixture(scope="module")
def flux(tiny_dit_models, diffusion_registry):
    return _load(diffusion_registry, tiny_dit_models.root, tiny_dit_models.flux_folder)


def _models(checkpoint) -> dict[str, torch.nn.Module]:
    model, clip, vae = checkpoint
    return {"denoiser": model.denoiser, "vae": vae.model,
            **{encoder.slot: encoder.model for encoder in clip.encoders}}


def _graph(run_node, checkpoint, placements: Placements, cfg: float, ctx
           ) -> tuple[np.ndarray, list]:
    """Text Encode → Sampler → VAE Decode, node by node; what stays on the device after each."""
    model, clip, vae = checkpoint
    names = _models(checkpoint)
    after: list[set[str]] = []
    positive = run_node("diffusion.text_encode", clip=clip, text="a red square")
    negative = run_node("diffusion.text_encode", clip=clip, text="") if cfg > 1 else None
    after.append(placements.names(names))
    latent = run_node("diffusion.empty_latent", model=model, width=32, height=32)
    latent = sample(model, positive, negative, latent, SamplerSettings(seed=3, steps=2, cfg=cfg))
    after.append(placements.names(names))
    image = run_node("diffusion.vae_decode", vae=vae, latent=latent, ctx=ctx)
    after.append(placements.names(names))
    return image, after


@pytest.mark.parametrize(("which", "cfg"), [("sd", 5.0), ("flux", 1.0)])
def test_offload_leaves_every_model_off_the_device_between_nodes(which, cfg, request, run_node,
                                                                 placements, ctx):
    checkpoint = request.getfixturevalue(which)
    with memory_manager.policy("keep"):
        kept, resident = _graph(run_node, checkpoint, placements, cfg, ctx)
    encoders = {encoder.slot for encoder in checkpoint[1].encoders}
    # keep: each model stays once it has been placed (the check below can fail).
    assert resident == [encoders, encoders | {"denoiser"}, encoders | {"denoiser", "vae"}]
    with memory_manager.policy("offload"):
        offloaded, resident = _graph(run_node, checkpoint, placements, cfg, ctx)
    assert resident == [set(), set(), set()]
    assert {memory_manager.applied_mode(m) for m in _models(checkpoint).values()} == {"offload"}
    np.testing.assert_array_equal(offloaded, kept)
    assert offloaded.shape == (1, 32, 32, 3)


def test_offload_makes_room_for_a_node_s_encoders(sd, run_node, placements):
    """A resident denoiser leaves the device when the encoders come under offload."""
    model, clip, _ = sd
    with memory_manager.policy("keep"):
        memory_manager.prepare(model.denoiser, CPU, "keep")
    assert placements.names(_models(sd)) == {"denoiser"}
    with memory_manager.policy("offload"):
        run_node("diffusion.text_encode", clip=clip, text="a cat")
    assert placements.names(_models(sd)) == set()


def test_auto_offloads_encoders_when_all_models_exceed_the_budget(flux, placements):
    model, clip, vae = flux
    encoders = [encoder.model for encoder in clip.encoders]
    group = sum(parameter_bytes(module) for module in encoders)
    total = group + parameter_bytes(model.denoiser) + parameter_bytes(vae.model)
    with memory_manager.policy("keep"):
        memory_manager.prepare(model.denoiser, CPU, "keep")  # the denoiser holds its share
    with memory_manager.policy("auto", budget_bytes=int(total * 1.3)), \
            memory_manager.models_in_use(encoders, CPU) as modes:
        assert modes == ["keep", "keep"]
    # Room for the encoders alone, not for them beside the resident denoiser.
    budget = int(group * ENCODER_HEADROOM * 1.01)
    assert budget < total
    with memory_manager.policy("auto", budget_bytes=budget), \
            memory_manager.models_in_use(encoders, CPU) as modes:
        assert modes == ["offload", "offload"]
        assert placements.names(_models(flux)) == {"clip_l", "t5"}
    assert placements.names(_models(flux)) == set()


def test_an_encoder_too_big_for_the_budget_streams_layer_by_layer(run_node, diffusion_registry,
                                                                  tiny_models, sd, placements):
    """sequential: leaf-level group offloading on a transformers encoder, same conditioning."""
    _, clip, _ = _load(diffusion_registry, tiny_models.root, tiny_models.sd_folder)
    with memory_manager.policy("keep"):
        reference = run_node("diffusion.text_encode", clip=sd[1], text="a red square")
    size = parameter_bytes(clip.encoders[0].model)
    with memory_manager.policy("auto", budget_bytes=size // 2):
        streamed = run_node("diffusion.text_encode", clip=clip, text="a red square")
    encoder = clip.encoders[0].model
    assert memory_manager.applied_mode(encoder) == "sequential"
    assert getattr(encoder, memory_manager.HOOKED_ATTRIBUTE, False)
    torch.testing.assert_close(streamed.embeds, reference.embeds)


def test_a_failing_node_still_sends_its_models_back(sd, placements):
    encoders = [encoder.model for encoder in sd[1].encoders]
    with pytest.raises(RuntimeError, match="node failed"), memory_manager.policy("offload"), \
            memory_manager.models_in_use(encoders, CPU):
        assert placements.names(_models(sd)) == {"clip_l"}
        raise RuntimeError("node failed")
    assert placements.names(_models(sd)) == set()
