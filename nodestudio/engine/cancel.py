"""Cooperative cancellation: a token the runner checks between nodes and nodes check per step."""

from __future__ import annotations

import threading

from nodestudio.api.errors import Cancelled


class CancelToken:
    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled("the run was cancelled")
