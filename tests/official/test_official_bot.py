"""OfficialBot end to end against FakeOfficial on real sockets: token, gateway,
events to handlers, replies with msg_id/msg_seq, resume, fatal codes."""

from __future__ import annotations

import threading
from typing import Any, List

import pytest

from qqreliable import AuthenticationError, OfficialBot
from qqreliable.official.gateway import GatewayFatal
from qqreliable.testing import FakeOfficial


def test_gateway_login_receive_and_reply(official: FakeOfficial, make_official_bot) -> None:
    bot = make_official_bot(official)
    seen: List[Any] = []

    @bot.on_message("c2c")
    def echo(event):
        seen.append(event)
        event.reply(f"echo: {event.plain_text}")
        event.reply("second reply")

    bot.start()
    assert bot.wait_connected(5) == official.bot_id
    identify = official.wait_for_frame(2)
    assert identify["d"]["intents"] == 1 << 25 and identify["d"]["token"].startswith("QQBot ")
    inbound = official.emit_c2c_message("U1", "ping")
    sent = official.wait_for_sent(2)
    assert [m["text"] for m in sent] == ["echo: ping", "second reply"]
    assert all(m["msg_id"] == inbound["id"] and m["passive"] for m in sent)
    assert [m["msg_seq"] for m in sent] == [1, 2]
    assert seen[0].message_id == inbound["id"] and seen[0].user_id == "U1"


def test_group_at_message_and_on_by_dispatch_name(official: FakeOfficial, make_official_bot) -> None:
    bot = make_official_bot(official)
    got = threading.Event()

    @bot.on("GROUP_AT_MESSAGE_CREATE")
    def group(event):
        event.reply("pong")
        got.set()

    bot.start()
    bot.wait_connected(5)
    official.emit_group_at_message("G1", "M1", "ping")
    sent = official.wait_for_sent(1)
    assert sent[0]["scene"] == "group" and sent[0]["target"] == "G1" and sent[0]["text"] == "pong"


def test_resume_after_a_drop_gets_missed_events(official: FakeOfficial, make_official_bot) -> None:
    bot = make_official_bot(official, heartbeat_grace=2.5)
    texts: List[str] = []
    done = threading.Event()

    @bot.on_message("c2c")
    def collect(event):
        texts.append(event.plain_text)
        if len(texts) == 2:
            done.set()

    bot.start()
    bot.wait_connected(5)
    official.emit_c2c_message("U1", "before")
    official.wait_until(lambda: len(texts) == 1, 5, "first message handled")
    official.drop_connections()
    official.emit_c2c_message("U1", "while down")
    official.wait_for_ready(2, timeout=5)
    assert done.wait(5)
    assert texts == ["before", "while down"]
    assert official.resumed_count == 1 and official.ready_count == 1
    resume = official.wait_for_frame(6)
    assert resume["d"]["seq"] >= 2


def test_duplicate_push_dropped(official: FakeOfficial, make_official_bot) -> None:
    bot = make_official_bot(official)
    calls: List[str] = []

    @bot.on_message("c2c")
    def handler(event):
        calls.append(event.message_id)

    bot.start()
    bot.wait_connected(5)
    official.emit_c2c_message("U1", "once", msg_id="ROBOT1.0_same")
    official.emit_c2c_message("U1", "once", msg_id="ROBOT1.0_same")
    official.emit_c2c_message("U1", "other")
    official.wait_until(lambda: len(calls) == 2, 5, "two handled")
    assert calls[0] == "ROBOT1.0_same" and calls.count("ROBOT1.0_same") == 1
    assert bot.stats()["official"]["duplicates_dropped"] == 1


def test_a_burst_reaches_the_handler_whole_and_in_order(official: FakeOfficial, make_official_bot) -> None:
    """Dispatches written back to back arrive in reads of many frames, handed to the
    bot together: every one handled once, in order (one worker), the sequence
    tracked for a resume, repeats still dropped."""
    bot = make_official_bot(official, workers=1, queue_size=5000)
    texts: List[str] = []
    done = threading.Event()

    @bot.on_message("c2c")
    def handler(event):
        texts.append(event.plain_text)
        if len(texts) == 2001:
            done.set()

    bot.start()
    bot.wait_connected(5)
    official.flood_c2c(2000, content="m")
    official.emit_c2c_message("U1", "again", msg_id="ROBOT1.0_fl00000001")  # a repeat of the burst's first
    official.emit_c2c_message("U1", "last")
    assert done.wait(20), len(texts)
    assert texts == [f"m{i}" for i in range(2000)] + ["last"]
    assert bot.stats()["official"]["duplicates_dropped"] == 1
    session = next(iter(official._sessions.values()))
    official.wait_until(lambda: bot._session is not None and bot._session.seq == session.seq, 5, "seq tracked")


def test_intents_not_permitted_raise_from_run(official_factory, make_official_bot) -> None:
    official = official_factory(allowed_intents=1 << 30)
    bot = make_official_bot(official)

    @bot.on_message("c2c")
    def handler(event):
        pass

    with pytest.raises(GatewayFatal) as info:
        bot.run(log_handler=None)
    assert info.value.code == 4014 and isinstance(info.value, AuthenticationError)


def test_wrong_secret_raises_authentication_error(official: FakeOfficial) -> None:
    bot = OfficialBot(app_id=official.app_id, secret="wrong", api_base=official.url, token_url=official.token_url)
    with pytest.raises(AuthenticationError):
        bot.run(log_handler=None)
    assert "wrong" not in repr(bot)


def test_op7_reconnect_resumes(official: FakeOfficial, make_official_bot) -> None:
    bot = make_official_bot(official)
    bot.start()
    bot.wait_connected(5)
    official.send_reconnect()
    official.wait_until(lambda: official.resumed_count == 1, 5, "resumed after op 7")
    assert official.ready_count == 1


def test_op9_false_reidentifies(official: FakeOfficial, make_official_bot) -> None:
    bot = make_official_bot(official)
    bot.start()
    bot.wait_connected(5)
    official.invalidate_session(resumable=False)
    official.wait_until(lambda: official.ready_count == 2, 8, "identified again after op 9")


@pytest.mark.parametrize("code, identify", [(4009, False), (4006, True), (4900, True), (1000, False)])
def test_close_codes_resume_or_identify(official: FakeOfficial, make_official_bot, code, identify) -> None:
    bot = make_official_bot(official)
    bot.start()
    bot.wait_connected(5)
    official.close_connections(code)
    if identify:
        official.wait_until(lambda: official.ready_count == 2, 5, f"identify after {code}")
        assert official.resumed_count == 0
    else:
        official.wait_until(lambda: official.resumed_count == 1, 5, f"resume after {code}")
        assert official.ready_count == 1


def test_4004_refreshes_the_token(official: FakeOfficial, make_official_bot) -> None:
    bot = make_official_bot(official)
    bot.start()
    bot.wait_connected(5)
    first = official.frames[0]["d"]["token"]
    official.expire_tokens()
    official.close_connections(4004)
    official.wait_until(lambda: official.resumed_count + official.ready_count >= 2, 5, "back after 4004")
    tokens = [f["d"]["token"] for f in official.frames if f["op"] in (2, 6)]
    assert tokens[-1] != first


@pytest.mark.parametrize("code", [4914, 4915, 4010, 4013])
def test_fatal_close_codes(official: FakeOfficial, make_official_bot, code) -> None:
    bot = make_official_bot(official)
    bot.start()
    bot.wait_connected(5)
    official.close_connections(code)
    with pytest.raises(GatewayFatal):
        bot.run(log_handler=None)


def test_no_heartbeat_ack_reconnects(official_factory, make_official_bot) -> None:
    official = official_factory(heartbeat_interval=0.2)
    bot = make_official_bot(official)
    bot.start()
    bot.wait_connected(5)
    official.wait_for_frame(1)  # heartbeats flow
    official.no_heartbeat_ack()
    official.wait_until(lambda: official.total_connections >= 2, 5, "reconnect after missing ACKs")
    official.no_heartbeat_ack(False)
    official.wait_for_ready(2, timeout=5)


def test_half_open_reconnects_and_resumes(official_factory, make_official_bot) -> None:
    official = official_factory(heartbeat_interval=0.2)
    bot = make_official_bot(official)
    texts: List[str] = []

    @bot.on_message("c2c")
    def collect(event):
        texts.append(event.plain_text)

    bot.start()
    bot.wait_connected(5)
    official.half_open()
    official.emit_c2c_message("U", "lost on the dead link")
    official.wait_until(lambda: official.resumed_count == 1, 5, "resumed after a half-open link")
    official.wait_until(lambda: texts == ["lost on the dead link"], 5, "missed message delivered")


def test_the_docs_example(official: FakeOfficial) -> None:
    bot = OfficialBot(app_id=official.app_id, secret=official.secret,
                      api_base=official.url, token_url=official.token_url)
    bot.on_message("c2c")(lambda e: e.reply("pong"))
    with bot:
        bot.wait_connected(5)
        official.emit_c2c_message("user-1", "ping")
        assert official.wait_for_sent(1)[0]["text"] == "pong"


def test_on_message_kinds_checked(official: FakeOfficial) -> None:
    bot = OfficialBot(app_id="1", secret="s", api_base=official.url, token_url=official.token_url)
    with pytest.raises(ValueError):
        bot.on_message("friend")
    with pytest.raises(ValueError):
        OfficialBot(app_id="", secret="s")


def test_wrong_secret_raises_in_webhook_mode_too(official: FakeOfficial) -> None:
    bot = OfficialBot(app_id=official.app_id, secret="wrong", api_base=official.url, token_url=official.token_url,
                      listen="http://127.0.0.1:0/cb")
    with pytest.raises(AuthenticationError):
        bot.run(log_handler=None)


def test_the_testing_guide_example(official: FakeOfficial) -> None:
    bot = OfficialBot(app_id=official.app_id, secret=official.secret,
                      api_base=official.url, token_url=official.token_url, retry_backoff=0.05)
    bot.on_message("c2c")(lambda event: event.reply("pong"))
    with bot:
        bot.wait_connected(5)
        official.fail_next("c2c", 500, deliver=True)     # delivered, then a 500
        official.emit_c2c_message("user-1", "ping")
        official.wait_for_sent(1)
        official.wait_until(lambda: len([c for c in official._calls if c["route"] == "c2c"]) == 2, 5, "retried")
        assert [m["text"] for m in official.sent_messages] == ["pong"]   # retried, not doubled
