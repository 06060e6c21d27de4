"""The six official-API faults of the catalog (tests/faults.py): CONN-09, AUTH-03,
AUTH-04, MEDIA-08, RATE-03, RATE-04, reproduced as the catalog says."""

from __future__ import annotations

import threading
import time
from typing import List

import pytest

from qqreliable import AuthenticationError, MessageSegment, OfficialBot
from qqreliable.official.codes import ReplyWindowClosed
from qqreliable.official.events import Event
from qqreliable.testing import FakeOfficial


def collecting(bot: OfficialBot) -> List[str]:
    texts: List[str] = []
    bot.on_message("c2c")(lambda event: texts.append(event.plain_text))
    return texts


def first_event(official: FakeOfficial, bot: OfficialBot, scene: str = "c2c") -> Event:
    box: List[Event] = []
    got = threading.Event()

    def grab(event: Event) -> None:
        box.append(event)
        got.set()

    bot.on(f"message.{scene}")(grab)
    if not bot.connected:
        bot.start()
        bot.wait_connected(5)
    if scene == "c2c":
        official.emit_c2c_message("U1", "hi")
    else:
        official.emit_group_at_message("G1", "M1", "hi")
    assert got.wait(5)
    return box[0]


# ------------------------------------------------------------------ CONN-09


def test_conn09_session_rotation_resume_rejected_and_no_acks(official_factory, make_official_bot) -> None:
    official = official_factory(heartbeat_interval=0.3)
    bot = make_official_bot(official)
    texts = collecting(bot)
    bot.start()
    bot.wait_connected(5)
    official.emit_c2c_message("U", "1")
    official.wait_until(lambda: texts == ["1"], 5, "first")
    # 4009 rotation: Resume, events missed meanwhile delivered.
    official.close_connections(4009)
    official.emit_c2c_message("U", "2")
    official.wait_until(lambda: official.resumed_count == 1, 5, "resumed after 4009")
    # op 7: Resume again.
    official.send_reconnect()
    official.wait_until(lambda: official.resumed_count == 2, 5, "resumed after op 7")
    # The next resume is refused with 4902: fall back to Identify.
    official.reject_resume(4902)
    official.close_connections(4009)
    official.wait_until(lambda: official.ready_count == 2, 8, "identified after 4902")
    # ACKs stop: the watchdog closes the link and the bot resumes.
    official.no_heartbeat_ack()
    before = official.total_connections
    official.wait_until(lambda: official.total_connections > before, 5, "reconnected without ACKs")
    official.no_heartbeat_ack(False)
    official.emit_c2c_message("U", "3")
    official.wait_until(lambda: texts == ["1", "2", "3"], 8, "every event once")
    assert bot.connected or bot.wait_connected(5)


def test_conn09_never_gives_up_on_resumable_closes(official: FakeOfficial, make_official_bot) -> None:
    bot = make_official_bot(official)
    bot.start()
    bot.wait_connected(5)
    for n in range(1, 11):
        official.close_connections(4009)
        official.wait_until(lambda n=n: official.resumed_count == n, 5, f"resume {n}")
    assert official.ready_count == 1


# ------------------------------------------------------------------ AUTH-03


def test_auth03_token_rotation_and_endpoint_errors(official_factory, make_official_bot) -> None:
    official = official_factory(token_ttl=70)  # a new token is handed out in the last 60 s
    official.rate_limit_token(2)  # 100001 twice: backed off, then fine
    bot = make_official_bot(official)
    bot.start()
    bot.wait_connected(5)
    assert [c["route"] for c in official.calls].count("token") == 3
    bot.send_c2c_message("U", "a")
    auth_a = [c for c in official.calls if c["route"] == "c2c"][-1]["authorization"]
    official.advance(15)  # the token is in its last minute: asking again gives a new one
    official.reject_token()  # the old one is refused: refreshed at once, the call replayed once
    bot.send_c2c_message("U", "b")
    auth_b = [c for c in official.calls if c["route"] == "c2c"][-1]["authorization"]
    assert auth_a != auth_b and [m["text"] for m in official.sent_messages] == ["a", "b"]
    assert auth_b.startswith("QQBot ")


def test_auth03_bad_secret_is_final_and_the_fixed_token_never_used(official: FakeOfficial) -> None:
    bot = OfficialBot(app_id=official.app_id, secret="bad", api_base=official.url, token_url=official.token_url)
    started = time.monotonic()
    with pytest.raises(AuthenticationError):
        bot.run(log_handler=None)
    assert time.monotonic() - started < 5
    assert [c["route"] for c in official.calls] == ["token"]
    assert not any((c["authorization"] or "").startswith("Bot ") for c in official.calls)


# ------------------------------------------------------------------ AUTH-04


def test_auth04_webhook_validation_forgeries_replays(official: FakeOfficial, make_official_bot) -> None:
    bot = make_official_bot(official, listen="http://127.0.0.1:0/cb")
    handled: List[Event] = []
    done = threading.Event()

    @bot.on_message("group")
    def handler(event: Event) -> None:
        handled.append(event)
        done.set()

    bot.start()
    assert official.validate_webhook(bot.url)
    forged = {"op": 0, "t": "GROUP_AT_MESSAGE_CREATE", "id": "GROUP_AT_MESSAGE_CREATE:x",
              "d": {"id": "m-forged", "group_openid": "G", "author": {"member_openid": "M"}, "content": " rm -rf"}}
    assert official.post_webhook(bot.url, forged, sign=False)[0] == 401
    assert official.post_webhook(bot.url, forged, secret="guess")[0] == 403
    stale = str(int(time.time()) - 3600)
    assert official.post_webhook(bot.url, forged, timestamp=stale)[0] == 403  # replayed an hour later
    genuine = dict(forged, d=dict(forged["d"], id="m-real", content=" hello"))
    assert official.post_webhook(bot.url, genuine) == (200, {"op": 12, "d": 0})
    assert official.post_webhook(bot.url, genuine) == (200, {"op": 12, "d": 0})  # redelivery acked
    assert done.wait(5)
    assert [e.message_id for e in handled] == ["m-real"]
    assert bot.stats()["official"]["duplicates_dropped"] == 1


# ------------------------------------------------------------------ MEDIA-08


def test_media08_slow_upload_answer_and_retry_safe(official: FakeOfficial, make_official_bot) -> None:
    bot = make_official_bot(official, api_timeout=0.3, upload_timeout=0.3, large_upload_timeout=2.0)
    bot.start()
    bot.wait_connected(5)
    # The platform downloads the URL before it answers: a URL upload waits longer than a send.
    official.delay("c2c_files", 1.0, deliver=True)
    bot.send_c2c_message("U", MessageSegment.image("https://media.example/a.png"))
    assert len([c for c in official.calls if c["route"] == "c2c_files"]) == 1
    # A base64 upload whose answer never comes in time is simply uploaded again (no effect until sent).
    official.delay("c2c_files", 1.0, deliver=True)
    bot.send_c2c_message("U", MessageSegment.image(b"small"))
    assert len([c for c in official.calls if c["route"] == "c2c_files"]) == 3
    assert [m["msg_type"] for m in official.sent_messages] == [7, 7]
    # 850026: the platform could not fetch the URL: raised, not retried.
    from qqreliable.official.codes import MediaUploadFailed

    official.fail_next("c2c_files", 400, code=850026, message="富媒体文件下载失败")
    with pytest.raises(MediaUploadFailed):
        bot.send_c2c_message("U", MessageSegment.image("https://media.example/gone.png"))


# ------------------------------------------------------------------ RATE-03


def test_rate03_window_and_quota(official: FakeOfficial, make_official_bot) -> None:
    bot = make_official_bot(official, proactive=("c2c",))
    event = first_event(official, bot, "group")
    for i in range(5):
        bot.reply(event, f"r{i}")
    calls = len(official.calls)
    with pytest.raises(Exception) as info:
        bot.reply(event, "sixth")  # budget spent, groups may not go proactive here
    assert type(info.value).__name__ == "ReplyBudgetSpent" and len(official.calls) == calls
    late = first_event(official, bot, "group")
    bot._ledger._entries[late.message_id].received -= 400  # a handler that ran 400 s
    with pytest.raises(ReplyWindowClosed) as closed:
        bot.reply(late, "too late")
    assert closed.value.sent is False and len(official.calls) == calls
    c2c = first_event(official, bot, "c2c")
    official.advance(3700)  # past the C2C hour on the platform's clock: 304027, then proactive once
    bot.reply(c2c, "still answered")
    assert official.sent_messages[-1]["passive"] is False and official.sent_messages[-1]["text"] == "still answered"


# ------------------------------------------------------------------ RATE-04


@pytest.mark.parametrize("status, deliver", [(500, True), (504, True), (502, False), (503, False), (429, False)])
def test_rate04_5xx_before_and_after_delivery_land_once(official: FakeOfficial, make_official_bot, status,
                                                         deliver) -> None:
    bot = make_official_bot(official)
    event = first_event(official, bot)
    official.fail_next("c2c", status, deliver=deliver)
    receipt = bot.reply(event, "once")
    assert [m["text"] for m in official.sent_messages] == ["once"]
    seqs = [c["json"]["msg_seq"] for c in official.calls if c["route"] == "c2c"]
    assert len(seqs) == 2 and seqs[0] == seqs[1]
    assert receipt.verified is deliver


def test_rate04_lost_answer_retried_with_same_seq(official: FakeOfficial, make_official_bot) -> None:
    bot = make_official_bot(official, api_timeout=0.3)
    event = first_event(official, bot)
    official.drop_next("c2c", deliver=True)  # delivered, the answer never comes
    bot.reply(event, "once")
    bot.reply(event, "twice is a new message")
    assert [m["text"] for m in official.sent_messages] == ["once", "twice is a new message"]
    seqs = [c["json"]["msg_seq"] for c in official.calls if c["route"] == "c2c"]
    assert seqs == [1, 1, 2]
