"""Listeners: the implementation connects to the bot (reverse WebSocket, HTTP POST).

``Bot(listen="ws://host:port/path")`` runs a :class:`ReverseWsServer`;
``Bot(listen="http://host:port/path")`` runs a :class:`WebhookServer`. Both
are built on :mod:`qqreliable.transport.wsserver`, the project's own
stdlib-only HTTP/WebSocket server code (also used by the fake servers of
:mod:`qqreliable.testing`), so there is one WebSocket server implementation
in the project and no extra dependency.

Neither knows a protocol. What a protocol decides is asked of a small
policy object from its package: :class:`ReverseWsPolicy` (is this upgrade
authorised, which account and role is it, which codec reads its frames) and
:class:`WebhookPolicy` (is this POST authentic, is its body an event). An
open reverse WebSocket is a :class:`~.link.Link`, the same as a forward one.

Threads (all started through the supervisor's ``spawn``, so they are named
``qqreliable:…``, and all joined by it at stop):

- ``listen-accept``: waits on the listening socket and a wake-up socket pair
  with a selector; :meth:`Listener.close` wakes it.
- ``listen-conn-N``: one per accepted connection; reads the request head
  within a deadline, then serves the WebSocket or the HTTP requests.
  :meth:`Listener.close` aborts every open socket, which ends the thread.
- ``listen-watchdog`` (reverse WS): pings quiet sockets and aborts dead ones.
  It never waits on a socket: a peer that stopped reading cannot delay the
  checks of the others.

Reverse WebSocket: a connection has a role, ``universal`` (events and
calls), ``api`` (calls) or ``event`` (events), and an account (or none yet:
then the codec names it from the traffic). A second connection for the same
account and role replaces the first (closed with 1000); calls go to the
newest call-capable connection of the account asked for.

HTTP POST: each request's body is one event. The answer is ``204`` at once,
unless the owner produced an answer for the event (a quick operation).
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
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

from ..exceptions import (
    ApiNotAvailable,
    BotStopped,
    Error,
    ConnectFailed,
    ListenFailed,
    ProtocolError,
)
from ._json import parse_frame
from .codec import FrameCodec
from .link import Link, LinkCounters, LinkEnded, LivenessPolicy
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

try:  # Python 3.8+
    from typing import Protocol
except ImportError:  # pragma: no cover
    Protocol = object  # type: ignore[assignment,misc]

__all__ = [
    "ListenAddress",
    "parse_listen",
    "Listener",
    "ReverseWsPolicy",
    "ReverseWsServer",
    "ReverseConnection",
    "WebhookPolicy",
    "WebhookServer",
    "AccountRoute",
    "ROLES",
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
#: The roles of a reverse connection: both ways, calls only, events only.
ROLES = ("universal", "api", "event")


# --------------------------------------------------------------------------- pure helpers


class ListenAddress:
    """Where to listen: ``kind`` is ``"ws"`` (reverse WebSocket) or ``"http"`` (HTTP POST).

    Frozen (a plain slotted class: no dataclass to generate at import).
    """

    __slots__ = ("kind", "host", "port", "path")

    kind: str
    host: str
    port: int
    path: str

    def __init__(self, kind: str, host: str, port: int, path: str) -> None:
        init = object.__setattr__
        init(self, "kind", kind)
        init(self, "host", host)
        init(self, "port", port)
        init(self, "path", path)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"ListenAddress is frozen: cannot assign to {name!r}")

    def _fields(self) -> Tuple[str, str, int, str]:
        return (self.kind, self.host, self.port, self.path)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ListenAddress):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return f"ListenAddress(kind={self.kind!r}, host={self.host!r}, port={self.port!r}, path={self.path!r})"

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


class ReverseWsPolicy(Protocol):
    """What a protocol package decides about reverse WebSocket connections.

    Called on the connection's thread, before the upgrade is answered.
    """

    #: The protocol's name, for refusals and logs ("OneBot").
    name: str
    #: What the protocol calls an account, as a key in ``stats()``.
    account_field: str

    def authenticate(self, head: RequestHead) -> int:
        """0 to accept; 401 (credentials missing) or 403 (wrong) to refuse."""

    def route(self, head: RequestHead) -> Tuple[str, Any]:
        """``(role, account)`` of the connection: role one of :data:`ROLES`;
        account None when the request does not name it.

        Raises:
            HandshakeError: refuse the upgrade with its status (400: unknown role).
        """

    def codec(self) -> FrameCodec:
        """A fresh codec for one connection."""


class _ServerSocket:
    """An accepted :class:`ServerWebSocket` as a :class:`~.link.WireSocket`."""

    def __init__(self, ws: ServerWebSocket, raw: "_WriteDeadlineSocket") -> None:
        self.ws = ws
        self._raw = raw
        # Whole frames parsed in one go from the read-ahead buffer, handed out one by one.
        self._ready: Deque[bytes] = collections.deque()

    def recv(self) -> Optional[bytes]:
        ready = self._ready
        if ready:
            if not self.ws.closed:
                return ready.popleft()
            ready.clear()  # closed meanwhile (kill, stop): recv() below says how
        else:
            ready.extend(self.ws.take_buffered())
            if ready:
                return ready.popleft()
        try:
            return self.ws.recv()[1]
        except WebSocketClosed as exc:
            raise LinkEnded(str(exc), exc.code if exc.by_peer else None) from None

    def recv_many(self) -> Optional[List[bytes]]:
        """Every whole data message already read ahead (at least one), in order;
        else what :meth:`recv` gives (one message, or None for a control frame)."""
        ready = self._ready
        if ready:
            if not self.ws.closed:
                out = list(ready)
                ready.clear()
                return out
            ready.clear()  # closed meanwhile (kill, stop): recv() below says how
        else:
            out = self.ws.take_buffered()
            if out:
                return out
        ws = self.ws
        try:
            first = ws.recv()[1]
        except WebSocketClosed as exc:
            raise LinkEnded(str(exc), exc.code if exc.by_peer else None) from None
        # recv() read a chunk and parsed one message off it: the rest of that read
        # joins this batch (one delivery), not the next one.
        rest = ws.take_buffered()
        if rest:
            rest.insert(0, first)
            return rest
        return [first]

    def ended(self) -> bool:
        """True once closed (a kill, a stop): what was read ahead is not handed out."""
        return self.ws.closed

    def recv_before(self, deadline: float) -> Optional[bytes]:
        if self._ready and not self.ws.closed:
            return self._ready.popleft()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self._raw.settimeout(remaining)
        try:
            return self.ws.recv()[1]
        except WebSocketClosed as exc:
            if isinstance(exc.__cause__, socket.timeout):
                raise TimeoutError from None
            raise LinkEnded(str(exc), exc.code if exc.by_peer else None) from None
        finally:
            self._raw.settimeout(None)

    def send_text(self, text: str) -> None:
        self.ws.send_text(text)

    def ping(self, before: Callable[[], None]) -> bool:
        return self.ws.ping_nowait(before=before) != "busy"

    def close(self) -> None:
        try:
            self.ws.send_close(CLOSE_NORMAL, "bot stopped")
        except (WebSocketClosed, OSError):
            pass
        self.ws.abort()

    def abort(self) -> None:
        self.ws.abort()


class ReverseConnection(Link):
    """One reverse WebSocket: a :class:`~.link.Link` with an account and a role."""

    label_format = "reverse connection of {name}"

    def __init__(self, server: "ReverseWsServer", sock: _ServerSocket, codec: FrameCodec,
                 liveness: LivenessPolicy, account: Any, role: str, peer: Any) -> None:
        super().__init__(
            sock,
            codec,
            liveness,
            server.counters,
            name=f"account {account}",
            deliver=server._deliver,
            on_fatal=server._link_fatal,
            deliver_many=server._deliver_many if server._on_events is not None else None,
            identity=account,
            id_prefix="r",
        )
        self.server = server
        self.ws = sock.ws
        self.role = role
        self.peer = peer
        self.replaced_at: Optional[float] = None

    @property
    def account(self) -> Any:
        return self.identity

    @property
    def events(self) -> bool:
        return self.role in ("universal", "event")

    @property
    def api(self) -> bool:
        return self.role in ("universal", "api")

    def learn(self, identity: Any) -> None:
        # Only the newest connection of an account is re-keyed (a replaced one
        # must not displace its successor), and a blank account is no account.
        if identity and self.replaced_at is None:
            self.server._rekey(self, identity)

    def __repr__(self) -> str:
        return f"<ReverseConnection {self.id} account={self.account} role={self.role}>"


class ReverseWsServer(Listener):
    """The bot's reverse-WebSocket endpoint: accounts connect to it.

    Args:
        policy: the protocol's :class:`ReverseWsPolicy`.
        new_liveness: makes the liveness tracker of one connection.
        on_event: ``on_event(obj)`` for every event frame (reader thread; must not block).
        on_events: ``on_events(objs)`` for the event frames of one read, in order
            (reader thread; must not block); default: ``on_event`` for each.
        on_account: ``on_account(account, up, reason)`` when an account becomes
            usable (an event-capable connection, plus a call-capable one unless
            ``api_elsewhere``) or stops being usable.
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
        policy: ReverseWsPolicy,
        new_liveness: Callable[[], LivenessPolicy],
        on_event: Callable[[Dict[str, Any]], None],
        on_account: Callable[[Any, bool, str], None],
        api_elsewhere: bool = False,
        io_timeout: float = 10.0,
        max_message_size: Optional[int] = 64 * 1024 * 1024,
        on_events: Optional[Callable[[List[Dict[str, Any]]], None]] = None,
    ) -> None:
        super().__init__(address, spawn=spawn, stopping=stopping)
        self._io_timeout = io_timeout
        self._policy = policy
        self._new_liveness = new_liveness
        self._on_event = on_event
        self._on_events = on_events
        self._on_account = on_account
        self.api_elsewhere = api_elsewhere
        self._max_message_size = max_message_size if max_message_size is not None else 1 << 62
        self._cond = threading.Condition(self._lock)
        # (account, role) -> newest connection; plus every live connection
        self._routes: Dict[Tuple[Any, str], ReverseConnection] = {}
        self._conns: List[ReverseConnection] = []
        self._up: Dict[Any, bool] = {}
        self._order: List[Any] = []  # accounts in the order they came up
        self.counters = LinkCounters()
        self.rejected = {"401": 0, "403": 0, "other": 0}
        self.replaced = 0
        self.connects = 0
        self.disconnects = 0
        self.events_received = 0

    @property
    def bad_frames(self) -> int:
        return self.counters.bad_frames

    @property
    def unmatched_replies(self) -> int:
        return self.counters.unmatched_replies

    def start(self) -> None:
        super().start()
        self._spawn("listen-watchdog", self._watchdog_loop)

    # -- accounts -----------------------------------------------------------

    def accounts(self) -> List[Any]:
        """Accounts that are up, in the order they came up."""
        with self._lock:
            return [a for a in self._order if self._up.get(a)]

    def is_up(self, account: Any) -> bool:
        with self._lock:
            return bool(self._up.get(account))

    def _usable(self, account: Any) -> bool:  # caller holds the lock
        roles = {role for (acc, role) in self._routes if acc == account}
        has_events = "universal" in roles or "event" in roles
        has_api = "universal" in roles or "api" in roles
        return has_events and (has_api or self.api_elsewhere)

    def _update_account(self, account: Any, reason: str) -> None:
        """Recompute one account's state and report a change (caller holds no lock)."""
        with self._cond:
            now_up = self._usable(account)
            was_up = bool(self._up.get(account))
            if now_up == was_up:
                return
            self._up[account] = now_up
            if now_up:
                if account in self._order:
                    self._order.remove(account)
                self._order.append(account)
            self._cond.notify_all()
        log.info("account %s %s", account, "connected" if now_up else f"disconnected: {reason}")
        self._on_account(account, now_up, reason)

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
            _refuse(sock, 426, f"this is a {self._policy.name} reverse WebSocket endpoint", {"Upgrade": "websocket"})
            return
        status = self._policy.authenticate(head)
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
        try:
            role, account = self._policy.route(head)
        except HandshakeError as exc:
            self.rejected["other"] += 1
            _refuse(sock, exc.status, exc.message, exc.headers or None)
            return
        raw = _WriteDeadlineSocket(sock, self._io_timeout)
        try:
            ws = accept_websocket(raw, head, buffered=bytes(buffer), max_message_size=self._max_message_size)
        except HandshakeError:
            return
        liveness = self._new_liveness()
        ws.on_pong = lambda payload: liveness.saw_frame()
        conn = ReverseConnection(self, _ServerSocket(ws, raw), self._policy.codec(), liveness, account, role, peer)
        conn.codec.opened()
        self._register(conn)
        reason = "closed"
        try:
            reason = conn.serve()
        finally:
            self._unregister(conn, reason)

    def _register(self, conn: ReverseConnection) -> None:
        with self._cond:
            if self._closed:
                conn.ws.abort()
                return
            old = self._routes.get((conn.account, conn.role))
            self._routes[(conn.account, conn.role)] = conn
            self._conns.append(conn)
            self.connects += 1
            self._cond.notify_all()
        log.info("reverse WebSocket from %s: account %s, role %s", conn.peer, conn.account, conn.role)
        if old is not None:
            self._replace(old)
        self._update_account(conn.account, "connected")

    def _replace(self, old: ReverseConnection) -> None:
        """The newest connection for an account and role wins (CONN-08): close the older."""
        self.replaced += 1
        old.replaced_at = time.monotonic()
        old.kill_reason = old.kill_reason or "replaced by a newer connection"
        log.warning(
            "a new connection for account %s (role %s) replaces the older one", old.account, old.role
        )
        try:
            old.ws.send_close(CLOSE_NORMAL, "replaced by a newer connection")
        except (WebSocketClosed, OSError):
            old.ws.abort()

    def _unregister(self, conn: ReverseConnection, reason: str) -> None:
        with self._cond:
            if conn in self._conns:
                self._conns.remove(conn)
            key = (conn.account, conn.role)
            if self._routes.get(key) is conn:
                del self._routes[key]
            self.disconnects += 1
            self._cond.notify_all()
        conn.ws.abort()
        conn.fail_pending(reason)
        try:
            conn.codec.closed(conn.end_code, reason)
        except Error as exc:  # nothing is final for a listener: the peer may dial again
            log.warning("reverse connection of account %s: %s", conn.account, exc)
        self._update_account(conn.account, reason)

    def _deliver(self, link: Link, event: Any) -> None:
        conn: ReverseConnection = link  # type: ignore[assignment]
        if conn.replaced_at is not None:
            return  # only the newest connection of an account delivers events
        if not conn.events:
            return  # a calls-only socket has no business sending events
        self.events_received += 1
        self._on_event(event)

    def _deliver_many(self, link: Link, events: List[Any]) -> None:
        conn: ReverseConnection = link  # type: ignore[assignment]
        if conn.replaced_at is not None or not conn.events:
            return  # as _deliver
        self.events_received += len(events)
        self._on_events(events)  # type: ignore[misc]  # set: the link is given this only then

    def _link_fatal(self, link: Link, exc: BaseException) -> bool:
        # A peer that dialled us has no credentials of ours to reject: whatever
        # it meant, the frame answers nothing.
        self.counters.unmatched_replies += 1
        log.debug("dropped a frame from %s that answers nothing: %s", link.name, exc)
        return False

    def _rekey(self, conn: ReverseConnection, account: Any) -> None:
        with self._cond:
            key = (None, conn.role)
            if self._routes.get(key) is conn:
                del self._routes[key]
            conn.identity = account
            conn.name = f"account {account}"
            old = self._routes.get((account, conn.role))
            self._routes[(account, conn.role)] = conn
            self._cond.notify_all()
        log.info("reverse connection without an account header is account %s", account)
        if old is not None and old is not conn:
            self._replace(old)
        self._update_account(None, "identified")
        self._update_account(account, "connected")

    # -- liveness -----------------------------------------------------------

    def _watchdog_loop(self) -> None:
        wait = 0.5
        while not self._stopping.wait(wait):
            wait = self.watchdog()

    def watchdog(self) -> float:
        """Ping quiet connections, abort dead ones; returns seconds until the next check.

        Never blocks on a socket: a ping that cannot be written at once (a
        peer that stopped reading, a caller's large write in progress) is
        counted as sent, and the link goes stale when no pong follows.
        """
        with self._lock:
            conns = list(self._conns)
        next_in = 1.0
        now = time.monotonic()
        for conn in conns:
            if conn.replaced_at is not None:
                if now - conn.replaced_at > _REPLACED_GRACE:
                    conn.kill(None)
                continue
            why = conn.check(now)
            if why is not None:
                log.warning("reverse connection of account %s is dead: %s; closing it", conn.account, why)
                conn.kill(f"dead link: {why}")
                continue
            next_in = min(next_in, conn.next_check_in(now))
        return max(0.01, next_in)

    # -- calls --------------------------------------------------------------

    def call(self, action: str, params: Dict[str, Any], timeout: float, account: Any = None) -> Any:
        """Send one call over the account's newest call-capable connection; wait for its reply.

        Waits for the account to connect within the same deadline.

        Raises:
            ConnectFailed: no connection for the account in time, or the frame
                could not be written (the call was not received).
            ApiNotAvailable: several accounts are connected and ``account`` was not given.
            ResponseLost / ApiTimeout / BotStopped: as for forward WebSocket.
            TypeError: ``params`` is not JSON-serialisable (nothing sent).
        """
        deadline = time.monotonic() + timeout
        conn = self._wait_route(action, account, deadline)
        return conn.call(action, params, deadline, timeout)

    def _wait_route(self, action: str, account: Any, deadline: float) -> ReverseConnection:
        with self._cond:
            while True:
                if self._stopping.is_set() or self._closed:
                    raise BotStopped(f"{action}: the bot is stopping")
                conn = self._pick(action, account)
                if conn is not None:
                    return conn
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    who = f"account {account}" if account is not None else "any account"
                    raise ConnectFailed(f"{action}: {who} is not connected to {self.url}")
                self._cond.wait(min(remaining, 1.0))

    def _pick(self, action: str, account: Any) -> Optional[ReverseConnection]:  # lock held
        def api_conn(acc: Any) -> Optional[ReverseConnection]:
            conn = self._routes.get((acc, "api")) or self._routes.get((acc, "universal"))
            if conn is not None and conn.replaced_at is None and not conn.ws.closed:
                return conn
            return None

        if account is not None:
            return api_conn(account)
        accounts = sorted({acc for (acc, role) in self._routes if role in ("api", "universal")}, key=str)
        if len(accounts) > 1:
            raise ApiNotAvailable(
                f"{action}: several accounts are connected ({', '.join(map(str, accounts))}); "
                f"pass {self._policy.account_field}= to choose one"
            )
        return api_conn(accounts[0]) if accounts else None

    def route(self, account: Any) -> "AccountRoute":
        """A transport-like object whose ``call`` goes to ``account`` (or the only account)."""
        return AccountRoute(self, account)

    def _close_extra(self) -> None:
        with self._cond:
            conns = list(self._conns)
            self._cond.notify_all()
        for conn in conns:
            conn.sock.close()

    def stats(self) -> Dict[str, Any]:
        out = super().stats()
        field = self._policy.account_field
        with self._lock:
            conns = [
                {field: c.account, "role": c.role, "pending": len(c.pending), "replaced": c.replaced_at is not None}
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
    """``call(name, params, timeout)`` bound to one account of a :class:`ReverseWsServer`."""

    via = "ws"

    def __init__(self, server: ReverseWsServer, account: Any) -> None:
        self.server = server
        self.account = account

    def call(self, action: str, params: Dict[str, Any], timeout: float) -> Any:
        return self.server.call(action, params, timeout, self.account)


# --------------------------------------------------------------------------- HTTP POST


class WebhookPolicy(Protocol):
    """What a protocol package decides about the HTTP requests it is POSTed."""

    #: The protocol's name, for refusals ("OneBot").
    name: str
    #: ``WWW-Authenticate`` scheme of a 401 answer ("Signature").
    auth_scheme: str

    def verify(self, head: RequestHead, body: bytes) -> int:
        """0 when the request is authentic; 401 (signature missing) or 403 (wrong)."""

    def accept(self, head: RequestHead, obj: Dict[str, Any]) -> Optional[str]:
        """None when ``obj`` is an event (it may be completed in place from the
        headers); else why not (answered 400)."""


class WebhookServer(Listener):
    """The bot's HTTP POST endpoint: the implementation POSTs each event to it.

    Args:
        policy: the protocol's :class:`WebhookPolicy` (signatures, what an event is).
        on_event: ``on_event(obj) -> Optional[dict]``: queue the event (never
            blocks unless the owner waits for an answer to it) and return the
            answer, if any.
    """

    def __init__(
        self,
        address: ListenAddress,
        *,
        spawn: Spawn,
        stopping: threading.Event,
        policy: WebhookPolicy,
        on_event: Callable[[Dict[str, Any]], Optional[Dict[str, Any]]],
        io_timeout: float = 10.0,
    ) -> None:
        super().__init__(address, spawn=spawn, stopping=stopping)
        self._policy = policy
        self._on_event = on_event
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
            headers["WWW-Authenticate"] = self._policy.auth_scheme
        send_http_response(sock, status, payload, headers=headers, keep_alive=head.keep_alive)
        return head.keep_alive

    def _handle(self, head: RequestHead, body: bytes) -> Tuple[int, Any]:
        if not _same_path(head.path, self.address.path):
            self.rejected["other"] += 1
            return 404, {"message": f"no endpoint at {head.path}"}
        if head.method != "POST":
            self.rejected["other"] += 1
            return 405, {"message": f"{self._policy.name} events are POSTed"}
        status = self._policy.verify(head, body)
        if status:
            self.rejected[str(status)] += 1
            log.warning("refused an event POST: signature %s", "missing" if status == 401 else "wrong")
            return status, {"message": "signature missing" if status == 401 else "signature wrong"}
        try:
            obj = parse_frame(body)
        except ProtocolError as exc:
            self.bad_posts += 1
            log.warning("dropped a bad event POST (%d so far): %s", self.bad_posts, exc)
            return 400, {"message": str(exc)}
        refusal = self._policy.accept(head, obj)
        if refusal is not None:
            self.bad_posts += 1
            return 400, {"message": refusal}
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
