"""Pure tests of the send pipeline's parts: outcome table, fingerprints, ledger,
token buckets, circuits, account state, policies. No sockets; injected clocks."""

from __future__ import annotations

import threading
import time
from dataclasses import FrozenInstanceError
from typing import Any, List

import pytest

from qqreliable import (
    AccountOffline,
    ActionFailed,
    ApiTimeout,
    AuthenticationError,
    BotStopped,
    ConnectFailed,
    Pacing,
    ProtocolError,
    RateLimited,
    ResponseLost,
    SendPolicy,
)
from qqreliable.onebot.actions import SEND_OUTCOMES, Category, Outcome, send_outcome
from qqreliable.onebot.sends import OneBotSends, account_signal, fingerprint, send_fingerprint, target_of
from qqreliable.reliability.account import AccountState
from qqreliable.reliability.ratelimit import Circuits, Pacer, TokenBucket
from qqreliable.reliability.verify import Ledger

from .helpers import eventually

FACTS = OneBotSends()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- outcome table --------------------------------------------------------------------


def test_every_category_has_a_send_outcome() -> None:
    assert set(SEND_OUTCOMES) == set(Category.ALL)
    assert SEND_OUTCOMES[Category.AMBIGUOUS] == Outcome.UNKNOWN
    assert SEND_OUTCOMES[Category.OK] == Outcome.DELIVERED


@pytest.mark.parametrize(
    "error, outcome",
    [
        (ActionFailed("send_msg", 1200, "Timeout", category="ambiguous"), "unknown"),
        (ActionFailed("send_msg", 1, category="async"), "unknown"),
        (ActionFailed("send_msg", 1400, category="bad_request"), "not_sent"),
        (ActionFailed("send_msg", 100, "风控", category="risk_control"), "not_sent"),
        (ActionFailed("send_msg", 7, category="something_new"), "unknown"),
        (ApiTimeout("x"), "unknown"),
        (ResponseLost("HTTP 502"), "unknown"),
        (ProtocolError("not json"), "unknown"),
        (ConnectFailed("refused"), "not_sent"),
        (AuthenticationError("token"), "not_sent"),
        (BotStopped("stop"), "not_sent"),
    ],
)
def test_send_outcome(error: Exception, outcome: str) -> None:
    assert send_outcome(error) == outcome


# -- targets and fingerprints -----------------------------------------------------------


def test_plain_target_is_the_target_of_a_send_without_media() -> None:
    plain = FACTS.plain_target
    assert plain("send_group_msg", {"group_id": 5, "message": "hi"}) == ("group", 5)
    assert plain("send_group_msg", {"group_id": "12", "message": "hi"}) == ("group", 12)
    assert plain("send_private_msg", {"user_id": 3, "message": "[CQ:image,file=a.png]"}) == ("private", 3)
    assert plain("send_msg", {"message_type": "private", "user_id": 3, "message": "x"}) == ("private", 3)
    text = [{"type": "text", "data": {"text": "x"}}, {"type": "at", "data": {"qq": 1}}]
    assert plain("send_group_msg", {"group_id": 5, "message": text}) == ("group", 5)
    image = [{"type": "image", "data": {"file": "abc.image"}}]
    assert plain("send_group_msg", {"group_id": 5, "message": image}) is None  # media: the full path
    assert plain("send_group_forward_msg", {"group_id": 5, "messages": []}) is None  # slow
    assert plain("send_group_msg", {"message": "no chat"}) is None
    assert plain("send_group_msg", {"group_id": 5, "message": "hi", "messages": []}) is None  # a forward's nodes
    assert plain("send_group_msg", {"group_id": 5, "message": "hi", "messages": None}) == ("group", 5)
    assert plain("send_private_msg", {"user_id": True, "message": "hi"}) == target_of(
        "send_private_msg", {"user_id": True}
    )
    for action, params in [
        ("send_group_msg", {"group_id": 5, "message": "hi"}),
        ("send_private_msg", {"user_id": "7", "message": text}),
        ("send_msg", {"group_id": 5, "user_id": 3, "message": "x"}),
    ]:
        assert plain(action, params) == target_of(action, params)


def test_target_of() -> None:
    assert target_of("send_group_msg", {"group_id": "12"}) == ("group", 12)
    assert target_of("send_private_msg", {"user_id": 3}) == ("private", 3)
    assert target_of("send_msg", {"group_id": 5, "user_id": 3}) == ("group", 5)
    assert target_of("send_msg", {"message_type": "private", "group_id": 5, "user_id": 3}) == ("private", 3)
    assert target_of("send_msg", {"user_id": 3}) == ("private", 3)
    assert target_of("send_group_msg", {}) is None
    assert target_of("send_group_forward_msg", {"group_id": 1}) == ("group", 1)


def test_fingerprint_survives_re_rendering() -> None:
    cq = "hi &amp; bye [CQ:face,id=14][CQ:at,qq=7] [CQ:image,file=abc.jpg,url=https://a/b?x=1&amp;y=2]"
    array = [
        {"type": "text", "data": {"text": "hi & bye "}},
        {"type": "face", "data": {"id": 14}},
        {"type": "at", "data": {"qq": "7", "name": "Alice"}},
        {"type": "image",
         "data": {"file": "ABCDEF.image", "url": "https://multimedia.nt.qq.com/x", "summary": "[图片]"}},
    ]
    assert fingerprint(cq) == fingerprint(array)
    assert fingerprint("  a\nb  ") == fingerprint("ab")


def test_fingerprint_tells_messages_apart() -> None:
    assert fingerprint("hello") != fingerprint("hullo")
    assert fingerprint("[CQ:face,id=1]") != fingerprint("[CQ:face,id=2]")
    assert fingerprint("[CQ:at,qq=1] x") != fingerprint("[CQ:at,qq=2] x")
    assert fingerprint("x [CQ:image,file=a]") != fingerprint("x")


def test_fingerprint_respects_auto_escape_and_never_raises() -> None:
    literal = "[CQ:face,id=1]"
    assert fingerprint(literal, auto_escape=True) == fingerprint([{"type": "text", "data": {"text": literal}}])
    assert fingerprint(literal, auto_escape=True) != fingerprint(literal)
    assert fingerprint(12345) == fingerprint(None)  # junk in: a stable digest, no exception
    assert send_fingerprint("send_group_forward_msg", {"messages": []}) == fingerprint("[CQ:forward,id=xyz]")


# -- the ledger ---------------------------------------------------------------------


def _sent_event(mid: int, text: str, group: int = 1) -> dict:
    return {"post_type": "message_sent", "message_type": "group", "group_id": group,
            "user_id": 9, "message_id": mid, "message": text}


def test_ledger_matches_own_messages_once() -> None:
    clock = Clock()
    ledger = Ledger(clock, facts=FACTS)
    fp = fingerprint("hi")
    clock.now = 101.0
    assert ledger.observe(_sent_event(5, "hi"), self_id=9)
    assert ledger.reports_seen
    assert ledger.take(("group", 2), fp, 100.0) is None  # other chat
    assert ledger.take(("group", 1), fp, 101.5) is None  # arrived before the send started
    seen = ledger.take(("group", 1), fp, 100.0)
    assert seen is not None and seen.message_id == 5
    assert ledger.take(("group", 1), fp, 100.0) is None  # claimed: never confirms two sends


def test_ledger_skips_ids_claimed_by_answered_sends() -> None:
    ledger = Ledger(Clock(), facts=FACTS)
    assert ledger.claim(5)
    ledger.observe(_sent_event(5, "hi"), self_id=9)
    assert ledger.take(("group", 1), fingerprint("hi"), 0.0) is None
    assert not ledger.claim(5)


def test_ledger_does_not_guess_while_an_identical_send_awaits_its_answer() -> None:
    from qqreliable.reliability.verify import _Content

    ledger = Ledger(Clock(), facts=FACTS)
    target, fp = ("group", 1), fingerprint("hi")
    ledger.observe(_sent_event(5, "hi"), self_id=9)
    other = _Content(FACTS, "send_group_msg", {"group_id": 1, "message": "something else"})
    same = _Content(FACTS, "send_group_msg", {"group_id": 1, "message": "hi"})
    ledger.begin(target, other)
    assert not ledger.contested(target, fp)  # a different message in flight is no rival
    ledger.begin(target, same)
    assert ledger.contested(target, fp) and ledger.take(target, fp, 0.0) is None
    ledger.end(target, same)
    ledger.end(target, other)
    assert ledger.take(target, fp, 0.0) is not None


def test_ledger_reads_lagrange_self_messages_and_ignores_others() -> None:
    ledger = Ledger(Clock(), facts=FACTS)
    lgr = {"post_type": "message", "message_type": "private", "user_id": 9, "target_id": 4,
           "message_id": 1, "message": "x"}
    assert ledger.observe(lgr, self_id=9)
    assert ledger.take(("private", 4), fingerprint("x"), 0.0) is not None
    other = dict(lgr, user_id=8)
    assert not ledger.observe(other, self_id=9)
    assert not ledger.observe({"post_type": "notice"}, self_id=9)
    assert not ledger.observe({"post_type": "message_sent", "message_type": "group"}, self_id=9)


def test_ledger_wait_wakes_on_event_and_close() -> None:
    ledger = Ledger(facts=FACTS)
    woke = threading.Event()

    def waiter() -> None:
        ledger.wait(10)
        woke.set()

    t = threading.Thread(target=waiter, name="qqreliable:test-ledger")
    t.start()
    ledger.close()
    assert woke.wait(2)
    t.join(2)


def test_ledger_remembers_the_newest_claims_per_account() -> None:
    from qqreliable.reliability.verify import _CLAIMED_MAX, _CLAIMS_FORGOTTEN

    ledger = Ledger(Clock(), facts=FACTS)
    assert ledger.claim(0, 111) and ledger.claim(0, 222)  # ids are per account
    assert not ledger.claim(0, 111) and not ledger.claim(0, None)
    for mid in range(1, _CLAIMED_MAX + _CLAIMS_FORGOTTEN + 1):
        assert ledger.claim(mid, 111)
    assert not ledger.claimed(0, 111) and not ledger.claimed(0, 222)  # the oldest forgotten
    assert not ledger.claimed(1, 111)
    newest = range(_CLAIMS_FORGOTTEN + 1, _CLAIMED_MAX + _CLAIMS_FORGOTTEN + 1)  # the last _CLAIMED_MAX
    assert all(ledger.claimed(mid, 111) for mid in newest)
    assert ledger.claimed(newest[0]) and not ledger.claimed(newest[0], 222)
    assert _CLAIMED_MAX <= len(ledger._claimed) <= _CLAIMED_MAX + _CLAIMS_FORGOTTEN


def test_ledger_claims_the_ids_answered_to_sends_per_account() -> None:
    from qqreliable.reliability.verify import _CLAIMED_MAX, _Content

    ledger = Ledger(Clock(), facts=FACTS)
    target, fp = ("group", 1), fingerprint("hi")
    send = _Content(FACTS, "send_group_msg", {"group_id": 1, "message": "hi"}, 111)
    ledger.begin(target, send)
    ledger.observe(_sent_event(5, "hi"), self_id=111)  # its own message, reported before the answer
    ledger.end(target, send, 5)
    assert ledger.claimed(5, 111) and ledger.claimed(5, None) and not ledger.claimed(5, 222)
    assert ledger.take(target, fp, 0.0, 111) is None  # another send never takes it for its own
    assert not ledger.claim(5, 111) and ledger.claim(5, 222)  # ids are per account
    for mid in range(6, 6 + _CLAIMED_MAX):  # the newest _CLAIMED_MAX answered ids stay
        again = _Content(FACTS, "send_group_msg", {"group_id": 1, "message": "x"}, 111)
        ledger.begin(target, again)
        ledger.end(target, again, mid)
    assert not ledger.claimed(5, 111) and ledger.claimed(6, 111) and ledger.claimed(5 + _CLAIMED_MAX, 111)
    assert not ledger._unanswered  # every send left


def _counting(ledger: Ledger) -> List[Any]:
    """Count the ledger's calls of the protocol's own_message."""
    calls: List[Any] = []
    own = ledger._own
    assert own is not None

    def counted(event: Any, account: Any) -> Any:
        calls.append(event)
        return own(event, account)

    ledger._own = counted
    return calls


def _going(ledger: Ledger, started: float = 0.0, target: Any = ("group", 1)) -> Any:
    """A send in flight on ``ledger`` (own messages are kept only while one is going)."""
    from qqreliable.reliability.verify import _Content

    send = _Content(FACTS, "send_group_msg", {"group_id": target[1], "message": "in flight"}, 9, started)
    ledger.begin(target, send)
    return send


def test_ledger_keeps_events_unread_until_a_verification_looks() -> None:
    clock = Clock()
    ledger = Ledger(clock, facts=FACTS)
    calls = _counting(ledger)
    _going(ledger, clock.now)
    events = [dict(_sent_event(mid, "hi" if mid == 3 else "other"), self_id=9) for mid in (1, 2, 3)]
    for event in events:
        clock.now += 1
        ledger.saw(event, 9)
    assert calls == [events[0]]  # read once: the first own message of account 9
    assert ledger.reports(9) and ledger.reports_seen and not ledger.reports(8)
    seen = ledger.take(("group", 1), fingerprint("hi"), 100.0)
    assert seen is not None and seen.message_id == 3 and seen.arrived == 103.0
    assert len(calls) == 4  # every kept event read once, when the verification looked
    assert ledger.take(("group", 1), fingerprint("hi"), 100.0) is None  # claimed
    assert ledger.take(("group", 1), fingerprint("other"), 102.5) is None  # arrived too early
    assert len(calls) == 4


def test_ledger_an_unreadable_own_event_proves_no_reports() -> None:
    ledger = Ledger(Clock(), facts=FACTS)
    ledger.saw({"post_type": "message_sent", "message_type": "group", "self_id": 9}, 9)  # no group_id
    assert not ledger.reports(9) and not ledger.reports_seen
    assert ledger.take(("group", 1), fingerprint("hi"), 0.0) is None


def test_ledger_lets_go_of_unread_events_no_send_can_match() -> None:
    from qqreliable.reliability.verify import _RAW_TRIM, _Content

    clock = Clock()
    ledger = Ledger(clock, facts=FACTS)
    target = ("group", 1)

    def feed(count: int, text: str) -> None:
        for _ in range(count):
            clock.now += 0.001
            ledger.saw(dict(_sent_event(int(clock.now * 1000), text), self_id=9), 9)

    feed(_RAW_TRIM + 1, "before")  # no send going: none can match, none kept
    assert not ledger._raw
    send = _Content(FACTS, "send_group_msg", {"group_id": 1, "message": "hi"}, 9, clock.now)
    ledger.begin(target, send)
    feed(1, "hi")
    feed(_RAW_TRIM * 2, "chatter")  # the send is in flight: what came after it started stays
    ledger.end(target, send)  # no id: it may be verified next, so it counts as still going
    feed(_RAW_TRIM * 2, "chatter")
    assert ledger.take(target, fingerprint("hi"), send.started) is not None
    feed(_RAW_TRIM + 1, "after")
    assert len(ledger._raw) > _RAW_TRIM  # kept: the send has not ended
    ledger.done(send)
    assert not ledger._raw  # nothing going: let go
    feed(3, "after")
    assert not ledger._raw
    first = _going(ledger, clock.now)
    feed(_RAW_TRIM // 2, "during")
    second = _going(ledger, clock.now)
    feed(_RAW_TRIM, "during")
    ledger.end(target, first, 12345)  # answered with its id: over at once
    assert not ledger._verifying
    feed(_RAW_TRIM + 1, "after")  # a look: what came before the second send started goes
    assert len(ledger._raw) > _RAW_TRIM
    assert all(arrived >= second.started for _, _, arrived in ledger._raw)
    ledger.end(target, second, 12346)
    assert not ledger._raw


def test_ledger_lets_go_of_leftovers_at_the_first_event_with_no_send_going() -> None:
    # Events appended just after the last send going let go of what was kept (a second
    # reader's) stay until an event finds no send going: then all go, none is kept.
    from qqreliable.reliability.verify import _Content

    clock = Clock()
    ledger = Ledger(clock, facts=FACTS)
    send = _Content(FACTS, "send_group_msg", {"group_id": 1, "message": "x"}, 9, clock.now)
    ledger.begin(("group", 1), send)
    for mid in range(3):
        clock.now += 0.001
        ledger.saw(_sent_event(mid, "x"), 9)
    del ledger._unanswered[send]  # ended without the end() that lets go (a racing reader)
    assert len(ledger._raw) == 3
    clock.now += 0.001
    ledger.saw(_sent_event(99, "y"), 9)
    assert not ledger._raw
    assert ledger.take(("group", 1), fingerprint("y"), 0.0) is None


def test_ledger_trims_what_no_send_going_can_match_in_order() -> None:
    from qqreliable.reliability.verify import _RAW_TRIM, _Content

    clock = Clock()
    ledger = Ledger(clock, facts=FACTS)
    first = _Content(FACTS, "send_group_msg", {"group_id": 1, "message": "a"}, 9, clock.now)
    ledger.begin(("group", 1), first)
    for mid in range(_RAW_TRIM - 5):
        clock.now += 0.001
        ledger.saw(_sent_event(mid, "a"), 9)
    clock.now += 0.001
    second = _Content(FACTS, "send_group_msg", {"group_id": 1, "message": "b"}, 9, clock.now)
    ledger.begin(("group", 1), second)
    ledger.end(("group", 1), first, 12345)
    for mid in range(1000, 1010):  # the trim runs when the count passes _RAW_TRIM
        clock.now += 0.001
        ledger.saw(_sent_event(mid, "b"), 9)
    assert [event["message_id"] for event, _, _ in ledger._raw] == list(range(1000, 1010))
    ledger.end(("group", 1), second)  # no id: verified next
    seen = ledger.take(("group", 1), fingerprint("b"), second.started, 9)
    assert seen is not None and seen.message_id == 1009


def test_ledger_keeps_at_most_raw_max_unread_events() -> None:
    from qqreliable.reliability.verify import _RAW_MAX, _RAW_TRIM, _Content

    clock = Clock()
    ledger = Ledger(clock, facts=FACTS)
    ledger.begin(("group", 1), _Content(FACTS, "send_group_msg", {"group_id": 1, "message": "x"}, 9, 0.0))
    for mid in range(_RAW_MAX + 2 * _RAW_TRIM):
        clock.now += 0.001
        ledger.saw(_sent_event(mid, "x"), 9)
    assert _RAW_MAX <= len(ledger._raw) <= _RAW_MAX + _RAW_TRIM


def test_ledger_wait_wakes_on_an_unread_event() -> None:
    ledger = Ledger(facts=FACTS)
    woke = threading.Event()

    def waiter() -> None:
        ledger.wait(30)
        woke.set()

    _going(ledger)
    t = threading.Thread(target=waiter, name="qqreliable:test-ledger")
    t.start()
    try:
        eventually(lambda: ledger._waiting == 1, what="the verifier waiting")
        ledger.saw(_sent_event(1, "hi"), 9)
        assert woke.wait(5)
    finally:
        ledger.close()
        t.join(5)
    ledger.closed = False
    ledger.saw(_sent_event(2, "hi"), 9)
    started = time.monotonic()
    ledger.wait(30)  # an event kept and not yet read: no sleep at all
    assert time.monotonic() - started < 5


# -- token buckets and circuits ------------------------------------------------------------


def test_token_bucket() -> None:
    bucket = TokenBucket(rate=2.0, burst=2, now=0.0)
    assert bucket.wait_for(0.0) == 0
    bucket.take(0.0)
    bucket.take(0.0)
    assert bucket.wait_for(0.0) == pytest.approx(0.5)
    bucket.take(0.0)  # a reservation: the next one waits longer
    assert bucket.wait_for(0.0) == pytest.approx(1.0)
    assert bucket.wait_for(1.0) == 0  # refilled
    bucket.give_back(1.0)
    assert bucket.level <= bucket.burst
    assert TokenBucket(1.0, 3, 0.0).full(100.0)


def test_circuits_open_halfopen_close() -> None:
    circuits = Circuits(threshold=2, cooldown=10, max_cooldown=25)
    t = ("group", 1)
    assert circuits.admit(t, 0) is None
    assert circuits.undelivered(t, 0, "1200") is None
    assert circuits.undelivered(t, 1, "1200") == 10
    wait, reason = circuits.admit(t, 5)  # type: ignore[misc]
    assert wait == pytest.approx(6) and "1200" in reason
    assert circuits.admit(("group", 2), 5) is None  # other targets unaffected
    assert circuits.admit(t, 11) is None  # half-open: one probe
    assert circuits.admit(t, 11) is not None  # ... and only one
    assert circuits.undelivered(t, 12, "1200") == 20  # probe failed: doubled
    assert circuits.tripped(t, 40, "风控") == 25  # capped
    assert circuits.admit(t, 66) is None
    circuits.succeeded(t)
    assert not circuits.is_open(t) and circuits.admit(t, 66) is None


def test_circuit_probe_released_without_verdict() -> None:
    circuits = Circuits(threshold=1, cooldown=1, max_cooldown=1)
    t = ("private", 1)
    circuits.tripped(t, 0, "x")
    assert circuits.admit(t, 2) is None
    circuits.released(t)
    assert circuits.admit(t, 2) is None


def test_pacer_waits_and_refuses() -> None:
    clock = Clock()
    stop = threading.Event()
    pacer = Pacer(Pacing(target_rate=1, target_burst=1, global_rate=100, global_burst=100, max_wait=0.5),
                  stop, clock)
    assert pacer.acquire(("group", 1), "send") == 0
    with pytest.raises(RateLimited) as info:
        pacer.acquire(("group", 1), "send")  # needs 1 s > max_wait
    assert info.value.target == "group:1" and info.value.retry_after == pytest.approx(1.0)
    assert pacer.acquire(("group", 2), "send") == 0
    stop.set()
    clock.now += 0.7  # 0.3 s left to wait: interrupted by the stop Event at once
    with pytest.raises(BotStopped):
        pacer.acquire(("group", 1), "send")


def test_pacer_circuit_refusal_is_rate_limited() -> None:
    pacer = Pacer(Pacing(), threading.Event(), Clock())
    pacer.risk_control(("group", 1), "账号可能被风控")
    with pytest.raises(RateLimited) as info:
        pacer.admit(("group", 1), "send_group_msg")
    assert "风控" in str(info.value) and info.value.retry_after == pytest.approx(300)
    pacer.admit(("group", 2), "send_group_msg")


def test_media_slot_limits_and_is_interrupted() -> None:
    stop = threading.Event()
    pacer = Pacer(Pacing(media_concurrency=1), stop)
    entered = threading.Event()
    errors: List[BaseException] = []
    with pacer.media_slot(True, "send"):
        with pacer.media_slot(False, "send"):  # small: not limited
            pass

        def second() -> None:
            try:
                entered.set()
                with pacer.media_slot(True, "send"):
                    pass
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

        t = threading.Thread(target=second, name="qqreliable:test-media")
        t.start()
        assert entered.wait(2)
        stop.set()
        pacer.interrupt()
        t.join(2)
    assert not t.is_alive() and len(errors) == 1 and isinstance(errors[0], BotStopped)


# -- account state -----------------------------------------------------------------------


def test_account_state_transitions() -> None:
    clock = Clock()
    account = AccountState(probe_interval=30, clock=clock, signal=account_signal)
    account.check("send")
    account.observe({"post_type": "meta_event", "meta_event_type": "heartbeat", "status": {"online": True}})
    assert account.online
    account.observe({"post_type": "notice", "notice_type": "bot_offline", "message": "kicked"})
    assert not account.online and account.reason == "kicked"
    with pytest.raises(AccountOffline):
        account.check("send")
    # NapCat keeps saying online: true after a kick: that does not bring it back
    account.observe({"post_type": "meta_event", "meta_event_type": "heartbeat", "status": {"online": True}})
    assert not account.online
    clock.now += 31
    account.check("send")  # one probe let through
    with pytest.raises(AccountOffline):
        account.check("send")
    account.observe({"post_type": "notice", "notice_type": "bot_online"})
    assert account.online


def test_account_state_from_heartbeat_status() -> None:
    account = AccountState(signal=account_signal)
    account.observe({"post_type": "meta_event", "meta_event_type": "heartbeat", "status": {"online": False}})
    assert not account.online
    account.observe({"post_type": "meta_event", "meta_event_type": "heartbeat", "status": {"online": True}})
    assert account.online
    account.observe({"post_type": "meta_event", "meta_event_type": "heartbeat", "status": "junk"})
    assert account.online


# -- policies ---------------------------------------------------------------------------


def test_policies_are_frozen_and_validated() -> None:
    policy = SendPolicy()
    with pytest.raises(FrozenInstanceError):
        policy.max_attempts = 5  # type: ignore[misc]
    for bad in (dict(max_attempts=0), dict(poll_interval=0), dict(on_undecidable="resend"),
                dict(settle_window=-1), dict(upload_rate=0)):
        with pytest.raises(ValueError):
            SendPolicy(**bad)  # type: ignore[arg-type]
    for bad_pacing in (dict(target_rate=0), dict(global_burst=0), dict(media_concurrency=0),
                       dict(circuit_cooldown=10, circuit_max_cooldown=5)):
        with pytest.raises(ValueError):
            Pacing(**bad_pacing)  # type: ignore[arg-type]


def test_window_and_allowance_grow_with_the_payload() -> None:
    policy = SendPolicy(settle_window=30, media_settle_window=60, upload_rate=256 * 1024, url_media_allowance=10)
    assert policy.window(False) == 30
    assert policy.window(True) == 60
    # NapCat/LLOneBot: 10 s + size / 256 KB/s
    assert policy.allowance(1024 * 1024) == pytest.approx(4.0)
    assert policy.window(True, 512 * 1024, 1) == pytest.approx(60 + 2 + 10)


def test_default_pacing_matches_the_documented_limits() -> None:
    pacing = Pacing()
    assert pacing.target_rate <= 1.0 and pacing.global_rate * 60 <= 20
    unlimited = Pacing.unlimited()
    assert unlimited.media_concurrency is None and unlimited.circuit_threshold == pacing.circuit_threshold


def test_outcome_values_are_strings(**_: Any) -> None:
    assert {Outcome.DELIVERED, Outcome.NOT_SENT, Outcome.UNKNOWN} == {"delivered", "not_sent", "unknown"}


def test_pacer_logs_the_first_wait_per_target_at_info(caplog: pytest.LogCaptureFixture) -> None:
    # issue 11, item 8: a paced send is no longer silent at INFO; once per chat, not per send.
    pacing = Pacing(target_rate=1000, target_burst=1, global_rate=1e6, global_burst=1000)
    pacer = Pacer(pacing, threading.Event(), Clock())
    with caplog.at_level("DEBUG", logger="qqreliable.reliability.ratelimit"):
        for _ in range(3):
            pacer.acquire(("group", 1), "send_group_msg")
        for _ in range(2):
            pacer.acquire(("private", 2), "send_private_msg")
    info = [r.getMessage() for r in caplog.records if r.levelname == "INFO"]
    assert len(info) == 2, info
    assert info[0].startswith("send_group_msg to group:1 paced: waiting ")
    assert "1000/s per chat, burst 1" in info[0] and "pacing=None" in info[0]
    assert info[1].startswith("send_private_msg to private:2 paced")
    assert sum(1 for r in caplog.records if r.levelname == "DEBUG" and "paced for" in r.getMessage()) == 1


def _pipeline(call: Any) -> Any:
    from qqreliable.reliability.verify import SendPipeline
    from qqreliable.stats import CallStats

    return SendPipeline(
        policy=SendPolicy(settle_window=0.05, poll_interval=0.01), pacing=None, call=call, facts=OneBotSends(),
        self_id=lambda: 9, events_live=None, stopping=threading.Event(), stats=CallStats(),
    )


def test_pipeline_fast_path_counts_and_claims_what_it_is_answered() -> None:
    answers = iter([{"message_id": 7}, {"message_id": 8}, {"message_id": "9"}, {"message_id": 10}])
    pipeline = _pipeline(lambda action, params, timeout: next(answers))
    params = {"group_id": 1, "message": "hi"}
    # The account's first send (no answered ids yet), two on the fast path, one answered with a
    # string id (read by OneBotSends.answered_id): all delivered as answered, all claimed.
    ids = [pipeline.send("send_group_msg", dict(params), 1.0).message_id for _ in range(4)]
    assert ids == [7, 8, 9, 10]
    assert all(pipeline.ledger.claimed(mid, 9) for mid in ids)
    assert not pipeline.ledger._unanswered and not pipeline.ledger._verifying
    stats = pipeline._stats.snapshot()["send_group_msg"]
    assert (stats["count"], stats["ok"], stats["outcomes"], stats["success_rate"]) == (4, 4, {"delivered": 4}, 1.0)
    assert stats["latency_p50"] is not None


@pytest.mark.parametrize("raised", [RuntimeError("a bug in the transport"), KeyboardInterrupt()])
def test_pipeline_fast_path_ends_a_send_whose_call_raised_anything(raised: BaseException) -> None:
    calls: List[int] = []

    def call(action: str, params: Any, timeout: float) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise raised
        return {"message_id": len(calls)}

    pipeline = _pipeline(call)
    pipeline.send("send_group_msg", {"group_id": 1, "message": "a"}, 1.0)
    with pytest.raises(type(raised)):
        pipeline.send("send_group_msg", {"group_id": 1, "message": "b"}, 1.0)
    # Nothing left going: the ledger keeps nothing for it, and a later send is not contested.
    assert not pipeline.ledger._unanswered and not pipeline.ledger._verifying
    assert pipeline.send("send_group_msg", {"group_id": 1, "message": "b"}, 1.0).message_id == 3
