"""The seams are real: a made-up protocol on the shared transport, liveness, runtime and sends.

"Tiny" has its own handshake (the server speaks first; a key header), its own
request ids (``tag``), its own events (``{"kind": "msg", ...}``) and its own
history call. Nothing below touches a OneBot module.
"""

from __future__ import annotations

import json
import socket
import threading
from typing import Any, Dict, Hashable, List, Mapping, Optional

import pytest

from qqreliable import AuthenticationError, Backoff, SendPolicy
from qqreliable.exceptions import ActionFailed, ConnectFailed, Error, ResponseLost
from qqreliable.outcome import Outcome
from qqreliable.reliability import Liveness
from qqreliable.reliability.interfaces import DeliveryLookup, HistoryEntry, Judgement, Payload
from qqreliable.reliability.verify import SendPipeline
from qqreliable.runtime.base import BotBase
from qqreliable.runtime.supervisor import Periodic
from qqreliable.transport.codec import EVENT, FrameCodec, Inbound
from qqreliable.transport.ws import WsClient
from qqreliable.transport.wsserver import WebSocketClosed, accept_websocket, read_request_head, send_http_response

from .helpers import eventually, qq_threads


class TinyServer:
    """A Tiny server: one thread per connection; ``lose_next_answer`` delivers but never answers."""

    def __init__(self, key: str = "k") -> None:
        self.key, self.said, self.lose_next_answer, self.sockets = key, [], False, []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self._listener.getsockname()[1]}/tiny"
        self._conns: List[Any] = []
        threading.Thread(target=self._accept, daemon=True, name="tiny-accept").start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            self.sockets.append(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True, name="tiny-conn").start()

    def _serve(self, sock: socket.socket) -> None:
        buffer = bytearray()
        head = read_request_head(sock, buffer, timeout=5.0)
        if head is None or head.header("X-Tiny-Key") != self.key:
            send_http_response(sock, 401, b"bad key")
            sock.close()
            return
        ws = accept_websocket(sock, head, buffered=bytes(buffer))
        self._conns.append(ws)
        ws.send_text('{"hello": "tiny/1"}')
        try:
            while True:
                req = json.loads(ws.recv()[1])
                if req["do"] == "say":
                    self.said.append((req["args"]["room"], req["args"]["text"], len(self.said) + 1))
                    if self.lose_next_answer:
                        self.lose_next_answer = False
                        continue
                    answer: Any = {"n": len(self.said)}
                else:  # "log": the room's history
                    answer = [{"n": n, "text": t} for r, t, n in self.said if r == req["args"]["room"]]
                ws.send_text(json.dumps({"tag": req["tag"], "ok": True, "value": answer}))
        except (WebSocketClosed, OSError, ValueError):
            return

    def emit(self, room: str, text: str, n: int) -> None:
        for ws in list(self._conns):
            if not ws.closed:
                ws.send_text(f'{{"kind": "msg", "room": "{room}", "text": "{text}", "n": {n}}}')

    def drop(self) -> None:
        for ws in self._conns:
            ws.abort()

    def close(self) -> None:
        self._listener.close()
        self.drop()


class TinyCodec(FrameCodec):
    name = "tiny"

    def __init__(self, key: str) -> None:
        self.key = key

    def handshake_headers(self) -> Dict[str, str]:
        return {"X-Tiny-Key": self.key}

    def handshake(self, channel: Any) -> None:
        if channel.receive().get("hello") != "tiny/1":
            raise AuthenticationError("tiny: no hello")

    def encode_call(self, name: str, params: Mapping[str, Any], request_id: str) -> Dict[str, Any]:
        return {"do": name, "args": dict(params), "tag": request_id}

    def classify(self, obj: Dict[str, Any]) -> Inbound:
        return EVENT if "kind" in obj else Inbound.reply(str(obj.get("tag")))


class TinyEvent(dict):  # type: ignore[type-arg]
    @property
    def name(self) -> str:
        return f"msg.{self['room']}"


class TinyFacts:
    """Tiny's sends: an answer lost after the request left is UNKNOWN; history settles it."""

    def __init__(self, bot: "TinyBot") -> None:
        self.lookup = DeliveryLookup(history=bot.history)

    def judge(self, action: str, error: Error, attempt: int) -> Judgement:
        if isinstance(error, ConnectFailed):
            return Judgement(Outcome.NOT_SENT, never_left=True)
        return Judgement(Outcome.UNKNOWN if isinstance(error, ResponseLost) else Outcome.NOT_SENT)

    def answered_id(self, action: str, data: Any) -> Optional[Hashable]:
        return data.get("n") if isinstance(data, Mapping) else None

    def target(self, action: str, params: Mapping[str, Any]) -> Any:
        return ("room", params["room"])

    def content(self, action: str, params: Mapping[str, Any]) -> Any:
        return params["text"]

    fingerprint = staticmethod(str)
    payload = staticmethod(lambda action, params: Payload())
    slow = staticmethod(lambda action: False)
    resend_safe = staticmethod(lambda action, params: False)
    account_signal = staticmethod(lambda event: None)


class TinyBot(BotBase):
    MESSAGE_PREFIX = "msg"

    def __init__(self, url: str, key: str, **options: Any) -> None:
        super().__init__(workers=2, shutdown_grace=2.0)
        self.client = WsClient(
            url, codec=TinyCodec(key), liveness=Liveness(grace=2.5, ping_interval=0.2, pong_timeout=0.5),
            backoff=Backoff(initial=0.02, maximum=0.1), on_event=self._event,
            on_open=lambda c: self._mark_connected("tiny"), on_close=lambda c, why: self._mark_disconnected(why),
            stopping=self._supervisor.stopping, fail=self._supervisor.fail, connect_timeout=2.0,
        )
        policy = SendPolicy(settle_window=0.2, **options)
        self.sends = SendPipeline(
            policy=policy, pacing=None, call=self._call, facts=TinyFacts(self), self_id=lambda: "tiny",
            events_live=None, stopping=self._supervisor.stopping, stats=self._call_stats,
        )

    def _open(self) -> None:
        self._supervisor.spawn("tiny-reader", self.client.run)
        self._supervisor.spawn(
            "tiny-watchdog", Periodic(self.client.watchdog, self.client.watchdog_period, self._supervisor.stopping)
        )

    def _close(self, deadline: float) -> None:
        self.sends.close()
        self.client.close()

    def _event(self, obj: Dict[str, Any]) -> None:
        self._dispatcher.submit_event(TinyEvent(obj))

    def _call(self, action: str, params: Dict[str, Any], timeout: float) -> Any:
        reply = self.client.call(action, params, timeout)
        if not reply.get("ok"):
            raise ActionFailed(action, 1, "refused")
        return reply["value"]

    def history(self, target: Any, since: float, count: int, timeout: float) -> List[HistoryEntry]:
        rows = self._call("log", {"room": target[1]}, timeout)
        return [HistoryEntry(content=r["text"], message_id=r["n"], own=True) for r in rows]

    def say(self, room: str, text: str) -> Any:
        return self.sends.send("say", {"room": room, "text": text}, 2.0)


@pytest.fixture
def tiny() -> Any:
    server = TinyServer()
    yield server
    server.close()


def test_events_reach_handlers_and_survive_a_drop(tiny: TinyServer) -> None:
    bot, got = TinyBot(tiny.url, "k"), []
    bot.on_message("lobby")(lambda event: got.append(event["n"]))
    with bot:
        bot.wait_connected(5)
        tiny.emit("lobby", "hi", 1)
        eventually(lambda: got == [1], what="the first event")
        tiny.drop()  # no close frame: the transport notices, reconnects, does the handshake again
        eventually(lambda: len(tiny.sockets) >= 2 and bot.connected, what="the reconnect")
        eventually(lambda: (tiny.emit("lobby", "again", 2), 2 in got)[1], what="events after the reconnect")
    assert qq_threads() == []


def test_a_wrong_key_is_raised_from_run(tiny: TinyServer) -> None:
    bot = TinyBot(tiny.url, "wrong")
    with pytest.raises(AuthenticationError):
        bot.run(log_handler=None)
    assert qq_threads() == []


def test_a_send_whose_answer_is_lost_is_verified_not_resent(tiny: TinyServer) -> None:
    bot = TinyBot(tiny.url, "k")
    with bot:
        bot.wait_connected(5)
        assert bot.say("lobby", "one").message_id == 1
        tiny.lose_next_answer = True
        receipt = bot.say("lobby", "two")  # delivered, no answer: UNKNOWN -> history -> found
        assert receipt.verified and receipt.message_id == 2
    assert [t for _, t, _ in tiny.said] == ["one", "two"]
