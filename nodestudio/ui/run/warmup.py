"""Warm start: once the window is up, get the first run's fixed costs out of the way.

A diffusion graph's first run imports torch, diffusers and transformers and loads the model:
on a busy 2-core machine that was most of the 12 s a new user waited for a 64 × 64 demo
image. :class:`Warmup` does it on a background thread while the user is still looking at the
window: it imports those libraries, then runs the graph's model loaders (and only them) into
the session's cache, so the first Run finds them there.

It never touches the UI thread's time beyond a few signals, and it only starts when the graph
on the canvas needs the diffusion nodes (its outputs depend on one): a window showing a
torch-free graph never imports torch (tests/ui/run/test_run_without_torch.py). Switched off
by the ``warm_start`` setting (``NODESTUDIO_WARM_START=0``). It is armed by the window's first
Show, so windows made and shown before the run support (the GUI tests) never warm. Closing the
window cancels it; the thread is a daemon, so an import still going on never holds up exit.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, QTimer, Signal

from nodestudio.api.registry import NodeRegistry
from nodestudio.engine.cancel import CancelToken
from nodestudio.engine.validate import needed_nodes, output_nodes
from nodestudio.graph.model import Graph

if TYPE_CHECKING:
    from nodestudio.ui.run.host import RunHost

#: What a diffusion run imports first, heaviest first (the nodes import them lazily).
HEAVY_MODULES = (
    "torch", "transformers", "diffusers",
    "nodestudio.runtime.checkpoints", "nodestudio.runtime.sampling",
    "nodestudio.runtime.previews", "nodestudio.runtime.vae",
)
#: Node types that need the libraries above (the built-in diffusion pack).
DIFFUSION_PREFIX = "diffusion."
#: The loaders whose output (a model on its device) the first run would wait for.
LOADER_PREFIX = "diffusion.load_"
#: After the window shows: let it paint and settle first.
START_DELAY_MS = 300

log = logging.getLogger("nodestudio.warmup")


def loaders_to_warm(graph: Graph, registry: NodeRegistry) -> list[str] | None:
    """The model loaders the graph's outputs need; None when they need no diffusion node at
    all (then nothing is worth importing)."""
    try:
        needed = needed_nodes(graph, output_nodes(graph, registry))
    except Exception:  # a graph being edited may be incomplete: just do not warm it
        return None
    types = {node_id: graph.node(node_id).type for node_id in needed}
    if not any(type_id.startswith(DIFFUSION_PREFIX) for type_id in types.values()):
        return None
    return [node_id for node_id, type_id in types.items() if type_id.startswith(LOADER_PREFIX)]


class Warmup(QObject):
    """Imports the model libraries and loads the shown graph's models in the background."""

    #: (seconds it took, what it did) once the background work is over.
    finished = Signal(float, str)

    def __init__(self, host: RunHost, session: Any, enabled: bool,
                 busy: Callable[[], bool] = lambda: False) -> None:
        super().__init__(host.window)
        self.editor = host.editor
        self.session = session
        self.enabled = enabled
        #: Whether the run queue has work: then the warm start must not begin, as loading
        #: models on two threads at once breaks (diffusers' loading patches torch globally).
        self.busy = busy
        self.worker_thread: threading.Thread | None = None
        self.cancel_token = CancelToken()
        self._armed = False
        if enabled:
            host.window.installEventFilter(self)  # armed by the window's first Show
            self.editor.graph_replaced.connect(lambda _graph: self._maybe_start())

    @property
    def running(self) -> bool:
        return self.worker_thread is not None and self.worker_thread.is_alive()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Show and not self._armed:
            self._armed = True
            QTimer.singleShot(START_DELAY_MS, self._maybe_start)
        return False

    def start(self) -> bool:
        """Start now, whether or not the window showed (scripts, tests); False when there is
        nothing to warm or it already ran."""
        if (not self.enabled or self.worker_thread is not None or self.cancel_token.cancelled
                or self.busy()):
            return False
        loaders = loaders_to_warm(self.editor.graph, self.session.registry)
        if loaders is None:
            return False
        # A snapshot: the user keeps editing while the loaders run.
        graph = self.editor.graph.copy()
        self.worker_thread = threading.Thread(target=self._work, args=(graph, loaders),
                                       name="nodestudio-warmup", daemon=True)
        self.worker_thread.start()
        return True

    def wait_for(self, job: Any) -> None:
        """Hold ``job`` (on the run queue's worker thread) until the warm start is over: it
        is loading the models the job would load, and two loads at once fail ("Unsupported
        device type 'meta'": diffusers' loading patches torch globally) — or would cost twice
        the memory. Cancelling the job or closing the window stops waiting."""
        thread = self.worker_thread
        while (thread is not None and thread.is_alive() and not job.cancel.cancelled
               and not self.cancel_token.cancelled):
            thread.join(0.05)

    def cancel(self) -> None:
        """The window is closing: stop after the current step, without waiting for it."""
        self.cancel_token.cancel()

    def _maybe_start(self) -> None:
        if self._armed:
            self.start()

    def _work(self, graph: Graph, loaders: list[str]) -> None:
        started = time.perf_counter()
        done = "nothing"
        try:
            for name in HEAVY_MODULES:
                if self.cancel_token.cancelled:
                    return
                importlib.import_module(name)
            done = "libraries"
            _ = self.session.device  # resolving "auto" asks torch for a GPU, once
            if loaders and not self.cancel_token.cancelled:
                result = self.session.executor.run(
                    graph, self.session.environment(), outputs=loaders,
                    cancel=self.cancel_token)
                done = "libraries and models" if result.status == "finished" else done
        except Exception as error:  # warming is best effort: the run itself will say
            log.debug("warm start stopped: %s", error)
        finally:
            seconds = time.perf_counter() - started
            log.debug("warm start: %s in %.1f s", done, seconds)
            if not self.cancel_token.cancelled:
                with contextlib.suppress(RuntimeError):  # the window is gone
                    self.finished.emit(seconds, done)
