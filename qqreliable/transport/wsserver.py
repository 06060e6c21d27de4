"""A small, stdlib-only, server-side WebSocket (RFC 6455) implementation.

It does two things and knows nothing about OneBot:

1. The HTTP side of a connection: :func:`read_request_head` reads one request
   head from a socket within a deadline, :func:`send_http_response` writes a
   plain HTTP response (for HTTP APIs, and to refuse an upgrade with 401, 403,
   404 …), and :func:`accept_websocket` validates an upgrade request, answers
   ``101 Switching Protocols`` with the right ``Sec-WebSocket-Accept``, and
   returns a :class:`ServerWebSocket`.
2. The framing: :class:`ServerWebSocket` reads client frames (masked,
   possibly fragmented, interleaved with control frames), answers pings,
   completes the close handshake, enforces a maximum message size, and sends
   unmasked frames under a lock so that any number of threads may send.

Typical use, one thread per connection::

    buffer = bytearray()
    request = read_request_head(sock, buffer, timeout=5.0)
    if request is None or not request.is_websocket_upgrade:
        send_http_response(sock, 400, b"websocket only")
        return
    ws = accept_websocket(sock, request, buffered=bytes(buffer))
    try:
        while True:
            opcode, payload = ws.recv()
            ws.send_text(payload.decode("utf-8"))
    except WebSocketClosed as closed:
        log.info("peer went away: %s", closed)

No extensions (permessage-deflate is simply not negotiated) and no client side.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import http
import logging
import select
import socket
import struct
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple, Union
from urllib.parse import parse_qs, unquote, urlsplit

try:  # Python 3.8+: typing.Protocol
    from typing import Protocol
except ImportError:  # pragma: no cover
    Protocol = object  # type: ignore[assignment,misc]

__all__ = [
    "OP_CONTINUATION",
    "OP_TEXT",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_PING",
    "OP_PONG",
    "CLOSE_NORMAL",
    "CLOSE_GOING_AWAY",
    "CLOSE_PROTOCOL_ERROR",
    "CLOSE_UNSUPPORTED_DATA",
    "CLOSE_NO_STATUS",
    "CLOSE_ABNORMAL",
    "CLOSE_INVALID_DATA",
    "CLOSE_POLICY_VIOLATION",
    "CLOSE_MESSAGE_TOO_BIG",
    "CLOSE_INTERNAL_ERROR",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "WebSocketError",
    "HandshakeError",
    "WebSocketClosed",
    "WebSocketProtocolError",
    "MessageTooBig",
    "SocketLike",
    "RequestHead",
    "read_request_head",
    "send_http_response",
    "compute_accept_key",
    "websocket_key",
    "accept_websocket",
    "ServerWebSocket",
]

log = logging.getLogger(__name__)

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
_DATA_OPCODES = (OP_CONTINUATION, OP_TEXT, OP_BINARY)
_CONTROL_OPCODES = (OP_CLOSE, OP_PING, OP_PONG)

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_NO_STATUS = 1005  # never sent on the wire: "the close frame had no code"
CLOSE_ABNORMAL = 1006  # never sent on the wire: "the connection ended without a close frame"
CLOSE_INVALID_DATA = 1007
CLOSE_POLICY_VIOLATION = 1008
CLOSE_MESSAGE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011

DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024
DEFAULT_MAX_HEAD_SIZE = 64 * 1024
_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
_RECV_CHUNK = 64 * 1024  # below glibc's mmap threshold (128 KiB): see ws._READ_AHEAD
_SEND_COPY_LIMIT = 64 * 1024  # above this a frame is written as header + payload (no concatenation copy)


class WebSocketError(Exception):
    """Base class of every error raised by this module."""


class HandshakeError(WebSocketError):
    """The HTTP request could not be read or is not an acceptable WebSocket upgrade.

    Attributes:
        status: the HTTP status to answer with (400, 405, 408, 426, 431 …).
        headers: extra response headers the answer should carry
            (``Sec-WebSocket-Version`` for 426).
    """

    def __init__(self, status: int, message: str, headers: Optional[Dict[str, str]] = None) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.headers: Dict[str, str] = dict(headers or {})


class WebSocketClosed(WebSocketError):
    """The connection is closed; nothing more can be received or sent.

    Attributes:
        code: the close code the peer sent, ``1005`` when its close frame had no
            code, ``1006`` when the connection ended without a close frame
            (EOF, reset, :meth:`ServerWebSocket.abort`), or the code this side
            sent when it failed the connection (1002, 1009 …).
        reason: the close reason text, possibly empty.
        by_peer: True when the peer started the close handshake.
    """

    def __init__(self, code: int, reason: str = "", *, by_peer: bool = False) -> None:
        super().__init__(f"websocket closed ({code}{': ' + reason if reason else ''})")
        self.code = code
        self.reason = reason
        self.by_peer = by_peer


class WebSocketProtocolError(WebSocketClosed):
    """The peer broke RFC 6455; the connection was failed with close code 1002 (or 1007)."""


class MessageTooBig(WebSocketClosed):
    """A message exceeded ``max_message_size``; the connection was closed with 1009."""


class SocketLike(Protocol):
    """What :class:`ServerWebSocket` needs from a socket (a ``socket.socket`` fits)."""

    def recv(self, bufsize: int, flags: int = ...) -> bytes: ...  # noqa: D102

    def recv_into(self, buffer: memoryview, nbytes: int = ..., flags: int = ...) -> int: ...  # noqa: D102

    def sendall(self, data: bytes, flags: int = ...) -> None: ...  # noqa: D102

    def shutdown(self, how: int) -> None: ...  # noqa: D102

    def close(self) -> None: ...  # noqa: D102

    def settimeout(self, value: Optional[float]) -> None: ...  # noqa: D102

    def gettimeout(self) -> Optional[float]: ...  # noqa: D102


# --------------------------------------------------------------------------- HTTP side


class RequestHead:
    """One parsed HTTP/1.x request head.

    Attributes:
        method: request method, as sent (``GET``).
        target: the raw request-target (``/api?access_token=x``).
        version: ``HTTP/1.1`` or ``HTTP/1.0``.
        headers: ``(name, value)`` pairs in the order received.
    """

    __slots__ = ("method", "target", "version", "headers")

    def __init__(
        self, method: str, target: str, version: str, headers: Optional[List[Tuple[str, str]]] = None
    ) -> None:
        # A plain slotted class: no dataclass to generate at import.
        self.method = method
        self.target = target
        self.version = version
        self.headers: List[Tuple[str, str]] = headers if headers is not None else []

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RequestHead):
            return NotImplemented
        return (self.method, self.target, self.version, self.headers) == (
            other.method, other.target, other.version, other.headers
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass was

    def __repr__(self) -> str:
        return (f"RequestHead(method={self.method!r}, target={self.target!r}, version={self.version!r}, "
                f"headers={self.headers!r})")

    @property
    def path(self) -> str:
        """The percent-decoded path of the target, without the query (``/`` at least)."""
        return unquote(urlsplit(self.target).path) or "/"

    @property
    def query(self) -> Dict[str, List[str]]:
        """The query string as ``{name: [values]}`` (blank values kept)."""
        return parse_qs(urlsplit(self.target).query, keep_blank_values=True)

    def query_value(self, name: str) -> Optional[str]:
        """The first value of query parameter ``name``, or None."""
        values = self.query.get(name)
        return values[0] if values else None

    def header(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The first value of header ``name`` (case-insensitive), or ``default``."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return default

    def header_tokens(self, name: str) -> List[str]:
        """Comma-separated tokens of every ``name`` header, lower-cased (``Connection``)."""
        wanted = name.lower()
        tokens: List[str] = []
        for key, value in self.headers:
            if key.lower() == wanted:
                tokens.extend(part.strip().lower() for part in value.split(",") if part.strip())
        return tokens

    @property
    def is_websocket_upgrade(self) -> bool:
        """True when the request asks for a WebSocket upgrade (it may still be invalid)."""
        return "upgrade" in self.header_tokens("Connection") and "websocket" in self.header_tokens("Upgrade")

    @property
    def keep_alive(self) -> bool:
        """Whether the client expects the connection to stay open after the response."""
        tokens = self.header_tokens("Connection")
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens


def read_request_head(
    sock: SocketLike,
    buffer: bytearray,
    *,
    timeout: Optional[float] = 10.0,
    max_size: int = DEFAULT_MAX_HEAD_SIZE,
) -> Optional[RequestHead]:
    """Read one HTTP request head from ``sock``.

    Bytes already in ``buffer`` are used first; bytes read past the head (a
    body, pipelined requests, early WebSocket frames) are left in ``buffer``
    for the caller. Blocks for at most ``timeout`` seconds in total (None:
    no deadline); the socket's own timeout is restored afterwards.

    Returns:
        The parsed head, or None if the peer closed the connection cleanly
        before sending a single byte (the normal end of a keep-alive
        connection).

    Raises:
        HandshakeError: 408 when the deadline passed, 431 when the head is
            larger than ``max_size``, 400 when it is malformed or the
            connection ended in the middle of it.
        OSError: the socket failed (reset, shut down by another thread).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    previous = sock.gettimeout()
    searched = 0
    try:
        while True:
            end = buffer.find(b"\r\n\r\n", max(0, searched - 3))
            if end >= 0:
                break
            searched = len(buffer)
            if len(buffer) > max_size:
                raise HandshakeError(431, "request head too large")
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise HandshakeError(408, "request head not received in time")
                sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                raise HandshakeError(408, "request head not received in time") from None
            if not chunk:
                if not buffer.strip():
                    return None
                raise HandshakeError(400, "connection closed in the middle of the request head")
            buffer += chunk
    finally:
        try:
            sock.settimeout(previous)
        except OSError:
            pass
    if end > max_size:
        raise HandshakeError(431, "request head too large")
    raw = bytes(buffer[:end])
    del buffer[: end + 4]
    return _parse_head(raw)


def _parse_head(raw: bytes) -> RequestHead:
    text = raw.decode("latin-1").lstrip("\r\n")
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HandshakeError(400, f"malformed request line {lines[0][:100]!r}")
    method, target, version = parts
    headers: List[Tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HandshakeError(400, f"malformed header line {line[:100]!r}")
        headers.append((name, value.strip()))
    return RequestHead(method=method, target=target, version=version, headers=headers)


def send_http_response(
    sock: SocketLike,
    status: int,
    body: Union[bytes, str] = b"",
    *,
    headers: Optional[Dict[str, str]] = None,
    reason: Optional[str] = None,
    keep_alive: bool = False,
) -> None:
    """Write one complete HTTP/1.1 response with a ``Content-Length`` body.

    ``body`` given as ``str`` is sent as UTF-8 ``text/plain`` unless
    ``headers`` sets a ``Content-Type``. Not thread-safe with other writes to
    the same socket.

    Raises:
        OSError: the socket failed.
    """
    if isinstance(body, str):
        body = body.encode("utf-8")
    if reason is None:
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
    all_headers: Dict[str, str] = {}
    if body and not any(k.lower() == "content-type" for k in (headers or {})):
        all_headers["Content-Type"] = "text/plain; charset=utf-8"
    all_headers.update(headers or {})
    all_headers["Content-Length"] = str(len(body))
    all_headers["Connection"] = "keep-alive" if keep_alive else "close"
    lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in all_headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


def compute_accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value for a ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2)."""
    digest = hashlib.sha1((key.strip() + _GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def websocket_key(request: RequestHead) -> str:
    """Validate an upgrade request and return its ``Sec-WebSocket-Key``.

    Raises:
        HandshakeError: 405 (not GET), 400 (not HTTP/1.1, not an upgrade,
            missing or malformed key), 426 (unsupported version; the error's
            ``headers`` carry ``Sec-WebSocket-Version: 13``).
    """
    if request.method != "GET":
        raise HandshakeError(405, "a WebSocket upgrade must use GET", {"Allow": "GET"})
    if request.version != "HTTP/1.1":
        raise HandshakeError(400, "a WebSocket upgrade needs HTTP/1.1")
    if not request.is_websocket_upgrade:
        raise HandshakeError(400, "not a WebSocket upgrade request")
    if (request.header("Sec-WebSocket-Version") or "").strip() != "13":
        raise HandshakeError(426, "unsupported WebSocket version", {"Sec-WebSocket-Version": "13"})
    key = (request.header("Sec-WebSocket-Key") or "").strip()
    try:
        valid = len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        valid = False
    if not valid:
        raise HandshakeError(400, "missing or malformed Sec-WebSocket-Key")
    return key


def accept_websocket(
    sock: SocketLike,
    request: RequestHead,
    *,
    buffered: bytes = b"",
    subprotocol: Optional[str] = None,
    extra_headers: Optional[Dict[str, str]] = None,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    close_timeout: float = 2.0,
) -> "ServerWebSocket":
    """Complete the server side of the opening handshake.

    Validates ``request`` (see :func:`websocket_key`), writes ``101 Switching
    Protocols`` and wraps the socket. When the request is not acceptable, the
    matching HTTP error response is written before the error is raised, so the
    caller only has to close the socket.

    Args:
        sock: the connected socket the request was read from.
        request: the head returned by :func:`read_request_head`.
        buffered: bytes read past the head (pass the rest of the buffer given
            to :func:`read_request_head`); they are parsed as frames first.
        subprotocol: a value for ``Sec-WebSocket-Protocol``, if one was chosen.
        extra_headers: more headers for the 101 response.
        max_message_size: see :class:`ServerWebSocket`.
        close_timeout: see :class:`ServerWebSocket`.

    Raises:
        HandshakeError: the request is not a valid upgrade (already answered).
        OSError: the socket failed.
    """
    try:
        key = websocket_key(request)
    except HandshakeError as exc:
        try:
            send_http_response(sock, exc.status, exc.message, headers=exc.headers)
        except OSError:
            pass
        raise
    headers = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Accept": compute_accept_key(key),
    }
    if subprotocol:
        headers["Sec-WebSocket-Protocol"] = subprotocol
    headers.update(extra_headers or {})
    lines = ["HTTP/1.1 101 Switching Protocols"] + [f"{k}: {v}" for k, v in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    return ServerWebSocket(sock, buffered=buffered, max_message_size=max_message_size, close_timeout=close_timeout)


# --------------------------------------------------------------------------- framing


def xor_mask(payload: bytes, mask: bytes) -> bytes:
    """``payload`` XOR the 4-byte ``mask`` (masking and unmasking are the same);
    one big-integer XOR, fast enough for MiBs."""
    n = len(payload)
    if not n:
        return b""
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


def writable(sock: object) -> bool:
    """True when ``sock`` can take a small write without blocking (unknown: True)."""
    fileno = getattr(sock, "fileno", None)
    if fileno is None:
        return True
    try:
        fd = fileno()
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(fd, select.POLLOUT)
            return bool(poller.poll(0))
        return bool(select.select([], [fd], [], 0)[1])
    except (OSError, ValueError):
        return False


def _sendable_code(code: int) -> bool:
    """Whether ``code`` may appear in a close frame (RFC 6455 §7.4)."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def _encode_close(code: Optional[int], reason: str) -> bytes:
    if code is None:
        return b""
    data = struct.pack("!H", code) + reason.encode("utf-8")
    return data[:125]


class ServerWebSocket:
    """The server end of an open WebSocket connection.

    Thread-safety: :meth:`send`, :meth:`send_text`, :meth:`send_bytes`,
    :meth:`ping`, :meth:`close` and :meth:`abort` may be called from any
    thread at any time (one lock orders the writes). :meth:`recv` must have a
    single reader thread at a time. The socket is owned by this object from
    construction on: it is shut down and closed by :meth:`close`,
    :meth:`abort`, or when :meth:`recv` sees the connection end.

    Args:
        sock: a connected socket on which the handshake is complete.
        buffered: bytes already read from ``sock`` that belong to frames.
        max_message_size: largest message (sum of its fragments) accepted;
            a bigger one fails the connection with close code 1009 and
            :meth:`recv` raises :class:`MessageTooBig`.
        require_masked: reject unmasked client frames with 1002, as RFC 6455
            §5.1 demands of a server.
        auto_pong: answer every ping with a pong carrying the same payload.
        close_timeout: how long to wait for the peer's half of the close
            handshake before closing the TCP connection anyway.
        on_ping: called with the payload of each ping (on the reader thread).
        on_pong: called with the payload of each pong (on the reader thread).
    """

    def __init__(
        self,
        sock: SocketLike,
        *,
        buffered: bytes = b"",
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        require_masked: bool = True,
        auto_pong: bool = True,
        close_timeout: float = 2.0,
        on_ping: Optional[Callable[[bytes], None]] = None,
        on_pong: Optional[Callable[[bytes], None]] = None,
    ) -> None:
        self._sock = sock
        self._rbuf = bytearray(buffered)
        self.max_message_size = max_message_size
        self.require_masked = require_masked
        self.auto_pong = auto_pong
        self.close_timeout = close_timeout
        self.on_ping = on_ping
        self.on_pong = on_pong
        self._send_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._reading = False
        self._close_sent = False
        self._closed = False  # terminal: no more frames either way
        self._fd_closed = False
        self._close_code: Optional[int] = None
        self._close_reason = ""
        self._done = threading.Event()

    # ------------------------------------------------------------------ state

    @property
    def closed(self) -> bool:
        """True once the connection is closed (no more frames in either direction)."""
        return self._closed

    @property
    def close_code(self) -> Optional[int]:
        """The close code once closed (see :class:`WebSocketClosed`), else None."""
        return self._close_code

    @property
    def close_reason(self) -> str:
        """The close reason once closed, else an empty string."""
        return self._close_reason

    def wait_closed(self, timeout: Optional[float] = None) -> bool:
        """Block until the connection is closed; False if ``timeout`` passed first."""
        return self._done.wait(timeout)

    # ------------------------------------------------------------------ receiving

    def recv(self) -> Tuple[int, bytes]:
        """Block until the next complete data message arrives.

        Control frames are handled on the way: pings are answered (with
        ``auto_pong``), pongs are passed to ``on_pong``, a close frame is
        answered and ends the connection. Fragmented messages are reassembled.
        Text payloads are returned undecoded (the caller decides how to treat
        invalid UTF-8).

        Returns:
            ``(opcode, payload)`` with opcode :data:`OP_TEXT` or :data:`OP_BINARY`.

        Raises:
            WebSocketClosed: the connection is closed (by the peer, by
                :meth:`close` / :meth:`abort` from another thread, or by EOF);
                :class:`WebSocketProtocolError` and :class:`MessageTooBig`
                when this side failed it.
            RuntimeError: another thread is already in ``recv()``.
        """
        with self._state_lock:
            if self._reading:
                raise RuntimeError("ServerWebSocket.recv() is already running in another thread")
            if self._closed:
                raise WebSocketClosed(self._close_code or CLOSE_ABNORMAL, self._close_reason)
            self._reading = True
        try:
            return self._buffered_message() or self._recv_message()
        except OSError as exc:
            self._terminate(CLOSE_ABNORMAL, str(exc))
            raise WebSocketClosed(self._close_code or CLOSE_ABNORMAL, self._close_reason) from exc
        finally:
            with self._state_lock:
                self._reading = False
            if self._closed:
                self._release()

    def _buffered_message(self) -> Optional[Tuple[int, bytes]]:
        """The next message when it is one whole, final, unfragmented data frame
        already in the read-ahead buffer (the usual case under load), parsed
        straight from the buffer; None leaves everything to :meth:`_recv_message`."""
        buf = self._rbuf
        have = len(buf)
        if have < 6:
            return None
        b0 = buf[0]
        if b0 != 0x81 and b0 != 0x82:  # FIN + text/binary, no RSV bits
            return None
        b1 = buf[1]
        length = b1 & 0x7F
        at = 2
        if length == 126:
            length = (buf[2] << 8) | buf[3]
            at = 4
        elif length == 127:
            return None
        masked = b1 & 0x80
        if masked:
            end = at + 4 + length
            if end > have:
                return None
            mask = bytes(buf[at:at + 4])
            at += 4
        else:
            if self.require_masked:
                return None
            end = at + length
            if end > have:
                return None
        if length > self.max_message_size:
            return None
        payload = bytes(buf[at:end])
        del buf[:end]
        if masked:
            payload = xor_mask(payload, mask)
        return b0 & 0x0F, payload

    def take_buffered(self) -> List[bytes]:
        """The payloads of the whole, final, unfragmented data frames at the head of
        the read-ahead buffer, in order, taken off it (``[]``: the next frame is not
        whole yet, or needs :meth:`recv`: a control frame, a fragment, a frame over
        ``max_message_size``, an unmasked one when masks are required, a 64-bit length).

        For the single reader thread, between two :meth:`recv` calls; never touches
        the socket. Under load one read brings hundreds of frames: this parses them
        in one loop (unmasking each with one big-integer XOR) where :meth:`recv`
        pays its locks and calls per frame. Whether text or binary is not kept."""
        buf = self._rbuf
        have = len(buf)
        out: List[bytes] = []
        if self._closed or have < 2:
            return out
        pos = 0
        limit = self.max_message_size
        unmasked_ok = not self.require_masked
        from_bytes = int.from_bytes
        while have - pos >= 2:
            b0 = buf[pos]
            if b0 != 0x81 and b0 != 0x82:  # FIN + text/binary, no RSV bits
                break
            b1 = buf[pos + 1]
            n = b1 & 0x7F
            at = pos + 2
            if n == 126:
                if have - at < 2:
                    break
                n = (buf[at] << 8) | buf[at + 1]
                at += 2
            elif n == 127:
                break
            if n > limit:
                break
            if b1 & 0x80:
                end = at + 4 + n
                if end > have:
                    break
                if n:
                    key = buf[at:at + 4] * (n // 4 + 1)
                    at += 4
                    payload = (
                        from_bytes(buf[at:end], "little") ^ from_bytes(key[:n], "little")
                    ).to_bytes(n, "little")
                else:
                    payload = b""
            else:
                if not unmasked_ok:
                    break
                end = at + n
                if end > have:
                    break
                payload = bytes(buf[at:end])
            out.append(payload)
            pos = end
        if pos:
            del buf[:pos]
        return out

    def _recv_message(self) -> Tuple[int, bytes]:
        message_op: Optional[int] = None
        fragments: List[bytes] = []
        size = 0
        while True:
            fin, opcode, payload = self._read_frame(self.max_message_size - size)
            if opcode == OP_PING:
                if self.auto_pong:
                    try:
                        self.send(OP_PONG, payload)
                    except WebSocketClosed:
                        pass
                if self.on_ping is not None:
                    self.on_ping(payload)
                continue
            if opcode == OP_PONG:
                if self.on_pong is not None:
                    self.on_pong(payload)
                continue
            if opcode == OP_CLOSE:
                self._on_close_frame(payload)  # always raises
            if opcode == OP_CONTINUATION:
                if message_op is None:
                    self._fail(CLOSE_PROTOCOL_ERROR, "continuation frame without a message to continue")
            else:
                if message_op is not None:
                    self._fail(CLOSE_PROTOCOL_ERROR, "new message started inside a fragmented message")
                message_op = opcode
            fragments.append(payload)
            size += len(payload)
            if fin:
                assert message_op is not None
                return message_op, b"".join(fragments)

    def _read_exact(self, n: int) -> bytes:
        have = len(self._rbuf)
        if have < n and n - have > _RECV_CHUNK:
            # A large payload: read straight into one buffer instead of growing one.
            out = bytearray(n)
            out[:have] = self._rbuf
            self._rbuf.clear()
            view = memoryview(out)
            while have < n:
                got = self._sock.recv_into(view[have:], n - have)
                if not got:
                    self._eof()
                have += got
            return bytes(out)
        while len(self._rbuf) < n:
            chunk = self._sock.recv(_RECV_CHUNK)
            if not chunk:
                self._eof()
            self._rbuf += chunk
        data = bytes(self._rbuf[:n])
        del self._rbuf[:n]
        return data

    def _eof(self) -> None:
        self._terminate(CLOSE_ABNORMAL, "connection closed without a close frame")
        raise WebSocketClosed(self._close_code or CLOSE_ABNORMAL, self._close_reason)

    def _skip(self, n: int) -> None:
        """Discard ``n`` payload bytes without keeping them in memory."""
        take = min(n, len(self._rbuf))
        del self._rbuf[:take]
        n -= take
        while n > 0:
            chunk = self._sock.recv(min(n, _RECV_CHUNK))
            if not chunk:
                raise EOFError
            n -= len(chunk)

    def _read_header(self) -> Tuple[bool, int, bool, int, bytes]:
        b0, b1 = self._read_exact(2)
        fin = bool(b0 & 0x80)
        rsv = b0 & 0x70
        opcode = b0 & 0x0F
        masked = bool(b1 & 0x80)
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read_exact(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read_exact(8))
        mask = self._read_exact(4) if masked else b""
        return fin, opcode | (rsv << 4), masked, length, mask

    def _read_frame(self, budget: int) -> Tuple[bool, int, bytes]:
        fin, opcode, masked, length, mask = self._read_header()
        if opcode >> 4:
            self._fail(CLOSE_PROTOCOL_ERROR, "reserved bits set without a negotiated extension")
        if opcode not in _DATA_OPCODES and opcode not in _CONTROL_OPCODES:
            self._fail(CLOSE_PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")
        if opcode in _CONTROL_OPCODES and (not fin or length > 125):
            self._fail(CLOSE_PROTOCOL_ERROR, "control frames must be final and at most 125 bytes")
        if length >> 63:
            self._fail(CLOSE_PROTOCOL_ERROR, "frame length out of range")
        if self.require_masked and not masked:
            self._fail(CLOSE_PROTOCOL_ERROR, "client frames must be masked")
        if opcode in _DATA_OPCODES and length > budget:
            self._fail(CLOSE_MESSAGE_TOO_BIG, "message too big", skip=length)
        payload = self._read_exact(length)
        if masked:
            payload = xor_mask(payload, mask)
        return fin, opcode, payload

    def _on_close_frame(self, payload: bytes) -> None:
        if len(payload) == 1:
            self._fail(CLOSE_PROTOCOL_ERROR, "close frame with a 1-byte payload")
        if payload:
            (code,) = struct.unpack("!H", payload[:2])
            if not _sendable_code(code):
                self._fail(CLOSE_PROTOCOL_ERROR, f"invalid close code {code}")
            try:
                reason = payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                self._fail(CLOSE_INVALID_DATA, "close reason is not UTF-8")
        else:
            code, reason = CLOSE_NO_STATUS, ""
        with self._send_lock:
            by_peer = not self._close_sent
            if by_peer:
                # Echo the code (RFC 6455 §5.5.1); an empty close answers an empty close.
                try:
                    self._write_frame(OP_CLOSE, payload[:2])
                except OSError:
                    pass
                self._close_sent = True
        self._terminate(code, reason)
        raise WebSocketClosed(code, reason, by_peer=by_peer)

    def _fail(self, code: int, reason: str, *, skip: int = 0) -> None:
        """Fail the connection: send a close frame, wait briefly for the answer, raise."""
        log.debug("failing websocket connection: %s %s", code, reason)
        self.send_close(code, reason)
        self._mark_closed(code, reason)
        if code == CLOSE_PROTOCOL_ERROR or code == CLOSE_INVALID_DATA:
            self._drain(raw=True)
        else:
            self._drain(skip=skip)
        self._terminate(code, reason)
        error = MessageTooBig if code == CLOSE_MESSAGE_TOO_BIG else WebSocketProtocolError
        raise error(code, reason)

    def _drain(self, *, skip: int = 0, raw: bool = False) -> None:
        """After our close frame: read (and discard) until the peer's close, EOF or ``close_timeout``.

        With ``raw`` the stream is not trusted to be framed any more (after a
        protocol error): bytes are discarded until EOF. Otherwise frames are
        parsed, their payloads skipped, until the peer's close frame.
        """
        deadline = time.monotonic() + self.close_timeout
        previous = self._sock.gettimeout()
        try:
            if raw:
                self._rbuf.clear()
                while True:
                    self._sock.settimeout(max(0.001, deadline - time.monotonic()))
                    if not self._sock.recv(_RECV_CHUNK) or time.monotonic() >= deadline:
                        return
            self._sock.settimeout(max(0.001, deadline - time.monotonic()))
            self._skip(skip)
            while time.monotonic() < deadline:
                self._sock.settimeout(max(0.001, deadline - time.monotonic()))
                b0, b1 = self._read_exact(2)
                length = b1 & 0x7F
                if length == 126:
                    (length,) = struct.unpack("!H", self._read_exact(2))
                elif length == 127:
                    (length,) = struct.unpack("!Q", self._read_exact(8))
                if b1 & 0x80:
                    self._read_exact(4)
                self._skip(length)
                if b0 & 0x0F == OP_CLOSE:
                    return
        except (OSError, EOFError, WebSocketClosed):
            return
        finally:
            try:
                self._sock.settimeout(previous)
            except OSError:
                pass

    # ------------------------------------------------------------------ sending

    def send(self, opcode: int, payload: bytes, *, fin: bool = True) -> None:
        """Send one raw frame (unmasked, as a server must).

        Use :meth:`send_text` and :meth:`send_bytes` for whole messages; this is
        for fragmentation and for deliberately odd frames (a text frame that is
        not UTF-8, in a test server). Thread-safe.

        Raises:
            WebSocketClosed: the connection is closed or closing, or the write failed.
        """
        with self._send_lock:
            if self._closed or self._close_sent:
                raise WebSocketClosed(self._close_code or CLOSE_ABNORMAL, self._close_reason or "closing")
            try:
                self._write_frame(opcode, payload, fin=fin)
            except OSError as exc:
                failed = exc
            else:
                return
        self._terminate(CLOSE_ABNORMAL, str(failed))
        raise WebSocketClosed(CLOSE_ABNORMAL, str(failed)) from failed

    def _write_frame(self, opcode: int, payload: bytes, *, fin: bool = True) -> None:
        """Write one frame; the caller holds ``_send_lock``."""
        n = len(payload)
        first = (0x80 if fin else 0) | opcode
        if n < 126:
            header = struct.pack("!BB", first, n)
        elif n < 1 << 16:
            header = struct.pack("!BBH", first, 126, n)
        else:
            header = struct.pack("!BBQ", first, 127, n)
        if n <= _SEND_COPY_LIMIT:
            self._sock.sendall(header + payload)
        else:
            self._sock.sendall(header)
            self._sock.sendall(payload)

    def send_text(self, text: str) -> None:
        """Send ``text`` as one text message. Thread-safe.

        Raises:
            WebSocketClosed: the connection is closed or the write failed.
        """
        self.send(OP_TEXT, text.encode("utf-8"))

    def send_bytes(self, data: bytes) -> None:
        """Send ``data`` as one binary message. Thread-safe.

        Raises:
            WebSocketClosed: the connection is closed or the write failed.
        """
        self.send(OP_BINARY, bytes(data))

    def ping(self, payload: bytes = b"") -> None:
        """Send a ping (at most 125 bytes); the pong goes to ``on_pong``. Thread-safe.

        Raises:
            ValueError: the payload is longer than 125 bytes.
            WebSocketClosed: the connection is closed or the write failed.
        """
        if len(payload) > 125:
            raise ValueError("a ping payload is at most 125 bytes")
        self.send(OP_PING, payload)

    def ping_nowait(self, payload: bytes = b"", *, before: Optional[Callable[[], None]] = None) -> str:
        """Send a ping unless that would wait; never blocks. Thread-safe.

        A watchdog uses this so that one stalled peer cannot hold up the
        checks of the others. ``before()``, if given, is called unless the
        answer is ``"busy"``, just before the ping is written (its pong may
        arrive before this method returns).

        Returns:
            ``"sent"``; ``"busy"`` when another thread is writing (a large
            message to a slow peer; nothing sent); ``"full"`` when the
            socket's send buffer is full (the peer stopped reading; nothing
            sent).

        Raises:
            ValueError: the payload is longer than 125 bytes.
            WebSocketClosed: the connection is closed or the write failed.
        """
        if len(payload) > 125:
            raise ValueError("a ping payload is at most 125 bytes")
        if not self._send_lock.acquire(blocking=False):
            return "busy"
        try:
            if self._closed or self._close_sent:
                raise WebSocketClosed(self._close_code or CLOSE_ABNORMAL, self._close_reason or "closing")
            if before is not None:
                before()
            if not writable(self._sock):
                return "full"
            try:
                self._write_frame(OP_PING, payload)
                return "sent"
            except OSError as exc:
                failed = exc
        finally:
            self._send_lock.release()
        self._terminate(CLOSE_ABNORMAL, str(failed))
        raise WebSocketClosed(CLOSE_ABNORMAL, str(failed)) from failed

    def send_close(self, code: Optional[int] = CLOSE_NORMAL, reason: str = "") -> bool:
        """Start the closing handshake without waiting for it. Thread-safe.

        Sends a close frame (``code=None``: without a status code) unless one
        was sent already. The thread in :meth:`recv` completes the handshake
        when the peer answers; :meth:`wait_closed` tells when that happened,
        :meth:`abort` gives up on it. Nothing else may be sent afterwards.

        Returns:
            True if this call sent the close frame.

        Raises:
            ValueError: ``code`` may not be sent in a close frame.
        """
        if code is not None and not _sendable_code(code):
            raise ValueError(f"invalid close code {code}")
        with self._send_lock:
            if self._close_sent or self._closed:
                return False
            self._close_sent = True
            try:
                self._write_frame(OP_CLOSE, _encode_close(code, reason))
            except OSError:
                return False
            return True

    def close(self, code: Optional[int] = CLOSE_NORMAL, reason: str = "", timeout: Optional[float] = None) -> None:
        """Close the connection with the close handshake.

        Sends a close frame (``code=None`` sends one without a status code),
        then waits up to ``timeout`` (default ``close_timeout``) for the
        peer's close frame: a thread blocked in :meth:`recv` receives it and
        raises :class:`WebSocketClosed`; without a reader this method reads
        (and discards) frames itself. Then the TCP connection is closed.
        Idempotent; thread-safe.
        """
        if timeout is None:
            timeout = self.close_timeout
        self.send_close(code, reason)
        with self._state_lock:
            reading = self._reading
            if not reading and not self._closed:
                self._reading = True  # keep a late recv() out while we drain
                drain = True
            else:
                drain = False
        if reading:
            self._done.wait(timeout)
        elif drain:
            self._mark_closed(code if code is not None else CLOSE_NO_STATUS, reason)
            saved = self.close_timeout
            self.close_timeout = timeout
            try:
                self._drain()
            finally:
                self.close_timeout = saved
                with self._state_lock:
                    self._reading = False
        self._terminate(code if code is not None else CLOSE_NO_STATUS, reason)
        self._release()

    def abort(self) -> None:
        """Drop the connection at once, without a close frame (the peer sees 1006 / EOF).

        A thread blocked in :meth:`recv` wakes up with :class:`WebSocketClosed`
        (code 1006). Idempotent; thread-safe.
        """
        self._terminate(CLOSE_ABNORMAL, "aborted")
        self._release()

    # ------------------------------------------------------------------ teardown

    def _mark_closed(self, code: int, reason: str) -> None:
        """Record that the connection is over; the first code recorded wins."""
        with self._state_lock:
            if not self._closed:
                self._closed = True
                self._close_code = code
                self._close_reason = reason

    def _terminate(self, code: int, reason: str) -> None:
        """Mark closed (first code wins) and shut the socket down; wakes any reader."""
        self._mark_closed(code, reason)
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _release(self) -> None:
        """Close the file descriptor once no thread can be using it."""
        with self._send_lock:  # no writer in the middle of sendall()
            with self._state_lock:
                if self._reading or self._fd_closed or not self._closed:
                    return
                self._fd_closed = True
            try:
                self._sock.close()
            except OSError:
                pass
        self._done.set()

    def __repr__(self) -> str:
        state = f"closed {self._close_code}" if self._closed else "open"
        return f"<ServerWebSocket {state}>"

