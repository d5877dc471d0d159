"""The Farm dock says why a worker takes no job yet: a "starting" worker (a new one warming up:
it imports torch and diffusers first) and a "failed" one explain themselves on hover."""

from __future__ import annotations

from nodestudio.app.backends import WorkerStatus
from nodestudio.ui.run.farm_panel import FarmPanel


class _Workers:
    """Just the part of the backend interface the panel's list reads."""

    def __init__(self, rows: list[WorkerStatus]) -> None:
        self.rows = rows

    def workers(self) -> list[WorkerStatus]:
        return list(self.rows)


def test_starting_and_failed_workers_explain_themselves(qtbot):
    backend = _Workers([WorkerStatus("worker-1", "starting"), WorkerStatus("worker-2", "idle")])
    panel = FarmPanel(backend, lambda address: None, refresh_ms=50)
    qtbot.addWidget(panel)
    assert panel.rows() == [["worker-1", "starting", "", ""], ["worker-2", "idle", "", ""]]
    tips = [panel.workers.topLevelItem(i).toolTip(1) for i in range(2)]
    assert "imports torch and diffusers" in tips[0] and "jobs wait" in tips[0]
    assert tips[1] == ""
    backend.rows = [WorkerStatus("worker-1", "failed"), WorkerStatus("worker-2", "busy", "j-1")]
    qtbot.waitUntil(lambda: panel.rows()[0][1] == "failed", timeout=2000)
    assert "could not start" in panel.workers.topLevelItem(0).toolTip(1)
    assert panel.workers.topLevelItem(1).toolTip(1) == ""
    panel.shutdown()
