"""Wan 2.2 A14B (two experts) equals ``WanPipeline`` (≤ 2/255 per frame) on a tiny model.

The tiny folder has two differently seeded transformers and the release's boundary_ratio
(0.875): with 4 UniPC steps at shift 3 the timesteps are 999, 900 (high-noise expert) and
750, 500 (low-noise expert), so a wrong pick or a wrong low-noise cfg changes the pixels.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from typing import Any

import pytest
import torch

import nodestudio
from tests.fidelity.pipelines import assert_same_frames
from tests.fidelity.test_wan import NEGATIVE, PROMPT, SEED, video_graph

STEPS, CFG = 4, 5.0


@pytest.fixture(scope="module")
def experts_models(tiny_video):
    return tiny_video("wan22_a14b")


@pytest.fixture(scope="module")
def session(experts_models, new_session) -> nodestudio.Session:
    return new_session(experts_models.root, "wan22-fidelity")


@pytest.fixture(scope="module")
def pipeline(experts_models) -> Any:
    from diffusers import WanPipeline

    pipe = WanPipeline.from_pretrained(
        experts_models.checkpoint(experts_models.wan22_a14b_folder), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _pipeline_frames(pipeline: Any, output_type: str = "np", **guidance: Any) -> Any:
    return pipeline(prompt=PROMPT, negative_prompt=NEGATIVE, height=32, width=32, num_frames=5,
                    num_inference_steps=STEPS, guidance_scale=CFG,
                    generator=torch.Generator("cpu").manual_seed(SEED), output_type=output_type,
                    **guidance).frames


@pytest.mark.parametrize("low_noise_cfg", [None, 1.5], ids=["sampler-cfg", "expert-guidance"])
def test_two_expert_graph_equals_the_pipeline(session, experts_models, pipeline,
                                              low_noise_cfg: float | None):
    graph = video_graph(experts_models.wan22_a14b_folder, 32, 32, 5, steps=STEPS, cfg=CFG,
                        sampler="uni_pc_bh2")
    if low_noise_cfg is not None:
        # checkpoint → Wan 2.2 Expert Guidance → Sampler (guidance_scale_2 in the pipeline).
        graph.add_node("diffusion.wan22_expert_guidance", {"low_noise_cfg": low_noise_cfg},
                       id="experts")
        graph.connect("checkpoint", "model", "experts", "model")
        graph.connect("experts", "model", "sampler", "model")
    outputs = session.run(graph, outputs=["decode", "sampler"]).outputs
    frames = outputs["decode"]["image"]
    assert frames.shape == (5, 32, 32, 3)
    extra = {} if low_noise_cfg is None else {"guidance_scale_2": low_noise_cfg}
    assert_same_frames(frames, _pipeline_frames(pipeline, **extra)[0])
    # The tiny decoder hides most of the low-noise cfg's effect (≈ 0.2/255 between cfg 5 and
    # 1.5), while the latents differ by ≈ 1e-2: compare them too, as the pipeline returns them.
    latents = outputs["sampler"]["latent"].samples
    expected = _pipeline_frames(pipeline, "latent", **extra)
    assert torch.allclose(latents, expected, atol=1e-4), (latents - expected).abs().max()


@pytest.fixture(scope="module")
def loaded(experts_models):
    from nodestudio.runtime.checkpoints import load_checkpoint

    return load_checkpoint(experts_models.checkpoint(experts_models.wan22_a14b_folder), "cpu")


def _sample(model: Any, clip: Any) -> Any:
    from nodestudio.runtime.families.base import PromptOptions
    from nodestudio.runtime.sampling import SamplerSettings, sample
    from nodestudio.runtime.types import Latent

    family = model.family
    positive = family.encode_prompt(clip, PROMPT, PromptOptions())
    negative = family.encode_prompt(clip, NEGATIVE, PromptOptions())
    return sample(model, positive, negative,
                  Latent(torch.zeros(1, 16, 2, 4, 4), scale_factor=8, is_empty=True),
                  SamplerSettings(seed=SEED, steps=STEPS, cfg=CFG, sampler="uni_pc_bh2"))


def test_each_expert_runs_on_its_side_of_the_boundary(loaded):
    model = loaded.model
    assert model.expert_boundary == pytest.approx(875.0)
    assert model.low_noise_denoiser is not None
    assert model.low_noise_denoiser is not model.denoiser
    seen: dict[str, list[float]] = {"high": [], "low": []}
    hooks = [
        module.register_forward_pre_hook(
            lambda _, args, kwargs, name=name: seen[name].append(float(kwargs["timestep"][0])),
            with_kwargs=True)
        for name, module in (("high", model.denoiser), ("low", model.low_noise_denoiser))
    ]
    try:
        _sample(model, loaded.clip)
    finally:
        for hook in hooks:
            hook.remove()
    # One batched [negative, positive] call per step: 999 and 900 high, 750 and 500 low.
    assert seen["high"] == [999.0, 900.0]
    assert seen["low"] == [750.0, 500.0]


def test_the_low_noise_expert_changes_the_result(loaded):
    both = _sample(loaded.model, loaded.clip).samples
    high_only = _sample(replace(loaded.model, low_noise_denoiser=None, expert_boundary=None),
                        loaded.clip).samples
    assert (both - high_only).abs().max() > 1e-3


def test_expert_guidance_on_a_one_expert_model_names_the_fix(loaded):
    from nodes.diffusion.wan22 import wan22_expert_guidance
    from nodestudio.api.errors import NodeError

    one_expert = replace(loaded.model, low_noise_denoiser=None, expert_boundary=None)
    with pytest.raises(NodeError, match=r"needs a two-expert Wan 2\.2 model"):
        wan22_expert_guidance.function(one_expert, 3.0)
    assert wan22_expert_guidance.function(loaded.model, 3.0).low_noise_cfg == 3.0


def test_a_missing_low_noise_expert_names_the_folder(experts_models, tmp_path):
    from nodestudio.api.errors import NodeError
    from nodestudio.runtime.checkpoints import load_checkpoint

    copy = tmp_path / "wan22-copy"
    shutil.copytree(experts_models.checkpoint(experts_models.wan22_a14b_folder), copy)
    shutil.rmtree(copy / "transformer_2")
    with pytest.raises(NodeError, match="lacks its transformer_2 folder"):
        load_checkpoint(copy, "cpu")


def test_offload_lets_the_experts_take_turns_on_the_device(
        experts_models, session, fidelity_registry, tmp_path, monkeypatch):
    """On the virtual accelerator (tests/virtual_accelerator.py) under offload: the second
    expert is loaded into system memory and comes to the device at the boundary, after the
    first has gone back, so the device never holds both (half of A14B's peak); both end in
    system memory, and the frames equal the CPU run's."""
    from nodestudio.app.settings import Settings
    from nodestudio.runtime import memory_manager
    from tests.virtual_accelerator import (
        ACCELERATOR,
        SYSTEM_MEMORY,
        place_of,
        virtual_accelerator,
    )

    graph = video_graph(experts_models.wan22_a14b_folder, 32, 32, 5, steps=STEPS, cfg=CFG,
                        sampler="uni_pc_bh2")
    expected = session.run(graph, outputs=["decode"]).outputs["decode"]["image"]
    experts: list[torch.nn.Module] = []
    resident_when_run: list[int] = []

    def count_resident_experts(module: torch.nn.Module, _args: Any) -> None:
        if type(module).__name__ == "WanTransformer3DModel":
            if not any(module is seen for seen in experts):
                experts.append(module)
            resident_when_run.append(sum(place_of(e) == ACCELERATOR for e in experts))

    with virtual_accelerator(monkeypatch) as residency:
        hook = torch.nn.modules.module.register_module_forward_pre_hook(count_resident_experts)
        offloading = nodestudio.Session(device=str(ACCELERATOR), models_dir=experts_models.root,
                                        output_dir=tmp_path, registry=fidelity_registry,
                                        settings=Settings(memory_mode="offload"))
        try:
            outputs = offloading.run(graph, outputs=["checkpoint", "decode"]).outputs
        finally:
            hook.remove()
            memory_manager.configure("auto")
    model = outputs["checkpoint"]["model"]
    assert residency.violations == []
    assert len(experts) == 2 and len(resident_when_run) == STEPS * 1  # cfg: one batched call
    assert max(resident_when_run) == 1  # never both experts on the device
    assert [place_of(model.denoiser), place_of(model.low_noise_denoiser)] == [SYSTEM_MEMORY] * 2
    assert_same_frames(outputs["decode"]["image"], expected)


def test_choosing_the_expert_waits_for_no_gpu_work_per_step(loaded):
    """The expert is picked from the run's timesteps read once before the loop, not from the
    step's timestep tensor (on CUDA each read would wait for the previous step)."""
    from nodestudio.runtime import memory_manager
    from nodestudio.runtime.families.base import PromptOptions
    from nodestudio.runtime.sampling import SamplerSettings, sample
    from nodestudio.runtime.types import Latent
    from tests.runtime.test_no_step_sync import SyncCounter

    model, family = loaded.model, loaded.model.family
    positive = family.encode_prompt(loaded.clip, PROMPT, PromptOptions())
    negative = family.encode_prompt(loaded.clip, NEGATIVE, PromptOptions())

    def syncs(steps: int) -> Any:
        with memory_manager.policy("keep"), SyncCounter() as counter:
            sample(model, positive, negative,
                   Latent(torch.zeros(1, 16, 2, 4, 4), scale_factor=8, is_empty=True),
                   SamplerSettings(seed=SEED, steps=steps, cfg=CFG, sampler="uni_pc_bh2"))
        return counter.calls

    two, eight = syncs(2), syncs(8)
    assert eight == two, f"per-step syncs: {eight - two}"


def test_fast_mode_compiles_both_experts(loaded, tmp_path):
    """Half of an A14B run is the low-noise expert's: fast mode fuses and compiles it as it
    does the first (dynamo's graph, the eager backend: no C++ build on this CPU), and the
    latents stay the default mode's."""
    import copy

    from nodestudio.runtime import fast_mode, memory_manager

    model = replace(loaded.model, denoiser=copy.deepcopy(loaded.model.denoiser),
                    low_noise_denoiser=copy.deepcopy(loaded.model.low_noise_denoiser))
    reference = _sample(model, loaded.clip).samples
    with memory_manager.policy("keep"), fast_mode.policy(enabled=True, cache_dir=tmp_path,
                                                         backend="eager"):
        fast = _sample(model, loaded.clip).samples
    for expert in (model.denoiser, model.low_noise_denoiser):
        assert fast_mode.is_compiled(expert) and fast_mode.is_fused(expert)
    torch.testing.assert_close(fast, reference, rtol=1e-4, atol=1e-4)
