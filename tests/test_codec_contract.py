"""The FrameCodec contract, with a tiny made-up protocol over real sockets.

What every protocol package relies on: the handshake runs before the link
counts as connected and its notes are applied; calls carry transport-made ids
and are settled by the codec's reply ids; events are delivered; the
application heartbeat is sent once per announced interval; ``closed`` hears
the peer's close code; a final error from the handshake stops ``run()``.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
from typing import Any, Callable, Dict, List, Mapping, Optional

import pytest

from qqreliable import AuthenticationError
from qqreliable.reliability import Backoff, Liveness
from qqreliable.runtime.supervisor import Periodic
from qqreliable.transport.codec import CONTROL, KIND_CONTROL, FrameCodec, HandshakeChannel, Inbound, Reconnect
from qqreliable.transport.ws import WsClient
from qqreliable.transport.wsserver import (
    CLOSE_NORMAL,
    OP_TEXT,
    WebSocketClosed,
    accept_websocket,
    read_request_head,
)

pytestmark = pytest.mark.timeout(20)

FAST = Backoff(initial=0.02, maximum=0.05, jitter=0.0, max_attempts=3)


class TinyCodec(FrameCodec):
    """Server says hello with an interval; we answer with our name; replies carry ``re``."""

    name = "tiny"

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.opened_count = 0
        self.closes: List[Any] = []
        self.beats = 0

    def handshake_headers(self) -> Dict[str, str]:
        return {"X-Tiny": "yes"}

    def opened(self) -> None:
        self.opened_count += 1

    def handshake(self, channel: HandshakeChannel) -> Optional[Inbound]:
        hello = channel.receive()
        if self.refuse:
            raise AuthenticationError("tiny: refused", status=1)
        channel.send({"ident": "me"})
        ready = channel.receive()
        return Inbound(KIND_CONTROL, interval_ms=hello["interval_ms"], identity=ready["account"])

    def encode_call(self, name: str, params: Mapping[str, Any], request_id: str) -> Dict[str, Any]:
        return {"do": name, "args": dict(params), "id": request_id}

    def classify(self, obj: Dict[str, Any]) -> Inbound:
        if "event" in obj:
            return Inbound.event(obj["event"])
        if obj.get("ack"):
            return Inbound(KIND_CONTROL, heartbeat=True)
        if obj.get("kick"):
            raise Reconnect("asked to reconnect")
        if "re" in obj:
            return Inbound.reply(obj["re"], obj.get("result"))
        return CONTROL

    def heartbeat_frame(self) -> Optional[Dict[str, Any]]:
        self.beats += 1
        return {"beat": self.beats}

    def closed(self, code: Optional[int], reason: str) -> None:
        self.closes.append(code)


class TinyServer:
    """Accepts WebSockets on 127.0.0.1; each connection runs ``script(ws, head)``."""

    def __init__(self, script: Callable[[Any, Any], None]) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.script = script
        self.threads: List[threading.Thread] = []
        self.accept_thread = threading.Thread(target=self._accept, name="test-tiny-accept", daemon=True)
        self.accept_thread.start()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), name="test-tiny-conn", daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = bytearray()
        try:
            head = read_request_head(conn, buffer, timeout=5)
            ws = accept_websocket(conn, head, buffered=bytes(buffer))
            self.script(ws, head)
        except (OSError, WebSocketClosed):
            pass
        finally:
            conn.close()

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes accept()
        except OSError:
            pass
        self.sock.close()
        self.accept_thread.join(2)
        for t in self.threads:
            t.join(2)


def _recv(ws: Any) -> Dict[str, Any]:
    opcode, payload = ws.recv()
    assert opcode == OP_TEXT
    return json.loads(payload)


def _client(url: str, codec: FrameCodec, events: "queue.Queue[Any]", **kwargs: Any) -> Any:
    stopping = threading.Event()
    failures: "queue.Queue[BaseException]" = queue.Queue()
    client = WsClient(
        url,
        codec=codec,
        liveness=Liveness(ping_interval=None),
        backoff=FAST,
        on_event=events.put,
        on_open=lambda c: None,
        on_close=lambda c, r: None,
        stopping=stopping,
        fail=failures.put,
        connect_timeout=3,
        **kwargs,
    )
    reader = threading.Thread(target=client.run, name="test-tiny-reader", daemon=True)
    reader.start()
    watchdog = Periodic(client.watchdog, client.watchdog_period, stopping)
    threading.Thread(target=watchdog, name="test-tiny-watchdog", daemon=True).start()
    return client, stopping, failures, reader


def test_handshake_calls_events_heartbeats_and_close_codes() -> None:
    seen: "queue.Queue[Dict[str, Any]]" = queue.Queue()
    heads: List[Any] = []

    def script(ws: Any, head: Any) -> None:
        heads.append(head)
        ws.send_text(json.dumps({"interval_ms": 300}))
        assert _recv(ws) == {"ident": "me"}
        ws.send_text(json.dumps({"account": 42}))
        call = _recv(ws)
        while "beat" in call:  # heartbeats may come first
            seen.put(call)
            ws.send_text(json.dumps({"ack": True}))
            call = _recv(ws)
        ws.send_text(json.dumps({"event": {"n": 1}}))
        ws.send_text(json.dumps({"re": call["id"], "result": {"echoed": call["args"]}}))
        while True:
            frame = _recv(ws)
            seen.put(frame)
            if "beat" in frame and frame["beat"] >= 3:
                ws.close(4009, "session timed out", timeout=0.5)
                return
            ws.send_text(json.dumps({"ack": True}))

    server = TinyServer(script)
    codec = TinyCodec()
    events: "queue.Queue[Any]" = queue.Queue()
    client, stopping, failures, reader = _client(server.url, codec, events)
    try:
        assert client.wait_connected(5)
        assert client.account == 42  # the handshake's notes were applied
        assert client.liveness.interval == 0.3
        assert heads[0].header("X-Tiny") == "yes"
        assert client.call("ping", {"a": "cut \ud83d"}, timeout=5) == {"echoed": {"a": "cut \ufffd"}}
        assert events.get(timeout=5) == {"n": 1}
        beats = []
        while len(beats) < 3:
            frame = seen.get(timeout=5)
            if "beat" in frame:
                beats.append(frame["beat"])
        assert beats == [1, 2, 3]  # one per interval, ACKs keep the link alive
        for _ in range(500):  # the server's close code reaches the codec
            if 4009 in codec.closes:
                break
            threading.Event().wait(0.01)
        assert 4009 in codec.closes, (codec.closes, client.last_disconnect_reason)
        assert codec.opened_count >= 1 and failures.empty()
    finally:
        stopping.set()
        client.close()
        reader.join(5)
        server.close()
    assert not reader.is_alive()


def test_a_final_error_from_the_handshake_stops_run() -> None:
    def script(ws: Any, head: Any) -> None:
        ws.send_text(json.dumps({"interval_ms": 1000}))
        try:
            ws.recv()
        except WebSocketClosed:
            pass

    server = TinyServer(script)
    events: "queue.Queue[Any]" = queue.Queue()
    client, stopping, failures, reader = _client(server.url, TinyCodec(refuse=True), events)
    try:
        error = failures.get(timeout=5)
        assert isinstance(error, AuthenticationError) and "tiny: refused" in str(error)
        reader.join(5)
        assert not reader.is_alive()  # run() returned: no reconnect after a final error
        with pytest.raises(AuthenticationError):
            client.call("ping", {}, timeout=1)
    finally:
        stopping.set()
        client.close()
        server.close()


def test_a_handshake_cut_short_is_retried_and_the_codec_hears_of_it() -> None:
    attempts: List[int] = []

    def script(ws: Any, head: Any) -> None:
        attempts.append(1)
        ws.close(CLOSE_NORMAL, "not now", timeout=0.5)  # before Hello: the handshake fails, retryably

    server = TinyServer(script)
    codec = TinyCodec()
    events: "queue.Queue[Any]" = queue.Queue()
    client, stopping, failures, reader = _client(server.url, codec, events)
    try:
        error = failures.get(timeout=5)  # FAST allows 3 attempts, then gives up
        assert "giving up after 3" in str(error)
        assert len(attempts) == 3 and codec.opened_count == 3
        assert codec.closes == [CLOSE_NORMAL] * 3
    finally:
        stopping.set()
        client.close()
        reader.join(5)
        server.close()
