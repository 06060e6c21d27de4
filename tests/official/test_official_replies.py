"""ReplyLedger: msg_seq per message, the passive window and the 5-reply budget."""

from __future__ import annotations

import pytest

from qqreliable.official.codes import ReplyBudgetSpent, ReplyWindowClosed
from qqreliable.official.replies import ReplyLedger


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_each_message_gets_its_own_seq_and_the_budget_counts() -> None:
    ledger = ReplyLedger(clock=Clock(), proactive=())
    ledger.received("m1", "group")
    slots = [ledger.plan("group", "m1") for _ in range(5)]
    assert [s.msg_seq for s in slots] == [1, 2, 3, 4, 5]
    assert all(s.passive and s.fields() == {"msg_id": "m1", "msg_seq": s.msg_seq} for s in slots)
    with pytest.raises(ReplyBudgetSpent) as info:
        ledger.plan("group", "m1")
    assert info.value.sent is False


def test_uncounted_chunks_do_not_spend_the_budget() -> None:
    ledger = ReplyLedger(clock=Clock(), proactive=())
    ledger.received("m", "c2c")
    first = ledger.plan("c2c", "m")
    chunks = [ledger.plan("c2c", "m", count=False) for _ in range(20)]
    assert ledger.used("m") == 1
    assert len({first.msg_seq, *(c.msg_seq for c in chunks)}) == 21


@pytest.mark.parametrize("scene, window", [("group", 300), ("c2c", 3600), ("guild", 300), ("direct", 300)])
def test_window_per_scene(scene, window) -> None:
    clock = Clock()
    ledger = ReplyLedger(clock=clock, margin=20, proactive=())
    ledger.received("m", scene)
    clock.now = window - 21
    assert ledger.plan(scene, "m").passive
    clock.now = window - 19
    with pytest.raises(ReplyWindowClosed):
        ledger.plan(scene, "m")


def test_past_the_window_goes_proactive_where_allowed() -> None:
    clock = Clock()
    ledger = ReplyLedger(clock=clock, proactive=("c2c",))
    ledger.received("m", "c2c")
    clock.now = 4000
    slot = ledger.plan("c2c", "m")
    assert not slot.passive and slot.reason == "window" and "msg_id" not in slot.fields()


def test_marked_dead_skips_the_passive_attempt() -> None:
    ledger = ReplyLedger(clock=Clock(), proactive=("group",))
    ledger.received("m", "group")
    ledger.mark("m", "budget")
    slot = ledger.plan("group", "m")
    assert not slot.passive and slot.reason == "budget"


def test_seq_wraps_within_1_65535() -> None:
    ledger = ReplyLedger(clock=Clock())
    ledger.received("m", "c2c")
    for _ in range(65535):
        ledger.plan("c2c", "m", count=False)
    assert ledger.plan("c2c", "m", count=False).msg_seq == 1


def test_event_id_replies() -> None:
    ledger = ReplyLedger(clock=Clock())
    ledger.received("FRIEND_ADD:x", "c2c")
    slot = ledger.plan("c2c", None, event_id="FRIEND_ADD:x")
    assert slot.fields() == {"event_id": "FRIEND_ADD:x", "msg_seq": 1}


def test_old_entries_are_forgotten() -> None:
    clock = Clock()
    ledger = ReplyLedger(clock=clock, size=3)
    for i in range(5):
        ledger.received(f"m{i}", "c2c")
    assert len(ledger) == 3
    clock.now = 10_000
    ledger.received("new", "c2c")
    assert len(ledger) == 1


def test_received_many_is_received_for_each() -> None:
    clock = Clock()
    one, many = ReplyLedger(clock=clock, size=3, margin=0.0), ReplyLedger(clock=clock, size=3, margin=0.0)
    clock.now = 5.0
    notes = [("m0", "c2c"), ("m1", "group"), ("m0", "group"), ("m2", "c2c"), ("m3", "guild")]
    for msg_id, scene in notes:
        one.received(msg_id, scene)
    many.received_many(notes)
    assert len(one) == len(many) == 3  # the oldest forgotten past the size, as one by one
    clock.now = 5.0 + 5 * 60 - 1  # m1 (group, first note of it wins: "group") is 1 s inside its window
    for ledger in (one, many):
        assert ledger.remaining("m1") == pytest.approx(1.0)
        assert ledger.remaining("m0") == 0.0  # forgotten
    clock.now = 10_000
    many.received_many([("new", "c2c")])
    assert len(many) == 1


def test_received_many_refuses_an_unknown_scene_keeping_the_notes_before() -> None:
    ledger = ReplyLedger(clock=Clock())
    with pytest.raises(ValueError, match="unknown scene 'nowhere'"):
        ledger.received_many([("a", "c2c"), ("b", "nowhere"), ("c", "c2c")])
    assert ledger.remaining("a") > 0 and ledger.remaining("c") == 0.0
