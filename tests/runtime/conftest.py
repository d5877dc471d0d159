"""Runtime tests call the diffusion node functions directly, in the engine's real RunContext."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from nodestudio.api import NodeRegistry
from nodestudio.app.models import ModelLibrary
from nodestudio.app.packs import create_registry
from nodestudio.engine.cancel import CancelToken
from nodestudio.engine.context import RunContext, RunEnvironment


@pytest.fixture(scope="session")
def diffusion_registry() -> NodeRegistry:
    registry = create_registry(entry_points=False)
    assert not registry.failures, registry.failures[0].traceback
    return registry


@pytest.fixture(scope="session")
def run_node(diffusion_registry) -> Callable[..., Any]:
    """``run_node("diffusion.sampler", ctx=..., **inputs)`` with the node's defaults filled in."""

    def run(type_id: str, **inputs: Any) -> Any:
        node_type = diffusion_registry.get(type_id)
        assert node_type is not None, type_id
        values = {**node_type.default_values(), **inputs}
        if not node_type.wants_context:
            values.pop("ctx", None)
        return node_type.function(**values)

    return run


@dataclass
class Recorder:
    context: RunContext
    cancel: CancelToken
    events: list[Any] = field(default_factory=list)

    def progress(self) -> list[Any]:
        return [event for event in self.events if type(event).__name__ == "NodeProgress"]


@pytest.fixture
def recorder(tiny_models, tmp_path) -> Recorder:
    events: list[Any] = []
    cancel = CancelToken()
    environment = RunEnvironment(
        device="cpu",
        # Tests save models under tmp_path and load them back by path (as --allow-path would).
        models=ModelLibrary([tiny_models.root], include_demo=False, allowed=[tmp_path]),
        output_dir=tmp_path / "output",
        input_dir=tmp_path / "input",
    )
    context = RunContext("node-under-test", environment, cancel, events.append, "run-1", None)
    return Recorder(context, cancel, events)


@pytest.fixture
def ctx(recorder) -> RunContext:
    return recorder.context


@pytest.fixture(scope="session")
def sd_checkpoint(tiny_models, diffusion_registry):
    """(MODEL, CLIP, VAE) of the tiny SD1.5-style folder, loaded once."""
    environment = RunEnvironment(device="cpu", models=ModelLibrary([tiny_models.root],
                                                                   include_demo=False))
    context = RunContext("load", environment, CancelToken(), lambda event: None, "run-0", None)
    load = diffusion_registry.get("diffusion.load_checkpoint").function
    return load(checkpoint=tiny_models.sd_folder, ctx=context)
