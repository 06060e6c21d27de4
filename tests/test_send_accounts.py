"""Several accounts on one bot: an account's own message never confirms another
account's send (the send ledger is keyed by account), and ids are claimed per account."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, List

import pytest

from qqreliable import ActionFailed, Bot, SendPolicy
from qqreliable.onebot.sends import OneBotSends, fingerprint
from qqreliable.reliability.verify import Ledger, SendPipeline
from qqreliable.stats import CallStats
from qqreliable.testing import FakeOneBot

from .helpers import eventually

pytestmark = pytest.mark.timeout(30)

FACTS = OneBotSends()


def _sent(self_id: int, mid: int, text: str, group: int = 5) -> Dict[str, Any]:
    return {"post_type": "message_sent", "message_type": "group", "group_id": group, "self_id": self_id,
            "user_id": self_id, "message_id": mid, "message": text, "time": int(time.time())}


# -- the ledger ------------------------------------------------------------------------------


def test_ledger_matches_only_the_sending_account() -> None:
    ledger = Ledger(facts=FACTS)
    target, fp = ("group", 5), fingerprint("same words")
    assert ledger.observe(_sent(111, 7, "same words"), self_id=None)
    assert ledger.take(target, fp, 0.0, 222) is None  # account 111's message: not 222's
    seen = ledger.take(target, fp, 0.0, 111)
    assert seen is not None and seen.message_id == 7 and seen.account == 111


def test_ids_are_claimed_per_account() -> None:
    ledger = Ledger(facts=FACTS)
    assert ledger.claim(7, 111)
    assert not ledger.claim(7, 111)  # the same account's id: owned already
    ledger.observe(_sent(222, 7, "hi"), self_id=None)  # another account's message 7
    assert ledger.take(("group", 5), fingerprint("hi"), 0.0, 222) is not None
    assert ledger.claimed(7, 222) and ledger.claimed(7, None)  # an unknown account matches any


def test_an_identical_send_in_flight_on_another_account_is_no_rival() -> None:
    from qqreliable.reliability.verify import _Content

    ledger = Ledger(facts=FACTS)
    target, fp = ("group", 5), fingerprint("hi")
    ledger.observe(_sent(222, 8, "hi"), self_id=None)
    other_account = _Content(FACTS, "send_group_msg", {"group_id": 5, "message": "hi"}, 111)
    ledger.begin(target, other_account)
    assert not ledger.contested(target, fp, 222)
    assert ledger.contested(target, fp, 111) and ledger.contested(target, fp, None)
    assert ledger.take(target, fp, 0.0, 222) is not None
    ledger.end(target, other_account)


# -- the pipeline ------------------------------------------------------------------------------


def test_pipeline_does_not_take_another_accounts_message_as_delivery() -> None:
    """Account 222's send times out undelivered while account 111's identical message is
    reported: 222's send is verified absent and sent again, not "confirmed" by 111's."""
    calls: List[Dict[str, Any]] = []
    pipeline: List[SendPipeline] = []

    def call(action: str, params: Dict[str, Any], timeout: float) -> Any:
        calls.append(params)
        if len(calls) == 1:
            pipeline[0].observe(_sent(111, 900, "same words"))  # the other account's copy
            raise ActionFailed(action, 1200, "Timeout: NTEvent serviceAndMethod:...", category="ambiguous")
        return {"message_id": 1001}

    def read(action: str, params: Dict[str, Any], timeout: float) -> Any:
        assert action in ("get_group_msg_history", "get_login_info"), action
        return {"messages": []} if action == "get_group_msg_history" else {"user_id": 222}

    pipeline.append(
        SendPipeline(
            policy=SendPolicy(settle_window=0.2, poll_interval=0.05),
            pacing=None,
            call=call,
            facts=OneBotSends(read=read),
            self_id=lambda: 222,
            events_live=lambda: True,
            stopping=threading.Event(),
            stats=CallStats(),
        )
    )
    receipt = pipeline[0].send("send_group_msg", {"group_id": 5, "message": "same words"}, 5.0)
    assert receipt.message_id == 1001 and receipt.attempts == 2 and not receipt.verified
    assert len(calls) == 2 and pipeline[0].counters["verified_absent"] == 1
    assert pipeline[0].counters["verified_by_event"] == 0


# -- end to end: two accounts on reverse WebSocket ----------------------------------------------


def test_two_reverse_accounts_sending_the_same_text_to_one_group(
    onebot_factory: Callable[..., FakeOneBot], make_bot: Callable[..., Bot]
) -> None:
    a = onebot_factory(self_id=111, report_self_messages=True)
    b = onebot_factory(self_id=222, report_self_messages=True)
    bot = make_bot(
        listen="ws://127.0.0.1:0/onebot/v11/ws",
        send_policy=SendPolicy(settle_window=1.0, poll_interval=0.05, clock_skew=5),
    )
    with bot:
        a.connect_reverse(bot.listen_url).wait_connects(1)
        b.connect_reverse(bot.listen_url).wait_connects(1)
        eventually(lambda: sorted(bot.self_ids) == [111, 222], what="both accounts")
        b.script("send_group_msg", ["fail"])  # not delivered, answered 1200
        result: List[Any] = []
        sender = threading.Thread(
            target=lambda: result.append(bot.send_group_msg(5, "same words", self_id=222)),
            name="qqreliable:test-sender",
        )
        sender.start()
        b.wait_for_call("send_group_msg")
        # Account 111 says the same in the same group (another client of it) while
        # 222's send is being verified.
        a.push_event(_sent(111, 4242, "same words"))
        sender.join(15)
        assert not sender.is_alive() and len(result) == 1
        receipt = result[0]
        assert [m["raw_message"] for m in b.sent_messages] == ["same words"]  # 222's message landed
        assert receipt.attempts == 2 and receipt.message_id != 4242
        assert a.sent_messages == []


def test_another_accounts_reports_say_nothing_about_this_account() -> None:
    """Account 111's server reports its own messages; 222's does not, and 222 has no
    history. 222's ambiguous send is undecidable (not "absent, send again", which
    would duplicate it if it landed)."""
    from qqreliable import SendUnconfirmed

    calls: List[Dict[str, Any]] = []
    pipeline: List[SendPipeline] = []

    def call(action: str, params: Dict[str, Any], timeout: float) -> Any:
        calls.append(params)
        raise ActionFailed(action, 1200, "Timeout: NTEvent serviceAndMethod:...", category="ambiguous")

    def read(action: str, params: Dict[str, Any], timeout: float) -> Any:
        raise ActionFailed(action, 1404, "unsupported action", category="unsupported")

    pipeline.append(
        SendPipeline(
            policy=SendPolicy(settle_window=0.2, poll_interval=0.05),
            pacing=None,
            call=call,
            facts=OneBotSends(read=read),
            self_id=lambda: 222,
            events_live=lambda: True,
            stopping=threading.Event(),
            stats=CallStats(),
        )
    )
    pipeline[0].observe(_sent(111, 900, "something account 111 said earlier"))
    with pytest.raises(SendUnconfirmed):
        pipeline[0].send("send_group_msg", {"group_id": 5, "message": "ambiguous"}, 5.0)
    assert len(calls) == 1  # never sent again
    assert pipeline[0].ledger.reports(111) and not pipeline[0].ledger.reports(222)


def test_history_support_is_probed_per_account() -> None:
    """Account 111's server has no history action, 222's has: 111's refusal must not
    stop 222's sends from being verified by history."""
    from qqreliable import SendUnconfirmed

    current = [111]
    landed: List[Dict[str, Any]] = []

    def call(action: str, params: Dict[str, Any], timeout: float) -> Any:
        landed.append({"user_id": current[0], "message_id": 77 + current[0], "message": params["message"],
                       "time": int(time.time())})
        raise ActionFailed(action, 1200, "Timeout: NTEvent serviceAndMethod:...", category="ambiguous")

    def read(action: str, params: Dict[str, Any], timeout: float) -> Any:
        if current[0] == 111:
            raise ActionFailed(action, 1404, "unsupported action", category="unsupported")
        return {"messages": [m for m in landed if m["user_id"] == current[0]]}

    pipeline = SendPipeline(
        policy=SendPolicy(settle_window=0.2, poll_interval=0.05),
        pacing=None,
        call=call,
        facts=OneBotSends(read=read),
        self_id=lambda: current[0],
        events_live=None,  # no event stream: history is the only evidence
        stopping=threading.Event(),
        stats=CallStats(),
    )
    with pytest.raises(SendUnconfirmed, match="not supported"):
        pipeline.send("send_group_msg", {"group_id": 5, "message": "from 111"}, 5.0)
    current[0] = 222
    receipt = pipeline.send("send_group_msg", {"group_id": 5, "message": "from 222"}, 5.0)
    assert receipt.verified and receipt.message_id == 77 + 222 and receipt.attempts == 1
    assert pipeline.counters["verified_by_history"] == 1


class _NoLookups(OneBotSends):
    """A protocol with no way to look a delivery up, whose server drops a repeat of a
    delivered request (as the official API with the same msg_id + msg_seq)."""

    def __init__(self) -> None:
        super().__init__(read=None)
        from qqreliable.reliability.interfaces import DeliveryLookup

        self.lookup = DeliveryLookup()

    def judge(self, action: str, error: Any, attempt: int) -> Any:
        from qqreliable.outcome import Outcome
        from qqreliable.reliability.interfaces import Judgement

        if attempt > 1 and getattr(error, "retcode", None) == 40054005:
            return Judgement(Outcome.DELIVERED)  # the first attempt landed
        return super().judge(action, error, attempt)

    def resend_safe(self, action: str, params: Any) -> bool:
        return "msg_seq" in params


def test_a_protocol_without_lookups_resends_only_what_the_server_deduplicates() -> None:
    calls: List[Dict[str, Any]] = []

    def call(action: str, params: Dict[str, Any], timeout: float) -> Any:
        calls.append(params)
        if len(calls) == 1:
            raise ActionFailed(action, 500, "server error", category="ambiguous")  # landed, answer lost
        raise ActionFailed(action, 40054005, "消息被去重，请检查请求msgseq", category="bad_request")

    pipeline = SendPipeline(
        policy=SendPolicy(settle_window=30, poll_interval=0.05),  # nothing to wait for: no waiting
        pacing=None,
        call=call,
        facts=_NoLookups(),
        self_id=lambda: 1,
        events_live=lambda: True,
        stopping=threading.Event(),
        stats=CallStats(),
    )
    started = time.monotonic()
    receipt = pipeline.send("send_group_msg", {"group_id": 5, "message": "x", "msg_seq": 2}, 5.0)
    assert receipt.attempts == 2 and not receipt.verified and time.monotonic() - started < 5
    assert pipeline.counters["resent"] == 1
    calls.clear()
    from qqreliable import SendUnconfirmed

    with pytest.raises(SendUnconfirmed):  # no msg_seq: a repeat could duplicate
        pipeline.send("send_group_msg", {"group_id": 5, "message": "y"}, 5.0)
    assert len(calls) == 1


# -- several processes on one store ---------------------------------------------------------


def test_an_answered_id_is_claimed_in_the_shared_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a shared store, a send answered with its id claims that id in the store (not
    only in its own ledger), so another process's ambiguous send of the same text can
    never take the message as its own."""
    from qqreliable.reliability import verify
    from qqreliable.reliability.store import MemoryStore

    store = MemoryStore()
    pipelines: Dict[str, SendPipeline] = {}
    for process in ("process-a", "process-b"):
        pipelines[process] = SendPipeline(
            policy=SendPolicy(), pacing=None, call=lambda action, params, timeout: {"message_id": 77},
            facts=OneBotSends(read=lambda *a: {}), self_id=lambda: 222, events_live=lambda: True,
            stopping=threading.Event(), stats=CallStats(),
        )
        monkeypatch.setattr(verify, "process_owner", lambda process=process: process)
        pipelines[process].share(store)
    receipt = pipelines["process-a"].send("send_group_msg", {"group_id": 5, "message": "same words"}, 5.0)
    assert receipt.message_id == 77
    assert not pipelines["process-b"].ledger.claim(77, 222)  # process a owns it
    assert pipelines["process-a"].ledger.claimed(77, 222)
