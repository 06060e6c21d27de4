"""Forward WebSocket: the acceptance scenarios of the foundation, on real sockets."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, List

import pytest

from qqreliable import (
    ApiTimeout,
    AuthenticationError,
    Backoff,
    Bot,
    ConnectionLost,
    Event,
    Receipt,
    ResponseLost,
)
from qqreliable.testing import FakeOneBot

from .helpers import eventually, qq_threads

pytestmark = pytest.mark.timeout(30)


def test_ping_pong_round_trip(onebot: FakeOneBot, make_bot: Any) -> None:
    bot = make_bot(onebot.ws_url)
    replied = threading.Event()
    results: List[Receipt] = []

    @bot.on_message("group")
    def echo(event: Event) -> None:
        if event.plain_text == "ping":
            results.append(event.reply("pong"))
            replied.set()

    with bot:
        assert bot.wait_connected(5) == onebot.self_id
        onebot.emit_group_message(123, 456, "ping")
        assert replied.wait(5)
    sent = onebot.sent_messages
    assert len(sent) == 1
    assert sent[0]["group_id"] == 123
    assert results[0].message_id == sent[0]["message_id"]
    assert results[0]["message_id"] == sent[0]["message_id"]


def test_string_format_events_work_the_same(onebot_factory: Any, make_bot: Any) -> None:
    server = onebot_factory(message_format="string")
    bot = make_bot(server.ws_url)
    got: List[str] = []
    done = threading.Event()

    @bot.on_message()
    def handler(event: Event) -> None:
        got.append(event.plain_text)
        done.set()

    with bot:
        bot.wait_connected(5)
        server.emit_private_message(7, "a &#91;b&#93; [CQ:face,id=1]c")
        assert done.wait(5)
    assert got == ["a [b] c"]


def test_backend_down_at_start_then_up(onebot: FakeOneBot, make_bot: Any) -> None:
    onebot.down()
    bot = make_bot(onebot.ws_url)
    with bot:
        eventually(lambda: bot.stats()["connections"][0]["connect_failures"] >= 2, what="failed attempts")
        onebot.up()
        assert bot.wait_connected(5) == onebot.self_id
        assert bot.get_login_info()["user_id"] == onebot.self_id


def test_abrupt_close_reconnects_and_events_flow(onebot: FakeOneBot, make_bot: Any) -> None:
    bot = make_bot(onebot.ws_url)
    connects: List[Any] = []
    disconnects: List[str] = []
    got = threading.Event()
    cond = threading.Condition()

    @bot.on_connect
    def on_connect(self_id: int) -> None:
        with cond:
            connects.append(self_id)
            cond.notify_all()

    @bot.on_disconnect
    def on_disconnect(reason: str) -> None:
        with cond:
            disconnects.append(reason)
            cond.notify_all()

    @bot.on_message("private")
    def on_msg(event: Event) -> None:
        if event.plain_text == "after":
            got.set()

    with bot:
        bot.wait_connected(5)
        with cond:
            assert cond.wait_for(lambda: len(connects) == 1, 5)
        onebot.drop_connections()
        with cond:
            assert cond.wait_for(lambda: len(connects) == 2 and len(disconnects) == 1, 5)
        assert connects == [onebot.self_id, onebot.self_id]
        onebot.emit_private_message(9, "after")
        assert got.wait(5)
    assert bot.stats()["reconnects"] == 1


def test_half_open_detected_within_three_heartbeats(onebot_factory: Any, make_bot: Any) -> None:
    interval = 0.5
    server = onebot_factory(heartbeat_interval=interval)
    bot = make_bot(server.ws_url)
    lost = threading.Event()
    heartbeat = threading.Event()
    reasons: List[str] = []
    bot.on_disconnect(lambda reason: (reasons.append(reason), lost.set()))
    bot.on_meta_event("heartbeat")(lambda event: heartbeat.set())
    with bot:
        bot.wait_connected(5)
        assert heartbeat.wait(5)
        assert bot.stats()["connections"][0]["heartbeat_interval"] == interval
        started = time.monotonic()
        server.half_open()
        assert lost.wait(5)
        elapsed = time.monotonic() - started
        assert elapsed < 3 * interval, f"half-open link detected after {elapsed:.2f}s"
        bot.wait_connected(5)  # and a fresh connection is made
    assert "dead link" in reasons[0]


@pytest.mark.parametrize("style", ["http", "frame"])
@pytest.mark.parametrize("token", [None, "wrong"])
def test_bad_token_raises_from_run_without_retrying(
    onebot_factory: Any, make_bot: Any, style: str, token: Any
) -> None:
    server = onebot_factory(access_token="secret", auth_style=style)
    bot = make_bot(server.ws_url, access_token=token)
    started = time.monotonic()
    with pytest.raises(AuthenticationError):
        bot.run()
    assert time.monotonic() - started < 3
    assert server.total_connections == (1 if style == "frame" else 0)
    assert bot.stats()["connections"][0]["connect_failures"] == 0


def test_right_token_connects(onebot_factory: Any, make_bot: Any) -> None:
    server = onebot_factory(access_token="secret")
    with make_bot(server.ws_url, access_token="secret") as bot:
        assert bot.wait_connected(5) == server.self_id


def test_stop_during_long_backoff_is_quick(onebot: FakeOneBot, make_bot: Any) -> None:
    onebot.down()
    bot = make_bot(onebot.ws_url, reconnect=Backoff(initial=60, maximum=60))
    bot.start()
    eventually(lambda: bot.stats()["connections"][0]["connect_failures"] >= 1, what="a failed attempt")
    started = time.monotonic()
    bot.stop()
    assert time.monotonic() - started < 1.0
    assert qq_threads() == []


def test_reconnect_budget_spent_raises_connection_lost(onebot: FakeOneBot, make_bot: Any) -> None:
    onebot.down()
    bot = make_bot(onebot.ws_url, reconnect=Backoff(initial=0.01, maximum=0.02, max_attempts=3))
    with pytest.raises(ConnectionLost):
        bot.run()
    assert bot.stats()["connections"][0]["connect_failures"] == 3


def test_raising_handler_does_not_affect_others(onebot: FakeOneBot, make_bot: Any) -> None:
    bot = make_bot(onebot.ws_url)
    seen = threading.Event()
    errors: List[Any] = []

    @bot.on_message("group")
    def bad(event: Event) -> None:
        raise RuntimeError("boom")

    @bot.on_message()
    def good(event: Event) -> None:
        seen.set()

    @bot.on_error
    def on_error(exc: BaseException, event: Any) -> None:
        errors.append((exc, event))

    with bot:
        bot.wait_connected(5)
        onebot.emit_group_message(1, 2, "x")
        assert seen.wait(5)
        eventually(lambda: errors, what="on_error")
        seen.clear()
        onebot.emit_group_message(1, 2, "y")  # the bot is still fine
        assert seen.wait(5)
    exc, event = errors[0]
    assert isinstance(exc, RuntimeError) and event.plain_text == "x"
    assert bot.stats()["handler_errors"] == 2


def test_garbage_frames_ignored_and_counted(onebot: FakeOneBot, make_bot: Any) -> None:
    bot = make_bot(onebot.ws_url)
    got = threading.Event()
    bot.on_message()(lambda event: got.set())
    with bot:
        bot.wait_connected(5)
        onebot.send_garbage("not json{")
        onebot.send_garbage("[1, 2, 3]")
        onebot.send_garbage(b"\xff\xfe\x00binary")
        onebot.emit_private_message(1, "still here")
        assert got.wait(5)
        eventually(lambda: bot.stats()["bad_frames"] == 3, what="3 bad frames counted")
        assert bot.get_status()["online"] is True
    assert bot.stats()["reconnects"] == 0


def test_concurrent_calls_each_get_their_own_answer(onebot: FakeOneBot, make_bot: Any) -> None:
    onebot.set_action("echo_back", lambda params: {"n": params["n"]})
    with make_bot(onebot.ws_url) as bot:
        bot.wait_connected(5)

        def worker(t: int) -> List[bool]:
            return [bot.call_action("echo_back", n=t * 100 + i)["n"] == t * 100 + i for i in range(25)]

        with ThreadPoolExecutor(12) as pool:
            results = [ok for oks in pool.map(worker, range(12)) for ok in oks]
    assert len(results) == 300 and all(results)


def test_unanswered_call_times_out_while_others_succeed(onebot: FakeOneBot, make_bot: Any) -> None:
    onebot.stall("get_status")
    with make_bot(onebot.ws_url, api_timeout=0.5) as bot:
        bot.wait_connected(5)
        with ThreadPoolExecutor(1) as pool:
            started = time.monotonic()
            stalled = pool.submit(bot.get_status)
            for _ in range(10):
                assert bot.get_login_info()["user_id"] == onebot.self_id
            with pytest.raises(ApiTimeout):
                stalled.result(5)
            elapsed = time.monotonic() - started
        assert 0.45 < elapsed < 2.0
        assert bot.stats()["reconnects"] == 0


def test_pending_calls_fail_at_once_when_socket_drops(onebot: FakeOneBot, make_bot: Any) -> None:
    # An action with effects: a read-only one would be retried once on the new socket.
    onebot.stall("set_group_card")
    with make_bot(onebot.ws_url, api_timeout=30) as bot:
        bot.wait_connected(5)
        with ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(bot.set_group_card, 1, 2, "x") for _ in range(3)]
            onebot.wait_for_call("set_group_card", count=3)
            started = time.monotonic()
            onebot.drop_connections()
            for future in futures:
                with pytest.raises(ResponseLost) as info:
                    future.result(5)
                assert not isinstance(info.value, ApiTimeout)
            assert time.monotonic() - started < 2.0


def test_blocked_handler_does_not_stall_the_reader(onebot: FakeOneBot, make_bot: Any) -> None:
    release = threading.Event()
    entered = threading.Event()
    later = threading.Event()
    with make_bot(onebot.ws_url, workers=2) as bot:

        @bot.on_message("group")
        def blocker(event: Event) -> None:
            entered.set()
            release.wait(10)

        @bot.on_message("private")
        def other(event: Event) -> None:
            later.set()

        bot.wait_connected(5)
        onebot.emit_group_message(1, 2, "block")
        assert entered.wait(5)
        started = time.monotonic()
        assert bot.get_login_info()["user_id"] == onebot.self_id  # replies still read
        onebot.emit_private_message(3, "next")
        assert later.wait(5)  # the other worker still handles events
        assert time.monotonic() - started < 2.0
        release.set()


def test_no_thread_growth_over_20_reconnects(onebot: FakeOneBot, make_bot: Any) -> None:
    bot = make_bot(onebot.ws_url)
    cond = threading.Condition()
    connects: List[int] = []

    @bot.on_connect
    def on_connect(self_id: int) -> None:
        with cond:
            connects.append(self_id)
            cond.notify_all()

    with bot:
        with cond:
            assert cond.wait_for(lambda: len(connects) == 1, 5)
        baseline = qq_threads()
        for cycle in range(20):
            onebot.drop_connections()
            with cond:
                assert cond.wait_for(lambda cycle=cycle: len(connects) == cycle + 2, 5), f"cycle {cycle}"
        assert qq_threads() == baseline
        assert bot.stats()["reconnects"] == 20


def test_stop_from_inside_a_handler(onebot: FakeOneBot, make_bot: Any) -> None:
    bot = make_bot(onebot.ws_url)
    stopped = threading.Event()

    @bot.on_message()
    def stopper(event: Event) -> None:
        bot.stop()
        bot.stop()  # any number of times
        stopped.set()

    def serve() -> None:
        bot.run()

    runner = threading.Thread(target=serve, name="test-runner")
    runner.start()
    bot.wait_connected(5)
    onebot.emit_private_message(1, "stop please")
    assert stopped.wait(5)
    runner.join(5)
    assert not runner.is_alive()
    eventually(lambda: not qq_threads(), what="threads to end")


def test_split_api_and_event_sockets(onebot: FakeOneBot, make_bot: Any) -> None:
    bot = make_bot(onebot.api_ws_url, events=onebot.event_ws_url)
    got = threading.Event()
    bot.on_message()(lambda event: got.set())
    with bot:
        assert bot.wait_connected(5) == onebot.self_id
        assert bot.get_login_info()["nickname"]
        onebot.emit_private_message(5, "hi")
        assert got.wait(5)
        assert onebot.connection_count == 2


def test_http_api_with_websocket_events(onebot: FakeOneBot, make_bot: Any) -> None:
    bot = make_bot(onebot.url, events=onebot.event_ws_url)
    got = threading.Event()

    @bot.on_message("group")
    def reply(event: Event) -> None:
        event.reply("ok")
        got.set()

    with bot:
        bot.wait_connected(5)
        onebot.emit_group_message(8, 9, "hello")
        assert got.wait(5)
    assert [c["transport"] for c in onebot.calls if c["action"] == "send_group_msg"] == ["http"]


def test_calls_need_a_started_websocket_bot(onebot: FakeOneBot) -> None:
    from qqreliable import ApiNotAvailable

    bot = Bot(onebot.ws_url)
    with pytest.raises(ApiNotAvailable):
        bot.get_login_info()
    bot.stop()


def test_lifecycle_is_idempotent(onebot: FakeOneBot) -> None:
    bot = Bot(onebot.ws_url, reconnect=Backoff(initial=0.02, maximum=0.1))
    assert bot.start() is bot
    assert bot.start() is bot
    bot.wait_connected(5)
    bot.stop()
    bot.stop()
    assert qq_threads() == []
    from qqreliable import BotStopped

    with pytest.raises(BotStopped):
        bot.start()
    with pytest.raises(BotStopped):
        bot.get_login_info()
