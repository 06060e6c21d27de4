"""Handler registry and the handler thread pool.

Events are routed by their dotted ``name``, most general part first (OneBot's
``message.group.normal``, mirai's ``message.friend``). A handler registered for
``message`` sees every message; one for ``message.group`` only group messages.
Handlers of an event run most specific first, in registration order, on one of
``workers`` named threads; one failing handler never stops the others.

The queue between the reader and the workers is bounded. When it is full the
*newest* event is dropped (the reader never blocks: replies to calls arrive on
the same socket), counted in ``stats()["events_dropped"]`` and logged at
WARNING. Internal jobs (on_connect / on_disconnect) are never dropped.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from .events import Event
from .supervisor import Supervisor

__all__ = ["Dispatcher", "Handler", "ErrorHandler"]

log = logging.getLogger(__name__)

Handler = Callable[[Event], Any]
ErrorHandler = Callable[[BaseException, Optional[Event]], Any]

_DROP_LOG_EVERY = 5.0  # seconds between two "queue full" warnings
_RESOLVED_MAX = 1024  # event names whose handler lists are kept


class Dispatcher:
    """Runs handlers for events on a pool of worker threads. Thread-safe."""

    def __init__(self, *, workers: int = 8, queue_size: int = 10_000) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.workers = workers
        self.queue_size = queue_size
        self._handlers: Dict[str, List[Handler]] = {}
        # name -> its handlers, most specific first: resolved once per name and
        # read without the lock on the reader thread; a new registration drops it.
        self._resolved: Dict[str, List[Handler]] = {}
        self._error_handlers: List[ErrorHandler] = []
        self._queue: Deque[Tuple[Callable[..., Any], Tuple[Any, ...], bool]] = collections.deque()
        self._events_queued = 0
        # One lock, two conditions: workers wait for work on ``_cond``, wait_idle()
        # waits on ``_idle``. A finished job wakes no idle worker, and queued work
        # wakes a worker only when one is waiting and not already woken.
        lock = threading.Lock()
        self._cond = threading.Condition(lock)
        self._idle = threading.Condition(lock)
        self._waiting = 0  # workers blocked in _cond.wait()
        self._woken = 0  # of those, notified and not yet running
        self._idle_waiters = 0
        self._stopping = False
        self._running = 0
        self.dispatched = 0
        self.dropped = 0
        self.handler_errors = 0
        self._last_drop_log = -_DROP_LOG_EVERY
        # on_connect / on_disconnect notices, run one after another in the order they
        # happened (a connect, its disconnect and the next connect never overtake).
        self._notices: Deque[Tuple[List[Callable[..., Any]], Tuple[Any, ...]]] = collections.deque()
        self._notices_draining = False

    # -- registry -----------------------------------------------------------

    def add(self, key: str, handler: Handler) -> None:
        if not callable(handler):
            raise TypeError(f"handler must be callable, not {type(handler).__name__}")
        with self._cond:
            self._handlers.setdefault(key.strip("."), []).append(handler)
            self._resolved = {}

    def add_error_handler(self, handler: ErrorHandler) -> None:
        with self._cond:
            self._error_handlers.append(handler)

    def handlers_for(self, name: str) -> List[Handler]:
        """``message.group.normal`` → its handlers, then ``message.group``'s, then ``message``'s.

        Never blocks on the reader's hot path once a name was seen: the answer is
        kept per name (at most ``_RESOLVED_MAX`` names, which come off the wire).
        The list is shared: callers read it, never change it."""
        handlers = self._resolved.get(name)
        if handlers is not None:
            return handlers
        parts = name.split(".") if name else []
        with self._cond:
            handlers = [
                h
                for i in range(len(parts), 0, -1)
                for h in self._handlers.get(".".join(parts[:i]), ())
            ]
            if len(self._resolved) < _RESOLVED_MAX:
                self._resolved[name] = handlers
        return handlers

    def keys(self) -> List[str]:
        """The names handlers are registered under."""
        with self._cond:
            return [key for key, handlers in self._handlers.items() if handlers]

    def has_handlers(self, key: str) -> bool:
        with self._cond:
            return bool(self._handlers.get(key))

    # -- feeding ------------------------------------------------------------

    def submit_event(self, event: Event, done: Optional[Callable[[bool], None]] = None) -> bool:
        """Queue ``event`` for its handlers without blocking; False when dropped.

        ``done(handled)``, when given, is called once: ``True`` after the
        handlers ran (or at once when there are none), ``False`` when the event
        is dropped or discarded at shutdown (a shared store then frees its claim).
        """
        handlers = self.handlers_for(event.name)
        if not handlers:
            if done is not None:
                _call_done(done, True)
            return True
        with self._cond:
            if self._stopping or self._events_queued >= self.queue_size:
                refused = True
            else:
                refused = False
                self._events_queued += 1
                self._queue.append((self._run_handlers, (event, handlers, done), True))
                self._wake()
        if refused:
            if done is not None:
                _call_done(done, False)
            return self._refused(event)
        return True

    def _refused(self, event: Event) -> bool:
        """Count and log a dropped event (not at shutdown); always False."""
        with self._cond:
            if self._stopping:
                return False
            self.dropped += 1
            now = time.monotonic()
            if now - self._last_drop_log < _DROP_LOG_EVERY:
                return False
            self._last_drop_log = now
        log.warning(
            "handler queue full (%d events): dropping %s; %d dropped so far. "
            "Handlers are slower than the event rate: raise workers= or queue_size=, "
            "or make handlers faster",
            self.queue_size,
            event.name,
            self.dropped,
        )
        return False

    def _wake(self) -> None:
        """Wake one waiting worker for a new item, unless enough are woken already (lock held)."""
        if self._waiting > self._woken:
            self._woken += 1
            self._cond.notify()

    def submit_job(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue an internal job; never dropped while running."""
        with self._cond:
            if self._stopping:
                return
            self._queue.append((fn, args, False))
            self._wake()

    def fire(self, handlers: List[Callable[..., Any]], *args: Any) -> None:
        """Queue a call of each of ``handlers`` with ``args`` (on_connect, ...).

        Notices run on the pool one at a time, in the order they were fired: an
        on_connect never runs after the on_disconnect that followed it."""
        if not handlers:
            return
        with self._cond:
            if self._stopping:
                return
            self._notices.append((list(handlers), args))
            if self._notices_draining:
                return  # the job draining them takes this one too, in order
            self._notices_draining = True
            self._queue.append((self._drain_notices, (), False))
            self._wake()

    def _drain_notices(self) -> None:
        while True:
            with self._cond:
                if not self._notices:
                    self._notices_draining = False
                    return
                handlers, args = self._notices.popleft()
            for handler in handlers:
                self._guarded(handler, None, *args)

    @property
    def queued(self) -> int:
        with self._cond:
            return len(self._queue)

    # -- workers ------------------------------------------------------------

    def start(self, supervisor: Supervisor) -> None:
        with self._cond:
            self._stopping = False
            self._notices.clear()
            self._notices_draining = False  # a drain job discarded by stop() is gone
        for i in range(self.workers):
            supervisor.spawn(f"handler-{i + 1}", self._work)

    def stop(self) -> int:
        """Stop taking work; workers finish the handler they run and exit.

        Returns the number of queued items that were discarded.
        """
        with self._cond:
            self._stopping = True
            discarded = sum(1 for item in self._queue if item[2])
            dones = [item[1][2] for item in self._queue if item[2] and item[1][2] is not None]
            self._queue.clear()
            self._events_queued = 0
            self._cond.notify_all()
            self._idle.notify_all()
        for done in dones:
            _call_done(done, False)
        if discarded:
            log.warning("shutdown discarded %d queued events", discarded)
        return discarded

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._waiting += 1
                    try:
                        self._cond.wait()
                    finally:
                        self._waiting -= 1
                        if self._woken:
                            self._woken -= 1
                if self._stopping:
                    return
                fn, args, is_event = self._queue.popleft()
                if is_event:
                    self._events_queued -= 1
                self._running += 1
            try:
                fn(*args)
            except Exception:  # _run_handlers guards each handler; this is a bug guard
                log.exception("internal dispatcher job failed")
            finally:
                with self._cond:
                    self._running -= 1
                    if self._idle_waiters and not self._running and not self._queue:
                        self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until the queue is empty and no handler runs (tests, demo)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            self._idle_waiters += 1
            try:
                while self._queue or self._running:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._idle.wait(remaining)
            finally:
                self._idle_waiters -= 1
        return True

    def _run_handlers(
        self, event: Event, handlers: List[Handler], done: Optional[Callable[[bool], None]] = None
    ) -> None:
        self.dispatched += 1
        try:
            for handler in handlers:
                self._guarded(handler, event, event)
        finally:
            if done is not None:
                _call_done(done, True)

    def run_now(self, event: Event) -> int:
        """Run ``event``'s handlers in the calling thread (a queue worker); returns how many ran."""
        handlers = self.handlers_for(event.name)
        if handlers:
            self._run_handlers(event, handlers)
        return len(handlers)

    def _guarded(self, handler: Callable[..., Any], event: Optional[Event], *args: Any) -> None:
        try:
            handler(*args)
        except Exception as exc:
            with self._cond:
                self.handler_errors += 1
                hooks = list(self._error_handlers)
            log.exception(
                "handler %s failed%s",
                getattr(handler, "__qualname__", repr(handler)),
                f" on {event.name}" if event is not None else "",
            )
            for hook in hooks:
                try:
                    hook(exc, event)
                except Exception:
                    log.exception("on_error hook %r failed", hook)


def _call_done(done: Callable[[bool], None], handled: bool) -> None:
    try:
        done(handled)
    except Exception:  # a store failure must not kill a worker or the reader
        log.exception("event completion callback failed")
