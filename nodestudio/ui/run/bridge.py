"""The run queue's events as Qt signals, delivered on the UI thread.

The queue calls its listener from the thread that submits (the UI) and from its worker
thread. Widgets may only be touched from the UI thread, so :class:`RunBridge` turns every call
into a signal; receivers connect with :func:`connect_queued`, which makes Qt deliver the
signal through the receiver's event loop even when it was emitted on the UI thread itself — so
events always arrive in the order they were emitted, whichever thread emitted them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, SignalInstance

from nodestudio.app.farm.feed import FarmJob
from nodestudio.app.queue import Job, QueueChanged
from nodestudio.engine.events import (
    NodeFailed,
    NodeFinished,
    NodeProgress,
    NodeSkipped,
    NodeStarted,
    PlanReady,
    RunEvent,
    RunFinished,
    RunStarted,
    ValidationFailed,
)


class RunBridge(QObject):
    """Each signal carries ``(event, job)``; ``job`` is the queue's Job the event belongs to."""

    queue_changed = Signal(object, object)
    run_started = Signal(object, object)
    validation_failed = Signal(object, object)
    plan_ready = Signal(object, object)
    node_started = Signal(object, object)
    node_progress = Signal(object, object)
    node_finished = Signal(object, object)
    node_failed = Signal(object, object)
    node_skipped = Signal(object, object)
    run_finished = Signal(object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        #: Called on the worker thread as a job starts, before it runs: it may block (the
        #: warm start makes the first job wait for the model it is loading, rather than
        #: load it a second time beside it).
        self.before_job: Callable[[Job], None] | None = None
        self._routes: dict[type, SignalInstance] = {
            QueueChanged: self.queue_changed,
            RunStarted: self.run_started,
            ValidationFailed: self.validation_failed,
            PlanReady: self.plan_ready,
            NodeStarted: self.node_started,
            NodeProgress: self.node_progress,
            NodeFinished: self.node_finished,
            NodeFailed: self.node_failed,
            NodeSkipped: self.node_skipped,
            RunFinished: self.run_finished,
        }

    def __call__(self, event: QueueChanged | RunEvent, job: Job | None) -> None:
        """The RunQueue listener: safe to call from any thread."""
        signal = self._routes.get(type(event))
        if signal is None:
            return  # an event kind added later: nothing here shows it yet
        # Once the window is gone the C++ side is deleted; a late event from the worker must
        # not raise inside the run.
        with contextlib.suppress(RuntimeError):
            signal.emit(event, job)
        # The queue tells its listener a job started on the worker thread, right before it
        # runs the job there.
        # A farm job runs on a worker elsewhere: nothing here to wait for (app/farm/feed.py).
        if (self.before_job is not None and job is not None and not isinstance(job, FarmJob)
                and isinstance(event, QueueChanged) and event.what == "started"):
            self.before_job(job)


def connect_queued(signal: SignalInstance, slot: Callable[..., Any]) -> None:
    """Connect so that ``slot`` always runs later on the receiving (UI) thread, in order."""
    signal.connect(slot, Qt.ConnectionType.QueuedConnection)
