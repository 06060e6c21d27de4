"""What the fake servers share: one listening port, an accept thread, a thread per
connection, tracked threads, and the connection faults (drop, close, half-open,
down/up with the port kept).

:class:`FakeServer` is the base of :class:`~qqreliable.testing.FakeOneBot` and
:class:`~qqreliable.testing.FakeMirai`. A subclass sets :attr:`FakeServer.NAME`
(used in messages) and :attr:`FakeServer.THREAD_PREFIX` (threads are named
``<prefix>:accept:<port>``, ``<prefix>:conn:<id>``), calls
:meth:`FakeServer._init_server` from its ``__init__``, and implements
:meth:`FakeServer._new_conn`, :meth:`FakeServer._serve_websocket` and
:meth:`FakeServer._serve_http`. Hooks: :meth:`FakeServer._on_started`,
:meth:`FakeServer._on_stopped`, :meth:`FakeServer._on_conn_end`.

Locking: ``_lock`` guards the server's state (``_cond`` is a condition on it,
notified whenever connections come or go); ``_admin`` orders start, stop, down
and up. Every thread waits on a socket or an event that :meth:`FakeServer.stop`
interrupts, and stop joins them with a timeout.
"""

from __future__ import annotations

import collections
import itertools
import json
import logging
import selectors
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, Generic, List, Optional, Set, Tuple, TypeVar

from ..transport.wsserver import (
    HandshakeError,
    RequestHead,
    ServerWebSocket,
    WebSocketClosed,
    read_request_head,
    send_http_response,
)

_HEAD_TIMEOUT = 10.0  # first request head of a connection
_IDLE_TIMEOUT = 300.0  # between keep-alive requests; stop() interrupts it anyway
_BODY_TIMEOUT = 10.0  # the rest of a request body
_READY_TIMEOUT = 5.0
_CLOSE_TIMEOUT = 2.0


_S = TypeVar("_S", bound="FakeServer")
_T = TypeVar("_T")
_A = TypeVar("_A")  # what a fake's failure answers
_H = TypeVar("_H")  # a fake's custom handler
_R = TypeVar("_R")  # a fake's answer to a call


class _GatedSocket:
    """A socket that a half-open fault can silence without closing it.

    Once ``frozen`` is set, nothing more is read (a read parks until the
    connection is aborted, then reports EOF) and everything written is
    silently dropped: the peer sees an open TCP connection that never answers.
    """

    def __init__(self, sock: socket.socket, closed: threading.Event, frozen: threading.Event) -> None:
        self._sock = sock
        self._closed = closed
        self._frozen = frozen

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        if self._frozen.is_set():
            self._closed.wait()
            return b""
        data = self._sock.recv(bufsize, flags)
        if self._frozen.is_set():
            self._closed.wait()
            return b""
        return data

    def recv_into(self, buffer: memoryview, nbytes: int = 0, flags: int = 0) -> int:
        if self._frozen.is_set():
            self._closed.wait()
            return 0
        got = self._sock.recv_into(buffer, nbytes, flags)
        if self._frozen.is_set():
            self._closed.wait()
            return 0
        return got

    def sendall(self, data: bytes, flags: int = 0) -> None:
        if not self._frozen.is_set():
            self._sock.sendall(data, flags)

    def shutdown(self, how: int) -> None:
        self._sock.shutdown(how)

    def close(self) -> None:
        self._sock.close()

    def settimeout(self, value: Optional[float]) -> None:
        self._sock.settimeout(value)

    def gettimeout(self) -> Optional[float]:
        return self._sock.gettimeout()

    def fileno(self) -> int:
        return self._sock.fileno()


class _BaseConn:
    """One accepted TCP connection (HTTP requests, then possibly one WebSocket)."""

    def __init__(self, conn_id: int, sock: socket.socket) -> None:
        self.id = conn_id
        self.sock = sock
        self.closed = threading.Event()
        self.frozen = threading.Event()
        self.io = _GatedSocket(sock, self.closed, self.frozen)
        self.ws: Optional[ServerWebSocket] = None
        self.path = ""

    def abort(self) -> None:
        """Drop the connection without a close frame; wakes every thread waiting on it."""
        self.closed.set()
        ws = self.ws
        if ws is not None:
            ws.abort()
        else:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def finish(self) -> None:
        """Called once by the connection's own thread on its way out: release the socket."""
        self.closed.set()
        ws = self.ws
        if ws is not None:
            ws.abort()
        for step in (lambda: self.sock.shutdown(socket.SHUT_RDWR), self.sock.close):
            try:
                step()
            except OSError:
                pass

    def wait_open(self, seconds: Optional[float]) -> bool:
        """Wait ``seconds`` (None: until the connection closes); True when it is still open."""
        if seconds is None:
            self.closed.wait()
            return False
        return not self.closed.wait(seconds)

    def send_json(self, obj: Any) -> None:
        """Send ``obj`` as a text frame; a no-op before the upgrade or once closed."""
        ws = self.ws
        if ws is None:
            return
        try:
            ws.send_text(json.dumps(obj, ensure_ascii=False))
        except WebSocketClosed:
            pass


class _Acceptor:
    """The listening socket and the thread accepting on it (one per up() period)."""

    def __init__(self, listener: socket.socket) -> None:
        self.listener = listener
        self.wake_r, self.wake_w = socket.socketpair()
        self.ready = threading.Event()
        self.thread: Optional[threading.Thread] = None

    def wake(self) -> None:
        try:
            self.wake_w.send(b"x")
        except OSError:
            pass

    def close(self) -> None:
        for sock in (self.listener, self.wake_r, self.wake_w):
            try:
                sock.close()
            except OSError:
                pass


def read_body(
    conn: _BaseConn,
    head: RequestHead,
    buffer: bytearray,
    max_body: int,
    *,
    refuse: Optional[Callable[[int], bool]] = None,
) -> Optional[bytes]:
    """The ``Content-Length`` body of ``head``: what ``buffer`` holds of it, the rest read
    from ``conn`` (the bytes taken are removed from ``buffer``).

    ``refuse(length)``, when given, is asked first; True means it has dealt with
    the request (answered or dropped it) and the connection is done.

    Returns None when the connection should close: a bad length (answered 400),
    one over ``max_body`` (413), no body within ``_BODY_TIMEOUT`` (408), EOF, or
    a body ``refuse`` took.
    """
    try:
        length = int(head.header("Content-Length") or "0")
        if length < 0:
            raise ValueError(length)
    except ValueError:
        send_http_response(conn.io, 400, "bad Content-Length")
        return None
    if refuse is not None and refuse(length):
        return None
    if length > max_body:
        send_http_response(conn.io, 413, "body too large")
        return None
    if len(buffer) < length:
        conn.io.settimeout(_BODY_TIMEOUT)
        try:
            while len(buffer) < length:
                chunk = conn.io.recv(min(1 << 20, length - len(buffer)))
                if not chunk:
                    return None
                buffer += chunk
        except socket.timeout:
            send_http_response(conn.io, 408, "body not received in time")
            return None
        finally:
            conn.io.settimeout(None)
    body = bytes(buffer[:length])
    del buffer[:length]
    return body


@dataclass
class _Rule:
    """A delay or stall for the next ``remaining`` calls (None: every call)."""

    seconds: float
    remaining: Optional[int]
    deliver: bool


@dataclass
class FailRule(Generic[_A]):
    """A queued failure: ``answer`` is the fake's own description of it (retcode,
    code, status ...); ``deliver`` runs the call before failing it."""

    answer: _A
    deliver: bool


@dataclass
class FaultPlan(Generic[_A]):
    """What the rules decided for one call (:meth:`FaultRules.take`); all None: no fault.

    ``stall`` excludes the rest; ``delay`` and ``fail`` may come together (the
    failure is answered late); ``drop`` (True: run the call, then drop the
    connection; False: drop it without running) only comes alone.
    """

    stall: Optional[_Rule] = None
    delay: Optional[_Rule] = None
    fail: Optional[FailRule[_A]] = None
    drop: Optional[bool] = None

    @property
    def empty(self) -> bool:
        """No fault applies: the call is answered normally."""
        return self.stall is None and self.delay is None and self.fail is None and self.drop is None


def _check_times(times: Optional[int], *, forever: bool) -> Optional[int]:
    if times is None and forever:
        return None
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        allowed = "a positive int or None" if forever else "a positive int"
        raise ValueError(f"times must be {allowed}, not {times!r}")
    return times


@dataclass
class _Queued(Generic[_T]):
    item: _T
    remaining: int


class RuleQueue(Generic[_T]):
    """Per-name queues of rules, each rule good for a number of calls, taken in order.

    Thread-safe; never blocks beyond its own short lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: Dict[str, Deque[_Queued[_T]]] = {}

    def push(self, name: str, item: _T, times: int = 1) -> None:
        """Queue ``item`` for the next ``times`` calls of ``name`` (after those queued before).

        Raises:
            ValueError: ``times`` is not a positive int.
        """
        _check_times(times, forever=False)
        with self._lock:
            self._queues.setdefault(name, collections.deque()).append(_Queued(item, times))

    def take(self, name: str) -> Optional[_T]:
        """The rule for one call of ``name`` (counting it), or None when none is queued."""
        with self._lock:
            queue = self._queues.get(name)
            if not queue:
                return None
            entry = queue[0]
            entry.remaining -= 1
            if entry.remaining <= 0:
                queue.popleft()
                if not queue:
                    del self._queues[name]
            return entry.item

    def clear(self) -> None:
        """Forget every queued rule."""
        with self._lock:
            self._queues.clear()


class FaultRules(Generic[_A, _H]):
    """The per-call faults of a fake server, by call name (action, command, route).

    Protocol-neutral bookkeeping: what a failure answers (``_A``) and what a
    custom handler is (``_H``) belong to the fake. Per name: one delay and one
    stall (each for ``times`` calls or all of them; setting one replaces the
    previous), a queue of failures and a queue of connection drops.

    Thread-safe: :meth:`take` decides one call atomically, so concurrent calls
    never share or lose a counted use. Never blocks beyond its own short lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._delays: Dict[str, _Rule] = {}
        self._stalls: Dict[str, _Rule] = {}
        self._fails: RuleQueue[FailRule[_A]] = RuleQueue()
        self._drops: RuleQueue[bool] = RuleQueue()
        self._handlers: Dict[str, _H] = {}

    def delay(self, name: str, seconds: float, *, times: Optional[int] = None, deliver: bool = False) -> None:
        """Hold the answer of the next ``times`` calls (None: every call) for ``seconds``.

        Raises:
            ValueError: ``times`` is neither None nor a positive int.
        """
        rule = _Rule(float(seconds), _check_times(times, forever=True), deliver)
        with self._lock:
            self._delays[name] = rule

    def stall(self, name: str, *, times: Optional[int] = None, deliver: bool = False) -> None:
        """Never answer the next ``times`` calls (None: every call).

        Raises:
            ValueError: ``times`` is neither None nor a positive int.
        """
        rule = _Rule(0.0, _check_times(times, forever=True), deliver)
        with self._lock:
            self._stalls[name] = rule

    def fail(self, name: str, answer: _A, *, times: int = 1, deliver: bool = False) -> None:
        """Queue a failure ``answer`` for the next ``times`` calls (after earlier ones).

        Raises:
            ValueError: ``times`` is not a positive int.
        """
        self._fails.push(name, FailRule(answer, deliver), times)

    def drop(self, name: str, *, times: int = 1, deliver: bool = True) -> None:
        """Queue connection drops for the next ``times`` calls (after earlier ones).

        Raises:
            ValueError: ``times`` is not a positive int.
        """
        self._drops.push(name, bool(deliver), times)

    def take(self, name: str) -> FaultPlan[_A]:
        """Decide one call of ``name``, counting a use of each rule that applies.

        A stall wins over everything; otherwise a delay and the next failure
        both apply; a drop only when nothing else does.
        """
        with self._lock:
            plan: FaultPlan[_A] = FaultPlan(stall=self._take_timed(self._stalls, name))
            if plan.stall is None:
                plan.delay = self._take_timed(self._delays, name)
                plan.fail = self._fails.take(name)
                if plan.delay is None and plan.fail is None:
                    plan.drop = self._drops.take(name)
        return plan

    @staticmethod
    def _take_timed(rules: Dict[str, _Rule], name: str) -> Optional[_Rule]:
        rule = rules.get(name)
        if rule is not None and rule.remaining is not None:
            rule.remaining -= 1
            if rule.remaining <= 0:
                del rules[name]
        return rule

    def reset(self) -> None:
        """Forget every delay, stall, failure and drop (custom handlers stay)."""
        with self._lock:
            self._delays.clear()
            self._stalls.clear()
            self._fails.clear()
            self._drops.clear()

    def set_handler(self, name: str, handler: Optional[_H]) -> None:
        """Answer ``name`` with ``handler`` from now on; None removes it."""
        with self._lock:
            if handler is None:
                self._handlers.pop(name, None)
            else:
                self._handlers[name] = handler

    def handler(self, name: str) -> Optional[_H]:
        """The custom handler of ``name``, or None."""
        with self._lock:
            return self._handlers.get(name)


def carry_out(
    faults: FaultPlan[_A],
    execute: Callable[[], _R],
    failure: Callable[[_A], _R],
    wait: Callable[[Optional[float]], bool],
    settle: Optional[Callable[[], None]] = None,
) -> Optional[_R]:
    """Carry out one call under ``faults``: the answer to send, or None when none is.

    ``execute()`` runs the call and returns its answer; ``failure(answer)`` is the
    answer of a failure rule; ``wait(seconds)`` holds the answer back (None: until
    the connection closes) and returns False when the connection or the server
    closed meanwhile. ``settle()``, when given, is called exactly once, as soon as
    everything the call will do before its answer is visible (it ran, or it will
    not, or not before an indefinite wait).

    None for a drop (the caller drops the connection), a stall (once ``wait(None)``
    returned), and a delay cut short. Blocks for as long as the delays and ``wait``.
    """
    settled = False

    def settle_once() -> None:
        nonlocal settled
        if not settled:
            settled = True
            if settle is not None:
                settle()

    try:
        if faults.drop is not None:
            if faults.drop:
                execute()
            return None
        if faults.stall is not None:
            if faults.stall.deliver:
                execute()
            settle_once()
            wait(None)
            return None
        if faults.fail is not None:
            if faults.fail.deliver:
                execute()
            settle_once()
            if faults.delay is not None and not wait(faults.delay.seconds):
                return None
            return failure(faults.fail.answer)
        if faults.delay is not None:
            if faults.delay.deliver:
                answer = execute()
                settle_once()
                return answer if wait(faults.delay.seconds) else None
            if not wait(faults.delay.seconds):
                return None
        return execute()
    finally:
        settle_once()


class FakeServer:
    """The shared part of the fake servers: lifecycle, accept loop, connection faults.

    Not used on its own: see :class:`~qqreliable.testing.FakeOneBot` and
    :class:`~qqreliable.testing.FakeMirai`. Every public method is thread-safe.
    """

    NAME = "FakeServer"
    THREAD_PREFIX = "fakeserver"

    host: str
    port: int

    @property
    def _log(self) -> logging.Logger:
        """The subclass's module logger (``qqreliable.testing.onebot`` ...)."""
        return logging.getLogger(type(self).__module__)

    def _init_server(self, host: str, port: int, *, reentrant: bool = False) -> None:
        """Set up the shared state; ``reentrant=True`` makes ``_lock`` an RLock."""
        self.host = host
        self.port = port
        self._lock: Any = threading.RLock() if reentrant else threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._admin = threading.RLock()  # orders start/stop/down/up
        self._stop_event = threading.Event()
        self._started = False
        self._stopping = False
        self._acceptor: Optional[_Acceptor] = None
        self._placeholder: Optional[socket.socket] = None
        self._threads: Set[threading.Thread] = set()
        self._conns: Set[Any] = set()
        self._ws_conns: List[Any] = []
        self._total_connections = 0
        self._conn_ids = itertools.count(1)

    # ------------------------------------------------------------------ for subclasses

    def _new_conn(self, conn_id: int, sock: socket.socket, peer: Any) -> _BaseConn:
        raise NotImplementedError

    def _serve_websocket(self, conn: Any, head: RequestHead, buffer: bytearray) -> None:
        raise NotImplementedError

    def _serve_http(self, conn: Any, head: RequestHead, buffer: bytearray) -> bool:
        """Answer one HTTP request; False closes the connection."""
        raise NotImplementedError

    def _on_started(self) -> None:
        """Called by :meth:`start` (under ``_admin``) once connections are accepted."""

    def _on_stopping(self) -> None:
        """Hook: stop() has begun (the stop event is set); wake what waits on other conditions."""

    def _on_stopped(self) -> None:
        """Called by :meth:`stop` (under ``_admin``) after the threads were joined."""

    def _on_conn_end(self, conn: Any) -> None:
        """Called under ``_lock`` when a connection's thread ends."""

    # ------------------------------------------------------------------ URLs

    @property
    def url(self) -> str:
        """Base URL of the HTTP side, ``http://127.0.0.1:<port>``."""
        return f"http://{self._url_host}:{self.port}"

    @property
    def _url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    # ------------------------------------------------------------------ lifecycle

    def start(self: _S) -> _S:
        """Bind, start the threads, and return once connections are accepted.

        Returns:
            self, so that ``server = FakeOneBot().start()`` works.

        Raises:
            OSError: the port could not be bound.
            RuntimeError: the server was already stopped (it cannot be restarted).
        """
        with self._admin:
            if self._stopping:
                raise RuntimeError(f"a stopped {self.NAME} cannot be started again")
            if self._started:
                return self
            listener = self._listen(self.port)
            self.port = listener.getsockname()[1]
            self._started = True
            self._start_acceptor(listener)
            self._on_started()
            self._log.debug("%s listening on %s", self.NAME, self.url)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Close every socket and join every thread. Idempotent.

        Blocks for at most about ``timeout`` seconds. Pending delayed or
        stalled calls are abandoned without an answer.

        Raises:
            RuntimeError: some threads were still alive after ``timeout``;
                the message names them.
        """
        with self._admin:
            with self._cond:
                if self._stopping:
                    return
                self._stopping = True
                acceptor, self._acceptor = self._acceptor, None
                conns = list(self._conns)
                self._ws_conns.clear()
                self._cond.notify_all()
            self._stop_event.set()
            self._on_stopping()
            if acceptor is not None:
                acceptor.wake()
            self._close_placeholder()
            for conn in conns:
                conn.abort()
            deadline = time.monotonic() + timeout
            me = threading.current_thread()
            with self._lock:
                threads = [t for t in self._threads if t is not me]
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
            if acceptor is not None:
                acceptor.close()
            stragglers = sorted(t.name for t in threads if t.is_alive())
            self._on_stopped()
        if stragglers:
            raise RuntimeError(f"{self.NAME} threads still running {timeout}s after stop(): {', '.join(stragglers)}")
        self._log.debug("%s on port %s stopped", self.NAME, self.port)

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def _listen(self, port: int) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            # Rebinding the same port after down() must work despite TIME_WAIT connections.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    def _start_acceptor(self, listener: socket.socket) -> None:
        acceptor = _Acceptor(listener)
        with self._lock:
            self._acceptor = acceptor
        acceptor.thread = self._spawn(f"{self.THREAD_PREFIX}:accept:{self.port}", self._accept_loop, acceptor)
        if acceptor.thread is None or not acceptor.ready.wait(_READY_TIMEOUT):
            raise RuntimeError(f"{self.NAME} accept thread did not start")

    def _spawn(self, name: str, target: Callable[..., None], *args: Any) -> Optional[threading.Thread]:
        """Start a tracked daemon thread; None once stop() has begun."""
        with self._lock:
            if self._stopping:
                return None
            thread = threading.Thread(target=self._thread_main, args=(target, args), name=name, daemon=True)
            self._threads.add(thread)
            thread.start()  # under the lock: stop() never sees an unstarted thread
        return thread

    def _thread_main(self, target: Callable[..., None], args: Tuple[Any, ...]) -> None:
        try:
            target(*args)
        except Exception:
            self._log.exception("%s thread %s crashed", self.NAME, threading.current_thread().name)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _accept_loop(self, acceptor: _Acceptor) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(acceptor.listener, selectors.EVENT_READ, "listen")
            selector.register(acceptor.wake_r, selectors.EVENT_READ, "wake")
            acceptor.ready.set()
            while True:
                for key, _ in selector.select():
                    if key.data == "wake":
                        return
                    try:
                        sock, peer = acceptor.listener.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        return
                    self._on_accept(acceptor, sock, peer)

    def _on_accept(self, acceptor: _Acceptor, sock: socket.socket, peer: Any) -> None:
        sock.setblocking(True)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        conn = self._new_conn(next(self._conn_ids), sock, peer)
        with self._lock:
            if self._stopping or self._acceptor is not acceptor:
                sock.close()
                return
            self._conns.add(conn)
            thread = threading.Thread(target=self._thread_main, args=(self._serve, (conn,)),
                                      name=f"{self.THREAD_PREFIX}:conn:{conn.id}", daemon=True)
            self._threads.add(thread)
            thread.start()

    def _serve(self, conn: Any) -> None:
        """A connection's thread: HTTP requests (keep-alive) until one upgrades."""
        buffer = bytearray()
        first = True
        try:
            while not conn.closed.is_set():
                try:
                    head = read_request_head(conn.io, buffer, timeout=_HEAD_TIMEOUT if first else _IDLE_TIMEOUT)
                except HandshakeError as exc:
                    if first or exc.status != 408:
                        send_http_response(conn.io, exc.status, exc.message)
                    return
                if head is None:
                    return
                first = False
                if head.is_websocket_upgrade:
                    self._serve_websocket(conn, head, buffer)
                    return
                if not self._serve_http(conn, head, buffer):
                    return
        except (OSError, WebSocketClosed) as exc:
            self._log.debug("connection %s ended: %r", conn.id, exc)
        finally:
            with self._cond:
                self._conns.discard(conn)
                if conn in self._ws_conns:
                    self._ws_conns.remove(conn)
                self._on_conn_end(conn)
                self._cond.notify_all()
            conn.finish()

    # ------------------------------------------------------------------ connections

    @property
    def connection_count(self) -> int:
        """WebSocket connections open right now (half-open ones included)."""
        with self._lock:
            return len(self._ws_conns)

    @property
    def total_connections(self) -> int:
        """WebSocket upgrades accepted since start (refused handshakes included)."""
        with self._lock:
            return self._total_connections

    # ------------------------------------------------------------------ connection faults

    def drop_connections(self) -> None:
        """Close every WebSocket's TCP connection abruptly, without a close frame.

        The client sees EOF / close code 1006. New connections are accepted as usual.
        """
        with self._cond:
            conns, self._ws_conns = self._ws_conns, []
            self._cond.notify_all()
        for conn in conns:
            conn.abort()

    def close_connections(self, code: int = 1000, reason: str = "") -> None:
        """Close every WebSocket with a close frame and wait (up to 2 s) for the handshake.

        Half-open connections cannot send a frame; they are dropped instead.
        """
        with self._cond:
            conns, self._ws_conns = self._ws_conns, []
            self._cond.notify_all()
        closing: List[ServerWebSocket] = []
        for conn in conns:
            ws = conn.ws
            if conn.frozen.is_set() or ws is None:
                conn.abort()
                continue
            ws.send_close(code, reason)
            closing.append(ws)
        deadline = time.monotonic() + _CLOSE_TIMEOUT
        for ws in closing:
            if not ws.wait_closed(max(0.0, deadline - time.monotonic())):
                ws.abort()

    def half_open(self) -> None:
        """Silence every open WebSocket: nothing more is read or written on it.

        No events, replies or pongs; the TCP connection stays open (until
        :meth:`drop_connections`, :meth:`down` or :meth:`stop`). New
        connections behave normally.
        """
        with self._cond:
            for conn in self._ws_conns:
                conn.frozen.set()

    def down(self) -> None:
        """Stop listening and drop every connection (HTTP too); the port stays reserved.

        Connection attempts are refused until :meth:`up`.

        Raises:
            RuntimeError: the server is not running.
        """
        with self._admin:
            with self._cond:
                if self._stopping or not self._started:
                    raise RuntimeError(f"{self.NAME} is not running")
                acceptor, self._acceptor = self._acceptor, None
                if acceptor is None:
                    return
                conns = list(self._conns)
                self._ws_conns.clear()
                self._cond.notify_all()
            acceptor.wake()
            if acceptor.thread is not None:
                acceptor.thread.join(_READY_TIMEOUT)
            acceptor.close()
            for conn in conns:
                conn.abort()
            # Bound but not listening: connects are refused and nobody else gets the port.
            placeholder = socket.socket(acceptor.listener.family, socket.SOCK_STREAM)
            try:
                placeholder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                placeholder.bind((self.host, self.port))
            except OSError:
                self._log.warning("could not reserve port %s while down", self.port)
                placeholder.close()
            else:
                self._placeholder = placeholder

    def up(self) -> None:
        """Listen again on the same port after :meth:`down`. No-op when already up.

        Raises:
            RuntimeError: the server is not running.
            OSError: the port could not be bound again.
        """
        with self._admin:
            with self._lock:
                if self._stopping or not self._started:
                    raise RuntimeError(f"{self.NAME} is not running")
                if self._acceptor is not None:
                    return
            self._close_placeholder()
            self._start_acceptor(self._listen(self.port))

    def _close_placeholder(self) -> None:
        placeholder, self._placeholder = self._placeholder, None
        if placeholder is not None:
            placeholder.close()
