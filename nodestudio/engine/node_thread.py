"""Running node code on a helper thread, so that a Cancel the node ignores can be walked away from.

Python cannot stop a thread. A node that never calls ``ctx.check_cancelled`` would hold the
run (and the queue behind it) for as long as it likes, so the run thread does not call node
code itself: it hands each call to one daemon helper thread per run and waits, watching the
cancel token. When a Cancel is not honoured within :data:`CANCEL_GRACE_SECONDS`, the call is
abandoned: the run thread raises :class:`NodeAbandoned` and goes on, and whatever the node
returns later is thrown away (it never reaches the cache or the run's result).

One thread serves a whole run, so the normal path costs a hand-over per node, not a thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from nodestudio.engine.cancel import CancelToken

#: How long a node may keep running after Cancel before the run abandons it.
CANCEL_GRACE_SECONDS = 2.0
#: How often the run thread looks at the cancel token while a node runs (it sleeps in between).
_POLL_SECONDS = 0.05

ABANDONED_MESSAGE = "did not stop after Cancel; its work is abandoned and its result discarded"


class NodeAbandoned(Exception):
    """The node ignored Cancel for the whole grace period; the run no longer waits for it."""

    def __init__(self) -> None:
        super().__init__(ABANDONED_MESSAGE)


class _Call:
    """One node call, handed from the run thread to the helper and back."""

    __slots__ = ("_lock", "abandoned", "done", "error", "function", "kwargs", "result")

    def __init__(self, function: Callable[..., Any], kwargs: dict[str, Any]) -> None:
        self.function = function
        self.kwargs = kwargs
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.abandoned = False
        self._lock = threading.Lock()

    def run(self) -> bool:
        """Run on the helper thread; False when the run walked away meanwhile."""
        try:
            result, error = self.function(**self.kwargs), None
        except BaseException as raised:  # SystemExit and KeyboardInterrupt too: the run decides
            result, error = None, raised
        with self._lock:
            self.kwargs = {}  # the inputs (possibly large tensors) are not ours to hold on to
            if self.abandoned:
                return False  # nobody waits for this any more: drop it
            self.result, self.error = result, error
            self.done.set()
            return True

    def abandon(self) -> bool:
        """Walk away unless the call finished meanwhile; True when it was abandoned."""
        with self._lock:
            if self.done.is_set():
                return False
            self.abandoned = True
            return True


def _serve(tasks: queue.SimpleQueue[_Call | None]) -> None:
    while True:
        call = tasks.get()
        if call is None or not call.run():
            return  # the run closed, or walked away from this thread's node: end quietly


class NodeThread:
    """The helper thread of one run; :meth:`call` runs node code on it and waits."""

    def __init__(self, grace: float = CANCEL_GRACE_SECONDS) -> None:
        self.grace = grace
        self._tasks: queue.SimpleQueue[_Call | None] | None = None

    def call(self, function: Callable[..., Any], kwargs: dict[str, Any],
             cancel: CancelToken) -> Any:
        """``function(**kwargs)`` on the helper; re-raises what it raised (SystemExit too).

        Raises NodeAbandoned when ``cancel`` was set and the call went on past the grace
        period. Any exception raised here while waiting (a second Ctrl+C) abandons it too.
        """
        tasks = self._tasks
        if tasks is None:
            tasks = self._tasks = queue.SimpleQueue()
            threading.Thread(target=_serve, args=(tasks,), name="nodestudio-node",
                             daemon=True).start()
        call = _Call(function, kwargs)
        tasks.put(call)
        try:
            self._wait(call, cancel)
        except NodeAbandoned:
            if call.abandon():
                self._tasks = None  # that thread is busy for good: the next call gets a new one
                raise
            # It finished in the instant between the last look and now: keep its result.
        except BaseException:  # a second Ctrl+C while waiting: leave the node behind
            if call.abandon():
                self._tasks = None
            raise
        if call.error is not None:
            error, call.error = call.error, None
            raise error
        return call.result

    def _wait(self, call: _Call, cancel: CancelToken) -> None:
        while not call.done.wait(_POLL_SECONDS):
            if cancel.cancelled:
                if not call.done.wait(self.grace):
                    raise NodeAbandoned()
                return

    def close(self) -> None:
        """End the helper once it is idle (an abandoned one ends when its node returns)."""
        if self._tasks is not None:
            self._tasks.put(None)
            self._tasks = None
