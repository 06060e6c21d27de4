"""What every bot facade shares: the handler registry, the lifecycle and connection state.

:class:`BotBase` is the runtime half of ``Bot`` (OneBot), ``MiraiBot`` and
``OfficialBot``. A protocol's facade subclasses it and supplies three hooks:

- :meth:`BotBase._open` starts the protocol's transports (called by
  :meth:`start` once the handler pool runs; raising undoes the start),
- :meth:`BotBase._close` closes them within a deadline (called by :meth:`stop`),
- :meth:`BotBase._stats` adds the protocol's counters to :meth:`stats`.

Connection state is the reader's business: a transport's reader thread calls
:meth:`_mark_connected` / :meth:`_mark_disconnected`, which change
:attr:`connected` at once and only *queue* the ``on_connect`` /
``on_disconnect`` handlers on the pool, so a busy pool never hides a working
connection. Knows no protocol.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from types import FrameType
from collections.abc import Mapping
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Tuple, TypeVar, Union, overload

from ..exceptions import BotStopped, ConnectFailed, NotStarted
from .dispatcher import Dispatcher
from ..stats import CallStats
from .supervisor import Periodic, Supervisor
from ..reliability.shared import EventClaims
from ..reliability.store import Store

__all__ = ["BotBase", "DEFAULT_LOG_FORMAT"]

log = logging.getLogger("qqreliable.runtime")

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class _Missing:
    def __repr__(self) -> str:
        return "<default>"


_MISSING: Any = _Missing()


class BotBase:
    """Handler registry, lifecycle (start/stop/run) and connection state. Thread-safe.

    Subclasses set :attr:`MESSAGE_KINDS` (what ``on_message(kind)`` accepts) and
    :attr:`EVENT_PREFIX` (the first part of a message event's name).
    """

    #: The kinds ``on_message(kind)`` accepts (first part of ``kind``); empty: any.
    MESSAGE_KINDS: FrozenSet[str] = frozenset()
    #: The name prefix of message events (``message.group`` …).
    MESSAGE_PREFIX = "message"

    def __init__(
        self,
        *,
        workers: int = 8,
        queue_size: int = 10_000,
        shutdown_grace: float = 5.0,
        store: Optional[Store] = None,
    ) -> None:
        self.shutdown_grace = shutdown_grace
        self._store: Optional[Store] = store
        self._claims: Optional[EventClaims] = None
        self._queue: Any = None  # qqreliable.scale.queue.EventQueue with handlers="queue"
        self._worker_mode = False  # a queue worker: its connection serves calls only

        self._supervisor = Supervisor()
        self._dispatcher = Dispatcher(workers=workers, queue_size=queue_size)
        self._call_stats = CallStats()
        self._lifecycle = threading.Lock()
        self._state = "new"
        self._stopped = threading.Event()
        self._cond = threading.Condition()
        self._self_id: Optional[Any] = None
        self._connected = False
        self._connect_handlers: List[Callable[..., Any]] = []
        self._disconnect_handlers: List[Callable[..., Any]] = []

    # -- hooks for the protocol's facade ------------------------------------

    def _share_events(self, key: Callable[[Mapping[str, Any]], Any], done_ttl: float, queue: Any = None) -> None:
        """With a store: events are claimed across processes by the protocol's ``key``;
        with a ``queue`` (:func:`qqreliable.scale.open_queue`) they are handed to workers."""
        if self._store is None:
            return
        self._claims = EventClaims(self._store, key, done_ttl=done_ttl)
        self._queue = queue

    def _enter_worker_mode(self) -> None:
        """A queue worker (before start): events on its connection are not taken; it runs
        queued jobs, and its claims are named ``w:…``."""
        self._worker_mode = True
        self._queue = None
        if self._claims is not None:
            self._claims.owner = "w:" + self._claims.owner

    def _event_from(self, obj: Dict[str, Any]) -> Any:
        """The protocol's event for a raw event taken over from a dead process (or run by a
        queue worker). A facade that passes ``store=`` to this class overrides it."""
        raise NotImplementedError(f"{type(self).__name__} must implement _event_from() to use a store")

    def _raw_event(self, event: Any) -> Dict[str, Any]:
        """The raw event ``_event_from`` rebuilds ``event`` from (a queue job's payload)."""
        return dict(event)

    def _admit(self, obj: Dict[str, Any], dedupe: Any) -> Tuple[bool, Optional[str]]:
        """Whether an inbound event is handled here, and its claim (shared store)."""
        if self._worker_mode:
            return False, None  # a queue worker's connection serves calls only
        if self._claims is None:
            return not dedupe.seen(obj), None
        return self._claims.admit(obj)

    def _submit(self, event: Any, claim: Optional[str]) -> bool:
        """Queue ``event`` for its handlers (here, or on the worker queue); ``claim`` is
        marked once they ran. Never blocks for long."""
        claims = self._claims
        queue = self._queue
        if queue is not None and self._dispatcher.handlers_for(event.name):
            raw = self._raw_event(event)
            if queue.enqueue(raw, claim, bool(getattr(event, "recovered", False))):
                if claims is not None:
                    claims.queued(claim, raw)
                return True
            # Redis refused: degraded, run it here.
        if claims is None or claim is None:
            return self._dispatcher.submit_event(event)
        return self._dispatcher.submit_event(
            event, done=lambda handled: claims.done(claim) if handled else claims.abandon(claim)
        )

    def _claims_tick(self) -> None:
        """Periodic: renew this process's claims, handle events whose holder died."""
        claims = self._claims
        if claims is None:
            return
        for obj, key in claims.tick():
            try:
                event = self._event_from(obj)
            except Exception:
                log.exception("cannot rebuild a taken-over event")
                claims.abandon(key)
                continue
            self._submit(event, key)

    def _open(self) -> None:
        """Start the transports (listeners bind here: errors propagate from start())."""

    def _close(self, deadline: float) -> None:
        """Close the transports and the facade's own pools by ``deadline`` (monotonic)."""

    def _stats(self) -> Dict[str, Any]:
        """The protocol's counters, merged into :meth:`stats`."""
        return {}

    def _describe(self) -> str:
        """Where this bot connects or listens, for messages and ``repr``."""
        return ""

    # -- handlers -----------------------------------------------------------

    def on(self, *names: str) -> Callable[[F], F]:
        """Register a handler for events by name (``a.b.c``: a handler of ``a`` sees ``a.b.c`` too).

        Names are not checked: protocol extensions are reachable here.

        Raises:
            TypeError: no name, or a name that is not a non-empty string.
        """
        if not names or not all(isinstance(n, str) and n for n in names):
            raise TypeError("on() takes one or more event names, e.g. on('message.group')")

        def register(fn: F) -> F:
            for name in names:
                self._dispatcher.add(name, fn)
            return fn

        return register

    def _selector(self, prefix: str, arg: Any, kinds: FrozenSet[str], method: str) -> Any:
        """``@bot.on_x``, ``@bot.on_x()`` or ``@bot.on_x("kind")``, checking ``kind``."""
        if callable(arg):  # used bare: @bot.on_message
            self._dispatcher.add(prefix, arg)
            return arg
        if arg is not None and not isinstance(arg, str):
            raise TypeError(f"{method}() takes an event kind as a string, not {type(arg).__name__}")
        if arg and kinds and arg.split(".")[0] not in kinds:
            valid = ", ".join(repr(k) for k in sorted(kinds))
            raise ValueError(
                f"{method}({arg!r}): unknown kind; valid kinds are {valid} "
                f"(for anything else use bot.on({prefix + '.' + arg!r}))"
            )
        return self.on(f"{prefix}.{arg}" if arg else prefix)

    @overload
    def on_message(self, arg: F) -> F: ...
    @overload
    def on_message(self, arg: Optional[str] = None) -> Callable[[F], F]: ...
    def on_message(self, arg: Any = None) -> Any:
        """``@bot.on_message("group")`` (a kind of :attr:`MESSAGE_KINDS`) or ``@bot.on_message()``.

        Raises:
            ValueError: an unknown kind (the message lists the valid ones).
        """
        return self._selector(self.MESSAGE_PREFIX, arg, self.MESSAGE_KINDS, "on_message")

    def on_connect(self, fn: F) -> F:
        """Register ``fn(self_id)``: the connection is (re)established and working."""
        self._connect_handlers.append(fn)
        return fn

    def on_disconnect(self, fn: F) -> F:
        """Register ``fn(reason)``: the connection was lost (the bot reconnects by itself)."""
        self._disconnect_handlers.append(fn)
        return fn

    def on_error(self, fn: F) -> F:
        """Register ``fn(exception, event)``: a handler raised (event is None for on_connect…)."""
        self._dispatcher.add_error_handler(fn)
        return fn

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> Any:
        """Start the handler pool and the transports; returns at once. Idempotent.

        Raises:
            BotStopped: the bot was stopped (a bot is started once).
            ListenFailed, AuthenticationError, …: whatever the transports raise
                when they start (the bot is then as if never started).
        """
        with self._lifecycle:
            if self._state == "running":
                return self
            if self._state == "stopped":
                raise BotStopped("a stopped bot cannot be started again; create a new one")
            self._state = "running"
        try:
            if self._store is not None:
                self._store.check()  # ConnectFailed naming the store's URL
            self._dispatcher.start(self._supervisor)
            if self._claims is not None:
                period = max(0.05, self._claims.claim_ttl / 3)
                self._supervisor.spawn(
                    "store-claims", Periodic(self._claims_tick, lambda: period, self._supervisor.stopping)
                )
            self._open()
        except BaseException:
            # Undo: every thread started so far ends, and the bot is as if never started.
            self._supervisor.stopping.set()
            self._dispatcher.stop()
            self._supervisor.join(max(1.0, self.shutdown_grace))
            self._supervisor.stopping.clear()
            with self._lifecycle:
                self._state = "new"
            raise
        return self

    def stop(self, timeout: Optional[float] = None) -> None:
        """Stop: close connections, let running handlers finish, join every thread.

        Safe from any thread (a handler included) and any number of times; a
        second caller waits for the first one's shutdown. Waits at most
        ``timeout`` seconds in all (default ``shutdown_grace``); stragglers are
        logged by name.
        """
        grace = self.shutdown_grace if timeout is None else timeout
        deadline = time.monotonic() + max(0.0, grace)
        with self._lifecycle:
            first = self._state != "stopped"
            was_running = self._state == "running"
            self._state = "stopped"
        if not first:
            if not _is_bot_thread():
                self._stopped.wait(max(0.0, deadline - time.monotonic()))
            return
        try:
            log.info("stopping %s", self._describe() or type(self).__name__)
            self._supervisor.stopping.set()
            self._supervisor.wake()
            with self._cond:
                self._cond.notify_all()
            self._dispatcher.stop()
            self._close(deadline)
            if was_running:
                # Threads told to stop exit in microseconds, but a loaded machine may not
                # schedule them at once: however long closing took, give them a moment.
                floor = min(0.5, max(0.0, grace))
                self._supervisor.join(max(floor, deadline - time.monotonic()))
            if self._claims is not None:
                self._claims.release_all()  # what was not handled here: others take it at once
            if self._store is not None:
                self._store.close()
        finally:
            self._stopped.set()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def run(
        self,
        *,
        log_level: Union[int, str] = logging.INFO,
        log_handler: Optional[logging.Handler] = _MISSING,
    ) -> None:
        """Serve until :meth:`stop`, SIGINT or SIGTERM, then shut down and return.

        Returns once every ``qqreliable:`` thread of this bot is gone (or the
        shutdown grace ran out: stragglers are logged by name). Raises in the
        calling thread what cannot be recovered (a wrong token, the reconnect
        budget spent, a port in use). A second signal stops waiting for
        stragglers. Signals are only caught when called from the main thread.

        Logging: when the application configured none, ``run()`` shows the
        library's log on stderr at ``log_level`` (handler exceptions with their
        traceback, lost connections, failed connects, giving up) and removes
        that handler when it returns. Pass ``log_handler`` to use your own
        handler, or ``log_handler=None`` to leave logging alone.
        """
        import signal  # here, not at import: only run() catches signals

        lib_logger = logging.getLogger("qqreliable")
        level_before = lib_logger.level
        installed = _install_log_handler(log_level, log_handler)
        signalled: List[int] = []

        def on_signal(signum: int, frame: Optional[FrameType]) -> None:
            # Only flips flags: no locks in a signal handler.
            if signalled:
                self._supervisor.hurry = True
            else:
                signalled.append(signum)

        previous: Dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for wanted in (signal.SIGINT, signal.SIGTERM):
                previous[wanted] = signal.signal(wanted, on_signal)
        try:
            self.start()
            while not signalled and not self._supervisor.wait(0.1):
                pass
            if signalled:
                log.info("received signal %d: shutting down", signalled[0])
            deadline = time.monotonic() + max(0.0, self.shutdown_grace)
            self.stop()
            # stop() from a handler returns in that thread before it ends: wait for it.
            self._supervisor.join(max(0.0, deadline - time.monotonic()))
        finally:
            if self._state != "stopped":
                self.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            if installed is not None:
                lib_logger.removeHandler(installed)
                lib_logger.setLevel(level_before)
        self._supervisor.raise_failure()

    # -- connection state ---------------------------------------------------

    def _mark_connected(self, self_id: Any = None) -> None:
        """A transport's reader: the connection works. Never blocks; handlers are queued."""
        with self._cond:
            if self._state != "running":
                return
            if self_id is not None:
                self._self_id = self_id
            self._connected = True
            self._cond.notify_all()
        log.info("connected as %s", self._self_id)
        self._dispatcher.fire(self._connect_handlers, self._self_id)

    def _mark_disconnected(self, reason: str, *, still_connected: bool = False) -> None:
        """A transport's reader: the connection was lost. Never blocks; handlers are queued."""
        with self._cond:
            was = self._connected
            self._connected = still_connected
            self._cond.notify_all()
        if was:
            self._dispatcher.fire(self._disconnect_handlers, reason)

    def _require_started(self, what: str) -> None:
        """Raises NotStarted before start(), BotStopped after stop()."""
        state = self._state
        if state == "new":
            raise NotStarted(f"{what}: the bot is not started: call start() first (or use run() / `with bot:`)")
        if state == "stopped":
            raise BotStopped(f"{what}: the bot is stopped")

    def wait_connected(self, timeout: Optional[float] = None) -> Any:
        """Block until the bot is connected and working; return its account id.

        Raises:
            ConnectFailed: not connected within ``timeout`` seconds.
            AuthenticationError, ConnectionLost: the connection failed for good.
            NotStarted: the bot is not started; BotStopped: the bot stopped.
        """
        self._require_started("wait_connected()")
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._connected:
                self._supervisor.raise_failure()
                if self._state == "stopped":
                    raise BotStopped("the bot stopped before it connected")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise ConnectFailed(f"not connected to {self._describe()} within {timeout:g}s")
                self._cond.wait(0.5 if remaining is None else min(remaining, 0.5))
            return self._self_id

    @property
    def connected(self) -> bool:
        """True while the connection is up (set by the reader, not the handler pool)."""
        return self._connected

    @property
    def self_id(self) -> Any:
        """The account's id once known."""
        return self._self_id

    # -- observability ------------------------------------------------------

    def stats(self) -> Dict[str, Any]:
        """A snapshot of counters: events, drops, handler errors, connections, calls."""
        out: Dict[str, Any] = {
            "events_dispatched": self._dispatcher.dispatched,
            "events_dropped": self._dispatcher.dropped,
            "events_queued": self._dispatcher.queued,
            "handler_errors": self._dispatcher.handler_errors,
            "calls": self._call_stats.snapshot(),
        }
        if self._store is not None:
            shared: Dict[str, Any] = dict(self._store.stats())
            if self._claims is not None:
                shared.update(self._claims.stats())
            out["store"] = shared
        if self._queue is not None:
            out["queue"] = self._queue.stats()
        out.update(self._stats())
        return out

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._describe()} {self._state}>"


def _is_bot_thread() -> bool:
    return threading.current_thread().name.startswith("qqreliable:")


def _install_log_handler(level: Union[int, str], handler: Optional[logging.Handler]) -> Optional[logging.Handler]:
    """The stderr handler ``run()`` installs when the application configured none."""
    if handler is None:
        return None
    lib = logging.getLogger("qqreliable")
    if handler is _MISSING:
        configured = logging.getLogger().handlers or [
            h for h in lib.handlers if not isinstance(h, logging.NullHandler)
        ]
        if configured:
            return None  # the application decides where the log goes
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(DEFAULT_LOG_FORMAT))
    level_no = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(level_no, int):
        raise ValueError(f"log_level {level!r} is not a logging level")
    handler.setLevel(level_no)
    if lib.level == logging.NOTSET or lib.level > level_no:
        lib.setLevel(level_no)
    lib.addHandler(handler)
    return handler


def as_mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a mapping, else an empty one (answers of unknown shape)."""
    return value if isinstance(value, Mapping) else {}
