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
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Tuple

from .events import Event
from .supervisor import Supervisor

__all__ = ["Dispatcher", "Handler", "ErrorHandler"]

log = logging.getLogger(__name__)

Handler = Callable[[Event], Any]
ErrorHandler = Callable[[BaseException, Optional[Event]], Any]

_DROP_LOG_EVERY = 5.0  # seconds between two "queue full" warnings
_RESOLVED_MAX = 1024  # event names whose handler lists are kept
_JOB = object()  # marks an internal job in the queue
_PARK_CHECK = 5.0  # seconds between a parked worker's checks that it was not forgotten


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
        # An event is queued as ``(event, handlers, done)``, an internal job as
        # ``(_JOB, fn, args)``: one tuple per event (a queued backlog is what the
        # garbage collector walks).
        self._queue: Deque[Tuple[Any, Any, Any]] = collections.deque()
        # Events put in the queue, and taken off it by stop() (under the lock); the
        # workers count what they took in their own _Worker (a worker takes an item
        # with one deque.popleft(), atomic, and no lock: several busy workers would
        # otherwise hand the lock and the GIL to each other for every event). The
        # events queued are what was put in less what was taken.
        self._admitted = 0
        self._discarded = 0
        self._retired_taken = 0  # what workers that ended took, and run_now() ran
        self._workers: List[_Worker] = []
        # One lock for adding to the queue, the counters and parking. A worker that
        # finds the queue empty parks on a lock of its own (``_parked``) and is woken
        # by releasing it: one C call, no Condition bookkeeping. A new item wakes a
        # parked worker only when no worker is already woken and on its way; a woken
        # worker that takes its first item and sees more queued wakes the next one
        # (a chain), so a burst reaches every idle worker while a steady stream of
        # fast events costs a wake-up per worker run, not per event. ``_idle`` (same
        # lock) is for wait_idle().
        self._lock = lock = threading.Lock()
        self._cond = threading.Condition(lock)
        self._idle = threading.Condition(lock)
        self._parked: List[threading.Lock] = []  # most recently parked last
        self._woken = 0  # workers unparked and not yet back in the queue
        self._idle_waiters = 0
        self._stopping = False
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
        with self._lock:
            if self._stopping or self._events_queued_locked() >= self.queue_size:
                refused = True
            else:
                refused = False
                self._admitted += 1
                self._queue.append((event, handlers, done))
                park = self._unpark() if self._parked else None
        if refused:
            if done is not None:
                _call_done(done, False)
            return self._refused(event)
        if park is not None:
            park.release()
        return True

    def submit_events(self, events: Sequence[Event]) -> int:
        """:meth:`submit_event` for each of ``events`` in order (the events of one
        read, without ``done``), under one lock and with at most one wake-up;
        returns how many were not queued (dropped, or discarded while stopping).

        When the queue has room for fewer than the events that have handlers, the
        first ones take the room and the rest (the newest) are dropped and
        counted, exactly as one by one. Never blocks."""
        resolved = self._resolved
        items: List[Tuple[Any, Any, Any]] = []
        for event in events:
            name = event.name
            handlers = resolved.get(name)
            if handlers is None:
                handlers = self.handlers_for(name)
            if handlers:
                items.append((event, handlers, None))
        if not items:
            return 0
        park = None
        with self._lock:
            if self._stopping:
                taken = 0
            else:
                taken = min(len(items), self.queue_size - self._events_queued_locked())
                if taken > 0:
                    self._admitted += taken
                    self._queue.extend(items if taken == len(items) else items[:taken])
                    park = self._unpark() if self._parked else None
                else:
                    taken = 0
        if park is not None:
            park.release()
        refused = len(items) - taken
        if refused:
            self._refused(items[taken][0], refused)
        return refused

    def _taken_locked(self) -> int:
        """Events taken by workers (those that ended too) and run_now() (lock held)."""
        taken = self._retired_taken
        for worker in self._workers:
            taken += worker.taken
        return taken

    def _events_queued_locked(self) -> int:
        """Events in the queue (lock held): put in, less taken by workers and by
        stop(). A worker counts an event just after taking it, so this may be
        over by one per worker for a moment: the bound errs on the safe side."""
        return self._admitted - self._taken_locked() - self._discarded

    @property
    def dispatched(self) -> int:
        """Events whose handlers ran (or are running) so far."""
        with self._lock:
            return self._taken_locked()

    def _refused(self, event: Event, count: int = 1) -> bool:
        """Count and log ``count`` dropped events, ``event`` the first (not at
        shutdown); always False."""
        with self._cond:
            if self._stopping:
                return False
            self.dropped += count
            now = time.monotonic()
            if now - self._last_drop_log < _DROP_LOG_EVERY:
                return False
            self._last_drop_log = now
        log.warning(
            "handler queue full (%d events): dropping %s%s; %d dropped so far. "
            "Handlers are slower than the event rate: raise workers= or queue_size=, "
            "or make handlers faster",
            self.queue_size,
            event.name,
            f" and {count - 1} more" if count > 1 else "",
            self.dropped,
        )
        return False

    def _unpark(self) -> Optional[threading.Lock]:
        """The parked worker to wake for queued work, unless one is woken already
        (lock held; the caller releases the returned lock after letting go of ours)."""
        if self._parked and not self._woken:
            self._woken += 1
            return self._parked.pop()
        return None

    def submit_job(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue an internal job; never dropped while running."""
        with self._lock:
            if self._stopping:
                return
            self._queue.append((_JOB, fn, args))
            park = self._unpark()
        if park is not None:
            park.release()

    def fire(self, handlers: List[Callable[..., Any]], *args: Any) -> None:
        """Queue a call of each of ``handlers`` with ``args`` (on_connect, ...).

        Notices run on the pool one at a time, in the order they were fired: an
        on_connect never runs after the on_disconnect that followed it."""
        if not handlers:
            return
        with self._lock:
            if self._stopping:
                return
            self._notices.append((list(handlers), args))
            if self._notices_draining:
                return  # the job draining them takes this one too, in order
            self._notices_draining = True
            self._queue.append((_JOB, self._drain_notices, ()))
            park = self._unpark()
        if park is not None:
            park.release()

    def _drain_notices(self) -> None:
        while True:
            with self._lock:
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
            # Workers of an earlier start() that have ended: their counts stay.
            for worker in [w for w in self._workers if w.ended]:
                self._retired_taken += worker.taken
                self._workers.remove(worker)
            workers = [_Worker() for _ in range(self.workers)]
            self._workers.extend(workers)
        for i, worker in enumerate(workers):
            supervisor.spawn(f"handler-{i + 1}", lambda worker=worker: self._work(worker))  # type: ignore[misc]

    def stop(self) -> int:
        """Stop taking work; workers finish the handler they run and exit.

        Returns the number of queued items that were discarded.
        """
        with self._cond:
            self._stopping = True
            # Taken item by item: a worker may take one meanwhile (it runs it).
            queue = self._queue
            items = []
            while True:
                try:
                    items.append(queue.popleft())
                except IndexError:
                    break
            events = [item for item in items if item[0] is not _JOB]
            discarded = len(events)
            dones = [item[2] for item in events if item[2] is not None]
            self._discarded += discarded
            parked, self._parked = self._parked, []
            self._woken += len(parked)
            self._idle.notify_all()
        for park in parked:
            park.release()
        for done in dones:
            _call_done(done, False)
        if discarded:
            log.warning("shutdown discarded %d queued events", discarded)
        return discarded

    def _work(self, worker: _Worker) -> None:
        park = threading.Lock()
        park.acquire()  # held: acquiring it again parks this worker until released
        lock = self._lock
        queue = self._queue
        popleft = queue.popleft
        woken = False  # unparked, and not yet counted back (in _woken)
        try:
            while True:
                worker.busy = True  # before the take: wait_idle sees the item or this flag
                try:
                    item = popleft()
                except IndexError:
                    worker.busy = False
                    with lock:
                        if woken:
                            self._woken -= 1
                            woken = False
                        if self._stopping:
                            return
                        if queue:
                            continue  # added meanwhile
                        if self._idle_waiters:
                            self._idle.notify_all()  # wait_idle() checks whether all are idle
                        self._parked.append(park)
                    self._park(park)
                    woken = True
                    continue
                if woken:
                    # The first item since the wake-up: counted back, and the next
                    # idle worker woken when more is queued (the chain).
                    with lock:
                        self._woken -= 1
                        woken = False
                        wake = self._unpark() if queue else None
                    if wake is not None:
                        wake.release()
                if item[0] is _JOB:
                    try:
                        item[1](*item[2])
                    except Exception:  # a job's own errors are its business; this is a bug guard
                        log.exception("internal dispatcher job failed")
                    continue
                worker.taken += 1
                event, handlers, done = item
                try:
                    try:
                        for handler in handlers:  # run_now()'s loop, inline: one call less per event
                            try:
                                handler(event)
                            except Exception as exc:
                                self._failed(handler, event, exc)
                    finally:
                        if done is not None:
                            _call_done(done, True)
                except Exception:  # each handler is guarded above; this is a bug guard
                    log.exception("internal dispatcher job failed")
        finally:
            worker.busy = False
            worker.ended = True
            with lock:
                if woken:
                    self._woken -= 1
                if self._idle_waiters:
                    self._idle.notify_all()

    def _park(self, park: threading.Lock) -> None:
        """Block until another thread releases ``park`` (new work, or stop)."""
        while not park.acquire(timeout=_PARK_CHECK):
            with self._cond:
                if park in self._parked:
                    if not self._stopping:
                        continue  # nothing for us yet: keep waiting
                    self._parked.remove(park)
                    self._woken += 1  # counted back when this worker looks at the queue
                    return
            # Unparked meanwhile: the release is on its way.

    def wait_idle(self, timeout: float) -> bool:
        """Wait until the queue is empty and no handler runs (tests, demo)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            self._idle_waiters += 1
            try:
                while self._queue or any(worker.busy for worker in self._workers):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._idle.wait(remaining)
            finally:
                self._idle_waiters -= 1
        return True

    def run_now(self, event: Event) -> int:
        """Run ``event``'s handlers in the calling thread (a queue worker); returns how many ran."""
        handlers = self.handlers_for(event.name)
        if handlers:
            with self._lock:
                self._retired_taken += 1  # counted in ``dispatched`` like a worker's
            for handler in handlers:
                try:
                    handler(event)
                except Exception as exc:
                    self._failed(handler, event, exc)
        return len(handlers)

    def _guarded(self, handler: Callable[..., Any], event: Optional[Event], *args: Any) -> None:
        try:
            handler(*args)
        except Exception as exc:
            self._failed(handler, event, exc)

    def _failed(self, handler: Callable[..., Any], event: Optional[Event], exc: Exception) -> None:
        """A handler raised ``exc`` (inside its ``except``): count, log, run the on_error hooks."""
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


class _Worker:
    """One worker thread's own state, written only by that thread (so no lock):
    ``busy`` from just before it takes an item until the item is done (wait_idle
    reads it), ``taken`` the events it took off the queue (``dispatched``),
    ``ended`` once its thread returned (the next start() folds its count in)."""

    __slots__ = ("busy", "taken", "ended")

    def __init__(self) -> None:
        self.busy = False
        self.taken = 0
        self.ended = False


def _call_done(done: Callable[[bool], None], handled: bool) -> None:
    try:
        done(handled)
    except Exception:  # a store failure must not kill a worker or the reader
        log.exception("event completion callback failed")
