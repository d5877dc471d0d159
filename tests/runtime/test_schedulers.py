"""Sampler/schedule names → schedulers built from the model's own config; docs/SAMPLERS.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nodestudio.runtime import schedulers

SD2_768_CONFIG = {
    "_class_name": "DDIMScheduler", "beta_start": 0.00085, "beta_end": 0.012,
    "beta_schedule": "scaled_linear", "prediction_type": "v_prediction", "steps_offset": 1,
    "clip_sample": False, "set_alpha_to_one": False, "num_train_timesteps": 1000,
}
DOC = Path(__file__).resolve().parents[2] / "docs" / "SAMPLERS.md"


@pytest.mark.parametrize("sampler", schedulers.SAMPLER_NAMES)
def test_every_scheduler_keeps_the_models_training_settings(sampler):
    built = schedulers.build_scheduler(sampler, "normal", SD2_768_CONFIG, seed=5)
    assert built.config.prediction_type == "v_prediction"
    assert built.config.beta_schedule == "scaled_linear"
    assert type(built).__name__ == schedulers.SAMPLERS[sampler].scheduler_class


def test_sampler_options_and_schedules_are_applied():
    dpmpp = schedulers.build_scheduler("dpmpp_2m_sde", "karras", SD2_768_CONFIG)
    assert dpmpp.config.algorithm_type == "sde-dpmsolver++" and dpmpp.config.use_karras_sigmas
    # "normal" switches off a spacing flag the model's own config had.
    plain = schedulers.build_scheduler("euler", "normal", {**SD2_768_CONFIG,
                                                           "use_karras_sigmas": True})
    assert not plain.config.use_karras_sigmas
    assert schedulers.build_scheduler("ddim", "trailing", SD2_768_CONFIG).config.timestep_spacing \
        == "trailing"
    assert schedulers.build_scheduler("dpmpp_sde", "normal", SD2_768_CONFIG,
                                      seed=2**64 - 1).config.noise_sampler_seed < 2**63


def test_unknown_and_unsupported_names_are_errors():
    with pytest.raises(ValueError, match="unknown sampler"):
        schedulers.build_scheduler("magic", "normal", SD2_768_CONFIG)
    with pytest.raises(schedulers.UnsupportedSchedule, match="supports: normal, trailing"):
        schedulers.build_scheduler("euler_ancestral", "karras", SD2_768_CONFIG)


def test_the_samplers_page_lists_every_sampler_with_its_schedules():
    rows = {}
    for line in DOC.read_text().splitlines():
        match = re.match(r"\| `(\w+)` \|.*\| ([a-z, ]+) \|$", line)
        if match:
            rows[match.group(1)] = match.group(2).strip()
    assert set(schedulers.SAMPLER_NAMES) <= set(rows)
    for sampler in schedulers.SAMPLER_NAMES:
        supported = schedulers.supported_schedules(sampler)
        listed = list(schedulers.SCHEDULE_NAMES) if rows[sampler] == "all" else \
            rows[sampler].split(", ")
        assert listed == supported, sampler


def test_the_samplers_page_lists_every_flow_sampler_with_its_schedules():
    from nodestudio.runtime.families.base import Scheduling

    rows = {}
    for line in DOC.read_text().splitlines():
        match = re.match(r"\| `(\w+)` \(flow\) \|.*\| ([a-z, ]+) \|$", line)
        if match:
            rows[match.group(1)] = match.group(2).strip().split(", ")
    assert set(rows) == set(schedulers.FLOW_SAMPLER_NAMES)
    for sampler, listed in rows.items():
        assert listed == schedulers.supported_schedules(sampler, Scheduling.FLOW), sampler


def test_flow_models_keep_their_shift_in_every_flow_scheduler():
    from nodestudio.runtime import families

    sd3 = {"shift": 3.0, "num_train_timesteps": 1000}
    for sampler in schedulers.FLOW_SAMPLER_NAMES:
        built = schedulers.build_scheduler(sampler, "normal", sd3, family=families.SD3)
        shift = built.config.get("flow_shift", built.config.get("shift"))
        assert shift == 3.0, sampler
    # A resolution-dependent shift becomes exp(mu) for schedulers with only a fixed one.
    flux = {"shift": 3.0, "use_dynamic_shifting": True, "base_shift": 0.5, "max_shift": 1.15}
    heun = schedulers.build_scheduler("heun", "normal", flux, family=families.FLUX, mu=0.7)
    assert abs(heun.config.shift - 2.0137527) < 1e-6
    with pytest.raises(schedulers.UnsupportedSchedule, match="does not work with flow"):
        schedulers.build_scheduler("ddim", "normal", sd3, family=families.SD3)
