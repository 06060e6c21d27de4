"""HTTP POST events: the implementation POSTs each event to the bot (Bot(listen="http://…"))."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from typing import Any, Callable, Dict, List, Optional

import pytest

from qqreliable import ApiNotAvailable, Bot, Event
from qqreliable.testing import FakeOneBot
from qqreliable.onebot.listen import check_signature

from .helpers import eventually

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def webhook_bot(make_bot: Callable[..., Bot]) -> Callable[..., Bot]:
    """Bots receiving HTTP POST events on 127.0.0.1, port 0 (conftest's make_bot stops them)."""

    def make(url: Optional[str] = None, path: str = "/onebot", **kwargs: Any) -> Bot:
        return make_bot(url, listen=f"http://127.0.0.1:0{path}", **kwargs)

    return make


def _event(message_id: int = 1, text: str = "hi") -> Dict[str, Any]:
    return {
        "time": 1700000000,
        "self_id": 10001,
        "post_type": "message",
        "message_type": "private",
        "sub_type": "friend",
        "message_id": message_id,
        "user_id": 5,
        "message": [{"type": "text", "data": {"text": text}}],
        "raw_message": text,
        "font": 0,
        "sender": {"user_id": 5, "nickname": "u"},
    }


def test_signed_posts_are_handled_and_answered_204(onebot: FakeOneBot, webhook_bot: Callable[..., Bot]) -> None:
    bot = webhook_bot(onebot.url, secret="s3cret")
    replied = threading.Event()
    connected: List[int] = []
    bot.on_connect(connected.append)

    @bot.on_message("group")
    def echo(event: Event) -> None:
        event.reply("pong")  # the API goes over the HTTP url
        replied.set()

    with bot:
        poster = onebot.post_events(bot.listen_url, secret="s3cret")
        onebot.emit_group_message(1, 2, "ping")
        assert replied.wait(5)
        poster.wait_idle()
        assert poster.statuses == [204]
        assert onebot.wait_for_call("send_group_msg")["transport"] == "http"
        assert bot.wait_connected(5) == onebot.self_id  # the HTTP API answers get_login_info
        eventually(lambda: connected == [onebot.self_id], what="on_connect")


def test_forged_and_unsigned_posts_are_refused(onebot: FakeOneBot, webhook_bot: Callable[..., Bot]) -> None:
    bot = webhook_bot(secret="s3cret")
    got: List[Event] = []
    bot.on_message()(got.append)
    with bot:
        poster = onebot.post_events(bot.listen_url, secret="s3cret")
        body = json.dumps(_event(1)).encode()
        status, _ = poster.post_raw(body, {"Content-Type": "application/json"})
        assert status == 401
        forged = "sha1=" + hmac.new(b"wrong", body, hashlib.sha1).hexdigest()
        status, _ = poster.post_raw(body, {"X-Signature": forged})
        assert status == 403
        tampered = json.dumps(_event(1, "tampered")).encode()
        status, _ = poster.post_raw(tampered, {"X-Signature": poster.sign(body)})
        assert status == 403
        status, _ = poster.post_raw(body, {"X-Signature": poster.sign(body)})
        assert status == 204
        eventually(lambda: len(got) == 1, what="the signed event")
        assert got[0].plain_text == "hi"
        rejected = bot.stats()["listener"]["rejected"]
        assert rejected["401"] == 1 and rejected["403"] == 2


def test_without_secret_unsigned_posts_are_accepted(onebot: FakeOneBot, webhook_bot: Callable[..., Bot]) -> None:
    bot = webhook_bot()
    got: List[Event] = []
    bot.on_message()(got.append)
    with bot:
        poster = onebot.post_events(bot.listen_url)
        onebot.emit_private_message(7, "hello")
        eventually(lambda: len(got) == 1, what="event")
        assert bot.wait_connected(5) == onebot.self_id  # events only: the first event's account
        with pytest.raises(ApiNotAvailable):
            bot.call_action("get_status")
        assert poster.post_raw(b"not json", {})[0] == 400
        assert poster.post_raw(b'{"no": "post_type"}', {})[0] == 400
        assert bot.stats()["listener"]["bad_posts"] == 2


def test_check_signature() -> None:
    body = b'{"a":1}'
    good = "sha1=" + hmac.new(b"k", body, hashlib.sha1).hexdigest()
    assert check_signature(None, body, None) == 0
    assert check_signature("k", body, None) == 401
    assert check_signature("k", body, "") == 401
    assert check_signature("k", body, good) == 0
    assert check_signature("k", body, good.upper().replace("SHA1", "sha1")) == 0
    assert check_signature("k", body, "sha1=00") == 403
    assert check_signature("k", body + b" ", good) == 403


def test_answer_does_not_wait_for_slow_handlers(onebot: FakeOneBot, webhook_bot: Callable[..., Bot]) -> None:
    bot = webhook_bot(workers=1)
    release = threading.Event()
    started = threading.Event()

    @bot.on_message()
    def slow(event: Event) -> None:
        started.set()
        release.wait(10)

    with bot:
        poster = onebot.post_events(bot.listen_url, timeout=1.0, retries=0)
        for i in range(5):
            onebot.emit_private_message(3, f"m{i}")
        poster.wait_idle()
        assert started.is_set()
        assert poster.statuses == [204] * 5 and poster.attempts == 5  # no go-cqhttp retry
        assert max(poster.latencies) < 0.5  # answered at once although the handler is blocked
        release.set()


def test_quick_operation_reply(onebot: FakeOneBot, webhook_bot: Callable[..., Bot]) -> None:
    bot = webhook_bot()
    plain: List[Event] = []
    bot.on_message()(plain.append)

    @bot.quick_operation("message.group")
    def quick(event: Event) -> Optional[Dict[str, Any]]:
        if event.plain_text == "ping":
            return {"reply": "pong", "at_sender": False}
        return None

    with bot:
        poster = onebot.post_events(bot.listen_url)
        onebot.emit_group_message(1, 2, "ping")
        onebot.emit_group_message(1, 2, "other")
        onebot.emit_private_message(2, "ping")  # no quick handler for private: 204 at once
        poster.wait_idle()
        assert poster.statuses == [200, 204, 204]
        assert poster.quick_answers[0][1] == {"reply": "pong", "at_sender": False}
        assert [m["raw_message"] for m in onebot.sent_messages] == ["pong"]
        eventually(lambda: len(plain) == 3, what="ordinary handlers still run")


def test_slow_quick_operation_times_out_with_204(onebot: FakeOneBot, webhook_bot: Callable[..., Bot]) -> None:
    bot = webhook_bot(onebot.url, quick_timeout=0.2)
    release = threading.Event()
    onebot.set_action(".handle_quick_operation", lambda params: None)

    @bot.quick_operation("message")
    def quick(event: Event) -> Dict[str, Any]:
        release.wait(5)
        return {"reply": "late"}

    with bot:
        poster = onebot.post_events(bot.listen_url, timeout=2.0, retries=0)
        onebot.emit_private_message(2, "x")
        poster.wait_idle()
        assert poster.statuses == [204]
        release.set()
        call = onebot.wait_for_call(".handle_quick_operation")  # applied late over the API
        assert call["params"]["operation"] == {"reply": "late"}
        assert bot.stats()["quick_timeouts"] == 1


def test_webhook_retry_is_handled_once(onebot: FakeOneBot, webhook_bot: Callable[..., Bot]) -> None:
    bot = webhook_bot()
    got: List[Event] = []
    bot.on_message()(got.append)
    with bot:
        poster = onebot.post_events(bot.listen_url, retries=3)
        poster.lose_responses(2)  # go-cqhttp timed out twice: the same event arrives 3 times
        onebot.emit_private_message(2, "once")
        poster.wait_idle()
        assert poster.attempts == 3
        eventually(lambda: bot.stats()["events_duplicate"] == 2, what="duplicates counted")
        assert bot._dispatcher.wait_idle(5)
        assert [e.plain_text for e in got] == ["once"]


def test_ambiguous_send_verified_by_a_posted_message_sent(
    onebot_factory: Callable[..., FakeOneBot], webhook_bot: Callable[..., Bot]
) -> None:
    """Exactly-once sends (issue 4) with HTTP POST events: the implementation's
    message_sent arrives by webhook and settles a send answered 1200."""
    onebot = onebot_factory(report_self_messages=True)
    bot = webhook_bot(onebot.url)
    with bot:
        onebot.post_events(bot.listen_url)
        onebot.script("send_private_msg", ["deliver_fail"])
        receipt = bot.send_private_msg(9, "once")
        assert receipt.verified
        assert [m["raw_message"] for m in onebot.sent_messages] == ["once"]
