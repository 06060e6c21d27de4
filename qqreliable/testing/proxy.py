"""FaultProxy: a TCP proxy on 127.0.0.1 that breaks connections on demand.

FakeOneBot breaks things at the OneBot level (a late answer, a dropped
WebSocket). Some faults live below it, in TCP: a port that accepts and then
says nothing, a link that swallows packets without a FIN or RST, a reset right
after the request went out, an answer that trickles in or stops mid-body. Put
a ``FaultProxy`` between the bot and the server and switch modes at any time::

    with FakeOneBot() as onebot, FaultProxy(onebot.port) as proxy:
        bot = Bot(proxy.url("http"))
        proxy.set_mode("reset_after_request")
        ...

Modes (:data:`MODES`):

``pass``
    Forward both ways.
``stall``
    New connections are accepted and never served: nothing is forwarded and
    nothing is answered (a backend whose process hangs after ``accept``).
``blackhole``
    Every connection, open or new, silently swallows what is sent in either
    direction; no FIN, no RST (a NAT that forgot the flow).
``reset_after_request``
    The request reaches the server, and when the server's answer comes back
    the client's connection is reset (RST) instead: the action ran, the
    client never hears of it.
``trickle``
    After the first ``trickle_after`` bytes of each connection's answers, the
    server's bytes reach the client ``trickle_bytes`` at a time, every
    ``trickle_interval`` seconds.
``cut``
    After ``cut_after`` bytes of the server's answer on a connection, both
    sides are closed (FIN): a body cut short.
``refuse``
    New connections are accepted and reset (RST) at once.
``respond``
    New connections get a canned HTTP answer (``respond_status``, e.g. 502,
    200 with an HTML page, 301, 404) and are closed: a wrong port, a reverse
    proxy with no backend.

Independently of the mode, ``idle_timeout`` (seconds) closes a connection
on which the client has sent nothing for that long, as nginx and cloud load
balancers do with idle WebSockets.

Threads are named ``fakeproxy:…``, wait with timeouts, and are joined by
:meth:`FaultProxy.stop`.
"""

from __future__ import annotations

import logging
import selectors
import socket
import struct
import threading
import time
from typing import List, Optional, Set

__all__ = ["FaultProxy", "MODES"]

log = logging.getLogger(__name__)

MODES = ("pass", "stall", "blackhole", "reset_after_request", "trickle", "cut", "refuse", "respond")

_REASONS = {200: "OK", 301: "Moved Permanently", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            426: "Upgrade Required", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}

_POLL = 0.05  # seconds a connection thread waits before looking at the mode and stop flag again
_JOIN_TIMEOUT = 5.0


def _reset(sock: socket.socket) -> None:
    """Close with an RST rather than a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    _close(sock)


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass


class _Link:
    """One proxied connection: the client side and (unless stalled) the upstream side."""

    def __init__(self, client: socket.socket) -> None:
        self.client = client
        self.upstream: Optional[socket.socket] = None
        self.forwarded_down = 0  # bytes of the server's answer passed to the client
        self.request_sent = False

    def close(self) -> None:
        _close(self.client)
        if self.upstream is not None:
            _close(self.upstream)


class FaultProxy:
    """A TCP proxy to ``127.0.0.1:target_port`` with faults on demand. Thread-safe.

    Args:
        target_port: the port to forward to (on ``target_host``).
        target_host: loopback by default.
        mode: the initial mode (see :data:`MODES`).
        trickle_bytes: how many bytes ``trickle`` lets through at a time.
        trickle_interval: seconds between those pieces.
        trickle_after: how much of each connection's answer passes at full speed first.
        cut_after: the bytes of each answer let through in ``cut``.
        respond_status: the HTTP status of ``respond``.
        idle_timeout: close links the client has been silent on for this long.
    """

    def __init__(
        self,
        target_port: int,
        *,
        target_host: str = "127.0.0.1",
        mode: str = "pass",
        trickle_bytes: int = 1,
        trickle_interval: float = 0.05,
        trickle_after: int = 0,
        cut_after: int = 64,
        respond_status: int = 502,
        idle_timeout: Optional[float] = None,
    ) -> None:
        self.target = (target_host, target_port)
        self.trickle_bytes = max(1, trickle_bytes)
        self.trickle_interval = trickle_interval
        self.trickle_after = trickle_after
        self.cut_after = cut_after
        self.respond_status = respond_status
        self.idle_timeout = idle_timeout
        self._mode = "pass"
        self.set_mode(mode)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._links: Set[_Link] = set()
        self._threads: List[threading.Thread] = []
        self._listener: Optional[socket.socket] = None
        self.connections = 0

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        if self._listener is None:
            raise RuntimeError("FaultProxy is not started")
        return int(self._listener.getsockname()[1])

    def url(self, scheme: str = "http", path: str = "") -> str:
        """``scheme://127.0.0.1:<port><path>``, e.g. ``proxy.url("ws", "/")``."""
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def start(self) -> "FaultProxy":
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(_POLL)
        self._listener = listener
        self._spawn("accept", self._accept_loop)
        return self

    def stop(self) -> None:
        """Close every connection and join every thread. Idempotent."""
        self._stop.set()
        with self._lock:
            links = list(self._links)
            threads = list(self._threads)
        for link in links:
            link.close()
        for thread in threads:
            thread.join(_JOIN_TIMEOUT)
        if self._listener is not None:
            _close(self._listener)
        stragglers = [t.name for t in threads if t.is_alive()]
        if stragglers:
            raise RuntimeError(f"FaultProxy threads did not stop: {stragglers}")

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ faults

    @property
    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str) -> None:
        """Switch mode; it applies at once to open connections (except ``stall``)."""
        if mode not in MODES:
            raise ValueError(f"unknown FaultProxy mode {mode!r}; choose from {', '.join(MODES)}")
        self._mode = mode

    def reset_all(self) -> None:
        """Reset (RST) every open connection now."""
        with self._lock:
            links = list(self._links)
        for link in links:
            _reset(link.client)
            if link.upstream is not None:
                _reset(link.upstream)

    # ------------------------------------------------------------------ internals

    def _spawn(self, name: str, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=f"fakeproxy:{name}", daemon=True)  # type: ignore[arg-type]
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            link = _Link(client)
            with self._lock:
                if self._stop.is_set():
                    link.close()
                    return
                self._links.add(link)
                self.connections += 1
            self._spawn(f"link:{self.connections}", self._serve, link)

    def _respond(self, sock: socket.socket) -> None:
        status = self.respond_status
        body = f"<html><body><h1>{status} {_REASONS.get(status, '')}</h1></body></html>".encode()
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n"
            "Content-Type: text/html\r\n"
            f"Content-Length: {len(body)}\r\n"
            + ("Location: /elsewhere/\r\n" if 300 <= status < 400 else "")
            + "Connection: close\r\n\r\n"
        )
        sock.settimeout(1.0)
        try:
            sock.recv(65536)  # the request (or its start)
        except OSError:
            pass
        sock.sendall(head.encode("latin-1") + body)
        _close(sock)

    def _serve(self, link: _Link) -> None:
        try:
            if self._mode == "refuse":
                _reset(link.client)
                return
            if self._mode == "respond":
                self._respond(link.client)
                return
            if self._mode == "stall":
                # Accept and never answer; hold the socket until stop or the client leaves.
                self._hold(link.client)
                return
            try:
                link.upstream = socket.create_connection(self.target, timeout=5)
            except OSError as exc:
                log.debug("proxy cannot reach %s: %s", self.target, exc)
                _reset(link.client)
                return
            self._pump(link)
        except OSError as exc:
            log.debug("proxy link ended: %r", exc)
        finally:
            link.close()
            with self._lock:
                self._links.discard(link)

    def _hold(self, sock: socket.socket) -> None:
        sock.settimeout(_POLL)
        while not self._stop.is_set():
            try:
                if not sock.recv(65536):
                    return  # the client gave up
            except socket.timeout:
                continue

    def _pump(self, link: _Link) -> None:
        assert link.upstream is not None
        client, upstream = link.client, link.upstream
        last_up = time.monotonic()
        with selectors.DefaultSelector() as sel:
            sel.register(client, selectors.EVENT_READ, "up")
            sel.register(upstream, selectors.EVENT_READ, "down")
            while not self._stop.is_set():
                if self.idle_timeout is not None and time.monotonic() - last_up > self.idle_timeout:
                    log.debug("proxy closes a link idle for %.1fs", time.monotonic() - last_up)
                    return  # FIN both ways, as an idle-killing middlebox does
                for key, _ in sel.select(_POLL):
                    sock = key.fileobj
                    data = sock.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return  # one side closed: close both (FIN)
                    if key.data == "up":
                        last_up = time.monotonic()
                        if self._forward_up(link, data):
                            continue
                        return
                    if not self._forward_down(link, data):
                        return

    def _forward_up(self, link: _Link, data: bytes) -> bool:
        if self._mode == "blackhole":
            return True
        assert link.upstream is not None
        link.upstream.sendall(data)
        link.request_sent = True
        return True

    def _forward_down(self, link: _Link, data: bytes) -> bool:
        """Pass the server's bytes to the client as the mode says; False ends the link."""
        mode = self._mode
        if mode == "blackhole":
            return True
        if mode == "reset_after_request" and link.request_sent:
            _reset(link.client)
            return False
        if mode == "cut":
            room = max(0, self.cut_after - link.forwarded_down)
            if room:
                link.client.sendall(data[:room])
                link.forwarded_down += min(room, len(data))
            if len(data) >= room:
                return False
            return True
        if mode == "trickle":
            fast = max(0, self.trickle_after - link.forwarded_down)
            if fast:
                link.client.sendall(data[:fast])
                link.forwarded_down += min(fast, len(data))
                data = data[fast:]
            for i in range(0, len(data), self.trickle_bytes):
                if self._stop.wait(self.trickle_interval):
                    return False
                link.client.sendall(data[i : i + self.trickle_bytes])
                link.forwarded_down += len(data[i : i + self.trickle_bytes])
            return True
        link.client.sendall(data)
        link.forwarded_down += len(data)
        return True
