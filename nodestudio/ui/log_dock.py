"""The log: load warnings, refused links, saves, errors (and, later, what runs print)."""

from __future__ import annotations

import contextlib
import html
import logging
import time

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QDockWidget, QPlainTextEdit, QWidget

LEVEL_COLORS = {"info": None, "warning": "warning", "error": "error", "success": "success"}


class _Bridge(QObject):
    record = Signal(str, str)


class QtLogHandler(logging.Handler):
    """Forwards Python log records (from any thread) to the log dock."""

    def __init__(self, dock: LogDock) -> None:
        super().__init__(logging.INFO)
        self.bridge = _Bridge()
        self.bridge.record.connect(dock.log)

    def emit(self, record: logging.LogRecord) -> None:
        level = ("error" if record.levelno >= logging.ERROR else
                 "warning" if record.levelno >= logging.WARNING else "info")
        with contextlib.suppress(RuntimeError):  # the window is gone
            self.bridge.record.emit(self.format(record), level)


class LogDock(QDockWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Log", parent)
        self.setObjectName("logDock")
        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setMaximumBlockCount(5000)
        self.setWidget(self.text)
        self.entries: list[tuple[str, str]] = []
        self.theme_colors: dict[str, str] = {}

    def log(self, message: str, level: str = "info") -> None:
        self.entries.append((level, message))
        stamp = time.strftime("%H:%M:%S")
        color = self.theme_colors.get(LEVEL_COLORS.get(level) or "", "")
        body = html.escape(message).replace("\n", "<br>&nbsp;&nbsp;")
        styled = f'<span style="color:{color}">{body}</span>' if color else body
        self.text.appendHtml(f'<span style="color:#7d828c">{stamp}</span>&nbsp; {styled}')

    def messages(self, level: str | None = None) -> list[str]:
        return [message for lvl, message in self.entries if level is None or lvl == level]
