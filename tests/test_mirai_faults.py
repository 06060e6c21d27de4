"""MiraiBot against the faults of the catalog that apply to a mirai-api-http client
(tests/faults.py maps them), on real sockets against FakeMirai / FaultProxy."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any, Callable, Iterator

import pytest

from qqreliable import AccountOffline, Backoff, NotDelivered, RateLimited, ResponseLost
from qqreliable.mirai.bot import MiraiBot
from qqreliable.reliability.sendpolicy import Pacing
from qqreliable.testing import FakeMirai, FaultProxy

from .helpers import FAST_POLICY, MIRAI_DEFAULTS, MIRAI_KEY, MIRAI_QQ, bot_factory, eventually

KEY, QQ = MIRAI_KEY, MIRAI_QQ


@pytest.fixture
def make_bot() -> Iterator[Callable[..., MiraiBot]]:
    with bot_factory(MiraiBot, **MIRAI_DEFAULTS, send_policy=FAST_POLICY) as make:
        yield make


def _started(make_bot: Callable[..., MiraiBot], url: str, **kwargs: Any) -> MiraiBot:
    bot = make_bot(url, **kwargs)
    bot.start()
    bot.wait_connected(5)
    return bot


def test_conn01_a_clean_close_after_the_handshake_is_not_a_shutdown(mirai: FakeMirai, make_bot) -> None:
    bot = _started(make_bot, mirai.ws_url)
    for n, code in enumerate((1000, 1001, 1011), start=2):
        mirai.close_connections(code, "maintenance")
        mirai.wait_for_connections(n)  # a new session each time
        bot.wait_connected(5)
    assert bot.stats()["ws"]["disconnects"] == 3 and bot._supervisor.failure is None
    assert bot.send_group_message(100, "back").message_id == mirai.wait_for_message()["messageId"]


def test_conn03_handshake_never_answered_is_a_connect_timeout_then_retried(mirai: FakeMirai, make_bot) -> None:
    with FaultProxy(mirai.port, mode="stall") as proxy:
        bot = make_bot(proxy.url("ws"), connect_timeout=0.3)
        bot.start()
        eventually(lambda: bot.stats()["ws"]["connect_failures"] >= 2, what="timed-out connects")
        proxy.set_mode("pass")
        assert bot.wait_connected(5) == QQ


def test_conn04_wrong_path_is_retried_and_explained(mirai: FakeMirai, make_bot, caplog) -> None:
    bot = make_bot(mirai.ws_url + "/nope")
    bot.start()
    eventually(lambda: bot.stats()["ws"]["connect_failures"] >= 2, what="refused upgrades")
    assert not bot.connected and bot._supervisor.failure is None  # retried, not fatal
    assert any("HTTP 404" in r.getMessage() for r in caplog.records)


def test_live03_account_offline_events_fail_sends_fast(mirai: FakeMirai, make_bot) -> None:
    bot = _started(make_bot, mirai.ws_url)
    mirai.emit_event("BotOfflineEventForce", qq=QQ, title="下线", message="another device logged in")
    eventually(lambda: not bot.account_online, what="the account marked offline")
    with pytest.raises(AccountOffline):
        bot.send_group_message(100, "nobody hears")
    mirai.emit_event("BotReloginEvent", qq=QQ)
    eventually(lambda: bot.account_online, what="the account back")
    bot.send_group_message(100, "back")
    assert [m["messageChain"][0]["text"] for m in mirai.sent_messages] == ["back"]


def test_send05_never_answered_is_verified_not_resent(mirai: FakeMirai, make_bot) -> None:
    mirai.add_friend(3)
    bot = _started(make_bot, mirai.ws_url, api_timeout=0.5)
    mirai.stall("sendFriendMessage", times=1, deliver=True)
    receipt = bot.send_friend_message(3, "slow")
    assert receipt.verified and len(mirai.sent_messages) == 1
    assert receipt.message_id == mirai.sent_messages[0]["messageId"]


def test_send06_late_answer_is_verified_not_resent(mirai: FakeMirai, make_bot) -> None:
    mirai.add_group(100)
    bot = _started(make_bot, mirai.ws_url, api_timeout=0.3)
    mirai.delay("sendGroupMessage", 1.0, times=1, deliver=True)
    receipt = bot.send_group_message(100, "late")
    assert receipt.verified and len(mirai.sent_messages) == 1


def test_send07_drop_with_a_send_in_flight_is_verified(mirai: FakeMirai, make_bot) -> None:
    mirai.add_friend(3)
    bot = _started(make_bot, mirai.ws_url)
    mirai.drop_after("sendFriendMessage", deliver=True)
    receipt = bot.send_friend_message(3, "in flight")
    assert receipt.verified and len(mirai.sent_messages) == 1


def test_send08_a_stalled_call_holds_up_nothing_else(mirai: FakeMirai, make_bot) -> None:
    bot = _started(make_bot, mirai.ws_url, api_timeout=10.0)
    mirai.stall("memberList")
    stuck = threading.Thread(target=lambda: _swallow(bot.call, "memberList", target=1),
                             name="qqreliable:test-stuck")
    stuck.start()
    mirai.wait_for_call("memberList")
    started = time.monotonic()
    assert bot.call("about")["version"] == "2.10.0"
    assert bot.send_group_message(100, "meanwhile").message_id is not None
    assert time.monotonic() - started < 2
    bot.stop()
    stuck.join(5)
    assert not stuck.is_alive()


def _swallow(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    try:
        fn(*args, **kwargs)
    except Exception:  # noqa: BLE001 - the call is cut by stop(); the test checks the others
        pass


def test_recv05_unknown_event_types_reach_handlers_by_name(mirai: FakeMirai, make_bot) -> None:
    bot = make_bot(mirai.ws_url)
    got: "queue.Queue[Any]" = queue.Queue()
    bot.on("SomeFutureEvent")(got.put)
    bot.start()
    bot.wait_connected(5)
    mirai.emit_event("SomeFutureEvent", weird={"nested": [1, 2]})
    event = got.get(timeout=5)
    assert event.name == "SomeFutureEvent" and event["weird"] == {"nested": [1, 2]}


def test_proc01_stop_with_a_call_in_flight_is_quick(mirai: FakeMirai, make_bot) -> None:
    bot = _started(make_bot, mirai.ws_url, api_timeout=30.0)
    mirai.stall("memberList")
    caller = threading.Thread(target=lambda: _swallow(bot.call, "memberList", target=1),
                              name="qqreliable:test-caller")
    caller.start()
    mirai.wait_for_call("memberList")
    started = time.monotonic()
    bot.stop()
    caller.join(5)
    assert time.monotonic() - started < 2 and not caller.is_alive()


def test_proc02_mah_restart_over_ws_gets_a_new_session(mirai: FakeMirai, make_bot) -> None:
    bot = _started(make_bot, mirai.ws_url)
    got: "queue.Queue[Any]" = queue.Queue()
    bot.on_message()(got.put)
    mirai.restart()
    mirai.wait_for_connections(2)
    bot.wait_connected(5)
    assert len(mirai.sessions) == 1 and mirai.sessions_created == 2
    mirai.emit_friend_message(3, "after restart")
    assert got.get(timeout=5).plain_text == "after restart"


def test_rate01_not_delivered_opens_the_chats_circuit(mirai: FakeMirai, make_bot) -> None:
    bot = _started(make_bot, mirai.ws_url, pacing=Pacing())
    mirai.not_delivered("sendGroupMessage")
    with pytest.raises(NotDelivered):
        bot.send_group_message(100, "risky")
    with pytest.raises(RateLimited) as info:
        bot.send_group_message(100, "again")
    assert info.value.target == "group:100" and info.value.retry_after
    bot.send_group_message(200, "another chat is fine")
    assert [m["target"] for m in mirai.sent_messages] == [200]


def test_budget_and_backoff_bound_the_attempts(mirai: FakeMirai, make_bot) -> None:
    mirai.down()
    bot = make_bot(mirai.ws_url, reconnect=Backoff(initial=0.05, maximum=0.05, jitter=0.0, max_attempts=4))
    started = time.monotonic()
    with pytest.raises(Exception) as info:
        bot.run(log_handler=None)
    assert type(info.value).__name__ == "ConnectionLost"
    assert time.monotonic() - started >= 0.15  # three waits of the backoff, no storm


def test_recv01_messages_missed_while_disconnected_are_recovered(mirai: FakeMirai, make_bot) -> None:
    bot = make_bot(mirai.ws_url)
    got: "queue.Queue[Any]" = queue.Queue()
    bot.on_message()(got.put)
    bot.start()
    bot.wait_connected(5)
    mirai.emit_friend_message(3, "before")
    mirai.emit_group_message(100, 2, "group before")
    assert {got.get(timeout=5).plain_text for _ in range(2)} == {"before", "group before"}
    mirai.down()  # the socket drops; what is sent now reaches no client
    eventually(lambda: not bot.connected, what="the drop noticed")
    mirai.emit_friend_message(3, "missed 1")
    mirai.emit_friend_message(3, "missed 2")
    mirai.emit_group_message(100, 2, "group missed")
    mirai.up()
    bot.wait_connected(5)
    recovered = [got.get(timeout=5) for _ in range(3)]
    assert sorted(e.plain_text for e in recovered) == ["group missed", "missed 1", "missed 2"]
    assert all(e.recovered for e in recovered)
    mirai.emit_friend_message(3, "live again")
    live = got.get(timeout=5)
    assert live.plain_text == "live again" and not live.recovered
    assert got.empty() and bot.stats()["events_recovered"] == 3


def test_recv01_groups_on_old_mah_are_not_recovered_but_friends_are(mirai_factory, make_bot) -> None:
    mirai = mirai_factory(version="2.9.0")
    bot = make_bot(mirai.ws_url)
    got: "queue.Queue[Any]" = queue.Queue()
    bot.on_message()(got.put)
    bot.start()
    bot.wait_connected(5)
    mirai.emit_friend_message(3, "f")
    mirai.emit_group_message(100, 2, "g")
    got.get(timeout=5)
    got.get(timeout=5)
    bot.server_version()
    mirai.down()
    eventually(lambda: not bot.connected, what="the drop noticed")
    mirai.emit_friend_message(3, "friend missed")
    mirai.emit_group_message(100, 2, "group missed")
    mirai.up()
    bot.wait_connected(5)
    assert got.get(timeout=5).plain_text == "friend missed"
    eventually(lambda: bot.stats()["gap_fill_errors"] == 1, what="the group's unsupported history counted")
    assert got.empty()


def test_send07_a_read_cut_off_by_a_drop_is_asked_again_a_send_is_not(mirai: FakeMirai, make_bot) -> None:
    mirai.add_group(100)
    mirai.add_member(100, 2, name="bob")
    bot = _started(make_bot, mirai.ws_url, api_timeout=10.0)
    mirai.drop_after("memberList", deliver=False)
    assert [m["id"] for m in bot.call("memberList", target=100)] == [2]
    assert len([c for c in mirai.calls if c["command"] == "memberList"]) == 2
    mirai.drop_after("mute", deliver=True)
    with pytest.raises(ResponseLost):
        bot.call("mute", target=100, memberId=2, time=60)
    assert len([c for c in mirai.calls if c["command"] == "mute"]) == 1


def test_conn10_reset_keep_alive_connection_between_calls_over_http(mirai: FakeMirai, make_bot) -> None:
    with FaultProxy(mirai.port) as proxy:
        bot = _started(make_bot, proxy.url("http"), poll_interval=0.05)
        assert bot.call("about")["version"]
        proxy.reset_all()  # every pooled keep-alive socket (calls and polling) is now dead
        assert bot.call("about")["version"]  # a read: asked again on a fresh connection
        proxy.reset_all()
        bot.send_group_message(100, "exactly once")
        assert [m["messageChain"] for m in mirai.sent_messages] == [[{"type": "Plain", "text": "exactly once"}]]
        mirai.emit_group_message(100, 2, "polling survived")
        got = _collect_one(bot)
        assert got.plain_text == "polling survived"


def _collect_one(bot: MiraiBot) -> Any:
    got: "queue.Queue[Any]" = queue.Queue()
    bot.on_message("group")(got.put)
    return got.get(timeout=5)


def test_rate02_burst_to_one_chat_is_paced_then_rate_limited(mirai: FakeMirai, make_bot) -> None:
    bot = _started(make_bot, mirai.ws_url,
                   pacing=Pacing(target_rate=4, target_burst=1, global_rate=1000, global_burst=1000, max_wait=2.0))
    started = time.monotonic()
    for i in range(3):
        bot.send_group_message(100, f"p{i}")
    assert time.monotonic() - started >= 0.45  # two sends over the burst of 1 at 4/s: 0.5 s at least
    waited = bot.stats()["sends"]["paced_seconds"]
    assert waited > 0
    bot.send_group_message(200, "elsewhere")
    assert bot.stats()["sends"]["paced_seconds"] == waited  # another chat has its own bucket
    assert [m["target"] for m in mirai.sent_messages] == [100] * 3 + [200]


def test_rate02_a_wait_beyond_max_wait_is_rate_limited_and_not_sent(mirai: FakeMirai, make_bot) -> None:
    bot = _started(make_bot, mirai.ws_url, pacing=Pacing(target_rate=0.01, target_burst=1, max_wait=1.0))
    bot.send_group_message(100, "first")
    with pytest.raises(RateLimited) as info:
        bot.send_group_message(100, "second")
    assert info.value.retry_after > 1.0 and info.value.target == "group:100"
    assert [m["target"] for m in mirai.sent_messages] == [100]


def test_recv03_a_blocked_handler_does_not_stall_the_reader(mirai: FakeMirai, make_bot) -> None:
    release, entered, later = threading.Event(), threading.Event(), threading.Event()
    bot = make_bot(mirai.ws_url, workers=2)

    @bot.on_message("group")
    def blocker(event: Any) -> None:
        entered.set()
        release.wait(10)

    @bot.on_message("friend")
    def other(event: Any) -> None:
        later.set()

    bot.start()
    bot.wait_connected(5)
    try:
        mirai.emit_group_message(100, 2, "block")
        assert entered.wait(5)
        assert bot.call("about")["version"]  # answers are still read
        mirai.emit_friend_message(3, "next")
        assert later.wait(5)  # the other worker still handles events
        bot.send_group_message(100, "sends still go out")
        assert mirai.wait_for_message()["target"] == 100
    finally:
        release.set()
