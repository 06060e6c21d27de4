"""Listeners: the implementation connects to the bot (reverse WebSocket, HTTP POST).

``Bot(listen="ws://host:port/path")`` runs a :class:`ReverseWsServer`;
``Bot(listen="http://host:port/path")`` runs a :class:`WebhookServer`. Both
are built on :mod:`qqreliable.transport.wsserver`, the project's own
stdlib-only HTTP/WebSocket server code (also used by FakeOneBot), so there is
one WebSocket server implementation in the project and no extra dependency.

Threads (all started through the supervisor's ``spawn``, so they are named
``qqreliable:…``, and all joined by it at stop):

- ``listen-accept``: waits on the listening socket and a wake-up socket pair
  with a selector; :meth:`Listener.close` wakes it.
- ``listen-conn-N``: one per accepted connection; reads the request head
  within a deadline, then serves the WebSocket or the HTTP requests.
  :meth:`Listener.close` aborts every open socket, which ends the thread.
- ``listen-watchdog`` (reverse WS): pings quiet sockets and aborts dead ones.

Reverse WebSocket: roles come from ``X-Client-Role`` (``Universal``, ``API``,
``Event``; compared case-insensitively: Lagrange sends ``Api``), the account
from ``X-Self-ID`` (learnt from the first event when missing). When the bot
has an access token, every handshake must carry it as ``Authorization:
Bearer …``, ``Authorization: Token …`` (go-cqhttp) or ``?access_token=``;
missing → 401, wrong → 403, compared in constant time. A second connection
for the same account and role replaces the first (closed with 1000); calls go
to the newest API-capable connection of the account asked for.

HTTP POST: each request's body is one event. With a ``secret``, the
``X-Signature`` header (``sha1=`` + HMAC-SHA1 hex of the raw body) is
checked in constant time: missing → 401, wrong → 403. The answer is ``204``
at once, unless a quick-operation handler produced an answer for the event.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import hmac
import itertools
import json
import logging
import selectors
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

from ..exceptions import (
    ApiNotAvailable,
    ApiTimeout,
    BotStopped,
    ConnectFailed,
    ListenFailed,
    ProtocolError,
    ResponseLost,
)
from ..reliability import Liveness
from ._json import parse_frame
from .ws import PendingCalls
from .wsserver import (
    CLOSE_NORMAL,
    HandshakeError,
    RequestHead,
    ServerWebSocket,
    WebSocketClosed,
    accept_websocket,
    read_request_head,
    send_http_response,
)

__all__ = [
    "ListenAddress",
    "parse_listen",
    "check_token",
    "check_signature",
    "Listener",
    "ReverseWsServer",
    "ReverseConnection",
    "WebhookServer",
    "AccountRoute",
]

log = logging.getLogger(__name__)

Spawn = Callable[[str, Callable[[], None]], Any]

_HEAD_TIMEOUT = 10.0  # first request head of a connection
_IDLE_TIMEOUT = 75.0  # between keep-alive webhook requests (close() interrupts it)
_BODY_TIMEOUT = 10.0
_MAX_BODY = 16 * 1024 * 1024
_MAX_CONNECTIONS = 256
_REPLACED_GRACE = 2.0  # a replaced socket that does not answer our close is aborted after this
_JSON = {"Content-Type": "application/json; charset=utf-8"}
_ROLES = ("universal", "api", "event")


# --------------------------------------------------------------------------- pure helpers


@dataclass(frozen=True)
class ListenAddress:
    """Where to listen: ``kind`` is ``"ws"`` (reverse WebSocket) or ``"http"`` (HTTP POST)."""

    kind: str
    host: str
    port: int
    path: str

    def url(self, port: Optional[int] = None) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.kind}://{host}:{self.port if port is None else port}{self.path}"


def parse_listen(url: str) -> ListenAddress:
    """Parse a ``listen=`` URL. Port 0 picks a free port (tests).

    Raises:
        ValueError: not ``ws://`` or ``http://`` with a host, or a bad port.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "http"):
        hint = " (TLS: put a reverse proxy in front)" if scheme in ("wss", "https") else ""
        raise ValueError(f"listen= must be ws://host:port/path or http://host:port/path, not {url!r}{hint}")
    if not parts.hostname:
        raise ValueError(f"listen= needs a host, e.g. ws://0.0.0.0:8080/onebot/v11/ws, not {url!r}")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"listen= has a bad port: {url!r}") from exc
    if port is None:
        port = 80
    return ListenAddress(scheme, parts.hostname, port, parts.path or "/")


def _same_path(a: str, b: str) -> bool:
    return (a.rstrip("/") or "/") == (b.rstrip("/") or "/")


def check_token(head: RequestHead, token: Optional[str]) -> int:
    """0 when the request carries ``token`` (or none is required), 401 when it
    carries none, 403 when it carries a wrong one. Constant-time comparison.

    Accepted: ``Authorization: Bearer <t>``, ``Authorization: Token <t>``
    (go-cqhttp), and ``?access_token=<t>`` when there is no header.
    """
    if not token:
        return 0
    header = (head.header("Authorization") or "").strip()
    if header:
        scheme, _, value = header.partition(" ")
        given = value.strip() if scheme.lower() in ("bearer", "token") else header
    else:
        given = head.query_value("access_token") or ""
    if not given:
        return 401
    return 0 if hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8")) else 403


def check_signature(secret: Optional[str], body: bytes, header: Optional[str]) -> int:
    """0 when ``header`` is ``sha1=<HMAC-SHA1 hex of body>`` (or no secret is set),
    401 when it is missing, 403 when it is wrong. Constant-time comparison."""
    if not secret:
        return 0
    if not header or not header.strip():
        return 401
    expected = "sha1=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha1).hexdigest()
    return 0 if hmac.compare_digest(expected.encode("ascii"), header.strip().lower().encode("utf-8", "replace")) else 403


def _as_int(value: Any) -> Optional[int]:
    try:
        return int(value) if value not in (None, "") and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


# --------------------------------------------------------------------------- the listener base


class Listener:
    """A listening socket, its accept thread and one thread per connection.

    Args:
        address: from :func:`parse_listen`.
        spawn: the supervisor's ``spawn(name, target)``.
        stopping: the bot's stop Event.
    """

    def __init__(self, address: ListenAddress, *, spawn: Spawn, stopping: threading.Event) -> None:
        self.address = address
        self._spawn = spawn
        self._stopping = stopping
        self._lock = threading.Lock()
        self._sock: Optional[socket.socket] = None
        self._wake_r: Optional[socket.socket] = None
        self._wake_w: Optional[socket.socket] = None
        self._open: Dict[int, socket.socket] = {}
        self._ids = itertools.count(1)
        self._closed = False
        self.port: Optional[int] = None
        self.accepted = 0
        self.refused = 0

    @property
    def url(self) -> str:
        """The listen URL with the real port (useful after ``:0``)."""
        return self.address.url(self.port)

    def start(self) -> None:
        """Bind and listen now, then start accepting on a thread.

        Raises:
            ListenFailed: the address cannot be bound (port in use, ...).
        """
        family = socket.AF_INET6 if ":" in self.address.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            # Restarting must not wait out TIME_WAIT; on Linux this still refuses a port
            # another process listens on.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.address.host, self.address.port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise ListenFailed(
                exc.errno or 0, f"cannot listen on {self.address.url()}: {exc.strerror or exc}"
            ) from exc
        self.port = sock.getsockname()[1]
        wake_r, wake_w = socket.socketpair()
        with self._lock:
            self._sock, self._wake_r, self._wake_w = sock, wake_r, wake_w
        log.info("listening on %s", self.url)
        self._spawn("listen-accept", self._accept_loop)

    def close(self) -> None:
        """Stop accepting and abort every open connection; the threads then end."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            wake_w = self._wake_w
            conns = list(self._open.values())
        if wake_w is not None:
            try:
                wake_w.send(b"x")
            except OSError:
                pass
        for sock in conns:
            _abort_socket(sock)
        self._close_extra()

    def _close_extra(self) -> None:
        """Subclasses: close what they own beyond the sockets."""

    def _accept_loop(self) -> None:
        sock, wake_r = self._sock, self._wake_r
        assert sock is not None and wake_r is not None
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(sock, selectors.EVENT_READ, "listen")
                selector.register(wake_r, selectors.EVENT_READ, "wake")
                while not self._stopping.is_set():
                    for key, _ in selector.select(1.0):
                        if key.data == "wake":
                            return
                        try:
                            conn, peer = sock.accept()
                        except (BlockingIOError, InterruptedError):
                            continue
                        except OSError as exc:
                            log.warning("accept on %s failed: %s", self.url, exc)
                            continue
                        self._on_accept(conn, peer)
        finally:
            for s in (sock, wake_r, self._wake_w):
                try:
                    if s is not None:
                        s.close()
                except OSError:
                    pass

    def _on_accept(self, conn: socket.socket, peer: Any) -> None:
        conn.setblocking(True)
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        conn_id = next(self._ids)
        with self._lock:
            if self._closed or len(self._open) >= _MAX_CONNECTIONS:
                self.refused += 1
                refuse = True
            else:
                self._open[conn_id] = conn
                self.accepted += 1
                refuse = False
        if refuse:
            log.warning("refused a connection from %s: too many open connections", peer)
            _abort_socket(conn)
            conn.close()
            return
        self._spawn(f"listen-conn-{conn_id}", lambda: self._connection_thread(conn_id, conn, peer))

    def _connection_thread(self, conn_id: int, conn: socket.socket, peer: Any) -> None:
        try:
            self._serve(conn, peer)
        except (OSError, WebSocketClosed) as exc:
            log.debug("connection from %s ended: %r", peer, exc)
        except Exception:  # never let one connection take the bot down
            log.exception("connection from %s failed", peer)
        finally:
            with self._lock:
                self._open.pop(conn_id, None)
            _abort_socket(conn)
            try:
                conn.close()
            except OSError:
                pass

    def _serve(self, sock: socket.socket, peer: Any) -> None:
        raise NotImplementedError

    def stats(self) -> Dict[str, Any]:
        with self._lock:
            open_now = len(self._open)
        return {"url": self.url, "accepted": self.accepted, "refused": self.refused, "open": open_now}


def _abort_socket(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _WriteDeadlineSocket:
    """The socket of an open reverse WebSocket, as :class:`ServerWebSocket` sees it.

    Writes give up after ``io_timeout`` seconds without completing (an
    implementation that stopped reading must not hang a caller's send for
    ever; the connection is then failed). Reads wait for ever - whether a
    quiet link is dead is the watchdog's call - unless a caller set its own
    timeout (the close handshake does), which is then honoured.
    """

    def __init__(self, sock: socket.socket, io_timeout: float) -> None:
        self._sock = sock
        self._io_timeout = io_timeout
        self._custom: Optional[float] = None
        sock.settimeout(io_timeout)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        while True:
            try:
                return self._sock.recv(bufsize, flags)
            except socket.timeout:
                if self._custom is not None:
                    raise

    def recv_into(self, buffer: memoryview, nbytes: int = 0, flags: int = 0) -> int:
        while True:
            try:
                return self._sock.recv_into(buffer, nbytes, flags)
            except socket.timeout:
                if self._custom is not None:
                    raise

    def sendall(self, data: bytes, flags: int = 0) -> None:
        self._sock.sendall(data, flags)

    def shutdown(self, how: int) -> None:
        self._sock.shutdown(how)

    def close(self) -> None:
        self._sock.close()

    def settimeout(self, value: Optional[float]) -> None:
        self._custom = value
        self._sock.settimeout(self._io_timeout if value is None else value)

    def gettimeout(self) -> Optional[float]:
        return self._custom

    def fileno(self) -> int:
        return self._sock.fileno()


def _refuse(sock: socket.socket, status: int, message: str, headers: Optional[Dict[str, str]] = None) -> None:
    try:
        send_http_response(sock, status, message, headers=headers)
    except OSError:
        pass


# --------------------------------------------------------------------------- reverse WebSocket


class ReverseConnection:
    """One reverse WebSocket: an account, a role, and its pending calls."""

    def __init__(self, ws: ServerWebSocket, self_id: Optional[int], role: str, peer: Any, liveness: Liveness) -> None:
        self.ws = ws
        self.self_id = self_id
        self.role = role
        self.peer = peer
        self.liveness = liveness
        self.pending = PendingCalls()
        self.opened = time.monotonic()
        self.replaced_at: Optional[float] = None
        self._seq = itertools.count(1)
        self.id = next(_reverse_ids)

    @property
    def events(self) -> bool:
        return self.role in ("universal", "event")

    @property
    def api(self) -> bool:
        return self.role in ("universal", "api")

    def next_echo(self) -> str:
        return f"qqr:r{self.id}:{next(self._seq)}"

    def __repr__(self) -> str:
        return f"<ReverseConnection {self.id} self_id={self.self_id} role={self.role}>"


_reverse_ids = itertools.count(1)


class ReverseWsServer(Listener):
    """The bot's reverse-WebSocket endpoint: accounts connect to it.

    Args:
        on_event: ``on_event(obj)`` for every event frame (reader thread; must not block).
        on_account: ``on_account(self_id, up, reason)`` when an account becomes
            usable (an event-capable connection, plus an API-capable one unless
            ``api_elsewhere``) or stops being usable.
        access_token: required of every connecting peer when set.
        api_elsewhere: the bot calls the API over another transport (``url=``),
            so an account needs only an event-capable connection to be up.
    """

    via = "ws"

    def __init__(
        self,
        address: ListenAddress,
        *,
        spawn: Spawn,
        stopping: threading.Event,
        on_event: Callable[[Dict[str, Any]], None],
        on_account: Callable[[Optional[int], bool, str], None],
        access_token: Optional[str] = None,
        api_elsewhere: bool = False,
        heartbeat_grace: float = 2.5,
        ping_interval: Optional[float] = 15.0,
        pong_timeout: float = 10.0,
        io_timeout: float = 10.0,
        max_message_size: Optional[int] = 64 * 1024 * 1024,
    ) -> None:
        super().__init__(address, spawn=spawn, stopping=stopping)
        self._io_timeout = io_timeout
        self._on_event = on_event
        self._on_account = on_account
        self._token = access_token or None
        self.api_elsewhere = api_elsewhere
        self._liveness_args = dict(grace=heartbeat_grace, ping_interval=ping_interval, pong_timeout=pong_timeout)
        self._max_message_size = max_message_size if max_message_size is not None else 1 << 62
        self._cond = threading.Condition(self._lock)
        # (self_id, role) -> newest connection; plus every live connection
        self._routes: Dict[Tuple[Optional[int], str], ReverseConnection] = {}
        self._conns: List[ReverseConnection] = []
        self._up: Dict[Optional[int], bool] = {}
        self._order: List[Optional[int]] = []  # accounts in the order they came up
        self.bad_frames = 0
        self.unmatched_replies = 0
        self.rejected = {"401": 0, "403": 0, "other": 0}
        self.replaced = 0
        self.connects = 0
        self.disconnects = 0
        self.events_received = 0

    def start(self) -> None:
        super().start()
        self._spawn("listen-watchdog", self._watchdog_loop)

    # -- accounts -----------------------------------------------------------

    def accounts(self) -> List[Optional[int]]:
        """Accounts that are up, in the order they came up."""
        with self._lock:
            return [a for a in self._order if self._up.get(a)]

    def is_up(self, self_id: Optional[int]) -> bool:
        with self._lock:
            return bool(self._up.get(self_id))

    def _usable(self, self_id: Optional[int]) -> bool:  # caller holds the lock
        roles = {role for (sid, role) in self._routes if sid == self_id}
        has_events = "universal" in roles or "event" in roles
        has_api = "universal" in roles or "api" in roles
        return has_events and (has_api or self.api_elsewhere)

    def _update_account(self, self_id: Optional[int], reason: str) -> None:
        """Recompute one account's state and report a change (caller holds no lock)."""
        with self._cond:
            now_up = self._usable(self_id)
            was_up = bool(self._up.get(self_id))
            if now_up == was_up:
                return
            self._up[self_id] = now_up
            if now_up:
                if self_id in self._order:
                    self._order.remove(self_id)
                self._order.append(self_id)
            self._cond.notify_all()
        log.info("account %s %s", self_id, "connected" if now_up else f"disconnected: {reason}")
        self._on_account(self_id, now_up, reason)

    # -- serving ------------------------------------------------------------

    def _serve(self, sock: socket.socket, peer: Any) -> None:
        buffer = bytearray()
        try:
            head = read_request_head(sock, buffer, timeout=_HEAD_TIMEOUT)
        except HandshakeError as exc:
            _refuse(sock, exc.status, exc.message)
            return
        if head is None:
            return
        if not _same_path(head.path, self.address.path):
            self.rejected["other"] += 1
            _refuse(sock, 404, f"no endpoint at {head.path}; the bot listens on {self.address.path}")
            return
        if not head.is_websocket_upgrade:
            self.rejected["other"] += 1
            _refuse(sock, 426, "this is a OneBot reverse WebSocket endpoint", {"Upgrade": "websocket"})
            return
        status = check_token(head, self._token)
        if status:
            self.rejected[str(status)] += 1
            refusals = self.rejected["401"] + self.rejected["403"]
            log.log(
                logging.WARNING if refusals == 1 or refusals % 10 == 0 else logging.DEBUG,
                "refused a reverse WebSocket from %s: access token %s (%d refused so far)",
                peer, "missing" if status == 401 else "wrong", refusals,
            )
            headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            _refuse(sock, status, "access token missing" if status == 401 else "access token wrong", headers)
            return
        role = (head.header("X-Client-Role") or "universal").strip().lower() or "universal"
        if role not in _ROLES:
            self.rejected["other"] += 1
            _refuse(sock, 400, f"unknown X-Client-Role {role!r}: use Universal, API or Event")
            return
        self_id = _as_int(head.header("X-Self-ID"))
        if self_id == 0:
            self_id = None  # LLOneBot before login: learn it from the first event
        try:
            ws = accept_websocket(
                _WriteDeadlineSocket(sock, self._io_timeout),
                head,
                buffered=bytes(buffer),
                max_message_size=self._max_message_size,
            )
        except HandshakeError:
            return
        liveness = Liveness(**self._liveness_args)  # type: ignore[arg-type]
        ws.on_pong = lambda payload: liveness.saw_frame()
        conn = ReverseConnection(ws, self_id, role, peer, liveness)
        self._register(conn)
        reason = "closed"
        try:
            reason = self._read(conn)
        finally:
            self._unregister(conn, reason)

    def _register(self, conn: ReverseConnection) -> None:
        with self._cond:
            if self._closed:
                conn.ws.abort()
                return
            old = self._routes.get((conn.self_id, conn.role))
            self._routes[(conn.self_id, conn.role)] = conn
            self._conns.append(conn)
            self.connects += 1
            self._cond.notify_all()
        log.info("reverse WebSocket from %s: account %s, role %s", conn.peer, conn.self_id, conn.role)
        if old is not None:
            self._replace(old)
        self._update_account(conn.self_id, "connected")

    def _replace(self, old: ReverseConnection) -> None:
        """The newest connection for an account and role wins (CONN-08): close the older."""
        self.replaced += 1
        old.replaced_at = time.monotonic()
        log.warning(
            "a new connection for account %s (role %s) replaces the older one", old.self_id, old.role
        )
        try:
            old.ws.send_close(CLOSE_NORMAL, "replaced by a newer connection")
        except (WebSocketClosed, OSError):
            old.ws.abort()

    def _unregister(self, conn: ReverseConnection, reason: str) -> None:
        with self._cond:
            if conn in self._conns:
                self._conns.remove(conn)
            key = (conn.self_id, conn.role)
            if self._routes.get(key) is conn:
                del self._routes[key]
            self.disconnects += 1
            self._cond.notify_all()
        conn.ws.abort()
        failed = conn.pending.fail_all(
            lambda: ResponseLost(
                f"reverse connection of account {conn.self_id} lost ({reason}) with the call in flight: "
                "it may or may not have run"
            )
        )
        if failed:
            log.warning("%d pending call(s) failed: reverse connection of %s lost", failed, conn.self_id)
        self._update_account(conn.self_id, reason)

    def _read(self, conn: ReverseConnection) -> str:
        while True:
            try:
                _, payload = conn.ws.recv()
            except WebSocketClosed as exc:
                return "replaced by a newer connection" if conn.replaced_at else str(exc)
            conn.liveness.saw_frame()
            try:
                obj = parse_frame(payload)
            except ProtocolError as exc:
                self.bad_frames += 1
                log.warning("dropped a bad frame from account %s (%d so far): %s", conn.self_id, self.bad_frames, exc)
                continue
            if "post_type" in obj:
                self._on_event_frame(conn, obj)
                continue
            echo = obj.get("echo")
            if echo is not None and conn.pending.settle(str(echo), obj):
                continue
            self.unmatched_replies += 1
            log.debug("dropped a reply nobody waits for (late or unknown echo %r)", echo)

    def _on_event_frame(self, conn: ReverseConnection, obj: Dict[str, Any]) -> None:
        if conn.replaced_at is not None:
            return  # only the newest connection of an account delivers events
        if conn.self_id is None:
            learned = _as_int(obj.get("self_id"))
            if learned:
                self._rekey(conn, learned)
        conn.liveness.saw_event()  # the event side is alive (zombie check)
        if obj.get("post_type") == "meta_event" and obj.get("meta_event_type") == "heartbeat":
            conn.liveness.saw_heartbeat(obj.get("interval"))
        if not conn.events:
            return  # an API-only socket has no business sending events
        self.events_received += 1
        self._on_event(obj)

    def _rekey(self, conn: ReverseConnection, self_id: int) -> None:
        with self._cond:
            key = (None, conn.role)
            if self._routes.get(key) is conn:
                del self._routes[key]
            conn.self_id = self_id
            old = self._routes.get((self_id, conn.role))
            self._routes[(self_id, conn.role)] = conn
            self._cond.notify_all()
        log.info("reverse connection without X-Self-ID is account %s", self_id)
        if old is not None and old is not conn:
            self._replace(old)
        self._update_account(None, "identified")
        self._update_account(self_id, "connected")

    # -- liveness -----------------------------------------------------------

    def _watchdog_loop(self) -> None:
        wait = 0.5
        while not self._stopping.wait(wait):
            wait = self.watchdog()

    def watchdog(self) -> float:
        """Ping quiet connections, abort dead ones; returns seconds until the next check."""
        with self._lock:
            conns = list(self._conns)
        next_in = 1.0
        now = time.monotonic()
        for conn in conns:
            if conn.replaced_at is not None:
                if now - conn.replaced_at > _REPLACED_GRACE:
                    conn.ws.abort()
                continue
            why = conn.liveness.stale()
            if why is not None:
                log.warning("reverse connection of account %s is dead: %s; closing it", conn.self_id, why)
                conn.ws.abort()
                continue
            if conn.liveness.ping_due():
                conn.liveness.ping_sent()
                try:
                    conn.ws.ping()
                except WebSocketClosed:
                    continue
            next_in = min(next_in, conn.liveness.next_check_in())
        return max(0.01, next_in)

    # -- calls --------------------------------------------------------------

    def call(self, action: str, params: Dict[str, Any], timeout: float, self_id: Optional[int] = None) -> Dict[str, Any]:
        """Send one action over the account's newest API-capable connection; wait for its reply.

        Waits for the account to connect within the same deadline.

        Raises:
            ConnectFailed: no connection for the account in time, or the frame
                could not be written (the action was not received).
            ApiNotAvailable: several accounts are connected and ``self_id`` was not given.
            ResponseLost / ApiTimeout / BotStopped: as for forward WebSocket.
        """
        deadline = time.monotonic() + timeout
        conn = self._wait_route(action, self_id, deadline)
        echo = conn.next_echo()
        try:
            frame = json.dumps({"action": action, "params": params, "echo": echo}, ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{action}: parameters are not JSON-serialisable: {exc}") from exc
        future = conn.pending.add(echo)
        try:
            conn.ws.send_text(frame)
        except (WebSocketClosed, OSError) as exc:
            conn.pending.discard(echo)
            raise ConnectFailed(f"{action}: could not send to account {conn.self_id}: {exc}") from exc
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()))
        except concurrent.futures.TimeoutError:
            conn.pending.discard(echo)
            raise ApiTimeout(f"{action}: no reply from account {conn.self_id} within {timeout:g}s") from None

    def _wait_route(self, action: str, self_id: Optional[int], deadline: float) -> ReverseConnection:
        with self._cond:
            while True:
                if self._stopping.is_set() or self._closed:
                    raise BotStopped(f"{action}: the bot is stopping")
                conn = self._pick(action, self_id)
                if conn is not None:
                    return conn
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    who = f"account {self_id}" if self_id is not None else "any account"
                    raise ConnectFailed(f"{action}: {who} is not connected to {self.url}")
                self._cond.wait(min(remaining, 1.0))

    def _pick(self, action: str, self_id: Optional[int]) -> Optional[ReverseConnection]:  # lock held
        def api_conn(sid: Optional[int]) -> Optional[ReverseConnection]:
            conn = self._routes.get((sid, "api")) or self._routes.get((sid, "universal"))
            if conn is not None and conn.replaced_at is None and not conn.ws.closed:
                return conn
            return None

        if self_id is not None:
            return api_conn(self_id)
        accounts = sorted({sid for (sid, role) in self._routes if role in ("api", "universal")}, key=str)
        if len(accounts) > 1:
            raise ApiNotAvailable(
                f"{action}: several accounts are connected ({', '.join(map(str, accounts))}); "
                "pass self_id= to choose one"
            )
        return api_conn(accounts[0]) if accounts else None

    def route(self, self_id: Optional[int]) -> "AccountRoute":
        """A transport-like object whose ``call`` goes to ``self_id`` (or the only account)."""
        return AccountRoute(self, self_id)

    def _close_extra(self) -> None:
        with self._cond:
            conns = list(self._conns)
            self._cond.notify_all()
        for conn in conns:
            try:
                conn.ws.send_close(CLOSE_NORMAL, "bot stopped")
            except (WebSocketClosed, OSError):
                pass
            conn.ws.abort()

    def stats(self) -> Dict[str, Any]:
        out = super().stats()
        with self._lock:
            conns = [
                {"self_id": c.self_id, "role": c.role, "pending": len(c.pending), "replaced": c.replaced_at is not None}
                for c in self._conns
            ]
        out.update(
            mode="reverse-ws",
            connections=conns,
            connects=self.connects,
            disconnects=self.disconnects,
            replaced=self.replaced,
            rejected=dict(self.rejected),
            bad_frames=self.bad_frames,
            unmatched_replies=self.unmatched_replies,
            events=self.events_received,
        )
        return out


class AccountRoute:
    """``call(action, params, timeout)`` bound to one account of a :class:`ReverseWsServer`."""

    via = "ws"

    def __init__(self, server: ReverseWsServer, self_id: Optional[int]) -> None:
        self.server = server
        self.self_id = self_id

    def call(self, action: str, params: Dict[str, Any], timeout: float) -> Dict[str, Any]:
        return self.server.call(action, params, timeout, self.self_id)


# --------------------------------------------------------------------------- HTTP POST


class WebhookServer(Listener):
    """The bot's HTTP POST endpoint: the implementation POSTs each event to it.

    Args:
        on_event: ``on_event(obj) -> Optional[dict]``: queue the event (never
            blocks unless a quick-operation handler is registered for it) and
            return the quick-operation answer, if any.
        secret: the HMAC-SHA1 key of ``X-Signature``; unsigned posts are refused when set.
    """

    def __init__(
        self,
        address: ListenAddress,
        *,
        spawn: Spawn,
        stopping: threading.Event,
        on_event: Callable[[Dict[str, Any]], Optional[Dict[str, Any]]],
        secret: Optional[str] = None,
        io_timeout: float = 10.0,
    ) -> None:
        super().__init__(address, spawn=spawn, stopping=stopping)
        self._on_event = on_event
        self._secret = secret or None
        self._io_timeout = io_timeout
        self.posts = 0
        self.bad_posts = 0
        self.rejected = {"401": 0, "403": 0, "other": 0}
        self.quick_answers = 0

    def _serve(self, sock: socket.socket, peer: Any) -> None:
        sock.settimeout(self._io_timeout)  # every write has a deadline; reads set their own
        buffer = bytearray()
        first = True
        while not self._stopping.is_set():
            try:
                head = read_request_head(sock, buffer, timeout=_HEAD_TIMEOUT if first else _IDLE_TIMEOUT)
            except HandshakeError as exc:
                if first or exc.status != 408:
                    _refuse(sock, exc.status, exc.message)
                return
            if head is None:
                return
            first = False
            if not self._request(sock, head, buffer):
                return

    def _request(self, sock: socket.socket, head: RequestHead, buffer: bytearray) -> bool:
        """Answer one request; True when the connection stays open for the next one."""
        if head.header("Transfer-Encoding"):
            self.rejected["other"] += 1
            _refuse(sock, 411, "only Content-Length bodies are supported")
            return False
        try:
            length = int(head.header("Content-Length") or "0")
            if length < 0:
                raise ValueError(length)
        except ValueError:
            self.rejected["other"] += 1
            _refuse(sock, 400, "bad Content-Length")
            return False
        if length > _MAX_BODY:
            self.rejected["other"] += 1
            _refuse(sock, 413, "body too large")
            return False
        if len(buffer) < length:
            sock.settimeout(_BODY_TIMEOUT)
            try:
                while len(buffer) < length:
                    chunk = sock.recv(min(1 << 20, length - len(buffer)))
                    if not chunk:
                        return False
                    buffer += chunk
            except socket.timeout:
                _refuse(sock, 408, "body not received in time")
                return False
            finally:
                sock.settimeout(self._io_timeout)
        body = bytes(buffer[:length])
        del buffer[:length]
        status, answer = self._handle(head, body)
        if status == 204:
            payload = b""
            headers: Dict[str, str] = {}
        else:
            payload = json.dumps(answer, ensure_ascii=False).encode("utf-8")
            headers = dict(_JSON)
        if status in (401,):
            headers["WWW-Authenticate"] = "Signature"
        send_http_response(sock, status, payload, headers=headers, keep_alive=head.keep_alive)
        return head.keep_alive

    def _handle(self, head: RequestHead, body: bytes) -> Tuple[int, Any]:
        if not _same_path(head.path, self.address.path):
            self.rejected["other"] += 1
            return 404, {"message": f"no endpoint at {head.path}"}
        if head.method != "POST":
            self.rejected["other"] += 1
            return 405, {"message": "OneBot events are POSTed"}
        status = check_signature(self._secret, body, head.header("X-Signature"))
        if status:
            self.rejected[str(status)] += 1
            log.warning("refused an event POST: X-Signature %s", "missing" if status == 401 else "wrong")
            return status, {"message": "signature missing" if status == 401 else "signature wrong"}
        try:
            obj = parse_frame(body)
        except ProtocolError as exc:
            self.bad_posts += 1
            log.warning("dropped a bad event POST (%d so far): %s", self.bad_posts, exc)
            return 400, {"message": str(exc)}
        if "post_type" not in obj:
            self.bad_posts += 1
            return 400, {"message": "not a OneBot event (no post_type)"}
        if "self_id" not in obj:
            sid = _as_int(head.header("X-Self-ID"))
            if sid is not None:
                obj["self_id"] = sid
        self.posts += 1
        answer = self._on_event(obj)
        if answer:
            self.quick_answers += 1
            return 200, answer
        return 204, None

    def stats(self) -> Dict[str, Any]:
        out = super().stats()
        out.update(
            mode="http-post",
            posts=self.posts,
            bad_posts=self.bad_posts,
            rejected=dict(self.rejected),
            quick_answers=self.quick_answers,
        )
        return out
