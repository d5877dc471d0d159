"""Sampler names are declared once (runtime.sampler_names): the Sampler node's choices, the
runtime's scheduler tables and the ComfyUI mapping must all agree with that declaration."""

from __future__ import annotations

import subprocess
import sys

from nodestudio.interop.comfy import names as comfy_names
from nodestudio.runtime import sampler_names, schedulers
from nodestudio.runtime.families.base import Scheduling


def test_runtime_tables_hold_exactly_the_declared_names_in_order() -> None:
    assert tuple(schedulers.SAMPLERS) == sampler_names.SAMPLER_NAMES
    assert tuple(schedulers.FLOW_SAMPLERS) == sampler_names.FLOW_SAMPLER_NAMES
    assert tuple(schedulers.SCHEDULES) == sampler_names.SCHEDULE_NAMES
    # The ComfyUI mode overrides some discrete samplers but adds none.
    assert tuple(schedulers.COMFY_SAMPLERS) == sampler_names.SAMPLER_NAMES
    assert set(sampler_names.FLOW_SAMPLER_NAMES) <= set(sampler_names.SAMPLER_NAMES)
    for mode in sampler_names.COMPATIBILITY_MODES:
        table = schedulers.sampler_table(Scheduling.DISCRETE, mode)
        assert tuple(table) == sampler_names.SAMPLER_NAMES


def test_sampler_node_offers_the_declared_names(diffusion_registry) -> None:
    node = diffusion_registry.get("diffusion.sampler")
    assert node.input("sampler").choices == sampler_names.SAMPLER_NAMES
    assert node.input("scheduler").choices == sampler_names.SCHEDULE_NAMES
    assert node.input("compatibility").choices == sampler_names.COMPATIBILITY_MODES


def test_comfy_mapping_covers_every_declared_sampler() -> None:
    """Every NodeStudio sampler either is a ComfyUI sampler (exactly or nearly) or is listed as
    one ComfyUI lacks; nothing maps to a name the runtime does not know."""
    mapped = set(comfy_names.SAMPLERS.exact.values())
    mapped |= {ours for ours, _ in comfy_names.SAMPLERS.near.values()}
    assert mapped <= set(sampler_names.SAMPLER_NAMES)
    assert mapped | comfy_names.NOT_IN_COMFY == set(sampler_names.SAMPLER_NAMES)
    assert not mapped & comfy_names.NOT_IN_COMFY
    assert set(comfy_names.FLOW_SAMPLERS.exact.values()) == set(sampler_names.FLOW_SAMPLER_NAMES)


def test_the_names_module_is_torch_free() -> None:
    """The Sampler node imports the names at module level: the window lists it without torch."""
    code = ("import sys; import nodestudio.runtime.sampler_names; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"
