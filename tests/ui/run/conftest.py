"""Fixtures for running graphs from the window: counting fake nodes plus the built-in pack,
a real Session and RunQueue behind a real window, and a recorder of the signals it gets."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fakes import Bench, make_bench
from PySide6.QtCore import QObject

from nodestudio.api import FLOAT, IMAGE, Float, Int, NodePack, Output, Seed, node
from nodestudio.api.registry import NodeRegistry
from nodestudio.app.packs import create_registry
from nodestudio.app.session import Session
from nodestudio.app.settings import Settings
from nodestudio.graph.model import Graph
from nodestudio.ui.main_window import MainWindow
from nodestudio.ui.run import RunController, install_run_support
from nodestudio.ui.run.bridge import connect_queued

RUN_TIMEOUT_MS = 20_000


@node("test.gradient", category="test", description="A horizontal gradient picture",
      inputs=[Int("width", 48, min=8, max=512), Int("height", 32, min=8, max=512),
              Float("red", 1.0, min=0.0, max=1.0)],
      outputs=[Output("image", IMAGE)])
def gradient(width: int, height: int, red: float) -> np.ndarray:
    ramp = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, None, :]
    image = np.zeros((1, height, width, 3), np.float32)
    image[..., 0] = red
    image[..., 1] = ramp
    return image


@node("test.seeded", category="test", inputs=[Seed("seed", 10)],
      outputs=[Output("value", FLOAT)])
def seeded(seed: int) -> float:
    return float(seed)


@dataclass
class Recorder:
    """What reached the UI thread through the bridge, in order: (kind, event, job)."""

    calls: list[tuple[str, Any, Any]] = field(default_factory=list)
    #: When each call arrived (time.monotonic), beside ``calls``.
    times: list[float] = field(default_factory=list)
    taps: list[QObject] = field(default_factory=list)

    def kinds(self, job_id: int | None = None) -> list[str]:
        return [kind for kind, _event, job in self.calls
                if job_id is None or (job is not None and job.id == job_id)]

    def events(self, kind: str) -> list[Any]:
        return [event for k, event, _job in self.calls if k == kind]

    def time_of(self, kind: str, node_id: str) -> float:
        for (k, event, _job), when in zip(self.calls, self.times, strict=True):
            if k == kind and getattr(event, "node_id", None) == node_id:
                return when
        raise AssertionError(f"no {kind} for {node_id}")


@dataclass
class RunKit:
    window: MainWindow
    controller: RunController
    session: Session
    bench: Bench
    recorder: Recorder
    qtbot: Any
    output_dir: Path

    @property
    def graph(self) -> Graph:
        return self.window.editor.graph

    def run(self, batch: int = 1, timeout: int = RUN_TIMEOUT_MS) -> Any:
        """Press Run and wait (processing events) until the job and its signals are through."""
        jobs = self.controller.run(batch)
        assert jobs, "Run queued nothing"
        self.wait_done(jobs[-1], timeout)
        return jobs[-1]

    def wait_done(self, job: Any, timeout: int = RUN_TIMEOUT_MS) -> None:
        def finished_here() -> None:
            assert job.done
            assert ("queue_changed:finished", job.id) in [
                (kind, j.id) for kind, _e, j in self.recorder.calls if j is not None]

        self.qtbot.waitUntil(finished_here, timeout=timeout)

    def on_ui(self, signal: Any, callback: Callable[[Any, Any], None]) -> None:
        """Call ``callback`` for each emission of a bridge signal, once the window showed it."""
        slot = UiSlot(callback)
        self.recorder.taps.append(slot)
        connect_queued(signal, slot.call)

    def settle_marks(self) -> None:
        """Let the debounced cache states and the queued signals arrive."""
        watcher = self.controller.watcher
        self.qtbot.waitUntil(lambda: not watcher.pending, timeout=2000)

    def badge(self, node_id: str) -> str | None:
        badge = self.controller.board.badge(node_id)
        return badge.kind if badge is not None else None


class UiSlot(QObject):
    """Runs ``callback(event, job)`` on the UI thread, after the window handled the signal."""

    def __init__(self, callback: Callable[[Any, Any], None]) -> None:
        super().__init__()
        self.callback = callback

    def call(self, event: Any, job: Any) -> None:
        self.callback(event, job)


class _Tap(QObject):
    def __init__(self, name: str, recorder: Recorder) -> None:
        super().__init__()
        self.name = name
        self.recorder = recorder

    def record(self, event: Any, job: Any) -> None:
        kind = f"{self.name}:{event.what}" if self.name == "queue_changed" else self.name
        self.recorder.calls.append((kind, event, job))
        self.recorder.times.append(time.monotonic())


def combined_registry(bench: Bench) -> NodeRegistry:
    registry = create_registry(entry_points=False)
    registry.add_pack(NodePack("test", [*bench.registry, gradient, seeded]))
    return registry


@pytest.fixture
def make_kit(make_window: Callable[..., MainWindow], qtbot: Any, tmp_path: Path
             ) -> Iterator[Callable[..., RunKit]]:
    made: list[RunController] = []

    def make(registry: NodeRegistry | None = None, bench: Bench | None = None,
             models: Path | None = None) -> RunKit:
        bench = bench or make_bench()
        registry = registry or combined_registry(bench)
        settings = Settings(models_dirs=[models or tmp_path / "models"],
                            output_dir=tmp_path / "output", input_dir=tmp_path / "input",
                            user_packs_dir=tmp_path / "packs", device="cpu")
        session = Session(registry=registry, settings=settings)
        window = make_window(registry)
        controller = install_run_support(window, session)
        made.append(controller)
        recorder = Recorder()
        bridge = controller.bridge
        for name in ("queue_changed", "run_started", "validation_failed", "plan_ready",
                     "node_started", "node_progress", "node_finished", "node_failed",
                     "node_skipped", "run_finished"):
            tap = _Tap(name, recorder)
            recorder.taps.append(tap)
            # Queued like the controller's slots and connected after them: by the time a
            # call is recorded (on the UI thread), the window has shown it.
            connect_queued(getattr(bridge, name), tap.record)
        return RunKit(window, controller, session, bench, recorder, qtbot,
                      tmp_path / "output")

    yield make
    for controller in made:
        controller.shutdown()


@pytest.fixture
def kit(make_kit: Callable[..., RunKit]) -> RunKit:
    return make_kit()
