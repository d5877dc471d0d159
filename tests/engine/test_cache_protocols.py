"""The cache's hooks are declared Protocols: what a value must define to be offloaded to the CPU
under VRAM pressure, or told when it is dropped."""

from __future__ import annotations

from nodestudio.engine.cache import CacheEntry, EvictionAware, Offloadable, OutputCache
from nodestudio.engine.sizing import footprint

MB = 1 << 20


class FakeGpuModel:
    """Holds 'accelerator memory' as its cache_nbytes on a cuda device (no GPU here): sizing
    counts it as VRAM, and offloading moves it to the CPU as the runtime's handles do."""

    def __init__(self) -> None:
        self.device = "cuda:0"
        self.evicted = 0

    def cache_nbytes(self) -> int:
        return 10 * MB

    def offload_to_cpu(self) -> None:
        self.device = "cpu"

    def on_cache_evict(self) -> None:
        self.evicted += 1


class GpuLatent:
    """VRAM with no way to move: must be dropped, and hears about it."""

    device = "cuda:0"

    def __init__(self) -> None:
        self.evicted = 0

    def cache_nbytes(self) -> int:
        return 10 * MB

    def on_cache_evict(self) -> None:
        self.evicted += 1


def entry(value: object) -> CacheEntry:
    return CacheEntry((value,), footprint((value,)))


def test_over_the_vram_budget_an_offloadable_value_moves_to_the_cpu_and_stays_cached():
    cache = OutputCache(vram_budget=15 * MB)
    model, newer = FakeGpuModel(), FakeGpuModel()
    cache.put("a", entry(model))
    cache.put("b", entry(newer))
    assert "a" in cache and "b" in cache
    assert model.device == "cpu" and newer.device == "cuda:0"
    assert model.evicted == 0
    assert cache.total().vram == 10 * MB and cache.total().ram == 10 * MB


def test_a_value_that_cannot_offload_is_dropped_and_told():
    cache = OutputCache(vram_budget=15 * MB)
    latent = GpuLatent()
    cache.put("a", entry(latent))
    cache.put("b", entry(GpuLatent()))
    assert "a" not in cache and latent.evicted == 1
    assert cache.evictions == 1


def test_the_runtime_handles_satisfy_the_protocols():
    from nodestudio.runtime.types import DiffusionModel

    assert issubclass(DiffusionModel, Offloadable)
    assert issubclass(DiffusionModel, EvictionAware)
    assert not isinstance(GpuLatent(), Offloadable)
    assert isinstance(FakeGpuModel(), Offloadable)


def test_discard_where_drops_the_picked_entries_and_keeps_the_others_order(tmp_path):
    cache = OutputCache()
    for name in ("a", "b", "c"):
        files = [tmp_path / "job" / f"{name}.png"] if name != "b" else []
        cache.put(name, CacheEntry((name,), footprint((name,)), files))
    cache.discard_where(lambda entry: any(path.parent.name == "job" for path in entry.files))
    assert list(cache) == ["b"]
    cache.put("d", CacheEntry(("d",), footprint(("d",))))
    cache.put("e", CacheEntry(("e",), footprint(("e",))))
    cache.get("b")  # used last: the least recently used is now d
    cache.discard_where(lambda entry: entry.outputs == ("e",))
    assert list(cache) == ["d", "b"]  # looking at entries did not make them recent
