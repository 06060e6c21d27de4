"""Forward WebSocket transport: a reconnecting ``websocket-client`` connection.

One :class:`WsClient` owns one URL and speaks one protocol through its
:class:`~qqreliable.transport.codec.FrameCodec`. Its reader thread (``run``)
is an iterative loop: connect, run the codec's handshake, read frames until
the connection ends, fail every pending call at once, back off with jitter,
connect again. No recursion, no module globals. Its watchdog (``watchdog``,
run periodically by the supervisor) sends WebSocket pings (and the codec's
application heartbeat) and closes a link that went silent, which lands the
reader back in its loop.

What happens on an open connection (calls matched to replies through
futures, frames sorted by the codec, teardown) is :class:`~.link.Link`,
shared with the reverse server; this module adds websocket-client's side of
it (:class:`_ClientSocket`) and the reconnect loop.

This module is one of the two places (with ``http.py``) where third-party
errors become qqreliable errors.
"""

from __future__ import annotations

import collections
import logging
import os
import socket
import struct
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional

import websocket

from .codec import FrameCodec, Reconnect
from .wsserver import writable as _writable
from .wsserver import xor_mask
from .link import BackoffPolicy, Link, LinkCounters, LinkEnded, LivenessPolicy, PendingCalls
from ..exceptions import (
    AuthenticationError,
    BotStopped,
    ConnectFailed,
    ConnectionLost,
    ProtocolError,
)

__all__ = ["WsClient", "PendingCalls"]

log = logging.getLogger(__name__)


def _shutdown(ws: websocket.WebSocket) -> None:
    sock = getattr(ws, "sock", None)
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


_TEXT = websocket.ABNF.OPCODE_TEXT
_BINARY = websocket.ABNF.OPCODE_BINARY
_CLOSE = websocket.ABNF.OPCODE_CLOSE

# 64 KiB: a read asks for this much and usually gets a few hundred bytes. At
# 128 KiB and above, glibc serves the bytes object Python allocates for it with
# mmap and returns it with munmap: 12 us more per read, measured here.
_READ_AHEAD = 64 * 1024
_HEAD16 = struct.Struct("!BBH")
_HEAD64 = struct.Struct("!BBQ")
_IDLE_CHECK = 0.1  # watchdog period while not connected
_MAX_READ = 1 << 20


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
        # websocket-client 1.9.0 and older annotate recv_fn as returning int: a false positive.
        super().__init__(recv, True)  # type: ignore[arg-type]
        self._read = recv  # self.recv, typed as what it is
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
                data = self._read(max(_READ_AHEAD, min(bufsize - have, _MAX_READ)))
                parts.append(data)
                have += len(data)
        except BaseException:
            # A read timeout mid-frame: keep what arrived for the next call.
            self._buf, self._pos = b"".join(parts), 0
            raise
        self._buf = parts[0] if len(parts) == 1 else b"".join(parts)
        self._pos = bufsize
        return self._buf[:bufsize]

    def take_all(self) -> List[bytes]:
        """The payloads of the whole, final, unmasked text or binary frames at the head
        of the read-ahead buffer, parsed straight from it in one loop, skipping
        websocket-client's per-frame machinery (the usual case under load); ``[]``
        when the next frame is not such a frame (a control frame, a fragment, a
        64-bit length, one over the limit, or not whole yet): websocket-client
        reads it.

        Only between frames (no header half read); the caller checks that no
        fragmented message is in progress. Whether text or binary is not kept."""
        out: List[bytes] = []
        if self.header is not None:
            return out
        buf = self._buf
        have = len(buf)
        pos = self._pos
        limit = self.limit
        while have - pos >= 2:
            b0 = buf[pos]
            if b0 != 0x81 and b0 != 0x82:  # FIN + text/binary, no RSV bits
                break
            n = buf[pos + 1]
            if n > 125:  # masked (the general path refuses or unmasks it), or an extended length
                if n != 126 or have - pos < 4:
                    break
                n = (buf[pos + 2] << 8) | buf[pos + 3]
                start = pos + 4
            else:
                start = pos + 2
            end = start + n
            if end > have or (limit is not None and n > limit):
                break
            out.append(buf[start:end])
            pos = end
        self._pos = pos
        return out

    def head_incomplete(self) -> bool:
        """True when the read-ahead buffer does not hold the next frame whole (between
        frames only: never while websocket-client has a header half read)."""
        if self.header is not None:
            return False
        buf = self._buf
        pos = self._pos
        have = len(buf) - pos
        if have < 2:
            return True
        n = buf[pos + 1]
        size = 2 + (4 if n & 0x80 else 0)
        n &= 0x7F
        if n == 126:
            if have < 4:
                return True
            size += 2 + ((buf[pos + 2] << 8) | buf[pos + 3])
        elif n == 127:
            if have < 10:
                return True
            size += 8 + int.from_bytes(buf[pos + 2:pos + 10], "big")
        else:
            size += n
        return have < size

    def fill(self) -> None:
        """One read from the socket into the read-ahead buffer (blocks up to the
        socket's timeout; raises what websocket-client's read raises, the buffer
        unchanged). Lets :meth:`take_all` parse the frames of a fresh read too."""
        data = self._read(_READ_AHEAD)
        pos = self._pos
        self._buf = data if pos >= len(self._buf) else self._buf[pos:] + data
        self._pos = 0

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




def client_text_frame(text: str, mask_key: Callable[[int], bytes] = os.urandom) -> bytes:
    """One final, masked text frame of ``text`` as a client sends it (RFC 6455 §5.2):
    what websocket-client's ``ABNF.create_frame(text).format()`` gives, in a third of
    the time. ``mask_key(4)`` gives the masking key (websocket-client's
    ``get_mask_key`` hook when set, for tests)."""
    payload = text.encode("utf-8")
    n = len(payload)
    if n < 126:
        head = bytes((0x81, 0x80 | n))
    elif n < 0x10000:
        head = _HEAD16.pack(0x81, 0xFE, n)
    else:
        head = _HEAD64.pack(0x81, 0xFF, n)
    key = mask_key(4)
    return head + key + xor_mask(payload, key)


class _Outbox:
    """Text frames of concurrent callers written to one websocket-client socket,
    several in one ``send`` when they queue up (combining writes).

    A caller encodes (and masks) its frame without any lock, queues it, and
    when no write is in progress writes everything queued, its own frame and
    whatever others queued meanwhile, under websocket-client's own lock (so
    pings and close frames stay ordered with it). A caller that finds a write
    in progress returns at once: the writer takes its frame along.

    Thread-safe. :meth:`send_text` blocks while this caller writes (each write
    bounded by the socket's I/O timeout) and raises what the write raised, but
    only while its own frame has not left whole: raising means "not sent" to the
    caller (ConnectFailed, which a send may repeat). A write that fails after the
    writer's own frame left (it was writing frames queued by others meanwhile)
    shuts the socket down instead and returns: the connection ends, and every call
    in flight on it, the writer's included, ends with ResponseLost ("may or may
    not have run"), which a send verifies rather than repeats. A frame handed to
    another caller's write that then fails is lost with the connection in the same
    way (never a silent loss).
    """

    def __init__(self, ws: websocket.WebSocket) -> None:
        self._ws = ws
        self._lock = threading.Lock()
        self._queued: List[bytes] = []
        self._writing = False

    def send_text(self, text: str) -> None:
        ws = self._ws
        data = client_text_frame(text, getattr(ws, "get_mask_key", None) or os.urandom)
        with self._lock:
            self._queued.append(data)
            if self._writing:
                return  # the write in progress takes it along
            self._writing = True
        mine_left = False  # our own frame has been written whole
        try:
            while True:
                with self._lock:
                    batch = self._queued
                    if not batch:
                        self._writing = False
                        return
                    self._queued = []
                mine_end = 0  # where our frame ends in this batch (the first one holds it)
                if not mine_left:
                    for item in batch:
                        mine_end += len(item)
                        if item is data:
                            break
                out = batch[0] if len(batch) == 1 else b"".join(batch)
                sent = 0
                with ws.lock:
                    try:
                        while sent < len(out):
                            sent += ws._send(out[sent:] if sent else out)
                    finally:
                        if sent >= mine_end:
                            mine_left = True
        except BaseException as exc:
            with self._lock:
                self._writing = False
                self._queued = []
            if not mine_left or not isinstance(exc, Exception):
                raise
            # Our frame left: it may run. The connection is broken all the same; end
            # it so that every call in flight on it fails as "may or may not have run".
            log.debug("a combined write failed after this caller's frame left (%s); closing the socket", exc)
            _shutdown(ws)


class _ClientSocket:
    """websocket-client's open connection as a :class:`~.link.WireSocket`."""

    def __init__(self, ws: websocket.WebSocket, stopping: threading.Event, io_timeout: float) -> None:
        self.ws = ws
        self._stopping = stopping
        self._io_timeout = io_timeout
        frames = getattr(ws, "frame_buffer", None)
        self._frames: Optional[_BoundedFrames] = frames if isinstance(frames, _BoundedFrames) else None
        self._cont = getattr(ws, "cont_frame", None)
        # Whole frames parsed in one go from the read-ahead buffer, handed out one by one.
        self._ready: Deque[bytes] = collections.deque()
        self._ended = False  # close() or abort() called: hand out nothing more
        # websocket-client internals used by the outbox; without them, its own send()
        self._outbox = _Outbox(ws) if hasattr(ws, "_send") and hasattr(ws, "lock") else None

    def recv(self) -> Optional[bytes]:
        ready = self._ready
        if ready:
            if not self._ended:
                return ready.popleft()
            ready.clear()  # killed or stopped meanwhile: recv_once() below says how
        while True:
            try:
                return self.recv_once()
            except TimeoutError:
                if self._stopping.is_set():
                    raise LinkEnded("bot stopped") from None

    def recv_many(self) -> Optional[List[bytes]]:
        """Every whole data message already read ahead (at least one), in order;
        else what :meth:`recv` gives (one message, or None for a control frame)."""
        ready = self._ready
        if ready:
            if not self._ended:
                out = list(ready)
                ready.clear()
                return out
            ready.clear()  # killed or stopped meanwhile: recv() below says how
        frames = self._frames
        if frames is not None and not self._ended and self._cont is not None and self._cont.recving_frames is None:
            out = frames.take_all()
            if out:
                return out
        data = self.recv()
        if data is None:
            return None
        if ready and not self._ended:  # the rest of a fresh read (recv_once parsed it whole)
            out = [data]
            out.extend(ready)
            ready.clear()
            return out
        return [data]

    def ended(self) -> bool:
        """True once closed or aborted here: what was read ahead is not handed out."""
        return self._ended

    def recv_before(self, deadline: float) -> Optional[bytes]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self.ws.settimeout(remaining)
        try:
            return self.recv_once()
        finally:
            try:
                self.ws.settimeout(self._io_timeout)
            except (OSError, AttributeError):
                pass

    def recv_once(self) -> Optional[bytes]:
        """One frame: a data message, None for ping/pong; TimeoutError after the socket timeout."""
        if self._ready and not self._ended:
            return self._ready.popleft()
        try:
            frames = self._frames
            if frames is not None and self._cont is not None and self._cont.recving_frames is None:
                ready = frames.take_all()
                if not ready and frames.head_incomplete():
                    # The buffer ran dry between frames: read more here, so that the
                    # frames of this read are parsed in one loop too; websocket-client's
                    # per-frame path takes only what this loop does not (control
                    # frames, fragments, long or partial frames).
                    frames.fill()
                    ready = frames.take_all()
                if ready:
                    if len(ready) > 1:
                        self._ready.extend(ready[1:])
                    return ready[0]
            opcode, data = self.ws.recv_data(control_frame=True)
        except websocket.WebSocketTimeoutException:
            raise TimeoutError from None
        except websocket.WebSocketConnectionClosedException:
            raise LinkEnded("closed without a close frame (1006)") from None
        except websocket.WebSocketPayloadException as exc:
            # An oversized message: refused before its payload was read. The
            # stream cannot be resynchronised, so the connection goes.
            raise LinkEnded(f"refused a frame: {exc}", bad_frame=True) from None
        except (OSError, websocket.WebSocketException, ValueError) as exc:
            raise LinkEnded(f"{type(exc).__name__}: {exc}") from None
        if opcode == _TEXT or opcode == _BINARY:
            return data  # type: ignore[no-any-return]
        if opcode == _CLOSE:
            code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
            raise LinkEnded(_close_reason(data), code)
        return None  # ping, pong: proof of life

    def send_text(self, text: str) -> None:
        if self._outbox is not None:
            self._outbox.send_text(text)
        else:
            self.ws.send(text)

    def ping(self, before: Callable[[], None]) -> bool:
        lock = getattr(self.ws, "lock", None)
        if lock is not None:
            if not lock.acquire(blocking=False):
                return False  # a caller's write holds the socket: look again soon
            lock.release()
        before()
        sock = getattr(self.ws, "sock", None)
        if sock is not None and not _writable(sock):
            return True  # the peer stopped reading: the ping counts as sent and lost
        self.ws.ping()
        return True

    def close(self) -> None:
        self._ended = True
        try:
            sock = self.ws.sock
            if sock is not None:
                sock.settimeout(0.2)  # never block shutdown on a peer that stopped reading
            self.ws.send_close(websocket.STATUS_NORMAL)
        except Exception:  # the socket may already be gone
            pass
        _shutdown(self.ws)

    def abort(self) -> None:
        self._ended = True
        _shutdown(self.ws)

    def release(self) -> None:
        try:
            self.ws.shutdown()
        except Exception:  # closing a dead socket may raise anything; nothing to do
            pass


class _RetryableConnectError(Exception):
    pass


class WsClient:
    """A reconnecting forward-WebSocket connection to one URL.

    Args:
        url: ``ws://`` or ``wss://`` URL.
        codec: the protocol's :class:`~.codec.FrameCodec` (headers, handshake,
            frame sorting, call encoding).
        liveness: this connection's liveness tracker (``reliability.Liveness``).
        backoff: the reconnect policy (``reliability.Backoff``).
        role: what this socket carries, for stats and thread names
            (``"universal"``, ``"api"``, ``"event"``).
        on_event: called on the reader thread with each event object; must not block.
        on_events: called on the reader thread with the events of one read, in order
            (a list); must not block. Default: ``on_event`` for each.
        on_open: called on the reader thread when a connection opens; must not block.
        on_close: called on the reader thread with the reason when one ends.
        stopping: the bot's stop Event.
        fail: reports an unrecoverable error to the owner (bad credentials, budget spent).
    """

    def __init__(
        self,
        url: str,
        *,
        codec: FrameCodec,
        liveness: LivenessPolicy,
        backoff: BackoffPolicy,
        role: str = "universal",
        on_event: Callable[[Dict[str, Any]], None],
        on_open: Callable[["WsClient"], None],
        on_close: Callable[["WsClient", str], None],
        stopping: threading.Event,
        fail: Callable[[BaseException], None],
        connect_timeout: float = 10.0,
        io_timeout: float = 10.0,
        sslopt: Optional[Dict[str, Any]] = None,
        max_message_size: Optional[int] = 64 * 1024 * 1024,
        on_events: Optional[Callable[[List[Dict[str, Any]]], None]] = None,
    ) -> None:
        self.url = url
        self.codec = codec
        self.max_message_size = max_message_size
        self.role = role
        self._on_event = on_event
        self._on_events = on_events
        self._on_open = on_open
        self._on_close = on_close
        self._stopping = stopping
        self._fail = fail
        self.backoff = backoff
        self.connect_timeout = connect_timeout
        self.io_timeout = io_timeout
        self._sslopt = sslopt
        self.liveness = liveness
        self._cond = threading.Condition()
        self._conn: Optional[Link] = None
        self._last: Optional[Link] = None
        self._opening: Optional[Link] = None
        self._connecting: Optional[websocket.WebSocket] = None
        self._fatal: Optional[BaseException] = None
        self.counters = LinkCounters()
        # counters (written by the reader thread only)
        self.connects = 0
        self.disconnects = 0
        self.connect_failures = 0
        self.stale_closes = 0
        self.last_disconnect_reason: Optional[str] = None

    # -- state --------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._conn is not None

    @property
    def account(self) -> Any:
        """The account the codec learnt on the current (or last) connection, or None."""
        last = self._last
        return last.identity if last is not None else None

    @property
    def bad_frames(self) -> int:
        return self.counters.bad_frames

    @property
    def unmatched_replies(self) -> int:
        return self.counters.unmatched_replies

    @property
    def events(self) -> int:
        return self.counters.events

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
                conn = self._open()
            except (AuthenticationError, ConnectionLost) as exc:
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
            reason = self._serve(conn)
            self._teardown(conn, reason)
            if self._fatal is not None or self._stopping.is_set():
                return
            try:
                self.codec.closed(conn.end_code, reason)
            except (AuthenticationError, ConnectionLost) as exc:
                self._give_up(exc)
                return
            lived = time.monotonic() - conn.opened
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

    def _open(self) -> Optional[Link]:
        """Connect and run the codec's handshake; None when stopped meanwhile."""
        deadline = time.monotonic() + self.connect_timeout
        ws = self._connect()
        if ws is None:
            return None
        wire = _ClientSocket(ws, self._stopping, self.io_timeout)
        link = Link(
            wire,
            self.codec,
            self.liveness,
            self.counters,
            name=self.url,
            deliver=self._deliver,
            on_fatal=self._link_fatal,
            deliver_many=self._deliver_many if self._on_events is not None else None,
        )
        self.liveness.reset()
        with self._cond:
            self._opening = link
        try:
            if self._stopping.is_set():
                raise _Stopped
            link.handshake(deadline)
        except _Stopped:
            wire.abort()
            wire.release()
            return None
        except (AuthenticationError, ConnectionLost):
            wire.close()
            wire.release()
            raise
        except (Reconnect, ProtocolError) as exc:
            wire.abort()
            wire.release()
            if self._stopping.is_set():
                return None
            # The connection opened and ended: the codec hears of it like of any
            # other end (it may decide the end is final).
            self.codec.closed(link.end_code, str(exc))
            raise _RetryableConnectError(str(exc)) from exc
        finally:
            with self._cond:
                self._opening = None
        return link

    def _connect(self) -> Optional[websocket.WebSocket]:
        ws = websocket.WebSocket(
            enable_multithread=True, skip_utf8_validation=True, sslopt=self._sslopt
        )
        with self._cond:
            if self._stopping.is_set():
                return None
            self._connecting = ws
        try:
            headers = [f"{k}: {v}" for k, v in self.codec.handshake_headers().items()]
            ws.connect(
                self.url,
                header=headers,
                timeout=self.connect_timeout,
                suppress_origin=True,
                # Never follow a redirect: no bot endpoint sends one, and
                # websocket-client would repeat the credentials to wherever it
                # points.
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
        except (OSError, ValueError) as exc:
            raise _RetryableConnectError(str(exc) or type(exc).__name__) from exc
        finally:
            with self._cond:
                self._connecting = None
        status = getattr(getattr(ws, "handshake_response", None), "status", 101)
        if status != 101:
            # websocket-client before 1.9.2 returns from connect() on a redirect
            # it was told not to follow, as if the upgrade had succeeded.
            _shutdown(ws)
            raise self._refused(int(status or 0))
        if self._stopping.is_set():
            _shutdown(ws)
            ws.shutdown()
            return None
        ws.settimeout(self.io_timeout)
        _bound_frames(ws, self.max_message_size)
        return ws

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
            hint = f" (this looks like an HTTP server or the wrong path, not a {self.codec.name} WebSocket)"
        return _RetryableConnectError(f"handshake answered HTTP {status}{hint}")

    def _serve(self, conn: Link) -> str:
        """Publish the connection, then read frames until it ends; return why it ended."""
        with self._cond:
            self._conn = conn
            self._last = conn
            self._cond.notify_all()
        self.connects += 1
        log.info("connected to %s", self.url)
        self._on_open(self)
        return conn.serve()

    def _deliver(self, link: Link, event: Any) -> None:
        self._on_event(event)

    def _deliver_many(self, link: Link, events: List[Any]) -> None:
        self._on_events(events)  # type: ignore[misc]  # set: Link is given this only then

    def _link_fatal(self, link: Link, exc: BaseException) -> None:
        self._give_up(exc)

    def _teardown(self, conn: Link, reason: str) -> None:
        with self._cond:
            self._conn = None
            self._cond.notify_all()
        self.disconnects += 1
        self.last_disconnect_reason = reason
        conn.fail_pending(reason)
        conn.sock.release()  # type: ignore[attr-defined]
        if not self._stopping.is_set() or self._fatal is None:
            log.info("disconnected from %s: %s", self.url, reason)
        self._on_close(self, reason)

    # -- the watchdog -------------------------------------------------------

    def watchdog(self) -> None:
        """Close a silent link; ping a quiet one. Run periodically by the owner."""
        conn = self._conn
        if conn is None:
            return
        why = conn.check(time.monotonic())
        if why is not None:
            self.stale_closes += 1
            log.warning("connection to %s is dead: %s; reconnecting", self.url, why)
            conn.kill(f"dead link: {why}")

    def watchdog_period(self) -> float:
        conn = self._conn
        if conn is None:
            # Look again soon: a connection that opens meanwhile must get its
            # first ping or heartbeat on time, not after a long idle sleep.
            return _IDLE_CHECK
        return conn.next_check_in(time.monotonic())

    # -- calls --------------------------------------------------------------

    via = "ws"

    def call(self, action: str, params: Dict[str, Any], timeout: float) -> Any:
        """Send one call and wait for its reply (the raw reply object).

        Waits for a connection within the same deadline when the link is down.

        Raises:
            ConnectFailed: no connection within the deadline, or the frame could
                not be written (the call was not received).
            ResponseLost: the connection died with the call in flight.
            ApiTimeout: no reply within ``timeout`` seconds.
            BotStopped: the bot is stopping.
            TypeError: ``params`` is not JSON-serialisable.
        """
        deadline = time.monotonic() + timeout
        conn = self._wait_connection(action, deadline)
        return conn.call(action, params, deadline, timeout)

    def _wait_connection(self, action: str, deadline: float) -> Link:
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
            conn, connecting, opening = self._conn, self._connecting, self._opening
            self._cond.notify_all()
        if connecting is not None:
            self._interrupt_connect(connecting)
        if opening is not None:
            opening.kill("bot stopped")
        if conn is not None:
            if conn.kill_reason is None:
                conn.kill_reason = "bot stopped"
            conn.sock.close()

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


class _Stopped(Exception):
    pass


def _close_reason(data: bytes) -> str:
    if len(data) >= 2:
        code = int.from_bytes(data[:2], "big")
        text = data[2:].decode("utf-8", "replace")
        return f"closed by peer with code {code}" + (f" ({text})" if text else "")
    return "closed by peer"
