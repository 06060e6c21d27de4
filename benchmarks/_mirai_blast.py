"""A minimal mirai-api-http WebSocket server for throughput benchmarks.

FakeMirai builds and encodes each event as it pushes it, which would measure
the server. This one sends MAH's handshake frame, answers every command with a
canned success at once (``about``: 2.10.0; sends: a fresh messageId), and
writes a pre-encoded stream of events back to back, so the client under test
is the bottleneck.
"""

from __future__ import annotations

import itertools
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

QQ = 10001


def group_message(n: int, bench_t: float = 0.0) -> Dict[str, Any]:
    return {
        "syncId": "-1",
        "data": {
            "type": "GroupMessage",
            "sender": {"id": 20002, "memberName": "load", "specialTitle": "", "permission": "MEMBER",
                       "joinTimestamp": 0, "lastSpeakTimestamp": 0, "muteTimeRemaining": 0,
                       "group": {"id": 30003, "name": "bench", "permission": "MEMBER"}},
            "messageChain": [{"type": "Source", "id": n + 1, "time": 1764500000},
                             {"type": "Plain", "text": f"message number {n}"}],
            "bench_t": bench_t,
        },
    }


class MiraiBlastServer:
    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"ws://127.0.0.1:{self.port}"
        self._conns: List[ServerWebSocket] = []
        self._cond = threading.Condition()
        self._threads: List[threading.Thread] = []
        self._ids = itertools.count(1)
        self.connections = 0
        self._accept = threading.Thread(target=self._accept_loop, name="mirai-blast:accept", daemon=True)
        self._accept.start()

    def _accept_loop(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            thread = threading.Thread(target=self._serve, args=(sock,), name="mirai-blast:conn", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _answer(self, frame: Dict[str, Any]) -> Dict[str, Any]:
        command = frame.get("command")
        if command == "about":
            data: Dict[str, Any] = {"code": 0, "msg": "", "data": {"version": "2.10.0"}}
        elif isinstance(command, str) and command.startswith("send"):
            data = {"code": 0, "msg": "success", "messageId": next(self._ids)}
        elif command == "sessionInfo":
            data = {"code": 0, "msg": "", "data": {"sessionKey": "bench", "qq": {"id": QQ, "nickname": "b"}}}
        else:
            data = {"code": 0, "msg": ""}
        return {"syncId": str(frame.get("syncId")), "data": data}

    def _serve(self, sock: socket.socket) -> None:
        buffer = bytearray()
        head = read_request_head(sock, buffer)
        if head is None:
            sock.close()
            return
        ws = accept_websocket(sock, head, buffered=bytes(buffer))
        ws.send_text(json.dumps({"syncId": "", "data": {"code": 0, "session": "bench"}}))
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

    def wait_clients(self, n: int, timeout: float = 20.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._conns) == n, timeout):
                raise TimeoutError(f"{len(self._conns)} clients, expected {n}")

    def wait_connections(self, total: int, timeout: float = 20.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self.connections >= total, timeout):
                raise TimeoutError(f"{self.connections} connections, expected {total}")

    def blast(self, frames: List[bytes]) -> None:
        with self._cond:
            conns = list(self._conns)
        for ws in conns:
            for payload in frames:
                try:
                    ws.send(OP_TEXT, payload)
                except WebSocketClosed:
                    break

    def drop_all(self) -> None:
        """Abort every connection without a close frame (the client sees 1006)."""
        with self._cond:
            conns = list(self._conns)
        for ws in conns:
            ws.abort()

    def close(self) -> None:
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        self.drop_all()
        self._accept.join(5)
        for thread in self._threads:
            thread.join(5)
