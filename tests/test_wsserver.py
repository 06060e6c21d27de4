"""Unit tests of the stdlib WebSocket server (qqreliable.transport.wsserver).

Most tests drive a ``ServerWebSocket`` over a ``socket.socketpair()``: the test
writes raw client frames on one end and reads the server's frames on the
other, so every byte is under control and no thread is needed. A few run a
real listener and talk to it with ``websocket-client``.
"""

from __future__ import annotations

import base64
import os
import socket
import struct
import threading
import time
from typing import Any, Iterator, List, Optional, Tuple

import pytest
import websocket

from qqreliable.transport.wsserver import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    HandshakeError,
    MessageTooBig,
    RequestHead,
    ServerWebSocket,
    WebSocketClosed,
    WebSocketProtocolError,
    accept_websocket,
    compute_accept_key,
    read_request_head,
    send_http_response,
    websocket_key,
)

pytestmark = pytest.mark.timeout(20)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # the example key of RFC 6455 §1.3


# --------------------------------------------------------------------------- helpers


def client_frame(opcode: int, payload: bytes = b"", *, fin: bool = True, masked: bool = True, rsv: int = 0) -> bytes:
    """One frame as a client sends it (masked unless told otherwise)."""
    first = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    mask_bit = 0x80 if masked else 0
    if n < 126:
        header = struct.pack("!BB", first, mask_bit | n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", first, mask_bit | 126, n)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, n)
    if not masked:
        return header + payload
    key = os.urandom(4)
    body = (int.from_bytes(payload, "big") ^ int.from_bytes((key * (n // 4 + 1))[:n], "big")).to_bytes(n, "big")
    return header + key + body


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack("!H", code) + reason.encode("utf-8")


def read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"EOF after {len(data)} of {n} bytes")
        data += chunk
    return data


def server_frame(sock: socket.socket) -> Tuple[bool, int, bytes]:
    """Read one (unmasked) server frame: (fin, opcode, payload)."""
    b0, b1 = read_exact(sock, 2)
    assert not b1 & 0x80, "server frames must not be masked"
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", read_exact(sock, 2))
    elif n == 127:
        (n,) = struct.unpack("!Q", read_exact(sock, 8))
    return bool(b0 & 0x80), b0 & 0x0F, read_exact(sock, n)


def is_eof(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


@pytest.fixture
def pair() -> Iterator[Tuple[ServerWebSocket, socket.socket]]:
    """A ServerWebSocket over one end of a socketpair; the test is the client on the other end."""
    server_sock, client = socket.socketpair()
    client.settimeout(5)
    ws = ServerWebSocket(server_sock, close_timeout=1.0)
    try:
        yield ws, client
    finally:
        ws.abort()
        client.close()


def upgrade_request(path: str = "/", extra: str = "", *, key: str = KEY, version: str = "13") -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {version}\r\n{extra}\r\n"
    ).encode("latin-1")


def read_response_head(sock: socket.socket) -> str:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode("latin-1")


# --------------------------------------------------------------------------- handshake


def test_accept_key_matches_rfc_example() -> None:
    assert compute_accept_key(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_read_request_head_parses_and_leaves_the_rest_in_the_buffer() -> None:
    a, b = socket.socketpair()
    with a, b:
        b.sendall(upgrade_request("/api/?access_token=t%20x&x=1", "Authorization: Bearer s\r\n") + b"\x81\x80rest")
        buffer = bytearray()
        head = read_request_head(a, buffer, timeout=2)
        assert head is not None
        assert (head.method, head.path, head.version) == ("GET", "/api/", "HTTP/1.1")
        assert head.query_value("access_token") == "t x" and head.query == {"access_token": ["t x"], "x": ["1"]}
        assert head.header("authorization") == "Bearer s"
        assert head.header("missing", "d") == "d"
        assert head.is_websocket_upgrade and head.keep_alive
        assert bytes(buffer) == b"\x81\x80rest"
        assert a.gettimeout() is None  # restored


def test_read_request_head_none_on_clean_eof_and_errors() -> None:
    a, b = socket.socketpair()
    with a:
        b.close()
        assert read_request_head(a, bytearray(), timeout=2) is None
    a, b = socket.socketpair()
    with a, b:
        b.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        b.shutdown(socket.SHUT_WR)
        with pytest.raises(HandshakeError) as info:
            read_request_head(a, bytearray(), timeout=2)
        assert info.value.status == 400
    a, b = socket.socketpair()
    with a, b:
        b.sendall(b"NONSENSE\r\n\r\n")
        with pytest.raises(HandshakeError) as info:
            read_request_head(a, bytearray(), timeout=2)
        assert info.value.status == 400
    a, b = socket.socketpair()
    with a, b:
        b.sendall(b"GET / HTTP/1.1\r\nX: " + b"y" * 5000)
        with pytest.raises(HandshakeError) as info:
            read_request_head(a, bytearray(), timeout=2, max_size=1024)
        assert info.value.status == 431


def test_read_request_head_deadline() -> None:
    a, b = socket.socketpair()
    with a, b:
        b.sendall(b"GET / HT")  # and nothing more
        started = time.monotonic()
        with pytest.raises(HandshakeError) as info:
            read_request_head(a, bytearray(), timeout=0.1)
        assert info.value.status == 408
        assert time.monotonic() - started < 2


def test_accept_websocket_answers_101_and_keeps_early_frames() -> None:
    a, b = socket.socketpair()
    b.settimeout(5)
    with b:
        b.sendall(upgrade_request() + client_frame(OP_TEXT, b"early"))
        buffer = bytearray()
        head = read_request_head(a, buffer)
        assert head is not None
        ws = accept_websocket(a, head, buffered=bytes(buffer), extra_headers={"X-Test": "1"})
        response = read_response_head(b)
        assert response.startswith("HTTP/1.1 101 ")
        assert "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in response
        assert "X-Test: 1\r\n" in response
        assert ws.recv() == (OP_TEXT, b"early")
        ws.abort()


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        (upgrade_request(version="8"), 426),
        (upgrade_request(key="short"), 400),
        (upgrade_request().replace(b"GET", b"POST", 1), 405),
        (upgrade_request().replace(b"HTTP/1.1", b"HTTP/1.0", 1), 400),
    ],
)
def test_accept_websocket_rejects_bad_upgrades(request_bytes: bytes, status: int) -> None:
    a, b = socket.socketpair()
    b.settimeout(5)
    with a, b:
        b.sendall(request_bytes)
        head = read_request_head(a, bytearray())
        assert head is not None
        with pytest.raises(HandshakeError) as info:
            accept_websocket(a, head)
        assert info.value.status == status
        response = read_response_head(b)
        assert response.startswith(f"HTTP/1.1 {status} ")
        if status == 426:
            assert "Sec-WebSocket-Version: 13" in response


def test_websocket_key_and_plain_request() -> None:
    head = RequestHead("GET", "/", "HTTP/1.1", [("Host", "x")])
    assert not head.is_websocket_upgrade
    with pytest.raises(HandshakeError):
        websocket_key(head)
    ok = RequestHead(
        "GET",
        "/",
        "HTTP/1.1",
        [
            ("Upgrade", "WebSocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", KEY),
        ],
    )
    assert websocket_key(ok) == KEY
    assert not RequestHead("GET", "/", "HTTP/1.0", []).keep_alive
    assert not RequestHead("GET", "/", "HTTP/1.1", [("Connection", "close")]).keep_alive


def test_send_http_response() -> None:
    a, b = socket.socketpair()
    with a, b:
        send_http_response(a, 403, "nope", headers={"WWW-Authenticate": "Bearer"})
        a.close()
        data = b.recv(4096).decode()
        assert data.startswith("HTTP/1.1 403 Forbidden\r\n")
        assert "Content-Length: 4\r\n" in data and "Connection: close\r\n" in data
        assert "WWW-Authenticate: Bearer\r\n" in data and data.endswith("\r\n\r\nnope")


# --------------------------------------------------------------------------- frames


def test_masked_text_and_binary(pair: Tuple[ServerWebSocket, socket.socket]) -> None:
    ws, client = pair
    client.sendall(client_frame(OP_TEXT, "héllo".encode()) + client_frame(OP_BINARY, b"\x00\xff"))
    assert ws.recv() == (OP_TEXT, "héllo".encode())
    assert ws.recv() == (OP_BINARY, b"\x00\xff")


def test_sizes_across_length_encodings(pair: Tuple[ServerWebSocket, socket.socket]) -> None:
    ws, client = pair
    for size in (0, 125, 126, 65535, 65536, 3 * 1024 * 1024 + 7):
        payload = os.urandom(size)
        sender = threading.Thread(target=client.sendall, args=(client_frame(OP_BINARY, payload),))
        sender.start()
        assert ws.recv() == (OP_BINARY, payload)
        sender.join()
        # Send from a thread: a 3 MiB frame does not fit the socket buffers, so
        # the write only completes while this side reads.
        writer = threading.Thread(target=ws.send_bytes, args=(payload,))
        writer.start()
        assert server_frame(client) == (True, OP_BINARY, payload)
        writer.join(10)
        assert not writer.is_alive()


def test_a_burst_read_ahead_gives_the_same_messages_as_single_frames() -> None:
    """Frames that arrive together are parsed from the read-ahead buffer; every
    kind the fast path leaves alone (fragments, pings, 64-bit lengths, unmasked,
    oversize) still goes the general way, in order."""
    server_sock, client = socket.socketpair()
    client.settimeout(5)
    ws = ServerWebSocket(server_sock, close_timeout=1.0, max_message_size=100_000)
    sizes = [0, 1, 5, 125, 126, 300, 65535, 65536, 70_000]
    burst = b"".join(client_frame(OP_TEXT if n % 2 else OP_BINARY, bytes([n % 251]) * n) for n in sizes)
    burst += client_frame(OP_TEXT, b"frag-", fin=False) + client_frame(OP_PING, b"p")
    burst += client_frame(OP_CONTINUATION, b"ment") + client_frame(OP_TEXT, b"after")
    burst += client_frame(OP_TEXT, b"x" * 100_001)  # too big: fails with 1009 as before
    writer = threading.Thread(target=client.sendall, args=(burst,), name="test-burst")
    writer.start()  # more than a socket buffer holds: written while the server reads
    try:
        got = [ws.recv() for _ in sizes]
        assert got == [(OP_TEXT if n % 2 else OP_BINARY, bytes([n % 251]) * n) for n in sizes]
        assert ws.recv() == (OP_TEXT, b"frag-ment")
        assert server_frame(client) == (True, OP_PONG, b"p")
        assert ws.recv() == (OP_TEXT, b"after")
        with pytest.raises(MessageTooBig):
            ws.recv()
        assert ws.close_code == 1009
    finally:
        ws.abort()
        writer.join(5)
        client.close()


def test_unmasked_frames_in_a_burst_are_refused_when_masking_is_required(
    pair: Tuple[ServerWebSocket, socket.socket]
) -> None:
    ws, client = pair
    client.sendall(client_frame(OP_TEXT, b"ok") + client_frame(OP_TEXT, b"plain", masked=False))
    assert ws.recv() == (OP_TEXT, b"ok")
    with pytest.raises(WebSocketProtocolError):
        ws.recv()
    assert ws.close_code == 1002


def test_fragmented_message_with_interleaved_ping(pair: Tuple[ServerWebSocket, socket.socket]) -> None:
    ws, client = pair
    client.sendall(
        client_frame(OP_TEXT, b"frag", fin=False)
        + client_frame(OP_PING, b"p1")
        + client_frame(OP_CONTINUATION, b"men", fin=False)
        + client_frame(OP_CONTINUATION, b"ted", fin=True)
    )
    assert ws.recv() == (OP_TEXT, b"fragmented")
    assert server_frame(client) == (True, OP_PONG, b"p1")


def test_ping_is_answered_and_pong_reported(pair: Tuple[ServerWebSocket, socket.socket]) -> None:
    ws, client = pair
    pongs: List[bytes] = []
    pings: List[bytes] = []
    ws.on_pong = pongs.append
    ws.on_ping = pings.append
    client.sendall(client_frame(OP_PING, b"hello") + client_frame(OP_PONG, b"yours") + client_frame(OP_TEXT, b"x"))
    assert ws.recv() == (OP_TEXT, b"x")
    assert server_frame(client) == (True, OP_PONG, b"hello")
    assert pings == [b"hello"] and pongs == [b"yours"]
    ws.ping(b"srv")
    assert server_frame(client) == (True, OP_PING, b"srv")
    with pytest.raises(ValueError):
        ws.ping(b"x" * 126)


def test_auto_pong_can_be_disabled(pair: Tuple[ServerWebSocket, socket.socket]) -> None:
    ws, client = pair
    ws.auto_pong = False
    client.sendall(client_frame(OP_PING, b"hello") + client_frame(OP_TEXT, b"x"))
    assert ws.recv() == (OP_TEXT, b"x")
    ws.send_text("after")
    assert server_frame(client) == (True, OP_TEXT, b"after")  # no pong before it


def test_oversize_message_closes_with_1009(pair: Tuple[ServerWebSocket, socket.socket]) -> None:
    ws, client = pair
    ws.max_message_size = 10
    client.sendall(client_frame(OP_TEXT, b"x" * 10))
    assert ws.recv() == (OP_TEXT, b"x" * 10)  # exactly the limit is fine
    client.sendall(client_frame(OP_TEXT, b"y" * 11) + client_frame(OP_CLOSE, close_payload(1009)))
    with pytest.raises(MessageTooBig) as info:
        ws.recv()
    assert info.value.code == 1009
    fin, opcode, payload = server_frame(client)
    assert opcode == OP_CLOSE and struct.unpack("!H", payload[:2])[0] == 1009
    assert is_eof(client)
    assert ws.closed and ws.close_code == 1009
    with pytest.raises(WebSocketClosed):
        ws.send_text("late")


def test_oversize_fragmented_message_closes_with_1009(pair: Tuple[ServerWebSocket, socket.socket]) -> None:
    ws, client = pair
    ws.max_message_size = 10
    client.sendall(
        client_frame(OP_BINARY, b"a" * 6, fin=False)
        + client_frame(OP_CONTINUATION, b"b" * 6, fin=True)
        + client_frame(OP_CLOSE, close_payload(1000))
    )
    with pytest.raises(MessageTooBig):
        ws.recv()
    assert server_frame(client)[1:] == (OP_CLOSE, close_payload(1009, "message too big"))


def test_oversize_without_peer_answer_is_bounded_by_close_timeout(pair: Tuple[ServerWebSocket, socket.socket]) -> None:
    ws, client = pair
    ws.max_message_size = 10
    ws.close_timeout = 0.2
    client.sendall(client_frame(OP_TEXT, b"y" * 100))  # and never a close frame
    started = time.monotonic()
    with pytest.raises(MessageTooBig):
        ws.recv()
    assert time.monotonic() - started < 2


def test_peer_close_handshake(pair: Tuple[ServerWebSocket, socket.socket]) -> None:
    ws, client = pair
    client.sendall(client_frame(OP_CLOSE, close_payload(1001, "bye")))
    with pytest.raises(WebSocketClosed) as info:
        ws.recv()
    assert (info.value.code, info.value.reason, info.value.by_peer) == (1001, "bye", True)
    assert server_frame(client) == (True, OP_CLOSE, close_payload(1001))
    assert is_eof(client)  # the server closes TCP first
    assert ws.wait_closed(1) and ws.close_code == 1001
    with pytest.raises(WebSocketClosed):
        ws.recv()


def test_empty_close_frame_is_1005(pair: Tuple[ServerWebSocket, socket.socket]) -> None:
    ws, client = pair
    client.sendall(client_frame(OP_CLOSE))
    with pytest.raises(WebSocketClosed) as info:
        ws.recv()
    assert info.value.code == 1005
    assert server_frame(client) == (True, OP_CLOSE, b"")


def test_server_close_without_reader(pair: Tuple[ServerWebSocket, socket.socket]) -> None:
    ws, client = pair
    client.sendall(client_frame(OP_TEXT, b"unread") + client_frame(OP_CLOSE, close_payload(4000)))
    started = time.monotonic()
    ws.close(4000, "done")
    assert time.monotonic() - started < 0.5  # the peer's answer was already there
    assert server_frame(client) == (True, OP_CLOSE, close_payload(4000, "done"))
    assert is_eof(client)
    assert ws.closed and ws.close_code == 4000
    ws.close()  # idempotent


def test_server_close_with_a_reader_thread(pair: Tuple[ServerWebSocket, socket.socket]) -> None:
    ws, client = pair
    errors: List[WebSocketClosed] = []

    def reader() -> None:
        try:
            ws.recv()
        except WebSocketClosed as exc:
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    closer = threading.Thread(target=ws.close, args=(1000, "bye"))
    closer.start()
    assert server_frame(client) == (True, OP_CLOSE, close_payload(1000, "bye"))
    client.sendall(client_frame(OP_CLOSE, close_payload(1000)))
    closer.join(5)
    thread.join(5)
    assert not closer.is_alive() and not thread.is_alive()
    assert errors and errors[0].code == 1000 and not errors[0].by_peer
    assert is_eof(client)


def test_close_gives_up_after_timeout(pair: Tuple[ServerWebSocket, socket.socket]) -> None:
    ws, client = pair
    started = time.monotonic()
    ws.close(1000, timeout=0.1)  # the peer never answers
    assert time.monotonic() - started < 2
    assert server_frame(client)[1] == OP_CLOSE
    assert is_eof(client)


def test_abort_wakes_a_blocked_reader(pair: Tuple[ServerWebSocket, socket.socket]) -> None:
    ws, client = pair
    caught: List[Optional[int]] = []
    thread = threading.Thread(target=lambda: caught.append(_recv_code(ws)))
    thread.start()
    ws.abort()
    thread.join(5)
    assert caught == [1006]
    assert is_eof(client)  # no close frame, just EOF
    ws.abort()  # idempotent


def _recv_code(ws: ServerWebSocket) -> Optional[int]:
    try:
        ws.recv()
    except WebSocketClosed as exc:
        return exc.code
    return None


def test_eof_without_close_frame_is_1006(pair: Tuple[ServerWebSocket, socket.socket]) -> None:
    ws, client = pair
    client.sendall(client_frame(OP_TEXT, b"a", fin=False))
    client.close()
    with pytest.raises(WebSocketClosed) as info:
        ws.recv()
    assert info.value.code == 1006 and not isinstance(info.value, WebSocketProtocolError)


@pytest.mark.parametrize(
    "frames",
    [
        client_frame(OP_TEXT, b"x", masked=False),
        client_frame(OP_TEXT, b"x", rsv=0x40),
        client_frame(0x3, b"x"),
        client_frame(OP_CONTINUATION, b"x"),
        client_frame(OP_TEXT, b"a", fin=False) + client_frame(OP_TEXT, b"b"),
        client_frame(OP_PING, b"x" * 126),
        client_frame(OP_PING, b"x", fin=False),
        client_frame(OP_CLOSE, b"\x03"),
        client_frame(OP_CLOSE, close_payload(1006)),
    ],
    ids=["unmasked", "rsv", "opcode", "orphan-continuation", "nested-message", "long-ping", "fragmented-ping",
         "close-1-byte", "close-1006"],
)
def test_protocol_errors_close_with_1002(pair: Tuple[ServerWebSocket, socket.socket], frames: bytes) -> None:
    ws, client = pair
    ws.close_timeout = 0.2
    client.sendall(frames)
    client.shutdown(socket.SHUT_WR)
    with pytest.raises(WebSocketProtocolError) as info:
        ws.recv()
    assert info.value.code == 1002
    fin, opcode, payload = server_frame(client)
    assert opcode == OP_CLOSE and struct.unpack("!H", payload[:2])[0] == 1002


def test_concurrent_senders_do_not_interleave(pair: Tuple[ServerWebSocket, socket.socket]) -> None:
    ws, client = pair
    payloads = {f"{t}-{i}-".encode() * 50 for t in range(8) for i in range(50)}

    def send_some(t: int) -> None:
        for i in range(50):
            ws.send_text((f"{t}-{i}-" * 50))

    threads = [threading.Thread(target=send_some, args=(t,)) for t in range(8)]
    received = set()
    for thread in threads:
        thread.start()
    for _ in range(len(payloads)):
        fin, opcode, payload = server_frame(client)
        assert fin and opcode == OP_TEXT
        received.add(payload)
    for thread in threads:
        thread.join()
    assert received == payloads


def test_send_fragments_and_raw_invalid_text(pair: Tuple[ServerWebSocket, socket.socket]) -> None:
    ws, client = pair
    ws.send(OP_TEXT, b"ab", fin=False)
    ws.send(OP_CONTINUATION, b"cd")
    ws.send(OP_TEXT, b"\xff\xfe")
    assert server_frame(client) == (False, OP_TEXT, b"ab")
    assert server_frame(client) == (True, OP_CONTINUATION, b"cd")
    assert server_frame(client) == (True, OP_TEXT, b"\xff\xfe")


def test_only_one_reader(pair: Tuple[ServerWebSocket, socket.socket]) -> None:
    ws, client = pair
    thread = threading.Thread(target=_recv_code, args=(ws,))
    thread.start()
    deadline = time.monotonic() + 5
    while not ws._reading and time.monotonic() < deadline:  # noqa: SLF001 - waiting for the reader to block
        threading.Event().wait(0.001)
    with pytest.raises(RuntimeError):
        ws.recv()
    ws.abort()
    thread.join(5)


# --------------------------------------------------------------------------- against websocket-client


@pytest.fixture
def echo_server() -> Iterator[Tuple[str, List[ServerWebSocket]]]:
    """A one-connection-per-thread echo server on a real port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    sockets: List[ServerWebSocket] = []
    threads: List[threading.Thread] = []

    def serve(sock: socket.socket) -> None:
        buffer = bytearray()
        head = read_request_head(sock, buffer, timeout=5)
        if head is None:
            sock.close()
            return
        try:
            ws = accept_websocket(sock, head, buffered=bytes(buffer), max_message_size=1024)
        except HandshakeError:
            sock.close()
            return
        sockets.append(ws)
        try:
            while True:
                opcode, payload = ws.recv()
                if opcode == OP_TEXT:
                    ws.send_text(payload.decode("utf-8"))
                else:
                    ws.send_bytes(payload)
        except WebSocketClosed:
            pass

    def accept_loop() -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=serve, args=(sock,), name="test-ws-echo")
            threads.append(thread)
            thread.start()

    acceptor = threading.Thread(target=accept_loop, name="test-ws-accept")
    acceptor.start()
    try:
        yield f"ws://127.0.0.1:{listener.getsockname()[1]}/", sockets
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        acceptor.join(5)
        for ws in sockets:
            ws.abort()
        for thread in threads:
            thread.join(5)
        assert not acceptor.is_alive() and not any(t.is_alive() for t in threads)


def test_websocket_client_round_trip(echo_server: Tuple[str, List[ServerWebSocket]]) -> None:
    url, _ = echo_server
    client = websocket.create_connection(url, timeout=5)
    try:
        client.send("héllo")
        assert client.recv() == "héllo"
        client.send_binary(b"\x00\x01")
        assert client.recv() == b"\x00\x01"
        # websocket-client fragments nothing by itself; send a fragmented message by hand
        client.send_frame(websocket.ABNF.create_frame("par", websocket.ABNF.OPCODE_TEXT, fin=0))
        client.send_frame(websocket.ABNF.create_frame("ts", websocket.ABNF.OPCODE_CONT, fin=1))
        assert client.recv() == "parts"
        client.ping("are you there")
        opcode, frame = client.recv_data_frame(True)
        assert opcode == websocket.ABNF.OPCODE_PONG and frame.data == b"are you there"
    finally:
        client.close()


def test_websocket_client_oversize_gets_1009(echo_server: Tuple[str, List[ServerWebSocket]]) -> None:
    url, _ = echo_server
    client = websocket.create_connection(url, timeout=5)
    try:
        client.send("x" * 2000)
        opcode, frame = client.recv_data_frame(True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE
        assert struct.unpack("!H", frame.data[:2])[0] == 1009
    finally:
        client.close()


def test_websocket_client_clean_close(echo_server: Tuple[str, List[ServerWebSocket]]) -> None:
    url, sockets = echo_server
    client = websocket.create_connection(url, timeout=5)
    client.send("x")
    assert client.recv() == "x"
    client.close(status=1000, reason=b"bye")
    assert sockets[0].wait_closed(5)
    assert sockets[0].close_code == 1000


def test_websocket_client_handshake_headers() -> None:
    a, b = socket.socketpair()
    with a, b:
        key = base64.b64encode(os.urandom(16)).decode()
        b.sendall(upgrade_request(key=key))
        head = read_request_head(a, bytearray())
        assert head is not None
        accept_websocket(a, head).abort()
        response = read_response_head(b)
        assert f"Sec-WebSocket-Accept: {compute_accept_key(key)}" in response
        assert "Upgrade: websocket" in response and "Connection: Upgrade" in response


# --------------------------------------------------------------------------- batch parsing (take_buffered)


def test_take_buffered_takes_whole_simple_frames_and_leaves_the_rest() -> None:
    """Every whole, final, masked data frame at the head of the buffer, unmasked, in
    order; it stops at the first frame that needs the general path and never reads."""
    server_sock, client = socket.socketpair()
    ws = ServerWebSocket(server_sock, close_timeout=0.5, max_message_size=1000)
    try:
        payloads = [b"", b"a", b"abcd", b"abcde", "héllo".encode(), os.urandom(125), os.urandom(126), os.urandom(1000)]
        frames = b"".join(client_frame(OP_TEXT if i % 2 else OP_BINARY, p) for i, p in enumerate(payloads))
        stop_at = [
            client_frame(OP_PING, b"p"),  # control
            client_frame(OP_TEXT, b"frag", fin=False),  # fragment
            client_frame(OP_TEXT, b"plain", masked=False),  # unmasked while masks are required
            client_frame(OP_TEXT, b"x" * 1001),  # over max_message_size
            client_frame(OP_TEXT, b"y" * 70_000),  # 64-bit length
            client_frame(OP_TEXT, b"rsv", rsv=0x40),  # reserved bit
            b"\x8f\x80" + os.urandom(4),  # unknown opcode
            client_frame(OP_TEXT, b"whole")[:-1],  # not whole yet
            b"\x81",  # one byte of a header
        ]
        for tail in stop_at:
            ws._rbuf[:] = frames + tail
            assert ws.take_buffered() == payloads
            assert bytes(ws._rbuf) == tail, tail[:8]
            assert ws.take_buffered() == []
            assert bytes(ws._rbuf) == tail
    finally:
        ws.abort()
        client.close()


def test_take_buffered_accepts_unmasked_frames_only_when_allowed() -> None:
    server_sock, client = socket.socketpair()
    ws = ServerWebSocket(server_sock, require_masked=False)
    try:
        ws._rbuf[:] = client_frame(OP_TEXT, b"plain", masked=False) + client_frame(OP_TEXT, b"masked")
        assert ws.take_buffered() == [b"plain", b"masked"]
        assert not ws._rbuf
    finally:
        ws.abort()
        client.close()


def _link_reader(ws: ServerWebSocket) -> "object":
    from qqreliable.transport.server import _ServerSocket

    return _ServerSocket(ws, None)  # type: ignore[arg-type]  # raw: only recv_before uses it


@pytest.mark.parametrize("many", [False, True], ids=["recv", "recv_many"])
def test_reverse_reader_mixes_batches_and_the_general_path_in_order(many: bool) -> None:
    """The reverse server's reader (batches from take_buffered, recv() for the rest)
    gives the same messages in the same order as recv() alone, one by one or in
    batches, answers pings met on the way and fails an oversize message with 1009
    as before."""
    from qqreliable.transport.link import LinkEnded

    server_sock, client = socket.socketpair()
    client.settimeout(5)
    ws = ServerWebSocket(server_sock, close_timeout=1.0, max_message_size=100_000)
    reader = _link_reader(ws)
    expected: List[bytes] = []
    burst = b""
    for n in range(300):
        payload = f"event {n}".encode() * (1 + n % 7)
        burst += client_frame(OP_TEXT, payload)
        expected.append(payload)
        if n % 50 == 7:
            burst += client_frame(OP_TEXT, b"frag-", fin=False) + client_frame(OP_PING, b"p%d" % n)
            burst += client_frame(OP_CONTINUATION, b"ment", fin=False) + client_frame(OP_CONTINUATION, b"ed")
            expected.append(b"frag-mented")
        if n % 60 == 11:
            big = bytes([n % 256]) * 70_000  # a 64-bit length: the general path
            burst += client_frame(OP_BINARY, big)
            expected.append(big)
    burst += client_frame(OP_TEXT, b"z" * 100_001)  # too big
    writer = threading.Thread(target=client.sendall, args=(burst,), name="test-burst")
    writer.start()
    try:
        if many:
            got: List[bytes] = []
            while len(got) < len(expected):
                batch = reader.recv_many()  # type: ignore[attr-defined]
                assert batch, "a batch holds at least one message"
                got += batch
        else:
            got = [reader.recv() for _ in expected]  # type: ignore[attr-defined]
        assert got == expected
        pongs = [server_frame(client) for n in range(300) if n % 50 == 7]
        assert pongs == [(True, OP_PONG, b"p%d" % n) for n in range(300) if n % 50 == 7]
        with pytest.raises(LinkEnded):
            reader.recv()  # type: ignore[attr-defined]
        assert ws.close_code == 1009
    finally:
        ws.abort()
        writer.join(5)
        client.close()


_ReversePair = Tuple[Any, ServerWebSocket, socket.socket]


@pytest.fixture
def reverse_pair() -> Iterator[_ReversePair]:
    """The reverse server's reader on one end of a socketpair, the client's end."""
    server_sock, client = socket.socketpair()
    client.settimeout(5)
    ws = ServerWebSocket(server_sock, close_timeout=0.5)
    try:
        yield _link_reader(ws), ws, client
    finally:
        ws.abort()
        client.close()


def test_reverse_reader_batches_the_whole_of_a_fresh_read(reverse_pair: _ReversePair) -> None:
    """A read that brings several frames is handed out as one batch: the message
    recv() parsed off it first, then the rest of it (one delivery, not two)."""
    reader, _, client = reverse_pair
    client.sendall(b"".join(client_frame(OP_TEXT, b"m%d" % n) for n in range(10)))
    assert reader.recv_many() == [b"m%d" % n for n in range(10)]
    client.sendall(client_frame(OP_TEXT, b"alone"))
    assert reader.recv_many() == [b"alone"]
    client.sendall(client_frame(OP_TEXT, b"half") + client_frame(OP_TEXT, b"x" * 200)[:50])
    assert reader.recv_many() == [b"half"]  # the rest is not whole yet


def test_reverse_reader_stops_handing_out_parsed_frames_once_closed(reverse_pair: _ReversePair) -> None:
    """Frames parsed ahead are not delivered after the connection was aborted (a kill
    or stop wakes the reader at once, it does not drain hundreds of frames first)."""
    from qqreliable.transport.link import LinkEnded

    reader, ws, client = reverse_pair
    client.sendall(b"".join(client_frame(OP_TEXT, b"m%d" % n) for n in range(10)))
    assert reader.recv() == b"m0"  # read by recv(); 9 left in the buffer
    assert reader.recv() == b"m1"  # the 9 parsed at once; 8 ready
    assert len(reader._ready) == 8
    ws.abort()
    with pytest.raises(LinkEnded):
        reader.recv()
