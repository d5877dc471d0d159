"""Live mode: queue a run after every edit, so the picture follows the drawing.

Every change that can alter a result (a value, a link, a stroke applied from the paint
editor; not a node moved) restarts a short timer; when edits pause, the graph as it is now
is queued. A live run that has become stale is dropped before it starts, or cancelled while
it runs, so the newest state always wins and at most one live run ever waits. The engine's
cache keeps each run cheap: only what the edit changed re-runs. Runs the artist queued with
Run are never cancelled by live mode.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QAction, QKeySequence

from nodestudio.app.queue import PENDING, RUNNING, Job
from nodestudio.graph.model import Graph, GraphEvent, LayoutChanged
from nodestudio.ui.icons import THEMED_ICON, icon

if TYPE_CHECKING:
    from collections.abc import Callable

    from nodestudio.ui.run.controller import RunController

#: How long edits must pause before a live run is queued: a slider dragged at 60 Hz (an edit
#: every ~16 ms) makes one run, yet a finished stroke is queued almost at once (150 ms here
#: was a third of the stroke-to-image latency on the demo model).
DEBOUNCE_MS = 60
LIVE_LABEL = "Live"
LIVE_OBJECT_NAME = "liveMode"


class LiveMode(QObject):
    def __init__(self, controller: RunController, debounce_ms: int = DEBOUNCE_MS) -> None:
        super().__init__(controller)
        # The paint editor finds live mode by this name (it applies each stroke while on).
        self.setObjectName(LIVE_OBJECT_NAME)
        self.controller = controller
        self.editor = controller.editor
        self.jobs: list[Job] = []
        #: How many live runs were queued (tests and the benchmark read it).
        self.submitted = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(debounce_ms)
        self._timer.timeout.connect(self.submit)
        self._unsubscribe: Callable[[], None] | None = None
        host = controller.host
        self.action = QAction("&Live", host.window)
        self.action.setObjectName("action_run_live")
        self.action.setCheckable(True)
        self.action.setShortcut(QKeySequence("Ctrl+Shift+L"))
        self.action.setToolTip("Live: run the graph again after every edit (Ctrl+Shift+L)")
        self.action.setIcon(icon("run", host.theme()))
        self.action.setProperty(THEMED_ICON, "run")
        self.action.toggled.connect(self.set_enabled)
        self.editor.graph_replaced.connect(self._watch)

    @property
    def enabled(self) -> bool:
        return self.action.isChecked()

    @property
    def pending(self) -> bool:
        """An edit waits for its debounce to end."""
        return self._timer.isActive()

    def set_enabled(self, on: bool) -> None:
        if self.action.isChecked() != on:
            self.action.setChecked(on)  # comes back here through toggled
            return
        if on:
            self._watch(self.editor.graph)
            self.schedule()
        else:
            self._timer.stop()
            if self._unsubscribe is not None:
                self._unsubscribe()
                self._unsubscribe = None

    def _watch(self, graph: Graph) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self.enabled:
            self._unsubscribe = graph.subscribe(self._on_event)
            self.schedule()

    def _on_event(self, event: GraphEvent) -> None:
        # Positions, sizes and colours do not change what a run computes.
        if not isinstance(event, LayoutChanged):
            self.schedule()

    def schedule(self) -> None:
        self._timer.start()

    def drop_stale(self) -> None:
        """Remove waiting live runs and cancel a running one: a newer state replaces them."""
        queue = self.controller.queue
        for job in list(self.jobs):
            if job.status == PENDING:
                queue.remove(job.id)
            elif job.status == RUNNING:
                job.cancel.cancel()
        self.jobs = [job for job in self.jobs if not job.done and job.status != PENDING]

    def submit(self) -> Job | None:
        """Queue the graph as it is now (silently nothing while it has problems: the canvas
        marks them, and the next edit tries again)."""
        if not self.enabled:
            return None
        controller = self.controller
        graph = self.editor.graph
        if controller.problems():
            return None
        self.drop_stale()
        # A copy: the queue moves seeds on after queueing, and a live run must not edit the
        # graph it follows (that edit would queue the next run, for ever).
        [job] = controller.queue.submit(graph.copy(), batch=1, label=LIVE_LABEL)
        controller.track_job(job, graph)
        self.jobs.append(job)
        self.submitted += 1
        return job


def install_live_mode(controller: RunController) -> LiveMode:
    """Add the toggle to the Run menu and the toolbar (after Cancel)."""
    live = LiveMode(controller)
    host = controller.host
    host.add_action(live.action, "run")
    toolbar = host.toolbar
    actions = toolbar.actions()
    index = (actions.index(controller.cancel_action)
             if controller.cancel_action in actions else len(actions))
    if index + 1 < len(actions):
        toolbar.insertAction(actions[index + 1], live.action)
    else:
        toolbar.addAction(live.action)
    return live
