"""The "Run on" target of the queue (Local / Farm) and the farm's workers, one row each.

The panel knows only the ExecutionBackend interface (app/backends.py): whatever the chosen
backend is, it lists ``workers()`` (name, state, current job, models held) and refreshes them
on a timer. Choosing "Farm" asks ``backend_factory`` for the farm's backend; when it cannot
connect the panel says why in one line and falls back to Local, so no work is lost.

Jobs sent to the farm go through a :class:`~nodestudio.app.farm.feed.FarmFeed`: the window's
own run listener hears them as run-queue jobs, so they show in the Queue panel (waiting,
running on a worker, done, failed, cancelled; cancel from there) and their pictures in the
Outputs gallery like local results. Most artists have one GPU: the dock starts hidden
(View › Panels › Farm), and the window's saved state keeps it shown once shown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from nodestudio.app.farm.feed import FarmFeed, FarmJob

if TYPE_CHECKING:
    from nodestudio.ui.run.host import RunHost

LOCAL, FARM = "local", "farm"
COLUMNS = ("Worker", "State", "Current job", "Models")
#: Why a worker in that state takes no job yet (the State cell's tooltip).
STATE_TIPS = {
    "starting": "Starting: a new worker imports torch and diffusers before its first job "
                "(about 10 s); jobs wait for it.",
    "failed": "This worker could not start its libraries; its jobs' errors say why. Fix the "
              "install on that machine and restart the farm.",
}


class FarmPanel(QWidget):
    #: The backend jobs now go to changed ("local" or "farm").
    targetChanged = Signal(str)

    def __init__(self, local_backend: Any, backend_factory: Callable[[str], Any],
                 address: str = "auto", parent: QWidget | None = None,
                 refresh_ms: int = 1000, feed: FarmFeed | None = None) -> None:
        super().__init__(parent)
        self._local, self._factory, self.address = local_backend, backend_factory, address
        self._farm: Any = None
        #: Whether the panel made the farm backend (and so shuts it down with the window).
        self._owns_farm = True
        #: Where farm jobs are reported: the window's run listener (install_farm_panel).
        self.feed = feed if feed is not None else FarmFeed(lambda _event, _job: None)
        self.backend = local_backend
        self.target = QComboBox()
        self.target.addItem("Local", LOCAL)
        self.target.addItem(f"Farm ({address})", FARM)
        self.target.currentIndexChanged.connect(self._target_chosen)
        self.message = QLabel()
        self.message.setWordWrap(True)
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

    def use_farm(self, backend: Any, *, owned: bool = False) -> None:
        """Send farm jobs to ``backend``, a farm an embedder or a script already holds; the
        panel shuts it down with the window only when ``owned``."""
        self._farm, self._owns_farm = backend, owned
        if self.target.currentData() == FARM:
            self._target_chosen()  # already the target: the new farm replaces the old
        else:
            self.target.setCurrentIndex(self.target.findData(FARM))

    def _target_chosen(self) -> None:
        if self.target.currentData() == FARM:
            try:
                if self._farm is None:
                    self._farm, self._owns_farm = self._factory(self.address), True
            except Exception as error:  # the farm is optional: say why, stay local
                self.message.setText(f"The farm at {self.address} is not available: "
                                     f"{str(error).splitlines()[0] if str(error) else error}")
                self.target.blockSignals(True)
                self.target.setCurrentIndex(0)
                self.target.blockSignals(False)
                return
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
            item = QTreeWidgetItem([worker.name, worker.state, worker.current_job or "",
                                    ", ".join(worker.models)])
            item.setToolTip(1, STATE_TIPS.get(worker.state, ""))
            self.workers.addTopLevelItem(item)

    def rows(self) -> list[list[str]]:
        """What the worker list shows (for tests and accessibility)."""
        items = [self.workers.topLevelItem(i) for i in range(self.workers.topLevelItemCount())]
        return [[item.text(c) for c in range(len(COLUMNS))] for item in items if item]

    @property
    def on_farm(self) -> bool:
        return self.target.currentData() == FARM and self._farm is not None

    def submit(self, graph: Any, registry: Any, count: int, label: str,
               outputs: tuple[str, ...] | None = None) -> list[FarmJob]:
        """Send ``count`` runs of ``graph`` to the chosen backend, the seeds moving on after
        each one as their control-after-generate says (what the local queue does)."""
        import random

        from nodestudio.app.queue import advance_seeds

        jobs = []
        for index in range(max(1, count)):
            name = f"{label} ({index + 1}/{count})" if count > 1 else label
            # A snapshot: the artist keeps editing, and the seeds move on below.
            jobs.append(self.feed.submit(self.backend, graph.copy(), label=name,
                                         outputs=outputs))
            advance_seeds(graph, registry, random.Random())
        self.refresh()
        return jobs

    def shutdown(self) -> None:
        self._timer.stop()
        self.feed.detach()
        if self._farm is not None and self._owns_farm:
            self._farm.shutdown()


def install_farm_panel(host: RunHost, session: Any, queue: Any, feed: FarmFeed) -> FarmPanel:
    """The "Farm" dock of the window: the Run target and the workers, hidden until the artist
    shows it (View › Panels). Ray is imported only when the artist picks the farm."""
    from nodestudio.app.backends import LocalBackend

    def connect(address: str) -> Any:
        from nodestudio.app.backends import open_backend

        return open_backend(session, address)

    address = getattr(session.settings, "farm_address", "auto") or "auto"
    panel = FarmPanel(LocalBackend(session, queue), connect, address, feed=feed)
    dock = QDockWidget("Farm", host.window)
    dock.setObjectName("farm_dock")
    dock.setWidget(panel)
    if not host.add_dock(dock, Qt.DockWidgetArea.RightDockWidgetArea):
        dock.hide()  # one GPU is the common case: the farm is opt-in
    panel.dock = dock
    return panel
