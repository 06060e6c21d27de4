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
    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self._listener.getsockname()[1]}/"
        self._conns: List[ServerWebSocket] = []
        self._cond = threading.Condition()
        self._threads: List[threading.Thread] = []
        self._accept = threading.Thread(target=self._accept_loop, name="blast:accept", daemon=True)
        self._accept.start()

    def _accept_loop(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(sock,), name="blast:conn", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        buffer = bytearray()
        head = read_request_head(sock, buffer)
        if head is None:
            sock.close()
            return
        ws = accept_websocket(sock, head, buffered=bytes(buffer))
        ws.send_text(json.dumps({"post_type": "meta_event", "meta_event_type": "lifecycle",
                                 "sub_type": "connect", "self_id": SELF_ID, "time": 0}))
        with self._cond:
            self._conns.append(ws)
            self._cond.notify_all()
        try:
            while True:
                _, payload = ws.recv()
                request = json.loads(payload)
                reply: Dict[str, Any] = {"status": "ok", "retcode": 0, "echo": request.get("echo"),
                                         "data": {"user_id": SELF_ID, "nickname": "blast"}}
                ws.send_text(json.dumps(reply))
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

    def blast(self, frames: List[bytes]) -> None:
        """Write every pre-encoded frame to every client, back to back."""
        with self._cond:
            conns = list(self._conns)
        for ws in conns:
            for payload in frames:
                ws.send(OP_TEXT, payload)

    def close(self) -> None:
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept() on Linux
        except OSError:
            pass
        self._listener.close()
        with self._cond:
            conns = list(self._conns)
        for ws in conns:
            ws.abort()
        self._accept.join(5)
        for thread in self._threads:
            thread.join(5)
