"""The queue panel: finished, running and pending runs; reorder, remove, cancel.

Local jobs come from the run queue, farm jobs from the window's
:class:`~nodestudio.app.farm.feed.FarmFeed` (the same Job objects, negative ids); a farm job's
row says which worker runs it and is cancelled on that worker. The farm orders its own work,
so only local jobs can be moved.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QMimeData, QPoint, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QDrag,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QIcon,
    QPainter,
    QPixmap,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from nodestudio.app.farm.feed import FarmFeed, FarmJob
from nodestudio.app.queue import (
    CANCELLED,
    FAILED,
    FINISHED,
    INVALID,
    PENDING,
    RUNNING,
    Job,
    RunQueue,
)
from nodestudio.ui.run.badges import format_seconds

JOB_MIME = "application/x-nodestudio-job"
JOB_ID_ROLE = Qt.ItemDataRole.UserRole
STATUS_COLORS = {PENDING: "#8b8f98", RUNNING: "#4c8dff", FINISHED: "#66bb6a",
                 FAILED: "#ff5d5d", INVALID: "#ff5d5d", CANCELLED: "#ffb74d"}


def status_line(job: Job, detail: str = "") -> str:
    """The second line of a job's row: what it is doing or what became of it."""
    if isinstance(job, FarmJob) and job.status in (PENDING, RUNNING):
        if job.status == PENDING:
            return job.note or "waiting for a farm worker"
        where = f"running on {job.worker}" if job.worker else "running on the farm"
        return f"{where} · {detail}" if detail else where
    if job.status == PENDING:
        return "waiting"
    if job.status == RUNNING:
        return detail or "running"
    if job.status == FINISHED and job.result is not None:
        count = len(job.result.files) or sum(len(b) for b in job.result.images.values())
        images = f" · {count} image{'s' if count != 1 else ''}" if count else ""
        ran = len(job.result.executed)
        return f"done in {format_seconds(job.result.seconds)} · {ran} ran{images}"
    if job.status == FAILED:
        message = job.error or (next(iter(job.result.failed.values()), "")
                                if job.result else "")
        return f"failed: {message}" if message else "failed"
    if job.status == INVALID:
        return f"cannot run: {len(job.problems)} problem(s)"
    return job.status


def _dot(color: str) -> QIcon:
    pixmap = QPixmap(QSize(12, 12))
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(color))
    painter.drawEllipse(2, 2, 8, 8)
    painter.end()
    return QIcon(pixmap)


class JobList(QListWidget):
    """The list of jobs; pending ones can be dragged to another place in the queue."""

    #: (job id, the row it was dropped before: 0..count)
    job_dropped = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDragEnabled(True)
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(True)
        self.setDragDropMode(QListWidget.DragDropMode.DragDrop)
        self.setSelectionMode(QListWidget.SelectionMode.SingleSelection)
        self.setIconSize(QSize(12, 12))
        self.setWordWrap(True)

    def job_id(self, row: int) -> int | None:
        item = self.item(row)
        return int(item.data(JOB_ID_ROLE)) if item is not None else None

    def mime_for(self, job_id: int) -> QMimeData:
        mime = QMimeData()
        mime.setData(JOB_MIME, QByteArray(str(job_id).encode("ascii")))
        return mime

    def startDrag(self, supported: Qt.DropAction) -> None:
        item = self.currentItem()
        if item is None or not (item.flags() & Qt.ItemFlag.ItemIsDragEnabled):
            return
        drag = QDrag(self)
        drag.setMimeData(self.mime_for(int(item.data(JOB_ID_ROLE))))
        # The queue moves the job; the list is then rebuilt from the queue, so nothing is
        # removed here whatever the drop says.
        drag.exec(Qt.DropAction.MoveAction)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasFormat(JOB_MIME):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if event.mimeData().hasFormat(JOB_MIME):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        if not event.mimeData().hasFormat(JOB_MIME):
            event.ignore()
            return
        try:
            job_id = int(bytes(event.mimeData().data(JOB_MIME).data()).decode("ascii"))
        except ValueError:
            event.ignore()
            return
        event.acceptProposedAction()
        self.job_dropped.emit(job_id, self.drop_row(event.position().toPoint()))

    def drop_row(self, pos: QPoint) -> int:
        """The row a drop at ``pos`` puts the job before (below the middle of a row: after)."""
        index = self.indexAt(pos)
        if not index.isValid():
            return self.count()
        rect = self.visualRect(index)
        return index.row() + (1 if pos.y() > rect.center().y() else 0)


class QueueDock(QDockWidget):
    def __init__(self, queue: RunQueue, parent: QWidget | None = None,
                 farm: FarmFeed | None = None) -> None:
        super().__init__("Queue", parent)
        self.setObjectName("queueDock")
        self.queue = queue
        #: Jobs sent to the render farm, shown after the local ones.
        self.farm = farm
        self.details: dict[int, str] = {}
        body = QWidget(self)
        column = QVBoxLayout(body)
        column.setContentsMargins(6, 6, 6, 6)
        column.setSpacing(6)
        self.list = JobList(body)
        column.addWidget(self.list, 1)
        row = QHBoxLayout()
        row.setSpacing(4)
        self.up_button = QPushButton("Up", body)
        self.down_button = QPushButton("Down", body)
        self.remove_button = QPushButton("Remove", body)
        self.clear_button = QPushButton("Clear done", body)
        for button in (self.up_button, self.down_button, self.remove_button, self.clear_button):
            row.addWidget(button)
        column.addLayout(row)
        self.setWidget(body)
        self.up_button.setToolTip("Run the selected job earlier")
        self.down_button.setToolTip("Run the selected job later")
        self.remove_button.setToolTip("Remove the selected job (cancels it when it runs)")
        self.clear_button.setToolTip("Remove finished, failed and cancelled jobs from the list")
        self.up_button.clicked.connect(lambda: self.move_selected(-1))
        self.down_button.clicked.connect(lambda: self.move_selected(1))
        self.remove_button.clicked.connect(self.remove_selected)
        self.clear_button.clicked.connect(self.clear_done)
        self.list.job_dropped.connect(self.drop_job)
        self.list.currentRowChanged.connect(lambda _row: self._update_buttons())
        self.refresh()

    # -- showing --------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Rebuild the rows from the queue (which is the truth), keeping the selection."""
        selected = self.selected_job_id()
        jobs: list[Job] = [*self.queue.jobs(), *(self.farm.jobs() if self.farm else [])]
        self.list.clear()
        for job in jobs:
            item = QListWidgetItem(_dot(STATUS_COLORS.get(job.status, "#8b8f98")),
                                   self._row_text(job))
            item.setData(JOB_ID_ROLE, job.id)
            item.setToolTip(job.error or "")
            flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
            if job.status == PENDING and not isinstance(job, FarmJob):
                flags |= Qt.ItemFlag.ItemIsDragEnabled
            item.setFlags(flags)
            self.list.addItem(item)
            if job.id == selected:
                self.list.setCurrentItem(item)
        self._update_buttons()

    def _row_text(self, job: Job) -> str:
        number = job.display_id if isinstance(job, FarmJob) else job.id
        return f"#{number}  {job.label}\n{status_line(job, self.details.get(job.id, ''))}"

    def rows(self) -> list[str]:
        """The rows' text, top to bottom (for tests and accessibility)."""
        return [self.list.item(row).text() for row in range(self.list.count())]

    def set_detail(self, job: Job, text: str) -> None:
        """What the running job is doing (shown on its row)."""
        self.details[job.id] = text
        for row in range(self.list.count()):
            if self.list.job_id(row) == job.id:
                self.list.item(row).setText(self._row_text(job))
        # The row shows the job's status as it is now, which may already be ahead of the
        # refresh its change queued: the buttons follow the row, not the refresh.
        if job.id == self.selected_job_id():
            self._update_buttons()

    def selected_job_id(self) -> int | None:
        item = self.list.currentItem()
        return int(item.data(JOB_ID_ROLE)) if item is not None else None

    def _update_buttons(self) -> None:
        job = self._selected_job()
        pending = (job is not None and job.status == PENDING
                   and not isinstance(job, FarmJob))
        self.up_button.setEnabled(pending)
        self.down_button.setEnabled(pending)
        self.remove_button.setEnabled(job is not None)
        # A farm job is cancelled on its worker whether it waits or runs; its row then says so.
        cancels = job is not None and (job.status == RUNNING
                                       or (isinstance(job, FarmJob) and not job.done))
        self.remove_button.setText("Cancel" if cancels else "Remove")

    def _selected_job(self) -> Job | None:
        job_id = self.selected_job_id()
        if job_id is None:
            return None
        try:
            return self.farm.job(job_id) if job_id < 0 and self.farm else self.queue.job(job_id)
        except KeyError:
            return None

    # -- acting ---------------------------------------------------------------------------------

    def pending_ids(self) -> list[int]:
        return [job.id for job in self.queue.jobs() if job.status == PENDING]

    def move_selected(self, step: int) -> None:
        job = self._selected_job()
        if job is None or job.status != PENDING:
            return
        pending = self.pending_ids()
        self.queue.move(job.id, max(0, pending.index(job.id) + step))

    def drop_job(self, job_id: int, row: int) -> None:
        """A job dropped before ``row`` of the list: its place among the pending jobs."""
        ids = [self.list.job_id(r) for r in range(self.list.count())]
        pending = set(self.pending_ids())
        if job_id not in pending:
            return
        index = sum(1 for r, other in enumerate(ids)
                    if r < row and other in pending and other != job_id)
        self.queue.move(job_id, index)

    def remove_selected(self) -> None:
        job = self._selected_job()
        if job is None:
            return
        if isinstance(job, FarmJob) and self.farm is not None:
            self.farm.remove(job.id)  # cancels it first when it is not done
        elif job.status == RUNNING:
            self.queue.cancel_current()
        else:
            self.queue.remove(job.id)

    def clear_done(self) -> None:
        """Drop finished, failed and cancelled rows, local and farm."""
        self.queue.clear_done()
        if self.farm is not None:
            self.farm.clear_done()
