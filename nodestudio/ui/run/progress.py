"""The run's progress in the status bar: which node, step k/n, it/s and the time left."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

from nodestudio.ui.run.badges import format_seconds

#: How often the elapsed time of a node that reports no steps is redrawn.
TICK_MS = 250


class StepRate:
    """Speed and time left of one node, from its progress reports."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.started = clock()
        self._first: tuple[int, float] | None = None
        self._last: tuple[int, float] | None = None
        self.total = 0

    def report(self, done: int, total: int) -> None:
        now = self.clock()
        self.total = total
        if self._first is None or done < self._first[0]:
            # The first report marks where timing starts: before it, the node may have been
            # loading or encoding, which says nothing about the speed of its steps.
            self._first = (done, now)
        self._last = (done, now)

    @property
    def done(self) -> int:
        return self._last[0] if self._last else 0

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    @property
    def steps_per_second(self) -> float | None:
        if self._first is None or self._last is None:
            return None
        steps = self._last[0] - self._first[0]
        seconds = self._last[1] - self._first[1]
        if steps <= 0 or seconds <= 0:
            return None
        return steps / seconds

    @property
    def seconds_left(self) -> float | None:
        rate = self.steps_per_second
        if rate is None or self._last is None:
            return None
        since_last = self.clock() - self._last[1]
        return max(0.0, (self.total - self._last[0]) / rate - since_last)


def describe_rate(rate: float) -> str:
    return f"{rate:.2f} it/s" if rate >= 1.0 else f"{1.0 / rate:.2f} s/it"


def describe_progress(title: str, rate: StepRate) -> str:
    """"Sampler · step 7/20 · 3.41 it/s · 4.1 s left" (what is known so far)."""
    parts = [title]
    if rate.total:
        parts.append(f"step {rate.done}/{rate.total}")
        speed = rate.steps_per_second
        if speed is not None:
            parts.append(describe_rate(speed))
        left = rate.seconds_left
        if left is not None and rate.done < rate.total:
            parts.append(f"{format_seconds(left)} left")
    else:
        parts.append(format_seconds(rate.elapsed))
    return " · ".join(parts)


class RunStatusWidget(QWidget):
    """A label and a bar for the status bar; busy (indeterminate) while a node reports no
    steps, such as a checkpoint loader."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 8, 0)
        layout.setSpacing(8)
        self.label = QLabel(self)
        self.bar = QProgressBar(self)
        self.bar.setTextVisible(False)
        self.bar.setFixedSize(150, 10)
        self.bar.setRange(0, 1000)
        layout.addWidget(self.label)
        layout.addWidget(self.bar, 0, Qt.AlignmentFlag.AlignVCenter)
        self._title = ""
        self._rate: StepRate | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._redraw)
        self.idle()

    def idle(self, text: str = "") -> None:
        self._timer.stop()
        self._rate = None
        self.label.setText(text)
        self.bar.hide()
        self.setVisible(bool(text))

    def busy(self, text: str) -> None:
        """Something is happening, with no measure of how far it got."""
        self._rate = None
        self._timer.stop()
        self.label.setText(text)
        self.bar.setRange(0, 0)
        self.bar.show()
        self.show()

    def node_started(self, title: str, rate: StepRate) -> None:
        self._title, self._rate = title, rate
        self._timer.start()
        self.bar.setRange(0, 0)
        self._redraw()
        self.bar.show()
        self.show()

    def node_progress(self, rate: StepRate) -> None:
        self._rate = rate
        self._redraw()

    def _redraw(self) -> None:
        rate = self._rate
        if rate is None:
            return
        if rate.total:
            if self.bar.maximum() == 0:
                self.bar.setRange(0, 1000)
            self.bar.setValue(round(1000 * min(rate.done, rate.total) / rate.total))
        self.label.setText(describe_progress(self._title, rate))
