"""The "Run on" target of the queue (Local / Farm) and the farm's workers, one row each.

The panel knows only the ExecutionBackend interface (app/backends.py): whatever the chosen
backend is, it lists ``workers()`` (name, state, current job, models held) and refreshes them
on a timer. Choosing "Farm" asks ``backend_factory`` for the farm's backend; when it cannot
connect the panel says why in one line and falls back to Local, so no work is lost.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

LOCAL, FARM = "local", "farm"
COLUMNS = ("Worker", "State", "Current job", "Models")


class FarmPanel(QWidget):
    #: The backend jobs now go to changed ("local" or "farm").
    targetChanged = Signal(str)

    def __init__(self, local_backend: Any, backend_factory: Callable[[str], Any],
                 address: str = "auto", parent: QWidget | None = None,
                 refresh_ms: int = 1000) -> None:
        super().__init__(parent)
        self._local, self._factory, self.address = local_backend, backend_factory, address
        self._farm: Any = None
        self.events = FarmEvents(self)
        self.backend = local_backend
        self.target = QComboBox()
        self.target.addItem("Local", LOCAL)
        self.target.addItem(f"Farm ({address})", FARM)
        self.target.currentIndexChanged.connect(self._target_chosen)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.events.finished.connect(lambda _job, _status, line: self.message.setText(line))
        #: The dock holding the panel in the window (install_farm_panel), if any.
        self.dock: QWidget | None = None
        self.workers = QTreeWidget()
        self.workers.setHeaderLabels(list(COLUMNS))
        self.workers.setRootIsDecorated(False)
        row = QHBoxLayout()
        row.addWidget(QLabel("Run on"))
        row.addWidget(self.target, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(row)
        layout.addWidget(self.message)
        layout.addWidget(self.workers)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._timer.start(refresh_ms)
        self.refresh()

    def _target_chosen(self) -> None:
        if self.target.currentData() == FARM:
            try:
                self._farm = self._farm or self._factory(self.address)
            except Exception as error:  # the farm is optional: say why, stay local
                self.message.setText(f"The farm at {self.address} is not available: "
                                     f"{str(error).splitlines()[0] if str(error) else error}")
                self.target.blockSignals(True)
                self.target.setCurrentIndex(0)
                self.target.blockSignals(False)
                return
            if self.backend is not self._farm:
                self._farm.subscribe(self.events.listen)
            self.backend = self._farm
        else:
            self.backend = self._local
        self.message.setText("")
        self.refresh()
        self.targetChanged.emit(self.target.currentData())

    def refresh(self) -> None:
        """Show the chosen backend's workers as they are now."""
        try:
            workers = self.backend.workers()
        except Exception as error:  # a lost cluster must not break the window
            self.message.setText(f"Cannot read the workers' status: {error}")
            return
        self.workers.clear()
        for worker in workers:
            self.workers.addTopLevelItem(QTreeWidgetItem([
                worker.name, worker.state, worker.current_job or "",
                ", ".join(worker.models)]))

    def rows(self) -> list[list[str]]:
        """What the worker list shows (for tests and accessibility)."""
        items = [self.workers.topLevelItem(i) for i in range(self.workers.topLevelItemCount())]
        return [[item.text(c) for c in range(len(COLUMNS))] for item in items if item]

    @property
    def on_farm(self) -> bool:
        return self.target.currentData() == FARM and self._farm is not None

    def submit(self, graph: Any, registry: Any, count: int, label: str,
               outputs: tuple[str, ...] | None = None) -> list[Any]:
        handles = submit_batch(self.backend, graph, registry, count, label, outputs)
        self.refresh()
        return handles

    def shutdown(self) -> None:
        self._timer.stop()
        if self._farm is not None:
            self._farm.shutdown()


class FarmEvents(QObject):
    """Backend events (from the backend's threads) as a Qt signal, delivered on the GUI thread."""

    finished = Signal(str, str, str)  # job id, status, one line for the log

    def listen(self, event: Any) -> None:
        if event.kind == "finished":
            files = event.data.get("files") or []
            line = (f"farm job {event.job_id}: {event.data.get('error')}"
                    if event.data.get("error") else
                    f"farm job {event.job_id}: {event.data.get('status')}, "
                    f"{len(files)} file(s)" + (f" ({files[0]})" if files else ""))
            self.finished.emit(event.job_id, event.data.get("status", ""), line)


def submit_batch(backend: Any, graph: Any, registry: Any, count: int, label: str,
                 outputs: tuple[str, ...] | None = None) -> list[Any]:
    """Send ``count`` runs of ``graph`` to ``backend``, the seeds moving on after each one as
    their control-after-generate says (what the local queue does)."""
    import random

    from nodestudio.app.queue import advance_seeds

    handles = []
    for index in range(max(1, count)):
        name = f"{label} ({index + 1}/{count})" if count > 1 else label
        handles.append(backend.submit(graph.copy(), label=name, outputs=outputs))
        advance_seeds(graph, registry, random.Random())
    return handles


def install_farm_panel(window: Any, session: Any, queue: Any) -> FarmPanel:
    """The "Farm" dock of the window: the Run target and the workers. Ray is imported only when
    the artist picks the farm."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QDockWidget

    from nodestudio.app.backends import LocalBackend

    def connect(address: str) -> Any:
        from nodestudio.app.backends import open_backend

        return open_backend(session, address)

    address = getattr(session.settings, "farm_address", "auto") or "auto"
    panel = FarmPanel(LocalBackend(session, queue), connect, address)
    dock = QDockWidget("Farm", window)
    dock.setObjectName("farm_dock")
    dock.setWidget(panel)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    panel.dock = dock
    panel.events.finished.connect(lambda _job, status, line: window.log_dock.log(
        line, "info" if status == "finished" else "error"))
    return panel
