"""The queue's "Run on" target and the per-worker list, with a test double of the backend
interface (the farm itself is tested for real in tests/app/test_farm.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtWidgets import QApplication

from nodestudio.app.backends import (
    ExecutionBackend,
    JobHandle,
    JobResult,
    WorkerStatus,
)
from nodestudio.ui.run.farm_panel import FarmPanel


class FakeBackend:
    """Implements ExecutionBackend with worker states the test sets."""

    def __init__(self, name: str, workers: list[WorkerStatus]) -> None:
        self.name, self.status, self.submitted = name, workers, []
        self.closed = False

    def submit(self, graph: Any, *, label: str | None = None,
               outputs: tuple[str, ...] | None = None,
               metadata: dict[str, Any] | None = None) -> JobHandle:
        self.submitted.append(graph)
        return JobHandle(f"{self.name}-{len(self.submitted)}", label or "graph")

    def cancel(self, handle: JobHandle) -> None:
        pass

    def subscribe(self, listener: Callable[[Any], None]) -> Callable[[], None]:
        return lambda: None

    def workers(self) -> list[WorkerStatus]:
        return list(self.status)

    def wait_all(self, handles: Iterable[JobHandle],
                 timeout: float | None = None) -> list[JobResult | None]:
        return [None for _ in handles]

    def shutdown(self) -> None:
        self.closed = True


def _panel(qtbot, factory) -> tuple[FarmPanel, FakeBackend]:
    local = FakeBackend("local", [WorkerStatus("this machine", "idle")])
    panel = FarmPanel(local, factory, address="ray://farm:10001", refresh_ms=50)
    qtbot.addWidget(panel)
    return panel, local


def test_choosing_the_farm_lists_its_workers_and_follows_their_state(qtbot):
    farm = FakeBackend("farm", [WorkerStatus("worker-1", "busy", "ab-0001",
                                             ("nodestudio-shapes",)),
                                WorkerStatus("worker-2", "starting")])
    assert isinstance(farm, ExecutionBackend)
    asked: list[str] = []
    panel, local = _panel(qtbot, lambda address: asked.append(address) or farm)
    assert panel.rows() == [["this machine", "idle", "", ""]]
    assert panel.target.itemText(1) == "Farm (ray://farm:10001)"
    with qtbot.waitSignal(panel.targetChanged) as signal:
        panel.target.setCurrentIndex(1)
    assert signal.args == ["farm"] and asked == ["ray://farm:10001"]
    assert panel.backend is farm
    assert panel.rows() == [["worker-1", "busy", "ab-0001", "nodestudio-shapes"],
                            ["worker-2", "starting", "", ""]]
    farm.status = [WorkerStatus("worker-1", "idle", None, ("nodestudio-shapes",)),
                   WorkerStatus("worker-2", "dead")]
    qtbot.waitUntil(lambda: panel.rows()[1][1] == "dead", timeout=2000)
    panel.target.setCurrentIndex(0)
    assert panel.backend is local
    panel.shutdown()
    assert farm.closed


def test_an_unreachable_farm_says_why_and_stays_local(qtbot):
    def refuse(address: str) -> Any:
        raise RuntimeError(f"no Ray cluster answers at {address!r}\nraw detail")
    panel, local = _panel(qtbot, refuse)
    panel.target.setCurrentIndex(1)
    assert panel.target.currentIndex() == 0 and panel.backend is local
    assert panel.message.text() == ("The farm at ray://farm:10001 is not available: "
                                    "no Ray cluster answers at 'ray://farm:10001'")


def test_without_ray_installed_the_farm_target_says_how_to_install_it(window, registry,
                                                                        tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets without Ray
    controller = _install(window, registry, tmp_path)
    panel = controller.farm_panel
    panel.target.setCurrentIndex(1)  # the real factory: open_backend
    assert panel.target.currentIndex() == 0 and panel.backend is not None
    assert panel.message.text() == ("The farm at ray://render:10001 is not available: the farm "
                                    'needs Ray: pip install "nodestudio[farm]"')
    controller.shutdown()


def _install(window, registry, tmp_path):
    from nodestudio.app.session import Session
    from nodestudio.app.settings import Settings
    from nodestudio.ui.run import install_run_support

    settings = Settings(models_dirs=[tmp_path / "models"], output_dir=tmp_path / "output",
                        input_dir=tmp_path / "input", user_packs_dir=tmp_path / "packs",
                        device="cpu", farm_address="ray://render:10001")
    return install_run_support(window, Session(registry=registry, settings=settings))


def test_the_window_sends_runs_to_the_farm_target_and_queues_them_there(window, registry,
                                                                        qtbot, tmp_path):
    """Routing only (a stand-in backend); the farm's jobs running for real in the queue panel
    and the gallery: tests/ui/run/test_farm_jobs.py."""
    from nodestudio.app.backends import BackendEvent

    controller = _install(window, registry, tmp_path)
    listeners: list = []
    farm = FakeBackend("farm", [WorkerStatus("worker-1", "idle")])
    farm.subscribe = lambda listener: listeners.append(listener) or (lambda: None)
    panel = controller.farm_panel
    panel._factory = lambda address: farm
    assert panel.target.itemText(1) == "Farm (ray://render:10001)"
    assert panel.dock.widget() is panel and panel.dock.parent() is window
    editor = window.editor
    source = editor.add_node("test.source", (0, 0))
    sink = editor.add_node("test.sink", (300, 0))
    editor.connect(source, "image", sink, "images")
    panel.target.setCurrentIndex(1)
    assert controller.run(batch=3) == []
    assert len(farm.submitted) == 3 and controller.queue.jobs() == []
    assert all(graph is not editor.graph for graph in farm.submitted)
    assert len(listeners) == 1  # one subscription however many jobs
    qtbot.waitUntil(lambda: len(controller.queue_dock.rows()) == 3, timeout=2000)
    rows = controller.queue_dock.rows()
    assert rows[0].startswith("#farm-1  ") and rows[0].endswith("waiting for a farm worker")
    listeners[0](BackendEvent("farm-2", "started", {"worker": "worker-7"}))
    qtbot.waitUntil(lambda: controller.queue_dock.rows()[1].endswith("running on worker-7"),
                    timeout=2000)
    controller.shutdown()
    assert farm.closed


def test_the_farm_dock_starts_hidden_and_the_window_state_keeps_it_shown(
        make_window, registry, qtbot, tmp_path):
    first = make_window()
    panel = _install(first, registry, tmp_path).farm_panel
    toggle = panel.dock.toggleViewAction()
    assert panel.dock.isHidden() and not toggle.isChecked()
    assert toggle in first.panels_menu.actions()  # View › Panels › Farm
    toggle.trigger()
    assert panel.dock.isVisible()
    assert first.close()

    second = make_window()
    panel = _install(second, registry, tmp_path).farm_panel
    assert panel.dock.isVisible() and panel.dock.toggleViewAction().isChecked()
    panel.dock.toggleViewAction().trigger()
    assert second.close()

    third = make_window()
    assert _install(third, registry, tmp_path).farm_panel.dock.isHidden()


def test_the_queue_dock_keeps_the_users_choice_through_the_window_state(
        make_window, registry, qtbot, tmp_path):
    first = make_window()
    dock = _install(first, registry, tmp_path).queue_dock
    qtbot.waitUntil(dock.isVisible, timeout=2000)  # shown by default, under the Nodes panel
    assert dock.toggleViewAction() in first.panels_menu.actions()
    dock.toggleViewAction().trigger()
    assert dock.isHidden()
    assert first.close()

    second = make_window()
    dock = _install(second, registry, tmp_path).queue_dock
    QApplication.processEvents()
    assert dock.isHidden() and not dock.toggleViewAction().isChecked()


def test_a_farm_job_leaves_the_status_line_to_the_local_run(window, registry, tmp_path,
                                                            monkeypatch):
    """While this machine runs, a farm job's progress shows on its queue row, not in the
    status line; with nothing running locally it shows there too."""
    from nodestudio.app.farm.feed import FarmJob
    from nodestudio.app.queue import RUNNING, Job
    from nodestudio.engine.events import NodeProgress, NodeStarted
    from nodestudio.graph.model import Graph

    controller = _install(window, registry, tmp_path)
    local = Job(id=3, graph=Graph(), label="#3", status=RUNNING)
    farm_job = FarmJob(id=-1, graph=Graph(), label="#farm-1", status=RUNNING)
    monkeypatch.setattr(controller.queue, "jobs", lambda: [local])
    controller._node_started(NodeStarted("r1", node_id="s", type_id="x"), local)
    controller._node_progress(NodeProgress("r1", node_id="s", done=2, total=10), local)
    shown = controller.status.label.text()
    assert shown  # the local run's line
    controller._node_started(NodeStarted("r2", node_id="f", type_id="x"), farm_job)
    controller._node_progress(NodeProgress("r2", node_id="f", done=7, total=9), farm_job)
    assert controller.status.label.text() == shown
    monkeypatch.setattr(controller.queue, "jobs", lambda: [])  # the local run ended
    controller._node_progress(NodeProgress("r2", node_id="f", done=8, total=9), farm_job)
    assert controller.status.label.text() != shown


def test_the_cancel_button_follows_a_farm_job_that_ended_before_its_refresh(window, registry,
                                                                           qtbot, tmp_path):
    """A farm job's status changes on the backend's thread, and a late progress line can redraw
    its row before the queued refresh comes: the button says what the row says."""
    from nodestudio.app.queue import CANCELLED

    controller = _install(window, registry, tmp_path)
    farm = FakeBackend("farm", [WorkerStatus("worker-1", "busy")])
    controller.farm_panel._factory = lambda address: farm
    editor = window.editor
    source = editor.add_node("test.source", (0, 0))
    sink = editor.add_node("test.sink", (300, 0))
    editor.connect(source, "image", sink, "images")
    controller.farm_panel.target.setCurrentIndex(1)
    controller.run(batch=1)
    dock = controller.queue_dock
    qtbot.waitUntil(lambda: len(dock.rows()) == 1, timeout=2000)
    dock.list.setCurrentRow(0)
    assert dock.remove_button.text() == "Cancel"
    [job] = controller.farm_jobs.jobs()
    job.status = CANCELLED  # as the farm feed sets it, on the backend's thread
    dock.set_detail(job, "Sampler 3/400")
    assert dock.rows()[0].endswith("\ncancelled")
    assert dock.remove_button.text() == "Remove"
    controller.shutdown()
