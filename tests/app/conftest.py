"""App-layer fixtures: one local Ray cluster for every farm test module.

Starting Ray (its control processes, then a Python process per worker that imports torch) is
the farm tests' largest fixed cost, so the cluster is started once, by the first test that asks
for ``ray_cluster``, and stopped right after the last one, so that the tests after it do not
share the 2 CI cores with Ray's idle processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

#: Two CPU slots: two real worker processes, the fewest that show routing, affinity and a job
#: handed from a killed worker to another.
RAY_CPUS = 2
#: The farm sends only small documents and PNG bytes through the object store; Ray's floor.
RAY_OBJECT_STORE_BYTES = 80 * 1024 * 1024

_last_ray_test: list[str] = []


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """A private local Ray cluster (``ray`` itself), shared by the farm test modules."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=RAY_CPUS, include_dashboard=False, log_to_driver=False,
             configure_logging=False, object_store_memory=RAY_OBJECT_STORE_BYTES)
    yield ray
    ray.shutdown()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    users = [item.nodeid for item in items if "ray_cluster" in getattr(item, "fixturenames", ())]
    _last_ray_test[:] = users[-1:]


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    # After the module fixtures' teardown (the backends' shutdown), which ran before this.
    if _last_ray_test and item.nodeid == _last_ray_test[0] and nextitem is not None:
        import ray

        ray.shutdown()
