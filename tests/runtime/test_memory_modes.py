"""Memory modes on the tiny SD model: each gives keep's picture and holds weights as it says."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config

from nodestudio.runtime import memory_manager
from nodestudio.runtime.memory_manager import HEADROOM, choose_mode, parameter_bytes
from nodestudio.runtime.sampling import SamplerSettings, sample

SETTINGS = SamplerSettings(seed=11, steps=2, cfg=5.0)


@pytest.fixture(scope="module")
def prompts(sd_checkpoint, run_node):
    """The session's tiny SD model (loaded once), its prompts and a 32² latent."""
    model, clip, _ = sd_checkpoint
    positive = run_node("diffusion.text_encode", clip=clip, text="a red square")
    negative = run_node("diffusion.text_encode", clip=clip, text="")
    latent = run_node("diffusion.empty_latent", model=model, width=32, height=32)
    return model, positive, negative, latent


@pytest.fixture
def fresh_model(prompts):
    """The prompts with a copy of the denoiser: sequential and fp8 leave hooks on a model for
    its life, so they get their own (a deep copy costs milliseconds, a load seconds)."""
    model, *rest = prompts
    return (replace(model, denoiser=copy.deepcopy(model.denoiser)), *rest)


def _sample(prepared, mode: str) -> torch.Tensor:
    model, positive, negative, latent = prepared
    with memory_manager.policy(mode):
        return sample(model, positive, negative, latent, SETTINGS).samples


@pytest.fixture(scope="module")
def reference(prompts) -> torch.Tensor:
    return _sample(prompts, "keep")


def test_keep_leaves_the_model_resident_and_unhooked(fresh_model, reference):
    model = fresh_model[0]
    assert memory_manager.applied_mode(model.denoiser) == "keep"
    assert not memory_manager.has_offload_hooks(model.denoiser)
    assert torch.equal(_sample(fresh_model, "keep"), reference)


def test_offload_moves_the_denoiser_to_system_memory_after_the_run(fresh_model, reference,
                                                                   monkeypatch):
    model = fresh_model[0]
    assert torch.equal(_sample(fresh_model, "offload"), reference)
    assert memory_manager.applied_mode(model.denoiser) == "offload"
    moves: list[str] = []
    to = type(model.denoiser).to

    def recording_to(module, *args, **kwargs):
        moves.append(str(args[0] if args else kwargs.get("device")))
        return to(module, *args, **kwargs)

    # On the CPU the device and system memory are one place: let the weights say they are on
    # CUDA and record the move each mode makes once a run is over.
    monkeypatch.setattr(type(model.denoiser), "to", recording_to)
    monkeypatch.setattr("nodestudio.runtime.devices.module_device",
                        lambda module: torch.device("cuda"))
    memory_manager.after_use(model.denoiser, "keep")
    assert moves == []
    memory_manager.after_use(model.denoiser, "offload")
    assert moves == ["cpu"]


def test_sequential_attaches_group_offloading_and_matches_keep(fresh_model, reference):
    latents = _sample(fresh_model, "sequential")
    denoiser = fresh_model[0].denoiser
    assert memory_manager.has_offload_hooks(denoiser)
    assert all(p.device.type == "cpu" for p in denoiser.parameters())
    torch.testing.assert_close(latents, reference, rtol=1e-4, atol=1e-4)
    # The hooks stay: a second run neither moves the model whole nor changes the picture.
    torch.testing.assert_close(_sample(fresh_model, "keep"), latents, rtol=1e-5, atol=1e-5)


def test_fp8_stores_weights_in_float8_and_stays_close_to_keep(fresh_model, reference):
    before = parameter_bytes(fresh_model[0].denoiser)
    latents = _sample(fresh_model, "fp8")
    denoiser = fresh_model[0].denoiser
    dtypes = {p.dtype for name, p in denoiser.named_parameters() if name.endswith("weight")}
    assert torch.float8_e4m3fn in dtypes
    assert parameter_bytes(denoiser) < before * 0.5
    assert torch.isfinite(latents).all()
    # fp8 rounds every weight to 3 mantissa bits: close to keep's latents, not equal.
    error = (latents - reference).abs().mean() / reference.abs().mean()
    assert 0 < error < 0.25


@pytest.mark.parametrize(("free", "elsewhere", "expected"), [
    (None, 0, "keep"),  # no limit known (CPU without a budget)
    (2000, 0, "keep"),
    (int(1000 * HEADROOM), 0, "keep"),
    (1100, 400, "offload"),  # fits once the other models leave
    (1100, 0, "sequential"),
    (300, 300, "sequential"),
])
def test_auto_choice_from_free_memory(free, elsewhere, expected):
    assert choose_mode(1000, free, elsewhere) == expected


def test_auto_under_a_budget_uses_the_real_model_size(fresh_model, reference):
    memory_manager.forget_prepared()
    denoiser = fresh_model[0].denoiser
    size = parameter_bytes(denoiser)
    cpu = torch.device("cpu")
    with memory_manager.policy("auto", budget_bytes=size * 4) as active:
        assert memory_manager.resolve_mode(denoiser, cpu, active) == "keep"
    with memory_manager.policy("auto", budget_bytes=size // 2) as active:
        assert memory_manager.resolve_mode(denoiser, cpu, active) == "sequential"
        latents = sample(*fresh_model, SETTINGS).samples
    assert memory_manager.has_offload_hooks(denoiser)
    torch.testing.assert_close(latents, reference, rtol=1e-4, atol=1e-4)


def test_a_setting_overrides_auto_and_bad_modes_are_refused(fresh_model):
    denoiser = fresh_model[0].denoiser
    with memory_manager.policy("offload", budget_bytes=1) as active:
        assert memory_manager.resolve_mode(denoiser, torch.device("cpu"), active) == "offload"
    with pytest.raises(ValueError, match="unknown memory mode 'tiny'"):
        memory_manager.configure("tiny")


def test_auto_offloads_when_another_resident_model_holds_the_room(prompts, fresh_model):
    """Two denoisers in a budget that holds one: the second run takes turns ("offload")."""
    memory_manager.forget_prepared()
    first = prompts[0].denoiser
    _sample(prompts, "keep")  # the first model is now resident
    second, cpu = fresh_model[0].denoiser, torch.device("cpu")
    size = parameter_bytes(second)
    assert memory_manager.resident_elsewhere(second, cpu) == parameter_bytes(first)
    expected = {3.0: "keep", 1.5: "offload", 1.0: "sequential"}
    for share, mode in expected.items():
        with memory_manager.policy("auto", budget_bytes=int(size * share)) as active:
            assert memory_manager.resolve_mode(second, cpu, active) == mode, share


@pytest.mark.parametrize(("mode", "budget", "placed_on"), [
    ("keep", None, "cuda"), ("auto", None, "cuda"),  # placed as before: on the device
    ("auto", 2**30, "cpu"), ("offload", None, "cpu"), ("sequential", None, "cpu"),
    ("fp8", None, "cpu"),  # the manager places these at first use: a 24 GB model still loads
])
def test_new_models_load_where_the_mode_will_place_them(mode, budget, placed_on):
    with memory_manager.policy(mode, budget_bytes=budget):
        assert memory_manager.load_device(torch.device("cuda")).type == placed_on


def test_auto_sizes_a_denoiser_with_its_companions(monkeypatch):
    """A ControlNet is on the device for the whole Sampler run: auto counts it with the
    denoiser (the pair is too big for a budget either fits alone), and under offload the
    companions' arrival sends the other resident models back, never the denoiser."""
    from virtual_accelerator import ACCELERATOR, SYSTEM_MEMORY, place_of, virtual_accelerator

    with virtual_accelerator(monkeypatch):
        denoiser, controlnet, encoder = (torch.nn.Linear(64, 64) for _ in range(3))
        size = parameter_bytes(denoiser)
        with memory_manager.policy("auto", budget_bytes=int(size * 1.5)) as active:
            assert memory_manager.resolve_mode(denoiser, ACCELERATOR, active) == "keep"
            assert memory_manager.resolve_mode(denoiser, ACCELERATOR, active,
                                               companions=[controlnet]) == "sequential"
        with memory_manager.policy("offload"):
            with memory_manager.models_in_use([encoder], ACCELERATOR):
                pass
            mode = memory_manager.prepare(denoiser, ACCELERATOR, "offload")
            encoder.to(ACCELERATOR)  # an encoder still resident when the companions come
            modes = memory_manager.prepare_companions([controlnet, controlnet], ACCELERATOR,
                                                      denoiser, mode)
            assert modes == ["offload"]  # one entry per distinct model
            assert [place_of(m) for m in (denoiser, controlnet, encoder)] == [
                ACCELERATOR, ACCELERATOR, SYSTEM_MEMORY]
            with memory_manager.released_after_all([controlnet], modes):
                pass
            assert place_of(controlnet) == SYSTEM_MEMORY


def test_experts_that_fit_one_at_a_time_take_turns(monkeypatch):
    """Wan 2.2's two experts run one after the other: auto keeps both when they fit together,
    chooses offload when only one fits with the run's ControlNet (then they take turns: the
    first goes back before the second comes, the ControlNet stays), sequential when not even
    one does. fp8 stores the second expert in float8 too."""
    from virtual_accelerator import ACCELERATOR, SYSTEM_MEMORY, place_of, virtual_accelerator

    with virtual_accelerator(monkeypatch):
        high, low, controlnet = (torch.nn.Linear(64, 64) for _ in range(3))
        size = parameter_bytes(high)

        def auto(budget: float) -> str:
            with memory_manager.policy("auto", budget_bytes=int(budget)) as active:
                return memory_manager.resolve_mode(high, ACCELERATOR, active,
                                                   companions=[controlnet], alternates=[low])

        assert auto(size * 3 * HEADROOM) == "keep"
        assert auto(size * 2 * HEADROOM) == "offload"  # not three at once; two do
        assert auto(size * HEADROOM) == "sequential"
        with memory_manager.policy("offload"):
            mode = memory_manager.prepare(high, ACCELERATOR, "offload")
            memory_manager.prepare_companions([controlnet], ACCELERATOR, high, mode)
            assert memory_manager.prepare_alternates([low], ACCELERATOR, mode) == ["offload"]
            assert place_of(low) != ACCELERATOR  # waits in system memory for its turn
            memory_manager.take_turn(high, low, ACCELERATOR, mode, staying=[controlnet])
            assert [place_of(m) for m in (high, low, controlnet)] == [
                SYSTEM_MEMORY, ACCELERATOR, ACCELERATOR]
    fp8_high, fp8_low = _Expert(), _Expert()
    with memory_manager.policy("fp8"):
        mode = memory_manager.prepare(fp8_high, torch.device("cpu"), "fp8")
        assert memory_manager.prepare_alternates([fp8_low], torch.device("cpu"), mode) == ["fp8"]
    assert fp8_low.proj.weight.dtype == torch.float8_e4m3fn


class _Expert(ModelMixin, ConfigMixin):
    """A diffusers model (fp8 is diffusers' layerwise casting) of one layer."""

    @register_to_config
    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(64, 64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


def test_the_log_says_once_per_model_how_it_is_held(caplog):
    """A slow run under auto must say why: the first time a model runs in a mode other than
    keep, the Log (logger nodestudio.memory) names it, its size, the mode and the reason."""
    encoder, vae = torch.nn.Linear(256, 256), torch.nn.Linear(8, 8)
    cpu = torch.device("cpu")
    memory_manager.forget_prepared()
    with caplog.at_level("INFO", logger="nodestudio.memory"):
        with memory_manager.policy("keep"), memory_manager.models_in_use([vae], cpu):
            pass
        for _ in range(2):  # the second run of the same node says nothing new
            with memory_manager.policy("auto", budget_bytes=1), \
                    memory_manager.models_in_use([encoder], cpu):
                pass
    memory_manager.forget_prepared()
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 1, lines
    assert lines[0].startswith("Linear (0.00 GiB) streams from system memory block by block")
    assert lines[0].endswith("(auto: the models do not all fit the free memory)")


def test_streamed_blocks_copy_on_a_side_stream_only_on_cuda(fresh_model):
    import inspect

    from diffusers import ModelMixin
    from diffusers.hooks import apply_group_offloading

    denoiser = fresh_model[0].denoiser
    size = parameter_bytes(denoiser)
    assert memory_manager.transfer_options(denoiser, torch.device("cpu")) == {}
    roomy = memory_manager.transfer_options(denoiser, torch.device("cuda"), available=size * 4)
    assert roomy == {"use_stream": True, "non_blocking": True, "low_cpu_mem_usage": False}
    # A model past half the free system memory is pinned block by block, not all at once.
    tight = memory_manager.transfer_options(denoiser, torch.device("cuda"), available=size)
    assert tight["low_cpu_mem_usage"] is True
    with memory_manager.policy():
        memory_manager.configure("sequential", streams=False)  # copies in line, as on a CPU
        assert memory_manager.transfer_options(denoiser, torch.device("cuda")) == {}
    # The options are the ones diffusers' group offloading takes, by name.
    for takes in (apply_group_offloading, ModelMixin.enable_group_offload):
        assert set(roomy) <= set(inspect.signature(takes).parameters)
