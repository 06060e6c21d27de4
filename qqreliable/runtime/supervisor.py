"""Threads: named, started explicitly, stoppable, joined with a timeout.

The supervisor owns the bot's background threads. A thread that dies with an
exception, or a component that reports an unrecoverable error through
:meth:`Supervisor.fail`, wakes the owner; :meth:`Supervisor.raise_failure`
re-raises that error in the owner's thread (``Bot.run()``).
"""

from __future__ import annotations

import collections
import itertools
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Tuple

if TYPE_CHECKING:
    from concurrent.futures import Future

__all__ = ["Supervisor", "Periodic", "IoPool"]

log = logging.getLogger(__name__)


def _tracked(thread: threading.Thread) -> bool:
    """Still the supervisor's: alive, or registered by :meth:`Supervisor.spawn` and not
    started yet (another thread's spawn or join must not forget it in that moment)."""
    return thread.ident is None or thread.is_alive()


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
            self._threads = [t for t in self._threads if _tracked(t)]
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
            self._threads = [t for t in self._threads if _tracked(t)]
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


class IoPool:
    """A small, named, bounded pool for blocking I/O off the handler pool.

    Media downloads and the actions racing them run here, never on the handler
    threads: a handler that waits on work queued behind itself would deadlock.
    Threads (``qqreliable:<name>-N``) start lazily, up to ``max_workers``, and
    exit after ``idle`` seconds without work. :meth:`shutdown` refuses new
    work, fails what is still queued and joins the threads with a timeout.
    Thread-safe.
    """

    def __init__(self, name: str, max_workers: int = 8, *, idle: float = 30.0) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.name = name
        self.max_workers = max_workers
        self.idle = idle
        self._cond = threading.Condition()
        self._queue: "collections.deque[Tuple[Future[Any], Callable[..., Any], Tuple[Any, ...]]]" = collections.deque()
        self._threads: List[threading.Thread] = []
        self._idle_workers = 0
        self._closed = False
        self._ids = itertools.count(1)

    def submit(self, fn: Callable[..., Any], *args: Any) -> "Future[Any]":
        """Run ``fn(*args)`` on a pool thread; its outcome lands in the returned Future.

        Raises:
            RuntimeError: the pool is shut down.
        """
        from concurrent.futures import Future  # here: a bot that never uses a pool never imports it

        future: "Future[Any]" = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError(f"{self.name} pool is shut down")
            self._queue.append((future, fn, args))
            self._threads = [t for t in self._threads if t.is_alive()]
            if self._idle_workers < len(self._queue) and len(self._threads) < self.max_workers:
                thread = threading.Thread(
                    target=self._work, name=f"qqreliable:{self.name}-{next(self._ids)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            self._cond.notify()
        return future

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._idle_workers += 1
                    woken = self._cond.wait(self.idle)
                    self._idle_workers -= 1
                    if not woken and not self._queue:
                        self._threads = [t for t in self._threads if t is not threading.current_thread()]
                        return
                if not self._queue:
                    return
                future, fn, args = self._queue.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)

    @property
    def threads(self) -> int:
        with self._cond:
            return sum(1 for t in self._threads if t.is_alive())

    def shutdown(self, timeout: float) -> List[str]:
        """Stop taking work, fail queued work, join the threads within ``timeout``.

        Returns the names of the threads still running (also logged). Running
        work is not interrupted here: its owner cancels it first.
        """
        with self._cond:
            self._closed = True
            queued = list(self._queue)
            self._queue.clear()
            threads = list(self._threads)
            self._cond.notify_all()
        for future, _, _ in queued:
            future.cancel()
        deadline = time.monotonic() + max(0.0, timeout)
        current = threading.current_thread()
        for thread in threads:
            if thread is not current:
                thread.join(max(0.0, deadline - time.monotonic()))
        stragglers = [t.name for t in threads if t.is_alive() and t is not current]
        if stragglers:
            log.warning("%s threads still running after shutdown: %s", self.name, ", ".join(stragglers))
        return stragglers
