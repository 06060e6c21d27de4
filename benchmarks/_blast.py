"""A minimal OneBot event source for throughput benchmarks.

FakeOneBot builds and encodes each event as it pushes it, which caps it near
10,000 events/s on a small machine: it would measure itself, not the client.
This server encodes the whole stream before the clock starts, then writes
the frames back to back, so the client under test is the bottleneck. It
answers every action with a canned success (enough for ``Bot`` to connect).
"""

from __future__ import annotations

import json
import socket
import threading
from typing import Any, Dict, List

from qqreliable.transport.wsserver import (
    OP_TEXT,
    ServerWebSocket,
    WebSocketClosed,
    accept_websocket,
    read_request_head,
)

SELF_ID = 10001


class BlastServer:
    """The OneBot blast server; a subclass changes :meth:`_hello` and :meth:`_answer`
    (and ``NAME``, ``PATH``, ``NODELAY``) for another protocol."""

    NAME = "blast"  # thread names
    PATH = "/"  # the URL's path
    NODELAY = False  # TCP_NODELAY on accepted sockets

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}{self.PATH}"
        self._conns: List[ServerWebSocket] = []
        self._cond = threading.Condition()
        self._threads: List[threading.Thread] = []
        self.connections = 0
        self._accept = threading.Thread(target=self._accept_loop, name=f"{self.NAME}:accept", daemon=True)
        self._accept.start()

    def _accept_loop(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            if self.NODELAY:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            thread = threading.Thread(target=self._serve, args=(sock,), name=f"{self.NAME}:conn", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _hello(self) -> Dict[str, Any]:
        """The first frame a client gets."""
        return {"post_type": "meta_event", "meta_event_type": "lifecycle", "sub_type": "connect",
                "self_id": SELF_ID, "time": 0}

    def _answer(self, request: Dict[str, Any]) -> Dict[str, Any]:
        """The answer to a client's frame."""
        return {"status": "ok", "retcode": 0, "echo": request.get("echo"),
                "data": {"user_id": SELF_ID, "nickname": "blast"}}

    def _serve(self, sock: socket.socket) -> None:
        buffer = bytearray()
        head = read_request_head(sock, buffer)
        if head is None:
            sock.close()
            return
        ws = accept_websocket(sock, head, buffered=bytes(buffer))
        ws.send_text(json.dumps(self._hello()))
        with self._cond:
            self._conns.append(ws)
            self.connections += 1
            self._cond.notify_all()
        try:
            while True:
                _, payload = ws.recv()
                ws.send_text(json.dumps(self._answer(json.loads(payload))))
        except (WebSocketClosed, OSError, ValueError):
            pass
        finally:
            with self._cond:
                if ws in self._conns:
                    self._conns.remove(ws)
                self._cond.notify_all()
            ws.abort()

    def wait_clients(self, n: int, timeout: float = 10.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._conns) == n, timeout):
                raise TimeoutError(f"{len(self._conns)} clients, expected {n}")

    def wait_connections(self, total: int, timeout: float = 20.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self.connections >= total, timeout):
                raise TimeoutError(f"{self.connections} connections, expected {total}")

    def blast(self, frames: List[bytes]) -> None:
        """Write every pre-encoded frame to every client, back to back."""
        with self._cond:
            conns = list(self._conns)
        for ws in conns:
            for payload in frames:
                ws.send(OP_TEXT, payload)

    def drop_all(self) -> None:
        """Abort every connection without a close frame (the client sees 1006)."""
        with self._cond:
            conns = list(self._conns)
        for ws in conns:
            ws.abort()

    def close(self) -> None:
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept() on Linux
        except OSError:
            pass
        self._listener.close()
        self.drop_all()
        self._accept.join(5)
        for thread in self._threads:
            thread.join(5)
