"""A minimal mirai-api-http WebSocket server for throughput benchmarks.

FakeMirai builds and encodes each event as it pushes it, which would measure
the server. This one sends MAH's handshake frame, answers every command with a
canned success at once (``about``: 2.10.0; sends: a fresh messageId), and
writes a pre-encoded stream of events back to back, so the client under test
is the bottleneck.
"""

from __future__ import annotations

import itertools
from typing import Any, Dict, List

from _blast import BlastServer

from qqreliable.transport.wsserver import OP_TEXT, WebSocketClosed

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


class MiraiBlastServer(BlastServer):
    NAME = "mirai-blast"
    PATH = ""
    NODELAY = True

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        super().__init__()

    def _hello(self) -> Dict[str, Any]:
        return {"syncId": "", "data": {"code": 0, "session": "bench"}}

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

    def wait_clients(self, n: int, timeout: float = 20.0) -> None:
        super().wait_clients(n, timeout)

    def blast(self, frames: List[bytes]) -> None:
        """Write every pre-encoded frame to every client, back to back (a closed one is skipped)."""
        with self._cond:
            conns = list(self._conns)
        for ws in conns:
            for payload in frames:
                try:
                    ws.send(OP_TEXT, payload)
                except WebSocketClosed:
                    break
