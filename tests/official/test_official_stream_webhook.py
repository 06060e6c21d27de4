"""reply_stream and the webhook, end to end against FakeOfficial."""

from __future__ import annotations

import threading
from typing import Any, Iterator, List

import pytest

from qqreliable import MessageSegment, OfficialBot
from qqreliable.official.stream import BREAK
from qqreliable.testing import FakeOfficial


def run_in_handler(official: FakeOfficial, bot: OfficialBot, scene: str, fn) -> List[Any]:
    results: List[Any] = []
    done = threading.Event()

    def handler(event):
        try:
            results.append(fn(event))
        except Exception as exc:  # surfaced to the test
            results.append(exc)
        done.set()

    bot.on(f"message.{scene}")(handler)
    bot.start()
    bot.wait_connected(5)
    if scene == "c2c":
        official.emit_c2c_message("U1", "tell me")
    else:
        official.emit_group_at_message("G1", "M1", "tell me")
    assert done.wait(10)
    return results


def llm(parts: List[Any]) -> Iterator[Any]:
    yield from parts


def test_c2c_stream(official: FakeOfficial, make_official_bot) -> None:
    bot = make_official_bot(official)
    (receipt,) = run_in_handler(official, bot, "c2c",
                                lambda e: e.reply_stream(llm(["Hel", "lo ", "world"]), interval=0))
    (record,) = official.sent_messages
    assert record["stream"] == "closed" and record["text"] == "Hello world\n"
    chunks = [c["json"] for c in official.calls if c["route"] == "c2c"]
    assert "id" not in chunks[0]["stream"] and all(c["stream"]["id"] == record["id"] for c in chunks[1:])
    assert [c["stream"]["index"] for c in chunks] == list(range(len(chunks)))
    assert len({c["msg_seq"] for c in chunks}) == len(chunks)  # every chunk its own msg_seq
    assert all(c["msg_id"] for c in chunks)
    assert receipt.message_id == record["id"] and receipt["chunks"] == len(chunks)


def test_stream_in_group_sent_once(official: FakeOfficial, make_official_bot) -> None:
    bot = make_official_bot(official)
    run_in_handler(official, bot, "group", lambda e: e.reply_stream(llm(["a", "b", "c"]), interval=0))
    (record,) = official.sent_messages
    assert record["text"] == "abc" and record["stream"] is None and record["passive"]


def test_stream_markdown_refused_goes_plain(official_factory, make_official_bot) -> None:
    official = official_factory(markdown=False)
    bot = make_official_bot(official, markdown=True)
    run_in_handler(official, bot, "c2c", lambda e: e.reply_stream(llm(["x", "y"]), interval=0))
    (record,) = official.sent_messages
    assert record["text"] == "xy\n" and record["stream"] == "closed" and record["markdown"] is False


def test_stream_media_apart_and_break(official: FakeOfficial, make_official_bot) -> None:
    bot = make_official_bot(official)
    image = MessageSegment.image(b"img")
    run_in_handler(official, bot, "c2c",
                   lambda e: e.reply_stream(llm(["one ", image, "two", BREAK, "three"]), interval=0))
    streams = [m for m in official.sent_messages if m["stream"]]
    media = [m for m in official.sent_messages if m["msg_type"] == 7]
    assert [s["text"] for s in streams] == ["one two\n", "three\n"]
    assert all(s["stream"] == "closed" for s in streams) and len(media) == 1


def test_stream_error_mid_stream_closes_it(official: FakeOfficial, make_official_bot) -> None:
    bot = make_official_bot(official)

    def chunks():
        yield "first "
        official.fail_next("c2c", 400, code=50006, message="refused")
        yield "second"
        yield "third"

    (result,) = run_in_handler(official, bot, "c2c", lambda e: e.reply_stream(chunks(), interval=0))
    assert isinstance(result, Exception)
    (record,) = official.sent_messages
    assert record["stream"] == "closed" and record["text"] == "first \n"  # closed, never resent


# ---------------------------------------------------------------- webhook


@pytest.fixture
def webhook_bot(official: FakeOfficial, make_official_bot) -> OfficialBot:
    bot = make_official_bot(official, listen="http://127.0.0.1:0/qqbot")
    return bot


def test_webhook_validation_and_events(official: FakeOfficial, webhook_bot: OfficialBot) -> None:
    got: List[str] = []
    done = threading.Event()

    @webhook_bot.on_message("c2c")
    def answer(event):
        got.append(event.plain_text)
        event.reply("ok")
        done.set()

    webhook_bot.start()
    webhook_bot.wait_connected(5)  # listening, with a token to send with
    url = webhook_bot.url
    assert official.validate_webhook(url)
    statuses = official.post_events(url)
    official.emit_c2c_message("U1", "via webhook")
    assert done.wait(5)
    official.wait_for_sent(1)
    assert got == ["via webhook"] and statuses == [200]
    assert webhook_bot.connected


def test_webhook_refuses_bad_signatures(official: FakeOfficial, webhook_bot: OfficialBot) -> None:
    ran: List[Any] = []
    handled = threading.Event()

    @webhook_bot.on_message()
    def handler(event):
        ran.append(event)
        handled.set()

    webhook_bot.start()
    envelope = {"op": 0, "t": "C2C_MESSAGE_CREATE", "id": "e1",
                "d": {"id": "m1", "author": {"user_openid": "U"}, "content": "forged"}}
    status, _ = official.post_webhook(webhook_bot.url, envelope, sign=False)
    assert status == 401
    status, _ = official.post_webhook(webhook_bot.url, envelope, secret="not-the-secret")
    assert status == 403
    assert webhook_bot.stats()["official"]["webhook_events"] == 0  # refused before any handler
    status, body = official.post_webhook(webhook_bot.url, envelope)
    assert status == 200 and body == {"op": 12, "d": 0}
    status, _ = official.post_webhook(webhook_bot.url, envelope)  # redelivered: acked, not run twice
    assert status == 200
    assert webhook_bot.stats()["official"]["duplicates_dropped"] == 1  # decided before the answer
    assert handled.wait(5)
    assert [e.plain_text for e in ran] == ["forged"]
