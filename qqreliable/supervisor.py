"""Threads: named, started explicitly, stoppable, joined with a timeout.

The supervisor owns the bot's background threads. A thread that dies with an
exception, or a component that reports an unrecoverable error through
:meth:`Supervisor.fail`, wakes the owner; :meth:`Supervisor.raise_failure`
re-raises that error in the owner's thread (``Bot.run()``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, List, Optional

__all__ = ["Supervisor", "Periodic"]

log = logging.getLogger(__name__)


class Supervisor:
    """Starts, watches and joins the bot's threads.

    Thread-safe. ``stopping`` is the one stop Event every loop waits on.
    """

    def __init__(self, prefix: str = "qqreliable") -> None:
        self._prefix = prefix
        self.stopping = threading.Event()
        self._woken = threading.Event()
        self._lock = threading.Lock()
        self._threads: List[threading.Thread] = []
        self._failure: Optional[BaseException] = None
        self.hurry = False  # set by a second signal: stop waiting for stragglers

    @property
    def failure(self) -> Optional[BaseException]:
        return self._failure

    def spawn(self, name: str, target: Callable[[], None]) -> threading.Thread:
        """Start ``target`` on a daemon thread named ``<prefix>:<name>``.

        An exception escaping ``target`` is logged, recorded as the failure (the
        first one wins) and wakes the owner.
        """

        def guarded() -> None:
            try:
                target()
            except BaseException as exc:  # a worker's crash goes to the owner
                log.exception("thread %s died", threading.current_thread().name)
                self.fail(exc)

        thread = threading.Thread(target=guarded, name=f"{self._prefix}:{name}", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
        return thread

    def fail(self, exc: BaseException) -> None:
        """Record an unrecoverable error (first wins) and wake the owner."""
        with self._lock:
            if self._failure is None:
                self._failure = exc
        self._woken.set()

    def wake(self) -> None:
        """Wake the owner without an error (stop was asked for)."""
        self._woken.set()

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until woken (failure or stop) or ``timeout``; True when woken."""
        return self._woken.wait(timeout)

    def raise_failure(self) -> None:
        """Re-raise the recorded failure in the calling thread, if there is one."""
        failure = self._failure
        if failure is not None:
            raise failure

    def join(self, timeout: float) -> List[str]:
        """Join every thread but the caller's within ``timeout`` seconds in all.

        Returns the names of the threads still alive (stragglers), which are
        also logged. A set :attr:`hurry` flag cuts the wait short.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        current = threading.current_thread()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            if thread is current:
                continue
            while thread.is_alive() and not self.hurry:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                thread.join(min(remaining, 0.05))
        stragglers = [t.name for t in threads if t.is_alive() and t is not current]
        if stragglers:
            log.warning("threads still running after shutdown: %s", ", ".join(stragglers))
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
        return stragglers

    def alive(self) -> List[str]:
        with self._lock:
            return [t.name for t in self._threads if t.is_alive()]


class Periodic:
    """Calls ``fn`` every ``every()`` seconds on a supervisor thread until ``stop``.

    ``every`` is a callable so the period can follow what the connection has
    learned (the heartbeat interval). The wait is on the stop Event, so a stop
    interrupts it at once. An exception in ``fn`` is logged and the loop goes on.
    """

    def __init__(self, fn: Callable[[], None], every: Callable[[], float], stop: threading.Event) -> None:
        self._fn = fn
        self._every = every
        self._stop = stop

    def __call__(self) -> None:
        while not self._stop.wait(self._every()):
            try:
                self._fn()
            except Exception:
                log.exception("periodic task %r failed", self._fn)
