"""PluginHost against FakeMirai and FakeOneBot on real sockets."""

from __future__ import annotations

import base64
import queue
import threading
from typing import Any, Callable, Iterator, List

import pytest

from qqreliable import MessageSegment, NotDelivered
from qqreliable.compat.mirai import At, AtAll, Face, Image, MessageChain, Plain
from qqreliable.compat.qchatgpt2 import PluginHost, bot_from_config
from qqreliable.testing import FakeMirai, FakeOneBot

from ..helpers import FAST, qq_threads

pytestmark = pytest.mark.timeout(60)
PNG = base64.b64encode(base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=")).decode()


@pytest.fixture
def started() -> Iterator[Callable[..., Any]]:
    bots: List[Any] = []

    def make(cfg: dict) -> Any:
        bot = bot_from_config(cfg, reconnect=FAST, api_timeout=5.0, shutdown_grace=2.0, pacing=None, send_policy=None)
        bots.append(bot)
        bot.start()
        bot.wait_connected(5)
        return bot

    yield make
    for bot in bots:
        bot.stop()
    assert not qq_threads()


def _mirai_cfg(mirai: FakeMirai, adapter: str = "WebSocketAdapter", **extra: Any) -> dict:
    return dict({"mirai_http_api_config": {"adapter": adapter, "host": "127.0.0.1", "port": mirai.port,
                                           "verifyKey": mirai.verify_key, "qq": mirai.qq}}, **extra)


@pytest.mark.parametrize("adapter", ["WebSocketAdapter", "HTTPAdapter"])
def test_every_payload_shape_reaches_mirai(mirai: FakeMirai, started, adapter: str) -> None:
    host = PluginHost(started(_mirai_cfg(mirai, adapter)))
    assert host.bot.url.startswith("ws://" if adapter == "WebSocketAdapter" else "http://")
    cases = [
        ("hi", [{"type": "Plain", "text": "hi"}]),
        (Plain("one"), [{"type": "Plain", "text": "one"}]),
        (["a", At(5), AtAll()], [{"type": "Plain", "text": "a"}, {"type": "At", "target": 5}, {"type": "AtAll"}]),
        (("t", Face(face_id=14)), [{"type": "Plain", "text": "t"}, {"type": "Face", "faceId": 14}]),
        (MessageChain([Plain("c")]), [{"type": "Plain", "text": "c"}]),
        ([{"type": "Plain", "text": "raw"}], [{"type": "Plain", "text": "raw"}]),
        (MessageSegment.text("seg"), [{"type": "Plain", "text": "seg"}]),
    ]
    for n, (payload, chain) in enumerate(cases, 1):
        receipt = host.send_group_message("100", payload)
        sent = mirai.wait_for_message(count=n)
        assert sent["type"] == "group" and sent["target"] == 100
        assert sent["messageChain"] == chain, payload
        assert receipt is not None and receipt.message_id > 0
    host.send_person_message(7, [Image(base64=PNG)])
    sent = mirai.wait_for_message(count=len(cases) + 1)
    assert sent["type"] == "friend" and sent["target"] == 7 and sent["messageChain"][0]["type"] == "Image"


def test_from_another_thread_and_notify_admin(mirai: FakeMirai, started) -> None:
    host = PluginHost(started(_mirai_cfg(mirai, admin_qq=[11, "12"])))
    done: "queue.Queue[Any]" = queue.Queue()
    worker = threading.Thread(target=lambda: done.put(host.send_group_message(100, ["from a timer"])),
                              name="qqreliable-test:timer")
    worker.start()
    worker.join(10)
    assert done.get(timeout=1) is not None
    host.notify_admin("disk full")
    sent = [m for m in mirai.sent_messages if m["type"] == "friend"] if mirai.wait_for_message(count=3) else []
    assert sorted(m["target"] for m in sent) == [11, 12]
    assert all(m["messageChain"] == [{"type": "Plain", "text": "[bot]disk full"}] for m in sent)


def test_failures_are_loud_unless_asked_otherwise(mirai: FakeMirai, started) -> None:
    host = PluginHost(started(_mirai_cfg(mirai)))
    mirai.not_delivered("sendGroupMessage")
    with pytest.raises(NotDelivered):
        host.send_group_message(100, "x")
    mirai.not_delivered("sendGroupMessage")
    assert host.send_group_message(100, "x", raise_on_error=False) is None
    quiet = PluginHost(host.bot, raise_on_error=False)
    mirai.not_delivered("sendFriendMessage")
    assert quiet.send_person_message(3, "x") is None


@pytest.mark.parametrize("target, payload, exc, text", [
    ("abc", "x", ValueError, "group must be numeric"),
    (1.5, "x", TypeError, "group must be an int"),
    (True, "x", TypeError, "group"),
    (0, "x", ValueError, "positive"),
    (100, None, TypeError, "None"),
    (100, "", ValueError, "empty"),
    (100, [object()], TypeError, "object"),
])
def test_bad_input_is_typed_and_named(mirai: FakeMirai, started, target, payload, exc, text) -> None:
    host = PluginHost(started(_mirai_cfg(mirai)), raise_on_error=False)  # never silences bad input
    with pytest.raises(exc, match=text):
        host.send_group_message(target, payload)
    assert mirai.sent_messages == []


def test_nakuru_sends_through_onebot(onebot: FakeOneBot, started) -> None:
    cfg = {"msg_source_adapter": "nakuru", "admin_qq": 9,
           "nakuru_config": {"host": "127.0.0.1", "port": onebot.port, "http_port": onebot.port, "token": ""}}
    host = PluginHost(started(cfg))
    host.send_group_message("200", ["hi ", At(3)])
    sent = onebot.wait_for_message(group_id=200)
    assert sent["message"] == [{"type": "text", "data": {"text": "hi "}}, {"type": "at", "data": {"qq": "3"}}]
    host.notify_admin("up")
    assert onebot.wait_for_message(user_id=9)["message"] == [{"type": "text", "data": {"text": "[bot]up"}}]
