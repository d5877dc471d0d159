"""PySide6 6.12 on CPython < 3.12 loses a reference to None on every void Qt call."""

from __future__ import annotations

import sys

from PySide6.QtCore import QPointF

from nodestudio.ui._pyside_workarounds import qt_calls_leak_none


def test_none_cannot_run_out_of_references_however_much_qt_is_called():
    point = QPointF()
    for _ in range(50_000):  # far more than None's natural reference count on 3.11
        point.setX(1.0)
    if qt_calls_leak_none() and sys.version_info < (3, 12):
        assert sys.getrefcount(None) > 2**39
