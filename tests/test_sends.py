"""Sends that land exactly once, over WebSocket and HTTP, against the real FakeOneBot.

Windows, polls and timeouts are scaled down (tenths of a second); the logic is the
one that runs with the production defaults.
"""

from __future__ import annotations

import base64
import random
import threading
import time
from dataclasses import replace
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest
import responses

from qqreliable import (
    AccountOffline,
    ActionFailed,
    Bot,
    BotStopped,
    MessageSegment,
    RateLimited,
    SendUnconfirmed,
)
from qqreliable import Pacing, SendPolicy
from qqreliable.testing import FakeOneBot

from .helpers import eventually

pytestmark = pytest.mark.timeout(40)

FAST_POLICY = SendPolicy(settle_window=0.3, media_settle_window=0.4, poll_interval=0.05, clock_skew=5)
GROUP = 1001


def _sent_texts(onebot: FakeOneBot) -> List[str]:
    return [m["raw_message"] for m in onebot.sent_messages]


def _send_calls(onebot: FakeOneBot, action: str = "send_group_msg") -> int:
    return sum(1 for c in onebot.calls if c["action"] == action)


@pytest.fixture(params=["ws", "http"])
def setup(request: Any, onebot_factory: Any, make_bot: Any) -> Iterator[Callable[..., Tuple[FakeOneBot, Bot]]]:
    """``setup(reports=True, **bot_options)`` -> (server, started bot) over the param's transport."""

    def make(reports: bool = True, **options: Any) -> Tuple[FakeOneBot, Bot]:
        server = onebot_factory(report_self_messages=reports)
        options.setdefault("send_policy", FAST_POLICY)
        options.setdefault("pacing", None)
        url = server.ws_url if request.param == "ws" else server.url
        bot = make_bot(url, **options)
        if request.param == "ws":
            bot.start()
            bot.wait_connected(5)
        return server, bot

    make.transport = request.param  # type: ignore[attr-defined]
    yield make


# -- acceptance: the six cases, over WS and HTTP -------------------------------------


def test_1200_after_delivery_is_one_verified_message(setup: Any) -> None:
    onebot, bot = setup()
    onebot.script("send_group_msg", "deliver_fail", delay=0.05)
    receipt = bot.send_group_msg(group_id=GROUP, message="hello [CQ:face,id=1]")
    assert receipt.verified and receipt.attempts == 1
    assert receipt.message_id == onebot.sent_messages[0]["message_id"]
    assert len(onebot.sent_messages) == 1 and _send_calls(onebot) == 1
    how = "verified_by_event" if setup.transport == "ws" else "verified_by_history"
    assert bot.stats()["sends"][how] == 1


def test_1200_without_delivery_is_sent_again_once(setup: Any) -> None:
    onebot, bot = setup()
    onebot.script("send_group_msg", "fail")
    receipt = bot.send_group_msg(group_id=GROUP, message="only once")
    assert receipt.attempts == 2
    assert _sent_texts(onebot) == ["only once"]
    assert receipt.message_id == onebot.sent_messages[0]["message_id"]
    assert bot.stats()["sends"]["resent"] == 1


def test_without_self_reports_history_decides(setup: Any) -> None:
    onebot, bot = setup(reports=False)
    onebot.script("send_group_msg", "deliver_fail")
    receipt = bot.send_group_msg(group_id=GROUP, message="via history")
    assert receipt.verified and receipt.message_id == onebot.sent_messages[0]["message_id"]
    assert len(onebot.sent_messages) == 1 and _send_calls(onebot) == 1
    assert bot.stats()["sends"]["verified_by_history"] == 1


def test_no_reports_and_no_history_is_unconfirmed_and_not_resent(setup: Any) -> None:
    onebot, bot = setup(reports=False)
    onebot.disable_actions("get_group_msg_history", "get_friend_msg_history")
    onebot.script("send_group_msg", "deliver_fail")
    with pytest.raises(SendUnconfirmed) as info:
        bot.send_group_msg(group_id=GROUP, message="who knows")
    assert info.value.attempts == 1 and info.value.action == "send_group_msg"
    assert info.value.params["group_id"] == GROUP
    assert "not supported" in str(info.value)
    assert len(onebot.sent_messages) == 1 and _send_calls(onebot) == 1
    # probed once, remembered: the second ambiguous send does not ask again
    onebot.script("send_group_msg", "fail")
    with pytest.raises(SendUnconfirmed):
        bot.send_group_msg(group_id=GROUP, message="again")
    assert sum(1 for c in onebot.calls if c["action"] == "get_group_msg_history") == 1
    assert bot.stats()["calls"]["send_group_msg"]["outcomes"] == {"unknown": 2}


def test_socket_dropped_after_executing_is_one_message(setup: Any) -> None:
    onebot, bot = setup()
    onebot.drop_after("send_group_msg")
    receipt = bot.send_group_msg(group_id=GROUP, message="dropped")
    assert receipt.verified and receipt.attempts == 1
    assert _sent_texts(onebot) == ["dropped"] and _send_calls(onebot) == 1


def test_socket_dropped_before_executing_is_sent_again(setup: Any) -> None:
    onebot, bot = setup()
    onebot.drop_after("send_group_msg", deliver=False)
    receipt = bot.send_group_msg(group_id=GROUP, message="dropped early")
    assert receipt.attempts == 2 and _sent_texts(onebot) == ["dropped early"]


def test_permanent_failure_is_raised_once_never_resent(setup: Any) -> None:
    onebot, bot = setup()
    onebot.fail_next("send_group_msg", retcode=1400, message="参数错误")
    with pytest.raises(ActionFailed) as info:
        bot.send_group_msg(group_id=GROUP, message="bad")
    assert info.value.retcode == 1400 and info.value.category == "bad_request"
    assert _send_calls(onebot) == 1 and onebot.sent_messages == []
    outcomes = bot.stats()["calls"]["send_group_msg"]["outcomes"]
    assert outcomes == {"not_sent": 1}


def test_answer_after_the_client_timeout_is_one_message(setup: Any) -> None:
    onebot, bot = setup(api_timeout=0.3)
    onebot.script("send_group_msg", "late", delay=1.0)
    receipt = bot.send_group_msg(group_id=GROUP, message="late answer")
    assert receipt.verified and _sent_texts(onebot) == ["late answer"]
    assert _send_calls(onebot) == 1


def test_never_answered_and_not_delivered_is_sent_again(setup: Any) -> None:
    onebot, bot = setup(api_timeout=0.3)
    onebot.script("send_group_msg", "stall")
    receipt = bot.send_group_msg(group_id=GROUP, message="after a stall")
    assert receipt.attempts == 2 and _sent_texts(onebot) == ["after a stall"]


def test_private_sends_are_verified_too(setup: Any) -> None:
    onebot, bot = setup(reports=False)
    onebot.script("send_private_msg", "deliver_fail")
    receipt = bot.send_private_msg(user_id=42, message="psst")
    assert receipt.verified and len(onebot.sent_messages) == 1


def test_late_self_report_is_waited_for(onebot_factory: Any, make_bot: Any) -> None:
    onebot = onebot_factory(report_self_messages=True)
    onebot.disable_actions("get_group_msg_history")
    onebot.self_report_delay = 0.15
    # A settle window far above the report's delay: on a loaded machine 0.15 s of delay
    # plus scheduling can pass FAST_POLICY's 0.3 s, and the test would measure the load.
    policy = SendPolicy(settle_window=1.5, media_settle_window=1.5, poll_interval=0.05, clock_skew=5)
    bot = make_bot(onebot.ws_url, send_policy=policy, pacing=None).start()
    bot.wait_connected(5)
    bot.send_group_msg(group_id=GROUP, message="teach the bot that reports are on")
    onebot.script("send_group_msg", "deliver_fail")
    receipt = bot.send_group_msg(group_id=GROUP, message="reported late")
    assert receipt.verified and len(onebot.sent_messages) == 2
    # and with reports known to be on, a missing report is proof of absence
    onebot.script("send_group_msg", "fail")
    receipt = bot.send_group_msg(group_id=GROUP, message="never reported")
    assert receipt.attempts == 2 and len(onebot.sent_messages) == 3


def test_string_format_and_rewritten_image_still_match(onebot_factory: Any, make_bot: Any) -> None:
    onebot = onebot_factory(report_self_messages=True, message_format="string")
    bot = make_bot(onebot.ws_url, send_policy=FAST_POLICY, pacing=None).start()
    bot.wait_connected(5)
    onebot.script("send_group_msg", "deliver_fail")
    image = MessageSegment.image(b"\x89PNG fake image bytes")
    receipt = bot.send_group_msg(group_id=GROUP, message=MessageSegment.at(7) + " look  " + image)
    assert receipt.verified and len(onebot.sent_messages) == 1


# -- the 1,000-send run ---------------------------------------------------------------


@pytest.mark.parametrize("transport", ["ws", "http"])
def test_thousand_sends_with_ambiguous_failures_land_exactly_once(
    onebot_factory: Any, make_bot: Any, transport: str
) -> None:
    onebot = onebot_factory(report_self_messages=True)
    rng = random.Random(4)
    # 30% ambiguous answers, half of them really delivered; re-sends draw from the same mix.
    steps = [rng.choice(["deliver_fail", "fail"]) if rng.random() < 0.3 else "ok" for _ in range(1600)]
    onebot.script("send_group_msg", steps)
    policy = SendPolicy(
        settle_window=0.08, poll_interval=0.04, max_attempts=8, clock_skew=5, history_count=50
    )
    pacing = replace(Pacing.unlimited(), circuit_threshold=8)
    url = onebot.ws_url if transport == "ws" else onebot.url
    bot = make_bot(url, send_policy=policy, pacing=pacing, workers=16)
    if transport == "ws":
        bot.start()
        bot.wait_connected(5)
    n_threads, per_thread = 20, 50

    def worker(t: int) -> List[Any]:
        return [bot.send_group_msg(group_id=100 + t, message=f"m{t}-{i}") for i in range(per_thread)]

    with ThreadPoolExecutor(n_threads) as pool:
        receipts = [r for rs in pool.map(worker, range(n_threads)) for r in rs]
    texts = _sent_texts(onebot)
    expected = {f"m{t}-{i}" for t in range(n_threads) for i in range(per_thread)}
    assert len(texts) == len(expected) == 1000 and set(texts) == expected  # no loss, no duplicate
    ids = {m["raw_message"]: m["message_id"] for m in onebot.sent_messages}
    assert all(r.message_id is not None for r in receipts)
    assert sorted(r.message_id for r in receipts) == sorted(ids.values())
    stats = bot.stats()
    assert stats["sends"]["ambiguous"] >= 250 and stats["sends"]["resent"] >= 100
    assert stats["calls"]["send_group_msg"]["count"] == 1000


# -- risk control, circuits, pacing ----------------------------------------------------


def test_risk_control_opens_a_circuit_for_that_target_only(setup: Any) -> None:
    onebot, bot = setup()
    onebot.risk_control(group_id=GROUP)
    with pytest.raises(RateLimited) as info:
        bot.send_group_msg(group_id=GROUP, message="spam?")
    assert info.value.target == f"group:{GROUP}" and info.value.retry_after > 0
    assert isinstance(info.value.__cause__, ActionFailed)
    assert _send_calls(onebot) == 1
    with pytest.raises(RateLimited):  # refused at once, nothing on the wire
        bot.send_group_msg(group_id=GROUP, message="again")
    assert _send_calls(onebot) == 1
    bot.send_group_msg(group_id=GROUP + 1, message="other group")
    bot.send_private_msg(user_id=5, message="a friend")
    assert _sent_texts(onebot) == ["other group", "a friend"]
    assert bot.stats()["calls"]["send_group_msg"]["outcomes"] == {"rate_limited": 2, "delivered": 1}


def test_repeated_undelivered_1200_opens_the_circuit(setup: Any) -> None:
    onebot, bot = setup(pacing=Pacing(circuit_threshold=2, circuit_cooldown=0.3, circuit_max_cooldown=1))
    onebot.script("send_group_msg", ["fail", "fail"])
    with pytest.raises(RateLimited):
        bot.send_group_msg(group_id=GROUP, message="blocked link http://x")
    assert _send_calls(onebot) == 2 and onebot.sent_messages == []
    with pytest.raises(RateLimited):
        bot.send_group_msg(group_id=GROUP, message="still paused")
    assert _send_calls(onebot) == 2
    eventually(lambda: _probe(bot), timeout=5, what="the circuit half-opens")
    assert _sent_texts(onebot) == ["probe"]


def _probe(bot: Bot) -> bool:
    try:
        bot.send_group_msg(group_id=GROUP, message="probe")
    except RateLimited:
        return False
    return True


def test_pacing_per_target_bucket(setup: Any) -> None:
    onebot, bot = setup(pacing=Pacing(target_rate=20, target_burst=2, global_rate=1000, global_burst=1000))
    started = time.monotonic()
    for i in range(6):
        bot.send_group_msg(group_id=GROUP, message=f"p{i}")
    paced = time.monotonic() - started
    assert paced >= 0.15  # 4 sends over the burst at 20/s: 0.2 s
    waited = bot.stats()["sends"]["paced_seconds"]
    assert waited > 0.1
    for i in range(2):
        bot.send_group_msg(group_id=GROUP + i + 1, message="elsewhere")
    assert bot.stats()["sends"]["paced_seconds"] == waited  # other targets have their own buckets


def test_pacing_beyond_max_wait_is_rate_limited(setup: Any) -> None:
    onebot, bot = setup(pacing=Pacing(target_rate=0.01, target_burst=1, max_wait=1.0))
    bot.send_group_msg(group_id=GROUP, message="first")
    with pytest.raises(RateLimited) as info:
        bot.send_group_msg(group_id=GROUP, message="second")
    assert info.value.retry_after > 1.0 and _sent_texts(onebot) == ["first"]


def test_pacing_wait_is_interrupted_by_stop(onebot: FakeOneBot, make_bot: Any) -> None:
    bot = make_bot(onebot.url, pacing=Pacing(target_rate=0.05, target_burst=1, max_wait=100))
    bot.send_group_msg(group_id=GROUP, message="first")
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(bot.send_group_msg, group_id=GROUP, message="second")
        eventually(lambda: bot.stats()["sends"]["paced_seconds"] > 0, what="the send to be paced")
        started = time.monotonic()
        bot.stop()
        with pytest.raises(BotStopped):
            waiting.result(5)
        assert time.monotonic() - started < 2.0
    assert _sent_texts(onebot) == ["first"]


def test_large_uploads_are_limited_in_flight(onebot: FakeOneBot, make_bot: Any) -> None:
    bot = make_bot(onebot.url, pacing=Pacing(media_concurrency=1, large_media_bytes=1000, target_burst=10))
    onebot.delay("send_group_msg", 0.3)
    big = MessageSegment.image(b"x" * 4000)
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(bot.send_group_msg, group_id=GROUP + i, message=big) for i in range(2)]
        for f in futures:
            f.result(10)
    times = sorted(c["time"] for c in onebot.calls if c["action"] == "send_group_msg")
    assert times[1] - times[0] >= 0.25  # the second upload started after the first answered


def test_send_timeout_grows_with_the_payload(onebot: FakeOneBot, make_bot: Any) -> None:
    # 1 MB inline at 1 MB/s: 1 s more than the 0.3 s api_timeout
    policy = SendPolicy(upload_rate=1024 * 1024, settle_window=0.2, poll_interval=0.05)
    bot = make_bot(onebot.url, api_timeout=0.3, send_policy=policy, pacing=None)
    onebot.delay("send_group_msg", 0.55, times=1, deliver=True)
    image = MessageSegment.image(b"\0" * (1024 * 1024))
    receipt = bot.send_group_msg(group_id=GROUP, message=image)
    assert not receipt.verified and receipt.attempts == 1  # answered in time, no verification
    # the reference: a text send under the same delay outlives the plain 0.3 s and is verified
    onebot.delay("send_group_msg", 0.55, times=1, deliver=True)
    receipt = bot.send_group_msg(group_id=GROUP, message="text")
    assert receipt.verified and len(onebot.sent_messages) == 2


# -- account state -------------------------------------------------------------------


def test_bot_offline_notice_fails_sends_fast_until_back(onebot_factory: Any, make_bot: Any) -> None:
    onebot = onebot_factory()
    bot = make_bot(onebot.ws_url, send_policy=FAST_POLICY, pacing=None).start()
    bot.wait_connected(5)
    onebot.set_account_online(False)
    eventually(lambda: not bot.account_online, what="the account to be marked offline")
    started = time.monotonic()
    with pytest.raises(AccountOffline):
        bot.send_group_msg(group_id=GROUP, message="nobody hears")
    assert time.monotonic() - started < 0.5 and _send_calls(onebot) == 0
    onebot.set_account_online(True)
    eventually(lambda: bot.account_online, what="the account to be back")
    bot.send_group_msg(group_id=GROUP, message="back")
    assert _sent_texts(onebot) == ["back"]
    assert bot.stats()["calls"]["send_group_msg"]["outcomes"] == {"offline": 1, "delivered": 1}


def test_offline_answer_marks_the_account_offline(setup: Any) -> None:
    onebot, bot = setup(send_policy=SendPolicy(offline_probe_interval=0.3, settle_window=0.2, poll_interval=0.05))
    onebot.set_account_online(False, notice=False)
    with pytest.raises(AccountOffline) as info:
        bot.send_group_msg(group_id=GROUP, message="kicked")
    assert isinstance(info.value.__cause__, ActionFailed)
    assert not bot.account_online and _send_calls(onebot) == 1
    with pytest.raises(AccountOffline):
        bot.send_group_msg(group_id=GROUP, message="fast fail")
    assert _send_calls(onebot) == 1  # failed fast: nothing on the wire
    onebot.set_account_online(True, notice=False)
    eventually(lambda: _sends_ok(bot), timeout=5, what="a probe send to get through")
    assert bot.account_online and len(onebot.sent_messages) == 1


def _sends_ok(bot: Bot) -> bool:
    try:
        bot.send_group_msg(group_id=GROUP, message="probe")
    except AccountOffline:
        return False
    return True


def test_heartbeat_status_offline_and_back(onebot_factory: Any, make_bot: Any) -> None:
    onebot = onebot_factory()
    bot = make_bot(onebot.ws_url, send_policy=FAST_POLICY, pacing=None).start()
    bot.wait_connected(5)
    onebot.emit_heartbeat()  # online: true, while online: proves nothing, changes nothing
    onebot.set_account_online(False, notice=False, status=True)
    onebot.emit_heartbeat()
    eventually(lambda: not bot.account_online, what="offline from the heartbeat")
    onebot.set_account_online(True, notice=False)
    onebot.emit_heartbeat()
    eventually(lambda: bot.account_online, what="online from the heartbeat")


def test_send_pipeline_can_be_turned_off(onebot: FakeOneBot, make_bot: Any) -> None:
    bot = make_bot(onebot.url, send_policy=None)
    onebot.script("send_group_msg", "deliver_fail")
    with pytest.raises(ActionFailed) as info:
        bot.send_group_msg(group_id=GROUP, message="raw")
    assert info.value.category == "ambiguous"
    assert bot.stats()["sends"] == {}


def test_message_sent_events_still_reach_handlers(onebot_factory: Any, make_bot: Any) -> None:
    onebot = onebot_factory(report_self_messages=True)
    bot = make_bot(onebot.ws_url, send_policy=FAST_POLICY, pacing=None)
    seen: List[Dict[str, Any]] = []
    got = threading.Event()

    @bot.on("message_sent")
    def on_sent(event: Any) -> None:
        seen.append(event)
        got.set()

    bot.start()
    bot.wait_connected(5)
    onebot.script("send_group_msg", "deliver_fail")
    bot.send_group_msg(group_id=GROUP, message="mine")
    assert got.wait(5) and seen[0]["raw_message"] == "mine"


def test_own_messages_are_read_only_when_a_send_is_verified(onebot_factory: Any, make_bot: Any) -> None:
    onebot = onebot_factory(report_self_messages=True)
    bot = make_bot(onebot.ws_url, send_policy=FAST_POLICY, pacing=None)
    ledger = bot._sends.ledger
    reads: List[Any] = []
    own = ledger._own

    def counted(event: Any, account: Any) -> Any:
        if event.get("post_type") == "message_sent":
            reads.append(event)
        return own(event, account)

    ledger._own = counted
    bot.start()
    bot.wait_connected(5)
    for i in range(20):
        receipt = bot.send_group_msg(group_id=GROUP, message=f"happy {i}")
        assert receipt.message_id and not receipt.verified
    eventually(lambda: bot.events_received >= 20, what="the own messages reported")
    assert len(reads) == 1  # the account's first own message: it shows the server reports them
    # Nothing kept per send: what the last send going kept is let go when it ends.
    assert len(ledger._raw) + len(ledger._let_go) <= 1
    onebot.script("send_group_msg", "deliver_fail")
    receipt = bot.send_group_msg(group_id=GROUP, message="ambiguous")
    assert receipt.verified and receipt.message_id
    assert bot.stats()["sends"]["verified_by_event"] == 1
    assert _sent_texts(onebot).count("ambiguous") == 1


def test_base64_payload_is_measured() -> None:
    from qqreliable.onebot.sends import payload_of

    data = base64.b64encode(b"x" * 3000).decode()
    p = payload_of({"message": [{"type": "image", "data": {"file": "base64://" + data}}]})
    assert p.media and 2990 <= p.bytes <= 3010 and p.urls == 0
    p = payload_of(
        {"message": [{"type": "image", "data": {"file": "https://x/y.png"}}, {"type": "text", "data": {"text": "a"}}]}
    )
    assert p.media and p.urls == 1 and p.bytes == 0
    assert not payload_of({"message": "plain"}).media


# -- HTTP gateway errors (wire tier: the exact answers are the point) -----------------------


@pytest.mark.parametrize("status", [502, 504])
def test_http_gateway_error_is_verified_not_resent(status: int) -> None:
    base = "http://onebot.invalid:3000"
    with responses.RequestsMock() as mock:
        mock.post(f"{base}/send_group_msg", status=status, body="Bad Gateway")
        mock.post(f"{base}/get_login_info", json={"status": "ok", "retcode": 0, "data": {"user_id": 9}})
        mine = {"post_type": "message_sent", "message_type": "group", "group_id": GROUP, "user_id": 9,
                "message_id": 77, "time": int(time.time()), "message": [{"type": "text", "data": {"text": "gw"}}]}
        mock.post(f"{base}/get_group_msg_history",
                  json={"status": "ok", "retcode": 0, "data": {"messages": [mine]}})
        bot = Bot(base, send_policy=FAST_POLICY, pacing=None)
        receipt = bot.send_group_msg(group_id=GROUP, message="gw")
        assert receipt.verified and receipt.message_id == 77
        assert sum(1 for c in mock.calls if c.request.url.endswith("/send_group_msg")) == 1
        bot.stop()


def test_ok_without_message_id_is_verified_and_sent_again(setup: Any) -> None:
    onebot, bot = setup()

    def lagrange_false_success(params: Dict[str, Any]) -> Any:
        onebot.set_action("send_group_msg", None)  # the next call is handled normally
        return {"message_id": 0}  # "ok", yet nothing was delivered (faults SEND-03)

    onebot.set_action("send_group_msg", lagrange_false_success)
    receipt = bot.send_group_msg(group_id=GROUP, message="really?")
    assert receipt.attempts == 2 and _sent_texts(onebot) == ["really?"]
    assert receipt.message_id == onebot.sent_messages[0]["message_id"]
    assert bot.stats()["sends"]["ok_without_id"] == 1


def test_http_without_history_is_unconfirmed_at_once(onebot: FakeOneBot, make_bot: Any) -> None:
    slow = SendPolicy(settle_window=30, poll_interval=0.05)
    bot = make_bot(onebot.url, send_policy=slow, pacing=None)
    onebot.disable_actions("get_group_msg_history")
    onebot.script("send_group_msg", "deliver_fail")
    started = time.monotonic()
    with pytest.raises(SendUnconfirmed):
        bot.send_group_msg(group_id=GROUP, message="no way to know")
    assert time.monotonic() - started < 5  # not the 30 s window: nothing could ever decide
    assert len(onebot.sent_messages) == 1


def test_verification_wait_is_interrupted_by_stop(onebot: FakeOneBot, make_bot: Any) -> None:
    bot = make_bot(onebot.url, send_policy=SendPolicy(settle_window=30, poll_interval=0.05), pacing=None)
    onebot.script("send_group_msg", "fail")
    with ThreadPoolExecutor(1) as pool:
        verifying = pool.submit(bot.send_group_msg, group_id=GROUP, message="pending")
        onebot.wait_for_call("get_group_msg_history")  # the verification is under way
        started = time.monotonic()
        bot.stop()
        with pytest.raises(BotStopped):
            verifying.result(5)
        assert time.monotonic() - started < 3
    assert onebot.sent_messages == [] and _send_calls(onebot) == 1  # never resent
