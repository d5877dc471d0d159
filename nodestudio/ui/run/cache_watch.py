"""Stale marks that follow the artist's edits: cache states recomputed shortly after changes.

Session.cache_states hashes signatures against the output cache without running anything.
It runs on the UI thread, so it must stay cheap and must not import torch: loader nodes'
fingerprints ask for the run device, and resolving "auto" imports torch. Until a run has
resolved the device (on the worker thread), the states are computed with a stand-in device
name; no cache entry can depend on the device before then, so the answer is the same.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from nodestudio.engine.context import RunEnvironment
from nodestudio.engine.status import cache_states
from nodestudio.graph.model import Graph, GraphEvent, LayoutChanged
from nodestudio.graph.subgraph_flatten import flatten
from nodestudio.ui.editor import GraphEditor

logger = logging.getLogger("nodestudio.ui.run")

#: Edits come in bursts (a drag of a number fires dozens of value changes); wait this long.
DEBOUNCE_MS = 120
#: The device name used before any run resolved the real one.
UNRESOLVED_DEVICE = "unresolved"


def preview_environment(session: Any) -> RunEnvironment:
    """The session's run environment, with a device that never needs torch to be named."""
    environment = session.environment()
    device = getattr(session, "_device", None)  # set once a run resolved "auto"
    if device is None and session.settings.device.strip().lower() == "cpu":
        device = "cpu"
    return dataclasses.replace(environment, device=device or UNRESOLVED_DEVICE)


class CacheStateWatcher(QObject):
    """Emits ``states_changed({node_id: "cached"|"stale"|"unknown"})`` after edits settle."""

    states_changed = Signal(object)

    def __init__(self, editor: GraphEditor, session: Any, parent: QObject | None = None,
                 debounce_ms: int = DEBOUNCE_MS) -> None:
        super().__init__(parent)
        self.editor = editor
        self.session = session
        self.computations = 0
        #: Called after each computation too (validation marks follow edits the same way).
        self.after_change: list[Callable[[], None]] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(debounce_ms)
        self._timer.timeout.connect(self.refresh)
        self._unsubscribe: Callable[[], None] | None = None
        editor.graph_replaced.connect(self._watch)
        self._watch(editor.graph)

    def _watch(self, graph: Graph) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._unsubscribe = graph.subscribe(self._on_event)
        self.schedule()

    def _on_event(self, event: GraphEvent) -> None:
        # Positions, sizes and colours do not change what a run computes.
        if not isinstance(event, LayoutChanged):
            self.schedule()

    def schedule(self) -> None:
        self._timer.start()

    @property
    def pending(self) -> bool:
        return self._timer.isActive()

    def refresh(self) -> dict[str, str]:
        self._timer.stop()
        self.computations += 1
        graph = self.editor.graph
        try:
            # Instances run as their inner nodes: hash those (ids ``instance/inner``).
            graph = flatten(graph, self.session.registry).graph
            states = dict(cache_states(graph, self.session.registry, self.session.cache,
                                       preview_environment(self.session)))
        except Exception:  # a plugin's fingerprint may fail oddly; marks are not worth a crash
            logger.exception("could not tell which nodes are cached")
            states = {}
        self.states_changed.emit(states)
        for callback in list(self.after_change):
            callback()
        return states

    def stop(self) -> None:
        self._timer.stop()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
