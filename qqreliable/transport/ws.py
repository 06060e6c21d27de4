"""Forward WebSocket transport: a reconnecting ``websocket-client`` connection.

One :class:`WsClient` owns one URL. Its reader thread (``run``) is an
iterative loop: connect, read frames until the connection ends, fail every
pending call at once, back off with jitter, connect again. No recursion, no
module globals. Its watchdog (``watchdog``, run periodically by the
supervisor) sends WebSocket pings and closes a link that went silent, which
lands the reader back in its loop.

Calls are matched to replies by ``echo`` through futures: any number of
threads may call at once, replies may come back in any order, a reply that
arrives after its caller gave up is dropped.

This module is one of the two places (with ``http.py``) where third-party
errors become qqreliable errors.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import logging
import socket
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import websocket

from ._json import dumps, parse_frame
from ..exceptions import (
    ApiTimeout,
    AuthenticationError,
    BotStopped,
    ConnectFailed,
    ConnectionLost,
    ProtocolError,
    ResponseLost,
)
from ..reliability import Backoff, Liveness

__all__ = ["WsClient", "PendingCalls"]

log = logging.getLogger(__name__)

_conn_ids = itertools.count(1)


class Waiter:
    """One caller waiting for one reply: a lock the reader releases.

    Lighter than a ``concurrent.futures.Future`` (no Condition, no callbacks):
    the caller blocks in one C-level ``acquire``, the reader wakes it with one
    ``release``. Set at most once (:class:`PendingCalls` pops an entry before
    settling or failing it).
    """

    __slots__ = ("_lock", "_value", "_error")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self._value: Any = None
        self._error: Optional[BaseException] = None

    def set_result(self, value: Any) -> None:
        self._value = value
        self._lock.release()

    def set_exception(self, error: BaseException) -> None:
        self._error = error
        self._lock.release()

    def result(self, timeout: float) -> Any:
        """The reply; raises the stored error, or ``concurrent.futures.TimeoutError``."""
        if not self._lock.acquire(timeout=max(0.0, timeout)):
            raise concurrent.futures.TimeoutError
        if self._error is not None:
            raise self._error
        return self._value


class PendingCalls:
    """The echo → waiter table of one connection. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: Dict[str, Waiter] = {}

    def add(self, echo: str) -> Waiter:
        waiter = Waiter()
        with self._lock:
            self._waiting[echo] = waiter
        return waiter

    def discard(self, echo: str) -> None:
        with self._lock:
            self._waiting.pop(echo, None)

    def settle(self, echo: str, reply: Dict[str, Any]) -> bool:
        """Hand ``reply`` to its caller; False when nobody waits for ``echo``."""
        with self._lock:
            waiter = self._waiting.pop(echo, None)
        if waiter is None:
            return False
        waiter.set_result(reply)
        return True

    def fail_all(self, make_error: Callable[[], BaseException]) -> int:
        """Fail every waiter at once (the socket died); returns how many."""
        with self._lock:
            waiting, self._waiting = self._waiting, {}
        for waiter in waiting.values():
            waiter.set_exception(make_error())
        return len(waiting)

    def __len__(self) -> int:
        with self._lock:
            return len(self._waiting)


class _Connection:
    """One open socket and its pending calls."""

    def __init__(self, ws: websocket.WebSocket) -> None:
        self.ws = ws
        self.id = next(_conn_ids)
        self.pending = PendingCalls()
        self.outbox = Outbox(ws)
        self._seq = itertools.count(1)
        self.kill_reason: Optional[str] = None

    def next_echo(self) -> str:
        return f"qqr:{self.id}:{next(self._seq)}"

    def kill(self, reason: str) -> None:
        """Shut the socket down without a close frame; wakes the reader at once."""
        if self.kill_reason is None:
            self.kill_reason = reason
        _shutdown(self.ws)


def _shutdown(ws: websocket.WebSocket) -> None:
    sock = getattr(ws, "sock", None)
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


_READ_AHEAD = 65536
_MAX_READ = 1 << 20


class Outbox:
    """Text frames of concurrent callers written to one websocket-client socket,
    several in one ``send`` when they queue up (combining writes).

    A caller encodes (and masks) its frame without any lock, queues it, and
    when no write is in progress writes everything queued, its own frame and
    whatever others queued meanwhile, under websocket-client's own lock (so
    pings and close frames stay ordered with it). A caller that finds a write
    in progress returns at once: the writer takes its frame along.

    Thread-safe. :meth:`send_text` blocks while this caller writes (up to the
    socket's I/O timeout per write) and raises what the write raised; a frame
    handed to another writer whose write then fails is lost with the
    connection, which the writer kills (its caller then sees ResponseLost).
    """

    def __init__(self, ws: websocket.WebSocket) -> None:
        self._ws = ws
        self._lock = threading.Lock()
        self._queued: List[bytes] = []
        self._writing = False

    def send_text(self, text: str) -> None:
        ws = self._ws
        frame = websocket.ABNF.create_frame(text, websocket.ABNF.OPCODE_TEXT)
        mask_key = getattr(ws, "get_mask_key", None)
        if mask_key:
            frame.get_mask_key = mask_key
        data = frame.format()
        with self._lock:
            self._queued.append(data)
            if self._writing:
                return  # the writer in progress takes it along
            self._writing = True
        try:
            while True:
                with self._lock:
                    batch = self._queued
                    if not batch:
                        self._writing = False
                        return
                    self._queued = []
                out = batch[0] if len(batch) == 1 else b"".join(batch)
                with ws.lock:
                    while out:
                        out = out[ws._send(out):]
        except BaseException:
            with self._lock:
                self._writing = False
                self._queued = []
            raise


class _BoundedFrames(websocket._abnf.frame_buffer):  # type: ignore[misc, name-defined]
    """websocket-client's frame reader, reading ahead, and refusing a message over ``limit`` bytes.

    websocket-client asks the socket for exactly the bytes it needs next (2
    for a header, then the length, then the payload): three system calls per
    frame. This reader asks for up to 64 KiB at a time and serves the fields
    from that buffer, which roughly doubles the frames a reader thread can
    take in.

    The size check runs on each frame's declared length, before its payload
    is read, and on the running total of a fragmented message, so a hostile
    or broken peer cannot make the reader allocate without bound.
    """

    def __init__(self, recv: Callable[[int], bytes], limit: Optional[int]) -> None:
        super().__init__(recv, True)
        self.limit = limit
        self._message_total = 0
        self._buf = b""
        self._pos = 0

    def recv_strict(self, bufsize: int) -> bytes:
        start = self._pos
        end = start + bufsize
        if end <= len(self._buf):
            self._pos = end
            return self._buf[start:end]
        parts = [self._buf[start:]] if start < len(self._buf) else []
        have = len(self._buf) - start if parts else 0
        try:
            while have < bufsize:
                data = self.recv(max(_READ_AHEAD, min(bufsize - have, _MAX_READ)))
                parts.append(data)
                have += len(data)
        except BaseException:
            # A read timeout mid-frame: keep what arrived for the next call.
            self._buf, self._pos = b"".join(parts), 0
            raise
        self._buf = parts[0] if len(parts) == 1 else b"".join(parts)
        self._pos = bufsize
        return self._buf[:bufsize]

    def take_whole(self) -> Optional[Tuple[int, bytes]]:
        """The next frame when it is a whole, final, unmasked text or binary frame
        already in the read-ahead buffer: ``(opcode, payload)`` parsed straight
        from the buffer, skipping websocket-client's per-frame machinery (the
        usual case under load). None leaves the frame to websocket-client.

        Only between frames (no header half read); the caller checks that no
        fragmented message is in progress."""
        if self.header is not None:
            return None
        buf = self._buf
        pos = self._pos
        if len(buf) - pos < 2:
            return None
        b0 = buf[pos]
        if b0 != 0x81 and b0 != 0x82:  # FIN + text/binary, no RSV bits
            return None
        n = buf[pos + 1]
        if n > 125:  # masked (the general path refuses or unmasks it), or an extended length
            if n != 126 or len(buf) - pos < 4:
                return None
            n = (buf[pos + 2] << 8) | buf[pos + 3]
            start = pos + 4
        else:
            start = pos + 2
        end = start + n
        if end > len(buf) or (self.limit is not None and n > self.limit):
            return None
        self._pos = end
        return b0 & 0x0F, buf[start:end]

    def recv_length(self) -> None:
        super().recv_length()
        fin, opcode = self.header[0], self.header[4]  # type: ignore[index]
        if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
            self._message_total = 0
        if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY, websocket.ABNF.OPCODE_CONT):
            self._message_total += self.length or 0
            total = self._message_total
            if fin:
                self._message_total = 0
            if self.limit is not None and total > self.limit:
                raise websocket.WebSocketPayloadException(
                    f"message of {total} bytes is over the {self.limit}-byte limit"
                )


def _bound_frames(ws: websocket.WebSocket, limit: Optional[int]) -> None:
    """Swap in :class:`_BoundedFrames` (websocket-client has no size limit of its own)."""
    current = getattr(ws, "frame_buffer", None)
    if current is None or not hasattr(current, "recv_length") or not hasattr(current, "recv_strict"):
        return  # a websocket-client without this internal: keep its own reader
    ws.frame_buffer = _BoundedFrames(current.recv, limit)


class _RetryableConnectError(Exception):
    pass


class WsClient:
    """A reconnecting forward-WebSocket connection to one OneBot URL.

    Args:
        url: ``ws://`` or ``wss://`` URL (``/`` universal, ``/api``, ``/event``).
        role: ``"universal"``, ``"api"`` or ``"event"``: what this socket carries.
        on_event: called on the reader thread with each event object; must not block.
        on_open: called on the reader thread when a connection opens; must not block.
        on_close: called on the reader thread with the reason when one ends.
        stopping: the bot's stop Event.
        fail: reports an unrecoverable error to the owner (bad token, budget spent).
    """

    def __init__(
        self,
        url: str,
        *,
        role: str = "universal",
        access_token: Optional[str] = None,
        on_event: Callable[[Dict[str, Any]], None],
        on_open: Callable[["WsClient"], None],
        on_close: Callable[["WsClient", str], None],
        stopping: threading.Event,
        fail: Callable[[BaseException], None],
        backoff: Backoff = Backoff(),
        connect_timeout: float = 10.0,
        io_timeout: float = 10.0,
        heartbeat_grace: float = 2.5,
        ping_interval: Optional[float] = 15.0,
        pong_timeout: float = 10.0,
        sslopt: Optional[Dict[str, Any]] = None,
        max_message_size: Optional[int] = 64 * 1024 * 1024,
    ) -> None:
        self.url = url
        self.max_message_size = max_message_size
        self.role = role
        self._headers: List[str] = [f"Authorization: Bearer {access_token}"] if access_token else []
        self._on_event = on_event
        self._on_open = on_open
        self._on_close = on_close
        self._stopping = stopping
        self._fail = fail
        self.backoff = backoff
        self.connect_timeout = connect_timeout
        self.io_timeout = io_timeout
        self._sslopt = sslopt
        self.liveness = Liveness(grace=heartbeat_grace, ping_interval=ping_interval, pong_timeout=pong_timeout)
        self._cond = threading.Condition()
        self._conn: Optional[_Connection] = None
        self._connecting: Optional[websocket.WebSocket] = None
        self._fatal: Optional[BaseException] = None
        self.self_id: Optional[int] = None
        # counters (written by the reader thread only)
        self.connects = 0
        self.disconnects = 0
        self.connect_failures = 0
        self.stale_closes = 0
        self.bad_frames = 0
        self.unmatched_replies = 0
        self.events = 0
        self.last_disconnect_reason: Optional[str] = None

    # -- state --------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def stats(self) -> Dict[str, Any]:
        return {
            "url": self.url,
            "role": self.role,
            "connected": self.connected,
            "connects": self.connects,
            "disconnects": self.disconnects,
            "connect_failures": self.connect_failures,
            "stale_closes": self.stale_closes,
            "bad_frames": self.bad_frames,
            "unmatched_replies": self.unmatched_replies,
            "events": self.events,
            "heartbeat_interval": self.liveness.interval,
            "last_disconnect_reason": self.last_disconnect_reason,
        }

    # -- the reader thread --------------------------------------------------

    def run(self) -> None:
        """Connect, read, reconnect until the bot stops or an error is final."""
        failures = 0
        while not self._stopping.is_set():
            try:
                conn = self._connect()
            except AuthenticationError as exc:
                self._give_up(exc)
                return
            except _RetryableConnectError as exc:
                if self._stopping.is_set():
                    return
                self.connect_failures += 1
                failures += 1
                if not self._wait_before_retry(failures, f"cannot connect to {self.url}: {exc}"):
                    return
                continue
            if conn is None:  # stopped while connecting
                return
            opened = time.monotonic()
            reason = self._serve(conn)
            self._teardown(conn, reason)
            if self._fatal is not None or self._stopping.is_set():
                return
            lived = time.monotonic() - opened
            failures = 1 if lived >= self.backoff.healthy_after else failures + 1
            if not self._wait_before_retry(failures, f"connection to {self.url} lost: {reason}"):
                return

    def _wait_before_retry(self, failures: int, why: str) -> bool:
        if self.backoff.exhausted(failures):
            self._give_up(
                ConnectionLost(f"{why}; giving up after {failures} consecutive failed attempts")
            )
            return False
        delay = self.backoff.delay(failures)
        level = logging.WARNING if failures <= 1 or failures % 10 == 0 else logging.DEBUG
        log.log(level, "%s; reconnecting in %.2fs (attempt %d)", why, delay, failures)
        return not self._stopping.wait(delay)

    def _give_up(self, exc: BaseException) -> None:
        with self._cond:
            self._fatal = exc
            self._cond.notify_all()
        log.error("%s", exc)
        self._fail(exc)

    def _connect(self) -> Optional[_Connection]:
        ws = websocket.WebSocket(
            enable_multithread=True, skip_utf8_validation=True, sslopt=self._sslopt
        )
        with self._cond:
            if self._stopping.is_set():
                return None
            self._connecting = ws
        try:
            ws.connect(
                self.url,
                header=self._headers,
                timeout=self.connect_timeout,
                suppress_origin=True,
                # Never follow a redirect: no OneBot endpoint sends one, and
                # websocket-client would repeat the Authorization header to
                # wherever it points.
                redirect_limit=0,
            )
        except (websocket.WebSocketBadStatusException, websocket.WebSocketException) as exc:
            status = getattr(exc, "status_code", None)
            response = getattr(ws, "handshake_response", None)
            if status is None and response is not None and getattr(response, "status", 101) != 101:
                status = response.status  # a redirect: websocket-client says only "limit exhausted"
            if status is None:
                raise _RetryableConnectError(str(exc) or type(exc).__name__) from exc
            raise self._refused(status) from exc
        except (OSError, websocket.WebSocketException, ValueError) as exc:
            raise _RetryableConnectError(str(exc) or type(exc).__name__) from exc
        finally:
            with self._cond:
                self._connecting = None
        status = getattr(getattr(ws, "handshake_response", None), "status", 101)
        if status != 101:
            # websocket-client before 1.9.2 returns from connect() on a redirect
            # it was told not to follow, as if the upgrade had succeeded.
            _shutdown(ws)
            raise self._refused(status)
        if self._stopping.is_set():
            _shutdown(ws)
            ws.shutdown()
            return None
        ws.settimeout(self.io_timeout)
        _bound_frames(ws, self.max_message_size)
        return _Connection(ws)

    def _refused(self, status: int) -> Exception:
        """The error for a handshake answered with HTTP ``status`` instead of 101."""
        if status in (401, 403):
            what = "missing" if status == 401 else "wrong"
            return AuthenticationError(
                f"{self.url} refused the WebSocket handshake with HTTP {status}: the access token is {what}",
                status=status,
            )
        hint = ""
        if status in (200, 301, 302, 303, 307, 308, 404, 405):
            hint = " (this looks like an HTTP server or the wrong path, not a OneBot WebSocket)"
        return _RetryableConnectError(f"handshake answered HTTP {status}{hint}")

    def _serve(self, conn: _Connection) -> str:
        """Read frames until the connection ends; return why it ended."""
        self.liveness.reset()
        # Learnt again on every connection: the implementation may have restarted
        # logged in as another account (faults PROC-02).
        self.self_id = None
        with self._cond:
            self._conn = conn
            self._cond.notify_all()
        self.connects += 1
        log.info("connected to %s", self.url)
        self._on_open(self)
        ws = conn.ws
        frames = getattr(ws, "frame_buffer", None)
        take_whole = frames.take_whole if isinstance(frames, _BoundedFrames) else None
        cont = getattr(ws, "cont_frame", None)
        while True:
            if take_whole is not None and cont is not None and cont.recving_frames is None:
                whole = take_whole()
                if whole is not None:
                    self.liveness.saw_frame()
                    self._on_data(conn, whole[1])
                    continue
            try:
                opcode, data = ws.recv_data(control_frame=True)
            except websocket.WebSocketTimeoutException:
                if self._stopping.is_set():
                    return "bot stopped"
                continue
            except websocket.WebSocketConnectionClosedException:
                return conn.kill_reason or "closed without a close frame (1006)"
            except websocket.WebSocketPayloadException as exc:
                # An oversized message: refused before its payload was read. The
                # stream cannot be resynchronised, so the connection goes.
                self.bad_frames += 1
                log.warning("dropped a bad frame from %s (%d so far): %s", self.url, self.bad_frames, exc)
                return conn.kill_reason or f"refused a frame: {exc}"
            except (OSError, websocket.WebSocketException, ValueError) as exc:
                return conn.kill_reason or f"{type(exc).__name__}: {exc}"
            self.liveness.saw_frame()
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return conn.kill_reason or _close_reason(data)
            if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                self._on_data(conn, data)

    def _on_data(self, conn: _Connection, data: bytes) -> None:
        try:
            obj = parse_frame(data)
        except ProtocolError as exc:
            self.bad_frames += 1
            log.warning("dropped a bad frame from %s (%d so far): %s", self.url, self.bad_frames, exc)
            return
        if "post_type" in obj:
            self.events += 1
            self.liveness.saw_event()
            self._observe(obj)
            self._on_event(obj)
            return
        echo = obj.get("echo")
        if echo is not None and conn.pending.settle(str(echo), obj):
            return
        if obj.get("retcode") in (1401, 1403) and not echo:
            # NapCat / LLOneBot: the upgrade succeeded, then one 1403 frame and a close.
            self._give_up(
                AuthenticationError(
                    f"{self.url} rejected the access token (retcode {obj.get('retcode')}: "
                    f"{obj.get('message') or obj.get('wording') or ''})".rstrip(),
                    status=obj.get("retcode"),
                )
            )
            conn.kill("access token rejected")
            return
        self.unmatched_replies += 1
        log.debug("dropped a reply nobody waits for (late or unknown echo %r)", echo)

    def _observe(self, event: Dict[str, Any]) -> None:
        if event.get("post_type") == "meta_event" and event.get("meta_event_type") == "heartbeat":
            self.liveness.saw_heartbeat(event.get("interval"))
        self_id = event.get("self_id")
        if self_id is not None and self.self_id is None:
            try:
                self.self_id = int(self_id)
            except (TypeError, ValueError):
                pass

    def _teardown(self, conn: _Connection, reason: str) -> None:
        with self._cond:
            self._conn = None
            self._cond.notify_all()
        self.disconnects += 1
        self.last_disconnect_reason = reason
        failed = conn.pending.fail_all(
            lambda: ResponseLost(
                f"connection to {self.url} lost ({reason}) with the call in flight: "
                "it may or may not have run"
            )
        )
        if failed:
            log.warning("%d pending call(s) failed: connection to %s lost", failed, self.url)
        try:
            conn.ws.shutdown()
        except Exception:  # closing a dead socket may raise anything; nothing to do
            pass
        if not self._stopping.is_set() or self._fatal is None:
            log.info("disconnected from %s: %s", self.url, reason)
        self._on_close(self, reason)

    # -- the watchdog -------------------------------------------------------

    def watchdog(self) -> None:
        """Close a silent link; ping a quiet one. Run periodically by the owner."""
        conn = self._conn
        if conn is None:
            return
        why = self.liveness.stale()
        if why is not None:
            self.stale_closes += 1
            log.warning("connection to %s is dead: %s; reconnecting", self.url, why)
            conn.kill(f"dead link: {why}")
            return
        if self.liveness.ping_due():
            self.liveness.ping_sent()
            try:
                conn.ws.ping()
            except Exception as exc:  # any send failure means the socket is unusable
                conn.kill(f"ping failed: {exc}")

    def watchdog_period(self) -> float:
        return self.liveness.next_check_in()

    # -- calls --------------------------------------------------------------

    via = "ws"

    def call(self, action: str, params: Dict[str, Any], timeout: float) -> Dict[str, Any]:
        """Send one action frame and wait for its reply (the raw body).

        Waits for a connection within the same deadline when the link is down.

        Raises:
            ConnectFailed: no connection within the deadline, or the frame could
                not be written (the action was not received).
            ResponseLost: the connection died with the call in flight.
            ApiTimeout: no reply within ``timeout`` seconds.
            BotStopped: the bot is stopping.
        """
        deadline = time.monotonic() + timeout
        conn = self._wait_connection(action, deadline)
        echo = conn.next_echo()
        try:
            frame = dumps({"action": action, "params": params, "echo": echo})
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{action}: parameters are not JSON-serialisable: {exc}") from exc
        future = conn.pending.add(echo)
        try:
            conn.outbox.send_text(frame)
        except Exception as exc:  # websocket/OS errors: the frame did not (fully) leave
            conn.pending.discard(echo)
            conn.kill(f"send failed: {exc}")
            raise ConnectFailed(f"{action}: could not send to {self.url}: {exc}") from exc
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()))
        except concurrent.futures.TimeoutError:
            conn.pending.discard(echo)
            raise ApiTimeout(f"{action}: no reply from {self.url} within {timeout:g}s") from None

    def _wait_connection(self, action: str, deadline: float) -> _Connection:
        with self._cond:
            while True:
                if self._fatal is not None:
                    raise self._fatal
                if self._stopping.is_set():
                    raise BotStopped(f"{action}: the bot is stopping")
                if self._conn is not None:
                    return self._conn
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ConnectFailed(f"{action}: not connected to {self.url}")
                self._cond.wait(remaining)

    def wait_connected(self, timeout: Optional[float]) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._conn is None:
                if self._fatal is not None:
                    raise self._fatal
                if self._stopping.is_set():
                    raise BotStopped("the bot is stopping")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining if remaining is not None else 1.0)
        return True

    def close(self) -> None:
        """Close the socket (a close frame, then shutdown) and wake every waiter."""
        with self._cond:
            conn, connecting = self._conn, self._connecting
            self._cond.notify_all()
        if connecting is not None:
            self._interrupt_connect(connecting)
        if conn is not None:
            try:
                sock = conn.ws.sock
                if sock is not None:
                    sock.settimeout(0.2)  # never block shutdown on a peer that stopped reading
                conn.ws.send_close(websocket.STATUS_NORMAL)
            except Exception:  # the socket may already be gone
                pass
            conn.kill("bot stopped")

    def _interrupt_connect(self, ws: websocket.WebSocket, patience: float = 0.5) -> None:
        """Shut down a connection attempt in progress.

        websocket-client only exposes the socket once TCP (and TLS) are up, so
        an attempt caught before that is waited for briefly: on a reachable
        host that is microseconds. A SYN that is never answered still holds
        the reader until ``connect_timeout``; ``stop()`` then reports it as a
        straggler (it is a daemon thread) instead of waiting.
        """
        deadline = time.monotonic() + patience
        with self._cond:
            while self._connecting is ws and getattr(ws, "sock", None) is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(min(remaining, 0.005))
        _shutdown(ws)

    @property
    def failure(self) -> Optional[BaseException]:
        return self._fatal


def _close_reason(data: bytes) -> str:
    if len(data) >= 2:
        code = int.from_bytes(data[:2], "big")
        text = data[2:].decode("utf-8", "replace")
        return f"closed by peer with code {code}" + (f" ({text})" if text else "")
    return "closed by peer"

