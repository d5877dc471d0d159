"""Running graphs from the window: Run / Cancel / Validate, and what a run shows while it goes.

The :class:`RunController` queues snapshots of the edited graph on the session's
:class:`~nodestudio.app.queue.RunQueue`. The queue runs them on its worker thread (the first
run imports torch there, never on the UI thread); its events come back through a
:class:`~nodestudio.ui.run.bridge.RunBridge` as queued signals and are shown here: node
headers and badges, progress in the status bar, live previews, outputs, errors in the log.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QSpinBox

from nodestudio.app.farm.feed import FarmFeed
from nodestudio.app.queue import CANCELLED, FAILED, INVALID, RUNNING, Job, QueueChanged, RunQueue
from nodestudio.engine.events import (
    NodeFailed,
    NodeFinished,
    NodeProgress,
    NodeSkipped,
    NodeStarted,
    PlanReady,
    RunFinished,
    RunStarted,
    ValidationFailed,
)
from nodestudio.engine.validate import needed_nodes
from nodestudio.graph.model import Graph
from nodestudio.graph.problems import Problem
from nodestudio.ui.canvas.geometry import display_title
from nodestudio.ui.icons import THEMED_ICON, icon
from nodestudio.ui.run.badges import FAILED as RECORD_FAILED
from nodestudio.ui.run.badges import RAN, REUSED, SKIPPED, RunBoard, RunRecord, format_seconds
from nodestudio.ui.run.bridge import RunBridge, connect_queued
from nodestudio.ui.run.cache_watch import CacheStateWatcher
from nodestudio.ui.run.canvas_marks import CanvasMarks
from nodestudio.ui.run.farm_panel import install_farm_panel
from nodestudio.ui.run.gallery import OutputGallery
from nodestudio.ui.run.host import RunHost, host_of
from nodestudio.ui.run.images import batch_images, thumbnail, to_qimage
from nodestudio.ui.run.path_consent import PathConsent
from nodestudio.ui.run.progress import RunStatusWidget, StepRate
from nodestudio.ui.run.queue_dock import QueueDock
from nodestudio.ui.run.warmup import Warmup

if TYPE_CHECKING:
    from nodestudio.ui.main_window import MainWindow

BADGES_SETTING = "run/show_badges"
MAX_BATCH = 100
#: Finished jobs kept in the queue panel (older ones are dropped).
MAX_HISTORY = 50
#: Images shown inside nodes are kept at most this large (the node draws them smaller).
NODE_PREVIEW_SIZE = 512
#: Smaller live (sampling) previews are scaled up smoothly to this size first.
SMALL_PREVIEW = 256


class RunController(QObject):
    def __init__(self, host: RunHost, session: Any) -> None:
        window = host.window
        super().__init__(window)
        #: The window's parts the run uses (ui/run/host.py), and the Qt window they live in.
        self.host = host
        self.window = window
        self.session = session
        self.editor = host.editor
        self.bridge = RunBridge(self)
        self.queue = RunQueue(session, listener=self.bridge)
        self.board = RunBoard()
        self.marks = CanvasMarks(host.scene, self.board, self)
        self.watcher = CacheStateWatcher(self.editor, session, self)
        self.warmup = Warmup(host, session,
                             enabled=bool(getattr(session.settings, "warm_start", False)),
                             busy=lambda: any(not job.done for job in self.queue.jobs()))
        self.status = RunStatusWidget(window)
        #: Jobs sent to the farm, reported through the bridge as the queue's own jobs are: the
        #: queue panel, the log and the gallery show them by the same path (app/farm/feed.py).
        self.farm_jobs = FarmFeed(self.bridge)
        self.queue_dock = QueueDock(self.queue, window, farm=self.farm_jobs)
        #: "Run on": this machine or the render farm, and the farm's workers (farm_panel.py).
        self.farm_panel = install_farm_panel(host, session, self.queue, self.farm_jobs)
        self.gallery = OutputGallery(host.outputs_dock)
        #: Asks before a graph reads files outside the input folder (app/path_rules.py).
        self.consent = PathConsent(window, session, lambda node_id: self._title(None, node_id))
        self.editor.graph_replaced.connect(self.consent.forget)
        #: The editor graph each job was made from: a job's events mark the canvas only
        #: while that graph is the one shown (node ids of another file may coincide).
        self._origins: dict[int, Graph] = {}
        self._rates: dict[str, StepRate] = {}
        self._showing_problems = False
        self._closed = False
        self._build_ui()
        self._connect()
        from nodestudio.ui.run.live import install_live_mode

        #: Live mode (Run › Live): a run after every edit, the newest state winning.
        self.live = install_live_mode(self)

    # -- building -------------------------------------------------------------------------------

    def _build_ui(self) -> None:
        host, window = self.host, self.window
        window.statusBar().insertPermanentWidget(0, self.status)
        layout = host.outputs_dock.content_layout()
        layout.addWidget(self.gallery, 1)
        self.gallery.open_graph_file = host.open_file
        # Where the saved window state had the Queue (shown or hidden), else under the Nodes.
        if not host.add_dock(self.queue_dock, Qt.DockWidgetArea.LeftDockWidgetArea):
            window.splitDockWidget(host.library_dock, self.queue_dock, Qt.Orientation.Vertical)
            window.resizeDocks([host.library_dock, self.queue_dock], [560, 220],
                               Qt.Orientation.Vertical)

        self.run_action = self._action("&Run", self.run, ["Ctrl+Return", "Ctrl+Enter"], "run",
                                       "Queue a run of the graph (Ctrl+Enter)")
        host.add_action(self.run_action, "run")
        self.batch_spin = self._batch_spin()
        self.cancel_action = self._action("&Cancel Run", self.cancel, ["Ctrl+."], "stop",
                                          "Stop the running job (within one sampler step)")
        self.cancel_action.setEnabled(False)
        host.add_action(self.cancel_action, "run")
        # Run, its batch count and Cancel open the toolbar: a fixed place that an overflow
        # on a narrow window never hides (the toolbar hides from its end).
        toolbar = host.toolbar
        first = toolbar.actions()[0] if toolbar.actions() else None
        # Qt appends when ``first`` is None (an empty toolbar); the stubs do not say so.
        toolbar.insertAction(first, self.run_action)  # type: ignore[arg-type]
        toolbar.insertWidget(first, self.batch_spin)  # type: ignore[arg-type]
        toolbar.insertAction(first, self.cancel_action)  # type: ignore[arg-type]
        if first is not None:
            toolbar.insertSeparator(first)
        self.branch_action = self._action(
            "Run This &Branch", self.run_branch, ["Ctrl+Shift+Return", "Ctrl+Shift+Enter"],
            None, "Run only the selected node(s) and what they need (Ctrl+Shift+Enter)")
        self.branch_action.setObjectName("action_run_branch")
        host.add_action(self.branch_action, "run")
        # The node's right-click menu offers it too (nodestudio.ui.actions.context_menu).
        host.named_actions["run_branch"] = self.branch_action
        self.clear_action = self._action("Cancel &All", self.cancel_all, [], None,
                                         "Cancel the running job and drop the waiting ones")
        host.add_action(self.clear_action, "run")
        host.menus["run"].addSeparator()
        self.validate_action = self._action("&Validate", self.validate, ["F7"], None,
                                            "Check the graph without running it")
        host.add_action(self.validate_action, "run")

        self._add_badges_action()
        run_button = host.toolbar.widgetForAction(self.run_action)
        if run_button is not None:
            run_button.setObjectName("runButton")
            run_button.setStyleSheet(
                f"QToolButton#runButton {{ background: {host.theme().accent}; color: #ffffff;"
                " font-weight: 600; padding: 4px 14px; }")

    def _batch_spin(self) -> QSpinBox:
        """The toolbar's batch count beside Run."""
        spin = QSpinBox(self.window)
        spin.setObjectName("batchCount")
        spin.setRange(1, MAX_BATCH)
        spin.setPrefix("× ")
        spin.setFixedWidth(64)
        spin.setToolTip("How many runs Run queues (seeds move on between them as "
                        "their control-after-generate says)")
        return spin

    def _add_badges_action(self) -> None:
        """View → Show Run Badges (the canvas's per-node time, cache and memory marks)."""
        host = self.host
        self.badges_action = QAction("Show Run &Badges", self.window)
        self.badges_action.setObjectName("action_run_badges")
        self.badges_action.setCheckable(True)
        self.badges_action.setChecked(_as_bool(host.settings.value(BADGES_SETTING, True)))
        self.badges_action.toggled.connect(self.set_badges_visible)
        view_menu = host.menus["view"]
        view_menu.insertAction(host.panels_menu.menuAction(), self.badges_action)
        self.marks.set_badges_visible(self.badges_action.isChecked())

    def _action(self, text: str, handler: Any, keys: list[str], icon_name: str | None,
                tip: str) -> QAction:
        action = QAction(text, self.window)
        action.setObjectName(f"action_run_{text.strip('&').lower().replace(' ', '_')}")
        action.setShortcuts([QKeySequence(key) for key in keys])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setToolTip(tip)
        if icon_name:
            action.setIcon(icon(icon_name, self.host.theme()))
            action.setProperty(THEMED_ICON, icon_name)  # redrawn when the theme changes
        action.triggered.connect(lambda _checked=False: handler())
        return action

    def _connect(self) -> None:
        bridge = self.bridge
        for signal, slot in (
            (bridge.queue_changed, self._queue_changed),
            (bridge.run_started, self._run_started),
            (bridge.validation_failed, self._validation_failed),
            (bridge.plan_ready, self._plan_ready),
            (bridge.node_started, self._node_started),
            (bridge.node_progress, self._node_progress),
            (bridge.node_finished, self._node_finished),
            (bridge.node_failed, self._node_failed),
            (bridge.node_skipped, self._node_skipped),
            (bridge.run_finished, self._run_finished),
        ):
            connect_queued(signal, slot)
        self.watcher.states_changed.connect(self._cache_states)
        self.watcher.after_change.append(self._revalidate)
        self.gallery.added.connect(self._output_added)
        self.warmup.finished.connect(self._warmed)
        self.bridge.before_job = self.warmup.wait_for
        self.editor.graph_replaced.connect(self._graph_replaced)
        self.host.closed.connect(self.shutdown)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # -- intents --------------------------------------------------------------------------------

    def run(self, batch: int | None = None, outputs: list[str] | None = None) -> list[Job]:
        """Queue ``batch`` runs (default: the spin box) of the graph as it is now; with
        ``outputs``, only those nodes and what they need run (a partial run)."""
        graph = self.editor.graph
        self.consent.check(graph)  # refused files stay problems, shown by validate
        if self.validate(quiet_when_ok=True, outputs=outputs):
            return []
        for warning in self.session.warnings(graph):
            # Runs anyway (a warning is not a refusal), but the artist hears why it may be
            # slow or why a file will be missing before waiting for it.
            self.host.log_dock.log(f"  • {self._describe(warning)}", "warning")
        count = batch if batch is not None else self.batch_spin.value()
        label = Path(self.host.document.display_name).stem or "graph"
        if outputs:
            label = f"{label} › {', '.join(self._title(None, node_id) for node_id in outputs)}"
        if self.farm_panel.on_farm:  # its jobs come back through the bridge (farm_jobs)
            self.farm_panel.submit(graph, self.session.registry, count, label,
                                   tuple(outputs) if outputs else None)
            return []
        jobs = self.queue.submit(graph, batch=count, label=label,
                                 outputs=tuple(outputs) if outputs else None)
        for job in jobs:
            self._origins[job.id] = graph
        self.cancel_action.setEnabled(True)
        return jobs

    def track_job(self, job: Job, graph: Graph) -> None:
        """Show a job queued outside :meth:`run` (live mode) on the canvas as run's own."""
        self._origins[job.id] = graph
        self.cancel_action.setEnabled(True)

    def run_branch(self, node_ids: list[str] | None = None,
                   batch: int | None = None) -> list[Job]:
        """Run only the given (default: the selected) nodes and what they need, as
        ComfyUI's partial execution does: artists try one branch without the others' cost.
        A selected node that is not an output node runs too, with what feeds it."""
        wanted = node_ids if node_ids is not None else self.host.scene.selected_node_ids()
        targets = [node_id for node_id in wanted if node_id in self.editor.graph]
        if not targets:
            self.host.report("Run This Branch: select the node(s) to run first", "warning")
            return []
        return self.run(batch, outputs=targets)

    def cancel(self) -> Job | None:
        job = self.queue.cancel_current()
        if job is not None:
            self.status.busy("Cancelling…")
        return job

    def cancel_all(self) -> None:
        self.queue.cancel_all()
        self.farm_jobs.cancel_all()

    def validate(self, quiet_when_ok: bool = False,
                 outputs: list[str] | None = None) -> list[Problem]:
        """Check the graph without running it; problems are drawn on their nodes and inputs.
        With ``outputs``, only what a partial run of them would compute is checked."""
        problems = self.problems(outputs)
        self.marks.set_problems(problems)
        self._showing_problems = bool(problems)
        if problems:
            self.host.report(f"The graph cannot run: {len(problems)} problem(s)", "error")
            for problem in problems:
                self.host.log_dock.log(f"  • {self._describe(problem)}", "error")
        elif not quiet_when_ok:
            self.host.report("The graph is ready to run", "success")
        return problems

    def problems(self, outputs: list[str] | None = None) -> list[Problem]:
        problems = self.session.validate(self.editor.graph)
        if outputs is None:
            return problems
        # A partial run computes only these nodes and their inputs: a problem elsewhere (or a
        # graph without output nodes) must not stop it.
        needed = set(needed_nodes(self.editor.graph, outputs))
        return [problem for problem in problems
                if problem.node_id in needed
                or (problem.node_id is None and problem.kind != "no_output")]

    def _revalidate(self) -> None:
        """While problems are shown, they follow the edits (and go once fixed)."""
        if self._showing_problems:
            problems = self.problems()
            self.marks.set_problems(problems)
            self._showing_problems = bool(problems)

    def set_badges_visible(self, visible: bool) -> None:
        self.host.settings.setValue(BADGES_SETTING, bool(visible))
        self.marks.set_badges_visible(visible)
        if self.badges_action.isChecked() != visible:
            self.badges_action.setChecked(visible)

    def shutdown(self) -> None:
        """Stop the worker (the running job is cancelled); the window is closing."""
        if self._closed:
            return
        self._closed = True
        self.warmup.cancel()
        self.watcher.stop()
        self.marks.stop()
        self.queue.cancel_all()
        self.queue.shutdown(timeout=10.0)
        self.farm_panel.shutdown()

    # -- helpers --------------------------------------------------------------------------------

    def _on_canvas(self, job: Job | None) -> bool:
        return job is not None and self._origins.get(job.id) is self.editor.graph

    def _title(self, job: Job | None, node_id: str) -> str:
        graph = job.graph if job is not None else self.editor.graph
        if node_id not in graph:
            return node_id
        node = graph.node(node_id)
        return display_title(node, self.session.registry.get(node.type))

    def _describe(self, problem: Problem) -> str:
        if problem.node_id is None:
            return problem.message
        title = self._title(None, problem.node_id)
        where = f" › {problem.input}" if problem.input else ""
        return f"{title} ({problem.node_id}){where}: {problem.message}"

    def _graph_replaced(self, _graph: Graph) -> None:
        self._showing_problems = False
        self._rates.clear()

    def _cache_states(self, states: dict[str, str]) -> None:
        self.board.set_cache_states(states)
        self.marks.refresh()

    def _warmed(self, seconds: float, what: str) -> None:
        """The warm start is over: the loaders it ran are cached now, say so on the canvas."""
        if what != "nothing":
            self.host.log_dock.log(f"Warm start: {what} ready in {seconds:.1f} s", "info")
        self.watcher.schedule()

    def _output_added(self, _entry: object) -> None:
        self.host.outputs_dock.placeholder.hide()
        if not self.host.scene.selected_node_ids():
            self.host.outputs_dock.raise_()

    def _set_node_preview(self, node_id: str, pixels: Any, live: bool = False) -> None:
        item = self.host.node_item(node_id)
        image = to_qimage(pixels)
        if item is None or image is None:
            return
        longest = max(image.width(), image.height())
        if longest > NODE_PREVIEW_SIZE or (live and longest < SMALL_PREVIEW):
            # Live latent previews are tiny (1/8 of the image): smoothed up here, once, rather
            # than blown up into blocks by the node's painter. A small result keeps its pixels.
            image = thumbnail(image, NODE_PREVIEW_SIZE if longest > NODE_PREVIEW_SIZE
                              else SMALL_PREVIEW)
        item.set_preview(image)
        self.marks.refresh([node_id])  # the node grew: its marks move

    # -- events (UI thread) ---------------------------------------------------------------------

    def _queue_changed(self, event: QueueChanged, job: Job | None) -> None:
        self.queue_dock.refresh()
        running = any(j.status == RUNNING for j in self.queue.jobs())
        self.cancel_action.setEnabled(running or any(not j.done for j in self.queue.jobs()))
        if event.what == "removed" and job is not None:
            self._origins.pop(job.id, None)
        if event.what != "finished" or job is None:
            return
        self._release(job)
        if job.status == INVALID:
            if self._on_canvas(job):
                self.marks.set_problems(job.problems)
                self._showing_problems = True
            self.host.report(f"{job.label}: the graph cannot run "
                               f"({len(job.problems)} problem(s))", "error")
            for problem in job.problems:
                self.host.log_dock.log(f"  • {self._describe(problem)}", "error")
            self.status.idle()
        elif job.status == FAILED and job.result is None:
            self.host.report(f"{job.label}: the run stopped: {job.error}", "error")
            self.status.idle()
        if job.done and job.status in (INVALID, FAILED, CANCELLED) and self._on_canvas(job):
            self.board.end_run()
            self.marks.refresh()

    def _release(self, job: Job) -> None:
        """A finished job keeps its record in the queue panel, not its values: the node
        outputs (models, latents …) live in the session's cache, which may drop them."""
        if job.result is not None:
            job.result.outputs.clear()
        done = [j for j in self.queue.jobs() if j.done]
        for old in done[:max(0, len(done) - MAX_HISTORY)]:
            self.queue.remove(old.id)

    def _drives_status(self, job: Job) -> bool:
        """The status line follows this machine's run; a farm job (negative id) shows there
        only while nothing runs locally, so two runs at once do not mix in one line."""
        return job.id >= 0 or not any(j.status == RUNNING for j in self.queue.jobs())

    def _run_started(self, event: RunStarted, job: Job) -> None:
        if self._drives_status(job):
            self.status.busy(f"{job.label}: preparing…")

    def _validation_failed(self, event: ValidationFailed, job: Job) -> None:
        if self._on_canvas(job):
            self.marks.set_problems(event.problems)
            self._showing_problems = True

    def _plan_ready(self, event: PlanReady, job: Job) -> None:
        if self._on_canvas(job):
            self.marks.set_problems([])
            self._showing_problems = False
            self.board.begin_run(event.to_run, event.cached)
            self.marks.refresh()
        if not event.to_run and self._drives_status(job):
            self.status.busy(f"{job.label}: nothing to run, all {len(event.cached)} cached")

    def _node_started(self, event: NodeStarted, job: Job) -> None:
        title = self._title(job, event.node_id)
        rate = self._rates[event.node_id] = StepRate()
        if self._drives_status(job):
            self.status.node_started(title, rate)
        self.queue_dock.set_detail(job, title)
        if self._on_canvas(job):
            self.board.node_started(event.node_id)
            self.marks.refresh([event.node_id])

    def _node_progress(self, event: NodeProgress, job: Job) -> None:
        rate = self._rates.get(event.node_id)
        if rate is None:
            rate = self._rates[event.node_id] = StepRate()
        rate.report(event.done, event.total)
        if self._drives_status(job):
            self.status.node_progress(rate)
        self.queue_dock.set_detail(job, f"{self._title(job, event.node_id)} "
                                        f"{event.done}/{event.total}")
        if not self._on_canvas(job):
            return
        self.board.node_progress(event.node_id, event.done, event.total)
        self.marks.refresh([event.node_id])
        if event.preview is not None:
            self._set_node_preview(event.node_id, event.preview, live=True)

    def _node_finished(self, event: NodeFinished, job: Job) -> None:
        self._rates.pop(event.node_id, None)
        title = self._title(job, event.node_id)
        batches = list(event.images)
        pictures = [image for batch in batches for image in batch_images(batch)]
        for index, path in enumerate(event.files):
            pixels = pictures[index] if len(pictures) == len(event.files) else None
            self.gallery.add_file(Path(path), title, event.node_id, job.id, pixels)
        if not event.files and not event.cached:
            for picture in pictures:
                self.gallery.add_image(picture, title, event.node_id, job.id)
        if not self._on_canvas(job):
            return
        kind = REUSED if event.cached else RAN
        self.board.node_finished(event.node_id, RunRecord(
            kind, event.seconds, event.peak_ram, event.peak_vram, ram_added=event.ram_added,
            vram_added=event.vram_added, output_bytes=event.output_bytes))
        if pictures:
            self._set_node_preview(event.node_id, pictures[-1])
        self.marks.refresh([event.node_id])

    def _node_failed(self, event: NodeFailed, job: Job) -> None:
        self._rates.pop(event.node_id, None)
        title = self._title(job, event.node_id)
        self.host.report(f"{title} ({event.node_id}) failed: {event.message}", "error")
        if event.traceback:
            self.host.log_dock.log(event.traceback.rstrip(), "error")
        if self._on_canvas(job):
            self.board.node_finished(event.node_id,
                                     RunRecord(RECORD_FAILED, message=event.message))
            self.marks.refresh([event.node_id])

    def _node_skipped(self, event: NodeSkipped, job: Job) -> None:
        if self._on_canvas(job):
            self.board.node_finished(event.node_id, RunRecord(SKIPPED, message=event.reason))
            self.marks.refresh([event.node_id])

    def _run_finished(self, event: RunFinished, job: Job) -> None:
        self._rates.clear()
        if self._on_canvas(job):
            self.board.end_run()
            self.marks.refresh()
            self.watcher.schedule()
        summary = (f"{len(event.executed)} ran, {len(event.cached)} cached, "
                   f"{format_seconds(event.seconds)}")
        if event.status == "finished":
            self.host.report(f"{job.label}: done ({summary})", "success")
        elif event.status == "cancelled":
            self.host.report(f"{job.label}: cancelled ({summary})", "warning")
        else:
            self.host.report(f"{job.label}: failed ({summary})", "error")
        if self._drives_status(job):
            self.status.idle()


def _as_bool(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("false", "0", "no", "")
    return bool(value)


def install_run_support(window: MainWindow, session: Any) -> RunController:
    """Give ``window`` Run/Cancel/Validate, the queue panel, badges and the outputs gallery,
    running on ``session`` (one per window)."""
    controller = RunController(host_of(window), session)
    window.run_controller = controller
    return controller
