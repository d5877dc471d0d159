"""The default mode's sampling loop makes no host<->device round trip per step.

Every ``.item()``, ``.cpu()``, ``.numpy()``, ``.tolist()`` or ``bool``/``float``/``int`` of a
tensor waits for the GPU to finish. The loop may pay a few of them while it sets up, never per
step: the count for 6 steps must equal the count for 2. diffusers' schedulers compare their
sigma tables on purpose on the CPU (``set_timesteps`` keeps them there "to avoid too much CPU/GPU
communication"), so reads from the scheduler modules cost no device sync and are not counted.
"""

from __future__ import annotations

import collections
import sys

import pytest
import torch

from nodestudio.runtime import fast_mode, memory_manager
from nodestudio.runtime.sampling import SamplerSettings, sample

SYNCING = ("item", "cpu", "numpy", "tolist", "__bool__", "__float__", "__int__", "__index__")


class SyncCounter:
    """Counts syncing tensor calls by where they were made, while installed."""

    def __init__(self) -> None:
        self.calls: collections.Counter[str] = collections.Counter()
        self._originals = {name: getattr(torch.Tensor, name) for name in SYNCING}

    def _wrap(self, name: str):
        original = self._originals[name]
        calls = self.calls

        def counted(tensor, *args, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if "diffusers/schedulers/" not in caller.replace("\\", "/"):
                calls[f"{name} at {caller}:{sys._getframe(1).f_lineno}"] += 1
            return original(tensor, *args, **kwargs)

        return counted

    def __enter__(self) -> SyncCounter:
        for name in SYNCING:
            setattr(torch.Tensor, name, self._wrap(name))
        return self

    def __exit__(self, *exc: object) -> None:
        for name, original in self._originals.items():
            setattr(torch.Tensor, name, original)


def _syncs(model, positive, negative, latent, steps: int, cfg: float) -> collections.Counter:
    with memory_manager.policy("keep"), SyncCounter() as counter:
        sample(model, positive, negative, latent, SamplerSettings(seed=4, steps=steps, cfg=cfg))
    return counter.calls


def test_unet_loop_syncs_no_more_for_more_steps(run_node, sd_checkpoint):
    model, clip, _ = sd_checkpoint
    positive = run_node("diffusion.text_encode", clip=clip, text="a red square")
    negative = run_node("diffusion.text_encode", clip=clip, text="")
    latent = run_node("diffusion.empty_latent", model=model, width=32, height=32)
    two = _syncs(model, positive, negative, latent, 2, 5.0)
    six = _syncs(model, positive, negative, latent, 6, 5.0)
    assert six == two, f"per-step syncs: {six - two}"


@pytest.fixture(scope="module")
def flux_checkpoint(tiny_dit_models, diffusion_registry):
    from nodestudio.app.models import ModelLibrary
    from nodestudio.engine.cancel import CancelToken
    from nodestudio.engine.context import RunContext, RunEnvironment

    environment = RunEnvironment(device="cpu", models=ModelLibrary([tiny_dit_models.root],
                                                                   include_demo=False))
    context = RunContext("load", environment, CancelToken(), lambda event: None, "run-0", None)
    load = diffusion_registry.get("diffusion.load_checkpoint").function
    return load(checkpoint=tiny_dit_models.flux_folder, ctx=context)


def test_flow_loop_syncs_no_more_for_more_steps(run_node, flux_checkpoint):
    model, clip, _ = flux_checkpoint
    positive = run_node("diffusion.text_encode", clip=clip, text="a red square")
    latent = run_node("diffusion.empty_latent", model=model, width=32, height=32)
    two = _syncs(model, positive, None, latent, 2, 1.0)
    six = _syncs(model, positive, None, latent, 6, 1.0)
    assert six == two, f"per-step syncs: {six - two}"


def test_counter_sees_a_sync_inside_the_loop(run_node, sd_checkpoint, monkeypatch):
    """The counter is live: a per-step ``.item()`` in the denoiser call is caught."""
    model, clip, _ = sd_checkpoint
    positive = run_node("diffusion.text_encode", clip=clip, text="a red square")
    latent = run_node("diffusion.empty_latent", model=model, width=32, height=32)
    forward = type(model.denoiser).forward

    def syncing_forward(self, sample, timestep, *args, **kwargs):
        sample.abs().max().item()
        return forward(self, sample, timestep, *args, **kwargs)

    monkeypatch.setattr(type(model.denoiser), "forward", syncing_forward)
    two = _syncs(model, positive, None, latent, 2, 1.0)
    six = _syncs(model, positive, None, latent, 6, 1.0)
    assert sum(six.values()) - sum(two.values()) == 4


@pytest.mark.parametrize(("device", "setting", "expected"), [
    ("cuda", "auto", True), ("cpu", "auto", False), ("cuda", "off", False), ("cpu", "on", True),
])
def test_channels_last_is_chosen_for_unets_on_cuda(sd_checkpoint, device, setting, expected):
    model, _, _ = sd_checkpoint
    assert fast_mode.wants_channels_last(torch.device(device), model.denoiser,
                                         setting) is expected


def test_channels_last_is_never_chosen_for_transformers_by_default(flux_checkpoint):
    model, _, _ = flux_checkpoint
    assert not fast_mode.wants_channels_last(torch.device("cuda"), model.denoiser)


def test_the_cpu_runs_in_fp32_and_diffusers_default_sdpa_attention(sd_checkpoint):
    from diffusers.models.attention_processor import AttnProcessor2_0

    from nodestudio.runtime.devices import compute_dtype

    model, _, _ = sd_checkpoint
    assert compute_dtype("cpu") == torch.float32 and model.dtype == torch.float32
    assert compute_dtype("cuda") in (torch.float16, torch.bfloat16)
    processors = model.denoiser.attn_processors.values()
    assert processors and all(isinstance(p, AttnProcessor2_0) for p in processors)


def test_area_and_step_range_prompts_sync_no_more_for_more_steps(run_node, sd_checkpoint):
    """Area composition picks the prompts of a step by its timestep: from a copy read once."""
    model, clip, _ = sd_checkpoint
    fox = run_node("diffusion.text_encode", clip=clip, text="a red fox")
    bird = run_node("diffusion.conditioning_set_area",
                    conditioning=run_node("diffusion.text_encode", clip=clip, text="a bird"),
                    width=16, height=32, x=16, y=0, strength=1.0)
    late = run_node("diffusion.conditioning_set_timestep_range", conditioning=bird,
                    start=0.5, end=1.0)
    positive = run_node("diffusion.conditioning_combine", conditioning_1=fox,
                        conditioning_2=late)
    latent = run_node("diffusion.empty_latent", model=model, width=32, height=32)
    two = _syncs(model, positive, None, latent, 2, 1.0)
    six = _syncs(model, positive, None, latent, 6, 1.0)
    assert six == two, f"per-step syncs: {six - two}"
