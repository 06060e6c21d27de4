"""TCP-level faults through FaultProxy, with a real Bot on one side and FakeOneBot on the other."""

from __future__ import annotations

import threading
import time
from typing import Any, Iterator

import pytest

from qqreliable import ApiTimeout, Bot, ConnectFailed, ResponseLost, SendPolicy, SendUnconfirmed
from qqreliable.testing import FakeOneBot, FaultProxy


@pytest.fixture
def proxy(onebot: FakeOneBot) -> Iterator[FaultProxy]:
    with FaultProxy(onebot.port) as p:
        yield p


def test_unknown_mode_is_refused(proxy: FaultProxy) -> None:
    with pytest.raises(ValueError, match="unknown FaultProxy mode"):
        proxy.set_mode("explode")


def test_pass_through_http_and_ws(onebot: FakeOneBot, proxy: FaultProxy, make_bot: Any) -> None:
    http = Bot(proxy.url("http"), api_timeout=5)
    try:
        assert http.get_login_info()["user_id"] == onebot.self_id
    finally:
        http.stop()
    with make_bot(proxy.url("ws", "/")) as bot:
        assert bot.wait_connected(5) == onebot.self_id
        assert bot.get_status()["online"] is True


def test_reset_after_request_is_response_lost_and_never_resent(onebot: FakeOneBot, proxy: FaultProxy) -> None:
    bot = Bot(proxy.url("http"), api_timeout=5, send_policy=None)  # the transport's own classification
    try:
        bot.get_login_info()  # a pooled keep-alive connection exists before the fault
        proxy.set_mode("reset_after_request")
        with pytest.raises(ResponseLost) as info:
            bot.send_group_msg(1, "once")
        assert not isinstance(info.value, ApiTimeout)
        assert info.value.sent is True
        assert [m["raw_message"] for m in onebot.sent_messages] == ["once"]  # it ran, exactly once
    finally:
        bot.stop()


def test_reset_after_request_send_is_verified_then_unconfirmed(onebot: FakeOneBot, proxy: FaultProxy) -> None:
    # The send pipeline treats the lost answer as UNKNOWN; every history query is reset
    # too, so nothing can decide: SendUnconfirmed, and the message went out exactly once.
    policy = SendPolicy(settle_window=0.2, poll_interval=0.05)
    bot = Bot(proxy.url("http"), api_timeout=5, send_policy=policy)
    try:
        bot.get_login_info()
        proxy.set_mode("reset_after_request")
        with pytest.raises(SendUnconfirmed) as info:
            bot.send_group_msg(1, "once")
        assert isinstance(info.value.cause, ResponseLost) and info.value.attempts == 1
        assert [m["raw_message"] for m in onebot.sent_messages] == ["once"]
    finally:
        bot.stop()


def test_stalled_accept_times_out_http_call(proxy: FaultProxy) -> None:
    proxy.set_mode("stall")
    bot = Bot(proxy.url("http"), api_timeout=0.5)
    try:
        started = time.monotonic()
        with pytest.raises(ApiTimeout):
            bot.get_status()
        assert time.monotonic() - started < 3
    finally:
        bot.stop()


def test_stalled_accept_then_recovery_over_ws(onebot: FakeOneBot, proxy: FaultProxy, make_bot: Any) -> None:
    proxy.set_mode("stall")
    bot = make_bot(proxy.url("ws", "/"), connect_timeout=0.3)
    with bot:
        with pytest.raises(ConnectFailed):
            bot.wait_connected(1.0)  # the handshake never completes: retried, not hung
        proxy.set_mode("pass")
        assert bot.wait_connected(10) == onebot.self_id
    assert bot.stats()["connections"][0]["connect_failures"] >= 1


def test_blackhole_is_caught_by_heartbeat_liveness(onebot_factory: Any, make_bot: Any) -> None:
    server = onebot_factory(heartbeat_interval=0.3)
    with FaultProxy(server.port) as proxy:
        bot = make_bot(proxy.url("ws", "/"))
        lost = threading.Event()
        beat = threading.Event()
        bot.on_disconnect(lambda reason: lost.set())
        bot.on_meta_event("heartbeat")(lambda event: beat.set())
        with bot:
            bot.wait_connected(5)
            assert beat.wait(5)
            proxy.set_mode("blackhole")
            started = time.monotonic()
            assert lost.wait(5)
            # Stale after 2.5 intervals (the ping path would take 25 s); the
            # slack is for a loaded 2-CPU machine.
            assert time.monotonic() - started < 8 * 0.3
            proxy.set_mode("pass")
            bot.wait_connected(5)


def test_trickled_answer_times_out(onebot: FakeOneBot, proxy: FaultProxy) -> None:
    # A large answer whose body trickles in: every socket read returns in time,
    # so only a deadline over the whole answer catches it. (The head passes at
    # full speed: http.client reads it with per-read timeouts only, a limit
    # documented in HttpApi.)
    for n in range(300):
        onebot.add_member(1, 1000 + n, nickname=f"member {n}")
    proxy.trickle_bytes, proxy.trickle_interval, proxy.trickle_after = 64, 0.02, 1000
    bot = Bot(proxy.url("http"), api_timeout=0.5)
    try:
        proxy.set_mode("trickle")
        started = time.monotonic()
        with pytest.raises(ApiTimeout):
            bot.get_group_member_list(1)
        assert time.monotonic() - started < 1.5
    finally:
        bot.stop()


def test_answer_cut_in_the_head_is_response_lost(onebot: FakeOneBot, proxy: FaultProxy) -> None:
    # http.client takes EOF inside the headers for their end: an empty body.
    proxy.cut_after = 40
    bot = Bot(proxy.url("http"), api_timeout=5)
    try:
        proxy.set_mode("cut")
        with pytest.raises(ResponseLost):
            bot.set_group_card(1, 2, "x")
        assert onebot.wait_for_call("set_group_card")["params"]["card"] == "x"
    finally:
        bot.stop()


def test_answer_cut_in_the_body_is_response_lost(onebot: FakeOneBot, proxy: FaultProxy) -> None:
    for n in range(300):
        onebot.add_member(1, 1000 + n, nickname=f"member {n}")
    proxy.cut_after = 4000  # past the head, well inside a ~40 KB body
    bot = Bot(proxy.url("http"), api_timeout=5)
    try:
        assert len(bot.get_group_member_list(1)) >= 300
        proxy.set_mode("cut")
        with pytest.raises(ResponseLost) as info:
            bot.call_action("get_group_member_list", group_id=1)
        assert "cut off" in str(info.value)
    finally:
        bot.stop()


def test_huge_answer_is_refused(onebot: FakeOneBot) -> None:
    from qqreliable.exceptions import ProtocolError

    for n in range(300):
        onebot.add_member(1, 1000 + n, nickname=f"member {n}")
    bot = Bot(onebot.url, api_timeout=5)
    try:
        bot._http.max_response_size = 10_000  # type: ignore[union-attr]
        with pytest.raises(ProtocolError, match="over 10000 bytes"):
            bot.get_group_member_list(1)
    finally:
        bot.stop()
