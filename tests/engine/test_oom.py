"""Out of GPU memory in the denoiser: a clear message, the cache freed, the next run works.

There is no GPU here: torch's own OutOfMemoryError is raised where CUDA raises it, inside the
denoiser's call in the middle of sampling.
"""

from __future__ import annotations

import pytest
import torch

import nodestudio
from nodestudio.app.recipes import text_to_image
from nodestudio.app.settings import Settings
from nodestudio.engine import oom
from nodestudio.engine.executor import NodeExecutionError


@pytest.fixture
def session(tiny_models, tmp_path):
    return nodestudio.Session(device="cpu", models_dir=tiny_models.root, settings=Settings(),
                              output_dir=tmp_path / "output", input_dir=tmp_path / "input")


def test_oom_in_the_denoiser_explains_frees_and_the_next_run_works(session, tiny_models,
                                                                   monkeypatch):
    from diffusers import UNet2DConditionModel

    graph, ids = text_to_image(tiny_models.sd_folder, "a red square", width=32, height=32,
                               steps=2, cfg=5.0)
    forward = UNet2DConditionModel.forward
    calls = {"n": 0}

    def out_of_memory_once(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the second step, as a tall batch would
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(UNet2DConditionModel, "forward", out_of_memory_once)
    with pytest.raises(NodeExecutionError) as failed:
        session.run(graph)
    first = failed.value.result
    message = first.failed[ids["sampler"]]
    assert message == oom.MESSAGE
    assert "lower the resolution" in message and "offload" in message
    assert "Tried to allocate" not in message  # no allocator statistics
    assert ids["checkpoint"] in first.executed

    second = session.run(graph)
    assert second.ok
    # The loaded model survived in the cache (offloaded, not dropped): no second load.
    assert ids["checkpoint"] not in second.executed
    assert ids["sampler"] in second.executed and second.files


def test_free_accelerator_memory_offloads_models_and_drops_gpu_values():
    from nodestudio.engine.cache import CacheEntry, OutputCache
    from nodestudio.engine.sizing import Footprint

    class Model:
        offloaded = False

        def offload_to_cpu(self) -> None:
            self.offloaded = True

    class GpuLatent:
        evicted = False

        def on_cache_evict(self) -> None:
            self.evicted = True

    cache = OutputCache()
    model, latent = Model(), GpuLatent()
    cache.put("model", CacheEntry((model,), Footprint(ram=0, vram=100)))
    cache.put("latent", CacheEntry((latent,), Footprint(ram=0, vram=50)))
    cache.put("image", CacheEntry(("pixels",), Footprint(ram=10, vram=0)))
    cache.free_accelerator_memory()
    assert model.offloaded and "model" in cache  # kept, now in system memory
    assert latent.evicted and "latent" not in cache
    assert "image" in cache


def test_other_errors_are_not_taken_for_oom():
    cache_calls = []

    class Cache:
        def free_accelerator_memory(self) -> None:
            cache_calls.append(True)

    assert oom.recover(ValueError("bad"), Cache()) is None
    assert oom.recover(RuntimeError("CUDA error: device-side assert"), Cache()) is None
    assert cache_calls == []
    assert oom.recover(RuntimeError("CUDA out of memory. Tried"), Cache()) == oom.MESSAGE
