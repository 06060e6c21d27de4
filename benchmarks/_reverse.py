"""A minimal reverse-WebSocket OneBot client, for peers that only listen (aiocqhttp).

In reverse WebSocket mode the OneBot implementation is the client: it dials
the bot framework's server and sends events on that connection. This client
does the opening handshake (``X-Self-ID``, ``X-Client-Role: Universal``),
then writes pre-encoded frames back to back, like ``_blast.BlastServer`` does
for forward-WebSocket clients, so the framework under test is the bottleneck.

Client frames must be masked (RFC 6455 5.3). Frames are masked with a
random key, as a real implementation's are (a server must then unmask every
byte; an all-zero key would spare it that work and flatter it), and encoded
once, before the clock starts. Anything the server sends is read and
discarded (no action is answered: only events are measured this way).

For API calls in reverse mode, ``python _reverse.py REVERSE_URL FORWARD_URL``
runs a relay in a process of its own: it dials both the framework's reverse
WebSocket and FakeOneBot's forward WebSocket and copies frames between them
on one thread, so calls made by the framework reach the same FakeOneBot as
every other peer's, one extra loopback hop away.
"""

from __future__ import annotations

import base64
import os
import selectors
import socket
import struct
import sys
import threading
from typing import Dict, List, Tuple
from urllib.parse import urlsplit

SELF_ID = 10001
_ZERO_MASK = b"\x00\x00\x00\x00"


def client_frame(payload: bytes, first: int = 0x81) -> bytes:
    """A masked frame (a random masking key); ``first`` is FIN + opcode (final text)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", first, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, n)
    key = os.urandom(4)
    masked = (int.from_bytes(payload, "little") ^ int.from_bytes((key * (n // 4 + 1))[:n], "little"))
    return head + key + masked.to_bytes(n, "little")


def parse_server_frames(buffer: bytearray) -> List[Tuple[int, bytes]]:
    """Take every complete unmasked frame off ``buffer``: (FIN + opcode byte, payload)."""
    frames: List[Tuple[int, bytes]] = []
    while len(buffer) >= 2:
        first, second = buffer[0], buffer[1]
        if second & 0x80:
            raise ConnectionError("server sent a masked frame")
        n, at = second & 0x7F, 2
        if n == 126:
            if len(buffer) < 4:
                break
            n, at = struct.unpack_from("!H", buffer, 2)[0], 4
        elif n == 127:
            if len(buffer) < 10:
                break
            n, at = struct.unpack_from("!Q", buffer, 2)[0], 10
        if len(buffer) < at + n:
            break
        frames.append((first, bytes(buffer[at:at + n])))
        del buffer[:at + n]
    return frames


def handshake(url: str, headers: Dict[str, str], timeout: float = 10.0) -> Tuple[socket.socket, bytes]:
    """Dial ``url`` and upgrade; the socket and any bytes read past the answer."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    sock = socket.create_connection((host, port), timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {parts.path or '/'} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        "User-Agent: peers-benchmark",
    ] + [f"{name}: {value}" for name, value in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            sock.close()
            raise ConnectionError(f"{url} closed during the handshake")
        head += chunk
        if len(head) > 65536:
            sock.close()
            raise ConnectionError("oversized handshake answer")
    answer, rest = head.split(b"\r\n\r\n", 1)
    status = answer.split(b"\r\n", 1)[0]
    if b" 101 " not in status + b" ":
        sock.close()
        raise ConnectionError(f"upgrade refused by {url}: {status.decode(errors='replace')}")
    sock.settimeout(None)
    return sock, rest


REVERSE_HEADERS = {"X-Self-ID": str(SELF_ID), "X-Client-Role": "Universal"}


class ReverseClient:
    """Connects to a reverse-WebSocket server and writes event frames to it."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self._sock, rest = handshake(url, REVERSE_HEADERS, timeout)
        self._send_lock = threading.Lock()
        self._drain = threading.Thread(target=self._drain_loop, args=(rest,), name="reverse:drain", daemon=True)
        self._drain.start()

    def _drain_loop(self, rest: bytes) -> None:
        """Read what the server sends: pings are answered (a real implementation's
        client library does so, and a server that checks liveness would otherwise
        drop the link mid-benchmark); everything else is discarded."""
        buffer = bytearray(rest)
        try:
            while True:
                data = self._sock.recv(65536)
                if not data:
                    return
                buffer += data
                for first, payload in parse_server_frames(buffer):
                    if first & 0x0F == 0x9:
                        with self._send_lock:
                            self._sock.sendall(client_frame(payload, 0x8A))
        except (OSError, ConnectionError):
            pass

    def blast(self, frames: List[bytes]) -> None:
        """Write every pre-encoded frame, one ``sendall`` each (as ``BlastServer`` does)."""
        lock = self._send_lock
        for frame in frames:
            with lock:
                self._sock.sendall(frame)

    def close(self) -> None:
        try:
            with self._send_lock:
                self._sock.sendall(b"\x88\x82" + _ZERO_MASK + struct.pack("!H", 1000))
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self._drain.join(2)
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the drain thread if the server lingers
        except OSError:
            pass
        self._drain.join(2)
        self._sock.close()


def relay(reverse_url: str, forward_url: str) -> None:
    """Copy frames both ways between a reverse server and a forward server until one closes.

    Prints ``ready`` once both connections are up; ends when stdin ends too.
    """
    reverse, rest_r = handshake(reverse_url, REVERSE_HEADERS)
    forward, rest_f = handshake(forward_url, {})
    peers = {reverse: forward, forward: reverse}
    buffers: Dict[socket.socket, bytearray] = {reverse: bytearray(rest_r), forward: bytearray(rest_f)}
    selector = selectors.DefaultSelector()
    for sock in peers:
        sock.setblocking(True)
        selector.register(sock, selectors.EVENT_READ)
    selector.register(sys.stdin, selectors.EVENT_READ)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    try:
        while True:
            for key, _ in selector.select(timeout=600):
                if key.fileobj is sys.stdin:
                    if not sys.stdin.readline():
                        return
                    continue
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                data = sock.recv(262144)
                if not data:
                    return
                buffer = buffers[sock]
                buffer += data
                out: List[bytes] = []
                for first, payload in parse_server_frames(buffer):
                    opcode = first & 0x0F
                    if opcode == 0x9:  # ping: answer on the same connection
                        sock.sendall(client_frame(payload, 0x8A))
                    elif opcode == 0x8:
                        return
                    elif opcode != 0xA:
                        out.append(client_frame(payload, first))
                if out:
                    peers[sock].sendall(b"".join(out))
    finally:
        for sock in peers:
            try:
                sock.sendall(client_frame(struct.pack("!H", 1000), 0x88))
            except OSError:
                pass
            sock.close()


if __name__ == "__main__":
    relay(sys.argv[1], sys.argv[2])
