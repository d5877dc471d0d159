"""Work around a reference-count bug of PySide6 6.12 on CPython < 3.12.

There, every call of a Qt method that returns nothing (``painter.setBrush(...)``,
``item.setPos(...)``, …) gives back ``None`` without taking a reference to it, so each call
lowers None's reference count by one. A canvas makes thousands of such calls per frame, and
after a few seconds of panning the count reaches zero: "Fatal Python error: none_dealloc".
CPython 3.12 made None immortal; on older versions we do the same by giving None a reference
count it can never use up. The bug is detected, not assumed, so a fixed PySide6 is left alone.
"""

from __future__ import annotations

import ctypes
import sys

_PROTECTION = 1 << 40


def qt_calls_leak_none() -> bool:
    from PySide6.QtCore import QPointF

    point = QPointF()
    before = sys.getrefcount(None)
    for _ in range(16):
        point.setX(1.0)
    return sys.getrefcount(None) < before


def protect_none() -> bool:
    """Make None immortal when Qt calls leak it; True when the protection was applied."""
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False
    if not qt_calls_leak_none():
        return False
    # ob_refcnt is the first field of every CPython object.
    refcount = ctypes.c_ssize_t.from_address(id(None))
    if refcount.value < _PROTECTION:
        refcount.value += _PROTECTION
    return True


PROTECTED = protect_none()
