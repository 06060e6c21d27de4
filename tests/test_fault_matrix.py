"""Scenarios for faults in the catalog that no other test file covers.

Which test answers which fault is in ``tests/faults.py``; this file only adds
the scenarios that were missing. Each runs a real Bot against FakeOneBot,
through a FaultProxy where the fault lives below OneBot.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, List

import pytest

from qqreliable import ActionFailed, ApiTimeout, Backoff, Bot, BotStopped, Event, ResponseLost
from qqreliable.testing import FakeOneBot, FaultProxy

from .helpers import FAST, eventually


@pytest.mark.parametrize("code", [1000, 1001, 1011])
def test_conn01_reconnects_after_every_kind_of_close(onebot: FakeOneBot, make_bot: Any, code: int) -> None:
    bot = make_bot(onebot.ws_url)
    with bot:
        bot.wait_connected(5)
        onebot.close_connections(code=code, reason="bye")
        onebot.wait_for_connections(2)
        assert bot.wait_connected(5) == onebot.self_id
        got = threading.Event()
        bot.on_message("private")(lambda event: got.set())
        onebot.emit_private_message(7, "still here")
        assert got.wait(5)


@pytest.mark.parametrize("status", [502, 503, 200, 301, 404])
def test_conn01_conn04_bad_handshake_answers_are_retried_and_explained(
    onebot: FakeOneBot, make_bot: Any, caplog: Any, status: int
) -> None:
    caplog.set_level(logging.DEBUG, logger="qqreliable")
    with FaultProxy(onebot.port, mode="respond", respond_status=status) as proxy:
        bot = make_bot(proxy.url("ws", "/"))
        with bot:
            eventually(lambda: proxy.connections >= 3, what="three handshake attempts")
            assert not bot.connected
            text = caplog.text
            assert f"HTTP {status}" in text
            if status in (200, 301, 404):
                assert "not a OneBot WebSocket" in text  # configuration, said loudly
            proxy.set_mode("pass")
            assert bot.wait_connected(10) == onebot.self_id  # never gave up


def test_conn02_no_reconnect_storm_and_one_socket_after(onebot: FakeOneBot, make_bot: Any) -> None:
    backoff = Backoff(initial=0.05, maximum=0.2, jitter=0.0)
    with FaultProxy(onebot.port, mode="refuse") as proxy:
        bot = make_bot(proxy.url("ws", "/"), reconnect=backoff)
        with bot:
            started = time.monotonic()
            eventually(lambda: proxy.connections >= 5, what="five refused attempts")
            elapsed = time.monotonic() - started
            # 0.05 + 0.1 + 0.2 + 0.2 s of backoff at least between the five attempts
            assert elapsed >= 0.5
            attempts = proxy.connections
            assert attempts <= 2 + elapsed / 0.05  # never faster than the first backoff step
            proxy.set_mode("pass")
            bot.wait_connected(10)
            eventually(lambda: onebot.connection_count == 1, what="one connection")
            seen: List[int] = []
            bot.on_message("group")(lambda event: seen.append(event.message_id))
            onebot.emit_group_message(1, 2, "once", message_id=4242)
            eventually(lambda: seen == [4242], what="the event handled once")
            assert onebot.connection_count == 1


def test_conn06_idle_killer_is_kept_away_by_pings(onebot: FakeOneBot, make_bot: Any) -> None:
    with FaultProxy(onebot.port, idle_timeout=0.6) as proxy:
        bot = make_bot(proxy.url("ws", "/"), ping_interval=0.2)
        lost = threading.Event()
        bot.on_disconnect(lambda reason: lost.set())
        with bot:
            bot.wait_connected(5)
            assert not lost.wait(2.0)  # three idle timeouts pass; our pings keep the link up
            assert proxy.connections == 1


def test_conn06_idle_kill_without_pings_is_a_routine_reconnect(onebot: FakeOneBot, make_bot: Any) -> None:
    with FaultProxy(onebot.port, idle_timeout=0.3) as proxy:
        bot = make_bot(proxy.url("ws", "/"), ping_interval=None)
        with bot:
            bot.wait_connected(5)
            eventually(lambda: proxy.connections >= 2, what="a reconnect after the idle kill")
            assert bot.wait_connected(5) == onebot.self_id


def test_conn10_reset_keep_alive_connection_between_calls(onebot: FakeOneBot) -> None:
    with FaultProxy(onebot.port) as proxy:
        bot = Bot(proxy.url("http"), api_timeout=5)
        try:
            assert bot.get_status()["online"] is True
            proxy.reset_all()  # the pooled keep-alive socket is now dead
            assert bot.get_status()["online"] is True  # a read: retried on a fresh connection
            proxy.reset_all()
            bot.send_group_msg(1, "exactly once")
            assert [m["raw_message"] for m in onebot.sent_messages] == ["exactly once"]
        finally:
            bot.stop()


def test_live01_no_lifecycle_no_heartbeat_still_ready(onebot: FakeOneBot, make_bot: Any) -> None:
    onebot.send_lifecycle = False  # and heartbeat_interval is None by default
    with make_bot(onebot.ws_url) as bot:
        assert bot.wait_connected(5) == onebot.self_id  # learned from get_login_info
        onebot.wait_for_call("get_login_info")


def test_live02_unknown_action_answer_does_not_disconnect(onebot: FakeOneBot, make_bot: Any) -> None:
    lost = threading.Event()
    with make_bot(onebot.ws_url) as bot:
        bot.on_disconnect(lambda reason: lost.set())
        bot.wait_connected(5)
        with pytest.raises(ActionFailed) as info:
            bot.call_action("no_such_action")
        assert info.value.retcode == 1404
        assert bot.get_status()["online"] is True
        assert not lost.is_set() and onebot.total_connections == 1


def test_send06_late_reply_is_dropped_not_misdelivered(onebot: FakeOneBot, make_bot: Any) -> None:
    with make_bot(onebot.ws_url) as bot:
        bot.wait_connected(5)
        onebot.delay("get_version_info", 0.4, times=1)
        with pytest.raises(ApiTimeout):
            bot.get_version_info(api_timeout=0.1)
        eventually(lambda: bot.stats()["connections"][0]["unmatched_replies"] == 1, what="the late reply")
        assert bot.get_login_info()["user_id"] == onebot.self_id  # the next call gets its own answer


def test_recv05_unknown_event_types_reach_generic_handlers(onebot: FakeOneBot, make_bot: Any) -> None:
    seen: List[str] = []
    done = threading.Event()
    with make_bot(onebot.ws_url) as bot:

        @bot.on("notice")
        def any_notice(event: Event) -> None:
            seen.append(event.name)
            done.set()

        bot.wait_connected(5)
        onebot.push_event({"post_type": "notice", "notice_type": "brand_new_thing", "group_id": "123",
                           "user_id": None, "extra": {"nested": [1, "x"]}})
        assert done.wait(5)
    assert seen == ["notice.brand_new_thing"]


@pytest.mark.parametrize("transport", ["ws", "http"])
def test_recv06_lone_surrogates_are_sent_not_fatal(onebot: FakeOneBot, make_bot: Any, transport: str) -> None:
    text = "cut emoji \ud83d end"
    if transport == "ws":
        with make_bot(onebot.ws_url) as bot:
            bot.wait_connected(5)
            bot.send_group_msg(1, text)
            assert bot.connected and onebot.total_connections == 1
    else:
        bot = Bot(onebot.url, api_timeout=5)
        try:
            bot.send_group_msg(1, text)
        finally:
            bot.stop()
    assert onebot.sent_messages[-1]["raw_message"] == "cut emoji \ufffd end"


def test_proc01_stop_with_a_call_in_flight_and_a_peer_that_ignores_close(
    onebot: FakeOneBot, make_bot: Any
) -> None:
    onebot.stall("set_group_card")
    bot = make_bot(onebot.ws_url, shutdown_grace=1.0)
    bot.start()
    bot.wait_connected(5)
    errors: List[BaseException] = []

    def call() -> None:
        try:
            bot.set_group_card(1, 2, "x")
        except BaseException as exc:
            errors.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    onebot.wait_for_call("set_group_card")
    onebot.half_open()  # the peer will not answer the close handshake either
    started = time.monotonic()
    bot.stop()
    caller.join(5)
    assert time.monotonic() - started < 2.0
    assert not caller.is_alive()
    assert errors and isinstance(errors[0], (ResponseLost, BotStopped))


def test_proc01_stop_during_connect_to_a_stalled_port(onebot: FakeOneBot, make_bot: Any) -> None:
    with FaultProxy(onebot.port, mode="stall") as proxy:
        bot = make_bot(proxy.url("ws", "/"), connect_timeout=30, reconnect=FAST)
        bot.start()
        eventually(lambda: proxy.connections >= 1, what="a connection attempt")
        started = time.monotonic()
        bot.stop()
        assert time.monotonic() - started < 1.5


def test_recv07_own_messages_never_reach_message_handlers(onebot: FakeOneBot, make_bot: Any) -> None:
    replies: List[str] = []
    own: List[str] = []
    with make_bot(onebot.ws_url) as bot:

        @bot.on_message("group")
        def echo(event: Event) -> None:
            replies.append(event.plain_text)
            event.reply("echo: " + event.plain_text)

        bot.on("message_sent")(lambda event: own.append(event.plain_text))
        bot.wait_connected(5)
        onebot.emit_group_message(1, 2, "hello")
        onebot.wait_for_call("send_group_msg")
        # Lagrange reports the bot's own message back as an ordinary message from self_id.
        onebot.emit_group_message(1, onebot.self_id, "echo: hello")
        eventually(lambda: own == ["echo: hello"], what="the own message as message_sent")
    assert replies == ["hello"]  # no loop
    assert len(onebot.sent_messages) == 1


_NODES = [{"type": "node", "data": {"name": "a", "uin": "20002", "content": "one"}},
          {"type": "node", "data": {"name": "b", "uin": "20003", "content": "two"}}]


def test_send10_forward_send_gets_its_own_deadline(onebot: FakeOneBot, make_bot: Any) -> None:
    from qqreliable import SendPolicy

    onebot.delay("send_group_forward_msg", 1.0, times=1)
    bot = make_bot(onebot.ws_url, api_timeout=0.3, send_policy=SendPolicy(forward_timeout=5.0))
    with bot:
        bot.wait_connected(5)
        receipt = bot.send_group_forward_msg(1, _NODES)  # slower than api_timeout, still answered
        assert receipt.attempts == 1 and receipt["forward_id"]
    assert len(onebot.sent_messages) == 1


def test_send10_forward_timeout_answer_is_verified_not_resent(onebot: FakeOneBot, make_bot: Any) -> None:
    from qqreliable import SendPolicy

    onebot.fail_next(
        "send_group_forward_msg",
        1200,
        "发送伪造合并转发消息失败: Error: sendCommand timed out after 20000 ms for "
        "trpc.group.long_msg_interface.MsgService.SsoSendLongMsg",
        deliver=True,
    )
    policy = SendPolicy(poll_interval=0.05, forward_settle_window=3.0)
    with make_bot(onebot.ws_url, send_policy=policy) as bot:
        bot.wait_connected(5)
        receipt = bot.send_group_forward_msg(1, _NODES)
        assert receipt.verified and receipt.message_id == onebot.sent_messages[0]["message_id"]
    assert len(onebot.sent_messages) == 1


def test_proc02_restart_recovers_missed_messages(onebot: FakeOneBot, make_bot: Any) -> None:
    seen: List[str] = []
    with make_bot(onebot.ws_url) as bot:
        bot.on_message("group")(lambda event: seen.append(event.plain_text))
        bot.wait_connected(5)
        onebot.emit_group_message(1, 2, "before")
        eventually(lambda: seen == ["before"], what="the live message")
        onebot.down()  # the implementation restarts; what arrives meanwhile is never replayed
        onebot.emit_group_message(1, 2, "while down")
        onebot.up()
        eventually(lambda: seen == ["before", "while down"], what="the missed message, from history")


def test_proc02_restart_as_another_account_is_noticed(onebot: FakeOneBot, make_bot: Any) -> None:
    accounts: List[int] = []
    with make_bot(onebot.ws_url) as bot:
        bot.on_connect(lambda self_id: accounts.append(self_id))
        bot.wait_connected(5)
        onebot.down()
        onebot.self_id = 10002  # logged in as another account after the restart
        onebot.up()
        eventually(lambda: accounts[-1:] == [10002], what="the new identity")
    assert accounts[0] == 10001 and bot.self_id == 10002


def test_live04_events_stop_while_the_link_stays_up(onebot: FakeOneBot, make_bot: Any) -> None:
    seen: List[Any] = []
    with make_bot(onebot.ws_url, reconcile_after=0.4) as bot:
        bot.on_message("group")(lambda event: seen.append((event.plain_text, event.recovered)))
        bot.wait_connected(5)
        onebot.emit_group_message(1, 2, "live")
        eventually(lambda: len(seen) == 1, what="the live message")
        onebot.mute_events()  # the listener died: nothing more is pushed, calls still answered
        onebot.emit_group_message(1, 2, "only in history")
        eventually(lambda: len(seen) == 2, what="the reconciliation")
        assert bot.stats()["stall_recovered"] == 1
        assert bot.connected and onebot.total_connections == 1  # no reconnect was needed
    assert seen == [("live", False), ("only in history", True)]


def test_live04_an_idle_bot_makes_no_reconciliation_calls(onebot: FakeOneBot, make_bot: Any) -> None:
    with make_bot(onebot.ws_url, reconcile_after=0.2) as bot:
        bot.wait_connected(5)
        stop = threading.Event()
        stop.wait(0.8)  # four quiet periods with no chat ever active
        assert not [c for c in onebot.calls if c["action"].endswith("_msg_history")]
        assert bot.stats()["stall_checks"] == 0
