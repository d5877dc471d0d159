"""``nodestudio.testing``: a pytest plugin so node-pack authors test their nodes as NodeStudio does.

Installed with NodeStudio and registered through the ``pytest11`` entry point, so a pack's
tests get these fixtures without a conftest (or with ``-p nodestudio.testing`` where the entry
point is not installed). Name your pack in your pytest configuration::

    [tool.pytest.ini_options]
    nodestudio_packs = ["my_pack"]          # a module with `pack = NodePack(...)`, or "mod:attr"

Fixtures (all offline, on the CPU, in temporary folders; nothing touches the user's home):

- ``nodestudio_registry``: the built-in nodes plus your packs (session-wide).
- ``nodestudio_session``: a Session on the embedded demo model ("nodestudio-shapes").
- ``tiny_sd_model``: a tiny seeded SD1.5-shaped diffusers folder in a models root (session-wide;
  ``.root`` to hand to a Session, ``.name`` to pick it in Load Checkpoint).
- ``tiny_sd_session``: a Session whose models root is that folder.
- ``nodestudio_run``: runs a graph on ``nodestudio_session`` (or the session you pass) and
  returns the RunResult (``.outputs[node_id][name]``, ``.executed``, ``.cached``, ``.files``);
  a failing node raises NodeExecutionError carrying the node's one-sentence message.

This module is imported by every pytest run where NodeStudio is installed, so it imports
nothing heavy at module level: torch, diffusers and the app load inside the fixtures.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from nodestudio.api import NodePack, NodeRegistry
    from nodestudio.app.session import Session
    from nodestudio.engine.executor import RunResult
    from nodestudio.graph import Graph

#: The demo model every Session lists beside the user's models (resources/models).
DEMO_CHECKPOINT = "nodestudio-shapes"
_OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("nodestudio_packs", type="linelist", default=[],
                  help="node packs the nodestudio_registry fixture loads: 'module' (with a "
                       "`pack` object) or 'module:attribute'")


@dataclass(frozen=True)
class TinySDModel:
    """A models root holding one tiny SD1.5-shaped checkpoint folder."""

    root: Path
    name: str = "tiny-sd"

    @property
    def path(self) -> Path:
        return self.root / "checkpoints" / self.name


def load_pack(reference: str) -> NodePack:
    """The NodePack that ``reference`` ("module" or "module:attribute") names; a clear error
    naming the reference when it is not one."""
    from nodestudio.api import NodePack

    module_name, _, attribute = reference.partition(":")
    try:
        found: Any = importlib.import_module(module_name.strip())
    except ImportError as error:
        raise pytest.UsageError(f"nodestudio_packs: cannot import {module_name!r} ({error}); "
                                "install your pack (pip install -e .) or fix the name") from None
    found = getattr(found, attribute.strip() or "pack", None)
    if callable(found) and not isinstance(found, type | NodePack):  # a factory, as entry
        found = found()                                               # points may name one
    if not isinstance(found, NodePack):
        raise pytest.UsageError(f"nodestudio_packs: {reference!r} is not a NodePack: define "
                                "`pack = NodePack(...)` in the module or name it as 'module:attr'")
    return found


def make_registry(packs: Iterable[NodePack] = (), *, builtin: bool = True) -> NodeRegistry:
    """A registry as NodeStudio builds one: the built-in pack (loaded the way packs are), then
    ``packs`` — which fail here, with the registry's own message, if NodeStudio would refuse
    them (unknown socket types, clashing ids)."""
    from nodestudio.app.packs import create_registry

    registry = create_registry(builtin=builtin, entry_points=False)
    for pack in packs:
        registry.add_pack(pack, source=f"test:{pack.name}")
    return registry


def make_session(registry: NodeRegistry, folder: Path, models_root: Path | None = None) -> Session:
    """A Session on the CPU whose input, output and models folders are under ``folder``."""
    from nodestudio.app.session import Session
    from nodestudio.app.settings import Settings

    for name in ("input", "output", "models"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    # Fresh Settings, not the user's file: a test must not depend on the machine it runs on.
    settings = Settings(models_dirs=[models_root or folder / "models"],
                        output_dir=folder / "output", input_dir=folder / "input",
                        user_packs_dir=folder / "packs", device="cpu")
    return Session(registry=registry, settings=settings)


def build_tiny_sd_model(root: Path, seed: int = 0) -> TinySDModel:
    """Save the tiny seeded SD1.5-shaped model (nodestudio/runtime/tiny.py) under ``root``."""
    from nodestudio.runtime.tiny import save_sd_folder, tiny_sd_components

    model = TinySDModel(root)
    save_sd_folder(tiny_sd_components(seed), model.path)
    return model


@pytest.fixture(scope="session")
def nodestudio_packs(pytestconfig: pytest.Config) -> list[NodePack]:
    """Your packs, from the ``nodestudio_packs`` ini option; override (scope="session") to
    hand NodePack objects directly."""
    return [load_pack(line) for line in pytestconfig.getini("nodestudio_packs")]


@pytest.fixture(scope="session")
def nodestudio_registry(nodestudio_packs: list[NodePack]) -> NodeRegistry:
    return make_registry(nodestudio_packs)


@pytest.fixture
def nodestudio_session(nodestudio_registry: NodeRegistry, tmp_path: Path,
                       monkeypatch: pytest.MonkeyPatch) -> Session:
    """A fresh Session (empty cache) on the demo model, offline, on the CPU."""
    for name, value in _OFFLINE.items():
        monkeypatch.setenv(name, value)
    return make_session(nodestudio_registry, tmp_path / "nodestudio")


@pytest.fixture(scope="session")
def tiny_sd_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinySDModel]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in _OFFLINE.items():
            patch.setenv(name, value)
        yield build_tiny_sd_model(tmp_path_factory.mktemp("tiny-sd-models"))


@pytest.fixture
def tiny_sd_session(nodestudio_registry: NodeRegistry, tiny_sd_model: TinySDModel,
                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Session:
    for name, value in _OFFLINE.items():
        monkeypatch.setenv(name, value)
    return make_session(nodestudio_registry, tmp_path / "nodestudio", tiny_sd_model.root)


@pytest.fixture
def nodestudio_run(nodestudio_session: Session) -> Callable[..., RunResult]:
    """``run(graph, *, outputs=None, session=None)``: the graph run as the window and the CLI
    run it (validation, path rules, cache); raises GraphValidationError before anything runs
    and NodeExecutionError when a node fails."""

    def run(graph: Graph, *, outputs: Iterable[str] | None = None,
            session: Session | None = None) -> RunResult:
        chosen = session or nodestudio_session
        # Session.validate asks for a whole graph; named outputs make output nodes optional.
        problems = [problem for problem in chosen.validate(graph)
                    if outputs is None or problem.kind != "no_output"]
        if problems:
            from nodestudio.graph.problems import GraphValidationError

            raise GraphValidationError(f"the graph has {len(problems)} problem(s)", problems)
        return chosen.run(graph, outputs=outputs)

    return run
