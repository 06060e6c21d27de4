"""Shared test helpers."""

from __future__ import annotations

import threading
import time
from typing import Callable, List

from qqreliable import Backoff

FAST = Backoff(initial=0.02, maximum=0.1, jitter=0.1)


def eventually(predicate: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:
    """Wait until ``predicate()`` is true; fail the test after ``timeout`` seconds.

    For state with no event to wait on (counters of another thread). The wait
    between checks is on an Event, and the timeout is generous: this is a
    deadline, not a guess of how long something takes.
    """
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        pause.wait(0.005)


def qq_threads() -> List[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("qqreliable:"))
