"""No event handled twice: the dedupe window, pure and on real sockets."""

from __future__ import annotations

import copy
from typing import Any, Callable, Dict, List

import pytest

from qqreliable import Bot, Event
from qqreliable.onebot.history import event_key
from qqreliable.reliability.dedupe import Deduper
from qqreliable.testing import FakeOneBot

from .helpers import FAST, eventually

pytestmark = pytest.mark.timeout(30)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _msg(mid: int = 1, **extra: Any) -> Dict[str, Any]:
    event = {"self_id": 1, "post_type": "message", "message_type": "group", "group_id": 5, "user_id": 9,
             "message_id": mid, "time": 1}
    event.update(extra)
    return event


def test_message_identity() -> None:
    assert event_key(_msg(1)) == event_key(_msg(1, raw_message="re-rendered", time=2))
    assert event_key(_msg(1)) != event_key(_msg(2))
    assert event_key(_msg(1)) != event_key(_msg(1, group_id=6))  # ids are per chat
    assert event_key(_msg(1)) != event_key(_msg(1, self_id=2))  # and per account
    private = {"self_id": 1, "post_type": "message", "message_type": "private", "user_id": 9, "message_id": 1}
    assert event_key(private) != event_key(_msg(1))


def test_meta_events_are_never_deduplicated() -> None:
    d = Deduper(key=event_key)
    heartbeat = {"self_id": 1, "post_type": "meta_event", "meta_event_type": "heartbeat", "time": 5}
    lifecycle = {"self_id": 1, "post_type": "meta_event", "meta_event_type": "lifecycle", "sub_type": "connect"}
    for _ in range(3):
        assert not d.seen(heartbeat) and not d.seen(lifecycle)
    assert d.duplicates == 0 and len(d) == 0


def test_requests_by_flag_notices_by_content() -> None:
    d = Deduper(key=event_key)
    req = {"self_id": 1, "post_type": "request", "request_type": "friend", "user_id": 2, "flag": "f1", "time": 1}
    assert not d.seen(req)
    assert d.seen(dict(req, time=2))  # the same request re-reported later: same flag
    assert not d.seen(dict(req, flag="f2"))
    poke = {"self_id": 1, "post_type": "notice", "notice_type": "notify", "sub_type": "poke", "user_id": 2,
            "target_id": 1, "time": 7}
    assert not d.seen(poke)
    assert d.seen(copy.deepcopy(poke))
    assert not d.seen(dict(poke, time=8))  # a second poke is a new event
    assert d.duplicates == 2


def test_window_is_bounded_and_expires() -> None:
    clock = Clock()
    d = Deduper(size=3, ttl=10, clock=clock, key=event_key)
    for mid in range(5):
        assert not d.seen(_msg(mid))
    assert len(d) == 3
    assert not d.seen(_msg(0))  # evicted by size: seen as new
    assert d.seen(_msg(4))
    clock.now += 11
    assert not d.knows(_msg(4))
    assert not d.seen(_msg(4))  # expired
    off = Deduper(size=0, key=event_key)
    assert not off.seen(_msg(1)) and not off.seen(_msg(1))
    with pytest.raises(ValueError):
        Deduper(ttl=0)


def test_same_event_twice_on_one_socket(onebot: FakeOneBot, make_bot: Callable[..., Bot]) -> None:
    bot = make_bot(onebot.ws_url, workers=1)  # one worker: handler order = delivery order
    got: List[Event] = []
    bot.on_message()(got.append)
    with bot:
        bot.wait_connected(5)
        event = onebot.emit_group_message(1, 2, "once")
        onebot.push_event(copy.deepcopy(event))  # NapCat reporting the same message again
        onebot.emit_group_message(1, 2, "next")
        eventually(lambda: len(got) == 2, what="two distinct messages")
        assert bot._dispatcher.wait_idle(5)
        assert [e.plain_text for e in got] == ["once", "next"]
        assert bot.stats()["events_duplicate"] == 1


def test_same_event_after_reconnect(onebot: FakeOneBot, make_bot: Callable[..., Bot]) -> None:
    bot = make_bot(onebot.ws_url, workers=1)  # one worker: handler order = delivery order
    got: List[Event] = []
    bot.on_message()(got.append)
    with bot:
        bot.wait_connected(5)
        event = onebot.emit_group_message(1, 2, "once")
        eventually(lambda: len(got) == 1, what="first delivery")
        onebot.drop_connections()
        onebot.wait_for_connections(2)
        eventually(lambda: bot.connected, what="reconnected")
        onebot.push_event(copy.deepcopy(event))  # in flight when the link died: sent again
        onebot.emit_group_message(1, 2, "after")
        eventually(lambda: len(got) == 2, what="the new message")
        assert bot._dispatcher.wait_idle(5)
        assert [e.plain_text for e in got] == ["once", "after"]


def test_same_event_on_two_reverse_connections(onebot: FakeOneBot) -> None:
    """CONN-08: the implementation opens a second socket before closing the first, and the
    event goes out on both: handled once."""
    bot = Bot(listen="ws://127.0.0.1:0/ws", reconnect=FAST, shutdown_grace=2.0, workers=1)
    got: List[Event] = []
    bot.on_message()(got.append)
    with bot:
        a = onebot.connect_reverse(bot.listen_url, role="Event")
        a.wait_connects(1)
        b = onebot.connect_reverse(bot.listen_url, role="Universal")
        b.wait_connects(1)
        event = onebot.emit_private_message(3, "both")  # goes out on both sockets
        eventually(lambda: len(got) == 1, what="delivery")
        onebot.push_event(copy.deepcopy(event))
        onebot.emit_private_message(3, "later")
        eventually(lambda: len(got) == 2, what="the next message")
        assert bot._dispatcher.wait_idle(5)
        assert [e.plain_text for e in got] == ["both", "later"]


def test_same_event_over_websocket_and_webhook(onebot: FakeOneBot) -> None:
    """Both a forward WebSocket and HTTP POST configured: every event arrives twice."""
    bot = Bot(onebot.ws_url, listen="http://127.0.0.1:0/", reconnect=FAST, shutdown_grace=2.0, workers=1)
    got: List[Event] = []
    connects: List[int] = []
    bot.on_message()(got.append)
    bot.on_connect(connects.append)
    with bot:
        bot.wait_connected(5)
        poster = onebot.post_events(bot.listen_url)
        for i in range(5):
            onebot.emit_private_message(3, f"m{i}")
        poster.wait_idle()
        eventually(lambda: bot.stats()["events_duplicate"] == 5, what="the second copies dropped")
        assert bot._dispatcher.wait_idle(5)
        assert [e.plain_text for e in got] == [f"m{i}" for i in range(5)]
        assert connects == [onebot.self_id]  # one account, announced once


def test_a_batch_is_judged_as_one_by_one() -> None:
    """fresh() (the events of one read, one lock) keeps what seen() would keep, in
    order: repeats within the batch and of earlier events dropped and counted, events
    without an identity always kept, the window's size and expiry the same."""
    clock = Clock()
    batch = Deduper(size=4, ttl=10, clock=clock, key=event_key)
    single = Deduper(size=4, ttl=10, clock=clock, key=event_key)
    heartbeat = {"self_id": 1, "post_type": "meta_event", "meta_event_type": "heartbeat"}
    rounds = [
        [_msg(1), _msg(2), _msg(1), heartbeat, _msg(3), heartbeat],
        [_msg(3), _msg(4), _msg(5), _msg(6), _msg(1)],  # 1 was evicted by size: new again
        [],
        [_msg(6), _msg(7)],
    ]
    for events in rounds:
        kept = batch.fresh(events)
        assert kept == [e for e in events if not single.seen(e)]
        assert batch.duplicates == single.duplicates and len(batch) == len(single)
    assert batch.duplicates == 3
    clock.now += 11  # everything expired
    assert batch.fresh([_msg(7), _msg(7)]) == [_msg(7)]
    assert Deduper(size=0, key=event_key).fresh([_msg(1), _msg(1)]) == [_msg(1), _msg(1)]


class _Model:
    """The obvious window: every identity with the time it was recorded, the oldest
    forgotten first, forgotten after ttl."""

    def __init__(self, size: int, ttl: float, clock: Clock) -> None:
        self.size, self.ttl, self.clock = size, ttl, clock
        self.recorded: Dict[int, float] = {}  # id -> recorded at, oldest first

    def seen(self, mid: int) -> bool:
        now = self.clock.now
        for old in [m for m, at in self.recorded.items() if at + self.ttl <= now]:
            del self.recorded[old]
        if mid in self.recorded:
            return True
        self.recorded[mid] = now
        if len(self.recorded) > self.size:
            del self.recorded[next(iter(self.recorded))]
        return False


def test_window_matches_a_plain_model_under_random_use() -> None:
    """seen() and fresh() against _Model over random ids, batch sizes and clock steps:
    the same answers, and the window never outgrows its size."""
    import random

    rng = random.Random(16)
    for size, ttl in ((1, 5.0), (3, 5.0), (8, 2.0), (50, 30.0)):
        clock = Clock()
        d = Deduper(size=size, ttl=ttl, clock=clock, key=event_key)
        model = _Model(size, ttl, clock)
        for _ in range(400):
            clock.now += rng.choice((0.0, 0.0, 0.5, 1.0, 3.0))
            if rng.random() < 0.5:
                mid = rng.randrange(12)
                assert d.seen(_msg(mid)) == model.seen(mid)
            else:
                mids = [rng.randrange(12) for _ in range(rng.randrange(5))]
                kept = d.fresh([_msg(m) for m in mids])
                assert [e["message_id"] for e in kept] == [m for m in mids if not model.seen(m)]
            assert len(d) <= size


def test_message_identity_is_stable_across_versions() -> None:
    """The identities are shared through Redis by processes that may run different
    versions: the usual events' keys stay exactly what they were."""
    group = _msg(77)
    assert event_key(group) == ("1", "message", "group", "5", "77")
    assert event_key(dict(group, message_id="77", group_id="5", self_id="1")) == event_key(group)
    private = {"self_id": 1, "post_type": "message", "message_type": "private", "user_id": 9, "message_id": 3}
    assert event_key(private) == ("1", "message", "private", "9", "3")
    sent = dict(private, post_type="message_sent", target_id=42)
    assert event_key(sent) == ("1", "message_sent", "private", "42", "3")
    sent_group = dict(group, post_type="message_sent")
    assert event_key(sent_group) == ("1", "message_sent", "group", "5", "77")
    no_type = {"self_id": 1, "post_type": "message", "user_id": 9, "message_id": 4}
    assert event_key(no_type) == ("1", "message", "", "9", "4")
    no_account = {"post_type": "message", "message_type": "group", "group_id": 5, "message_id": 4}
    assert event_key(no_account) == ("", "message", "group", "5", "4")
    no_id = {"self_id": 1, "post_type": "message", "message_type": "group", "group_id": 5}
    assert event_key(no_id)[:2] == ("1", "digest")
    assert event_key({"post_type": "meta_event", "meta_event_type": "heartbeat"}) is None
