"""Puts the run state on the canvas: node headers (queued, running k/n, error), progress bars,
badges, and validation problems on the nodes and inputs concerned."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from PySide6.QtCore import QObject, QTimer

from nodestudio.graph.model import Graph, GraphEvent, NodeRemoved
from nodestudio.graph.problems import Problem
from nodestudio.ui.canvas.node_item import NodeItem
from nodestudio.ui.canvas.scene import NodeScene
from nodestudio.ui.run.badges import FAILED, QUEUED, RUNNING, RunBoard
from nodestudio.ui.run.overlay import OverlayState, RunOverlay, overlay_of
from nodestudio.ui.subgraph_levels import map_event_id


class CanvasMarks(QObject):
    def __init__(self, scene: NodeScene, board: RunBoard, parent: QObject | None = None
                 ) -> None:
        super().__init__(parent)
        self.scene = scene
        self.board = board
        #: Validation problems by node id (the ones bound to no node go to the log only).
        self.problems: dict[str, list[Problem]] = {}
        self._badges_visible = True
        self._resync = QTimer(self)
        self._resync.setSingleShot(True)
        self._resync.setInterval(0)
        self._resync.timeout.connect(self._sync_overlays)
        self._unsubscribe: Callable[[], None] | None = None
        scene.editor.graph_replaced.connect(self._graph_replaced)
        # Inside an opened subgraph the items are inner nodes: show their own marks.
        scene.editor.level_changed.connect(lambda _graph: self.refresh())
        self._watch(scene.editor.graph)

    # -- following the graph --------------------------------------------------------------------

    def _graph_replaced(self, graph: Graph) -> None:
        self.board.clear()
        self.problems.clear()
        self._watch(graph)
        self.refresh()

    def _watch(self, graph: Graph) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._unsubscribe = graph.subscribe(self._on_event)

    def _on_event(self, event: GraphEvent) -> None:
        if isinstance(event, NodeRemoved):
            self.board.forget([event.node.id])
            self.problems.pop(event.node.id, None)
        # The node relayouts on the same event (the scene listens first); place marks after.
        self._resync.start()

    def _sync_overlays(self) -> None:
        for item in list(self.scene.node_items.values()):
            overlay = overlay_of(item, create=False)
            if overlay is not None:
                overlay.sync()

    def stop(self) -> None:
        self._resync.stop()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # -- badges ---------------------------------------------------------------------------------

    @property
    def badges_visible(self) -> bool:
        return self._badges_visible

    def set_badges_visible(self, visible: bool) -> None:
        self._badges_visible = bool(visible)
        self.refresh()

    def set_problems(self, problems: Iterable[Problem]) -> None:
        """Show these validation problems (replacing the ones shown)."""
        self.problems = {}
        for problem in problems:
            if problem.node_id is not None:
                self.problems.setdefault(problem.node_id, []).append(problem)
        self.refresh()

    def overlay(self, node_id: str) -> RunOverlay | None:
        item = self.scene.node_items.get(node_id)
        return overlay_of(item, create=False) if item is not None else None

    def refresh(self, node_ids: Iterable[str] | None = None) -> None:
        """Bring the headers and overlays of these nodes (default: all) up to date."""
        items = self.scene.node_items
        path = self.scene.editor.path
        # Run events name inner nodes by path (``instance/inner``): map them to the open level.
        mapped = None if node_ids is None else [map_event_id(path, n) for n in node_ids]
        ids = list(items) if mapped is None else [n for n in dict.fromkeys(mapped) if n in items]
        for node_id in ids:
            self._refresh_item(node_id, items[node_id])

    def _board_key(self, node_id: str) -> str:
        """The id the run board knows this item by: its path at the open level, or for an
        instance, the inner node running (else failed) inside it."""
        key = "".join(f"{i}/" for i, _d in self.scene.editor.path) + node_id
        if key in self.board.live or key in self.board.records:
            return key
        inner = [k for k in (*self.board.live, *self.board.records) if k.startswith(key + "/")]
        running = [k for k in inner if self.board.live.get(k) == RUNNING]
        failed = [k for k in inner if (r := self.board.records.get(k)) is not None
                  and r.kind == FAILED]
        return (running or failed or inner or [key])[0]

    def _refresh_item(self, node_id: str, item: NodeItem) -> None:
        board = self.board
        node_id = self._board_key(node_id)
        record = board.records.get(node_id)
        failure = record.message if record is not None and record.kind == FAILED else None
        state = OverlayState(board.badge(node_id), list(self.problems.get(node_id, ())),
                             failure)
        overlay = overlay_of(item, create=not state.empty)
        if overlay is not None:
            overlay.set_state(state, self._badges_visible)
        live = board.live.get(node_id)
        if live == RUNNING:
            progress = board.progress.get(node_id)
            status, text = "running", (f"{progress[0]}/{progress[1]}" if progress else "")
        elif live == QUEUED:
            status, text = "queued", ""
        elif failure is not None:
            status, text = "error", "failed"
        elif state.problems:
            status, text = "error", "invalid"
        else:
            status, text = None, ""
        if (item.status, item.status_text) != (status, text):
            item.set_status(status, text)
        if live == RUNNING:
            progress = board.progress.get(node_id)
            fraction = progress[0] / progress[1] if progress and progress[1] else None
            if fraction != item.progress:
                item.set_progress(fraction)
        elif item.progress is not None:
            item.set_progress(None)
