"""MiraiBot over the HTTP adapter (verify, bind, fetchMessage polling), against FakeMirai."""

from __future__ import annotations

import queue
from typing import Any, Callable, Iterator

import pytest

from qqreliable import AuthenticationError, Backoff, ConnectionLost, NotDelivered
from qqreliable.mirai.bot import MiraiBot
from qqreliable.testing import FakeMirai

from .helpers import FAST_POLICY, MIRAI_DEFAULTS, MIRAI_KEY, MIRAI_QQ, bot_factory, eventually

KEY, QQ = MIRAI_KEY, MIRAI_QQ


@pytest.fixture
def make_bot() -> Iterator[Callable[..., MiraiBot]]:
    with bot_factory(MiraiBot, **MIRAI_DEFAULTS, send_policy=FAST_POLICY, poll_interval=0.02) as make:
        yield make


def test_event_in_reply_out_over_http(mirai: FakeMirai, make_bot) -> None:
    bot = make_bot(mirai.url)

    @bot.on_message("group")
    def echo(event):
        event.reply("pong")

    bot.start()
    assert bot.wait_connected(5) == QQ
    mirai.emit_group_message(100, 2, "ping")
    sent = mirai.wait_for_message()
    assert sent["transport"] == "http" and sent["messageChain"] == [{"type": "Plain", "text": "pong"}]
    commands = [c["command"] for c in mirai.calls]
    assert commands[:3] == ["verify", "bind", "fetchMessage"]
    send = mirai.wait_for_call("sendGroupMessage")
    assert send["session"] == mirai.sessions[0]["key"]  # the sessionKey header on every call


def test_mah_restart_re_verifies_replays_once_and_polling_resumes(mirai: FakeMirai, make_bot) -> None:
    bot = make_bot(mirai.url)
    got: "queue.Queue[Any]" = queue.Queue()
    bot.on_message()(got.put)
    bot.start()
    bot.wait_connected(5)
    mirai.restart()
    receipt = bot.send_friend_message(3, "after restart")
    assert [m["messageId"] for m in mirai.sent_messages] == [receipt.message_id]  # sent once
    assert bot.stats()["http"]["replays"] <= 1
    eventually(lambda: [s["qq"] for s in mirai.sessions] == [QQ], what="a new bound session")
    mirai.emit_friend_message(3, "polled again")
    assert got.get(timeout=5).plain_text == "polled again"
    assert mirai.sessions_created == 2  # the poller and the caller made one new session between them


def test_poll_code_3_makes_a_new_session(mirai: FakeMirai, make_bot) -> None:
    bot = make_bot(mirai.url)
    got: "queue.Queue[Any]" = queue.Queue()
    bot.on_message()(got.put)
    lost: "queue.Queue[str]" = queue.Queue()
    bot.on_disconnect(lost.put)
    bot.start()
    bot.wait_connected(5)
    mirai.restart()  # every session forgotten: the next poll gets code 3
    assert "code 3" in lost.get(timeout=5)
    eventually(lambda: [s["qq"] for s in mirai.sessions] == [QQ], what="a new bound session")
    mirai.emit_group_message(100, 2, "back")
    assert got.get(timeout=5).plain_text == "back"


def test_wrong_key_raises_from_run(mirai: FakeMirai, make_bot) -> None:
    bot = make_bot(mirai.url, verify_key="nope")
    with pytest.raises(AuthenticationError, match="code 1"):
        bot.run(log_handler=None)
    assert [c["command"] for c in mirai.calls] == ["verify"]


def test_account_not_logged_in_is_retried(mirai: FakeMirai, make_bot) -> None:
    mirai.set_account_online(False)
    bot = make_bot(mirai.url)
    bot.start()
    mirai.wait_for_call("bind", count=2)
    assert not bot.connected
    mirai.set_account_online(True)
    assert bot.wait_connected(5) == QQ


def test_mah_down_then_up_and_budget(mirai: FakeMirai, make_bot) -> None:
    mirai.down()
    bot = make_bot(mirai.url)
    bot.start()
    eventually(lambda: bot.stats()["http"]["sessions"] == 0 and not bot.connected, what="not connected")
    mirai.up()
    assert bot.wait_connected(5) == QQ
    mirai.down()
    spent = make_bot(mirai.url, reconnect=Backoff(initial=0.01, maximum=0.02, max_attempts=2))
    with pytest.raises(ConnectionLost):
        spent.run(log_handler=None)


def test_release_on_stop(mirai: FakeMirai, make_bot) -> None:
    bot = make_bot(mirai.url)
    bot.start()
    bot.wait_connected(5)
    assert len(mirai.sessions) == 1
    bot.stop()
    assert mirai.wait_for_call("release")["content"]["qq"] == QQ
    assert mirai.sessions == []


def test_single_mode_has_no_bind(mirai_factory, make_bot) -> None:
    mirai = mirai_factory(single_mode=True)
    bot = make_bot(mirai.url, single_mode=True)
    bot.start()
    bot.wait_connected(5)
    bot.send_group_message(100, "single")
    assert "bind" not in [c["command"] for c in mirai.calls]


def test_full_unread_queue_is_counted_as_possible_loss(mirai_factory, make_bot) -> None:
    mirai = mirai_factory(unread_queue_max_size=3)
    bot = make_bot(mirai.url, poll_count=10, unread_queue_max_size=3)
    got: "queue.Queue[Any]" = queue.Queue()
    bot.on_message()(got.put)
    bot.start()
    bot.wait_connected(5)
    polls = len([c for c in mirai.calls if c["command"] == "fetchMessage"])
    mirai.delay("fetchMessage", 0.5, times=1)
    mirai.wait_for_call("fetchMessage", count=polls + 2)  # one poll admitted after the delay rule
    for i in range(5):
        mirai.emit_friend_message(3, str(i))
    texts = [got.get(timeout=5).plain_text for _ in range(3)]
    assert texts == ["0", "1", "2"]
    eventually(lambda: bot.stats()["http"]["possible_loss"] == 1, what="possible loss counted")
    assert mirai.unread_dropped == 2


def test_not_delivered_and_uploads_over_http(mirai: FakeMirai, make_bot) -> None:
    bot = make_bot(mirai.url)
    bot.start()
    bot.wait_connected(5)
    mirai.not_delivered("sendFriendMessage")
    with pytest.raises(NotDelivered):
        bot.send_friend_message(3, "x")
    image = bot.call("uploadImage", type="group", img=b"\x89PNG")
    assert image["imageId"].endswith(".jpg") and mirai.uploads[0]["data"] == b"\x89PNG"
    bot.send_group_message(100, [{"type": "Image", "imageId": image["imageId"]}])
    assert mirai.wait_for_message()["messageChain"][0]["imageId"] == image["imageId"]


def test_uploads_over_the_http_adapter(mirai: FakeMirai, make_bot) -> None:
    bot = make_bot(mirai.url)
    bot.start()
    bot.wait_connected(5)
    image = bot.upload_image(b"\x89PNG...", kind="friend")
    file = bot.upload_file(100, b"bytes", name="a.bin")
    assert image["imageId"] and file["name"] == "a.bin"
    assert [(u["command"], u["type"], u["data"]) for u in mirai.uploads] == [
        ("uploadImage", "friend", b"\x89PNG..."), ("file_upload", "group", b"bytes")]


def test_a_session_rejected_at_once_is_retried_with_backoff_not_in_a_loop(mirai: FakeMirai, make_bot) -> None:
    import time

    mirai.fail_next("fetchMessage", 3, times=1000)  # every poll: "session gone"
    bot = make_bot(mirai.url, reconnect=Backoff(initial=0.2, maximum=0.2, jitter=0.0))
    started = time.monotonic()
    bot.start()
    mirai.wait_for_call("verify", count=3)
    assert time.monotonic() - started >= 0.35  # two backoff waits between three sessions
    assert not bot.connected


def test_stop_during_a_stalled_poll_is_quick(mirai: FakeMirai, make_bot) -> None:
    import time

    bot = make_bot(mirai.url)
    bot.start()
    bot.wait_connected(5)
    polls = len([c for c in mirai.calls if c["command"] == "fetchMessage"])
    mirai.stall("fetchMessage")
    mirai.wait_for_call("fetchMessage", count=polls + 1)
    started = time.monotonic()
    bot.stop()
    assert time.monotonic() - started < 2.5


def test_stop_while_mah_never_answers_the_login_is_quick(mirai: FakeMirai, make_bot) -> None:
    import time

    from qqreliable.testing import FaultProxy

    with FaultProxy(mirai.port, mode="stall") as proxy:
        bot = make_bot(proxy.url("http"))
        bot.start()
        eventually(lambda: proxy.connections >= 1, what="the login's connection accepted, never answered")
        started = time.monotonic()
        bot.stop()
        assert time.monotonic() - started < 2.5
