"""No message lost: messages missed during an outage are recovered from history, once, in order."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any, Callable, Dict, List, Optional

import pytest

from qqreliable import Bot, Event
from qqreliable.onebot.history import OneBotHistory
from qqreliable.reliability.gapfill import ChatTracker, GapFiller
from qqreliable.testing import FakeOneBot

from .helpers import FAST, eventually

pytestmark = pytest.mark.timeout(40)


class _Stream:
    """Emits numbered group messages every ``period`` seconds on a thread until stopped."""

    def __init__(self, onebot: FakeOneBot, period: float = 0.02, group_id: int = 1) -> None:
        self.onebot = onebot
        self.period = period
        self.group_id = group_id
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-stream")

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.sent += 1
            self.onebot.emit_group_message(self.group_id, 2, str(self.sent))

    def start(self) -> "_Stream":
        self._thread.start()
        return self

    def wait_sent(self, n: int) -> None:
        eventually(lambda: self.sent >= n, what=f"{n} messages emitted")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def _collect(bot: Bot) -> List[Event]:
    got: List[Event] = []
    lock = threading.Lock()

    @bot.on_message("group")
    def record(event: Event) -> None:
        with lock:
            got.append(event)

    return got


@pytest.mark.slow
def test_numbered_stream_with_a_3s_outage_each_number_exactly_once(
    onebot: FakeOneBot, make_bot: Callable[..., Bot]
) -> None:
    bot = make_bot(onebot.ws_url, recover_page=40, workers=1)  # handler order = delivery order
    got = _collect(bot)
    with bot:
        bot.wait_connected(5)
        stream = _Stream(onebot).start()
        try:
            stream.wait_sent(30)
            eventually(lambda: len(got) >= 25, what="live messages before the outage")
            onebot.down()
            before_outage = stream.sent
            threading.Event().wait(3.0)  # the outage itself (the scenario, not a synchronisation)
            onebot.up()
            during = stream.sent - before_outage
            stream.wait_sent(stream.sent + 30)
        finally:
            stream.stop()
        total = stream.sent
        eventually(lambda: len(got) >= total, timeout=15, what=f"all {total} numbers handled")
        assert bot._dispatcher.wait_idle(5)
    numbers = Counter(int(e.plain_text) for e in got)
    assert sorted(numbers) == list(range(1, total + 1)), "a number is missing"
    assert max(numbers.values()) == 1, f"handled twice: {[n for n, c in numbers.items() if c > 1]}"
    recovered = [int(e.plain_text) for e in got if e.recovered]
    assert during >= 100 and len(recovered) >= during - 5  # the outage really lost messages
    assert recovered == sorted(recovered)  # delivered in order
    assert all("recovered" not in e for e in got)  # not a key of the raw event
    stats = bot.stats()
    assert stats["events_recovered"] == len(recovered) and stats["gap_fills"] == 1


def test_reverse_ws_outage_is_recovered(onebot: FakeOneBot) -> None:
    bot = Bot(listen="ws://127.0.0.1:0/ws", reconnect=FAST, shutdown_grace=2.0, workers=1)
    got = _collect(bot)
    with bot:
        link = onebot.connect_reverse(bot.listen_url)
        link.wait_connects(1)
        bot.wait_connected(5)
        for i in range(1, 6):
            onebot.emit_group_message(7, 2, str(i))
        eventually(lambda: len(got) == 5, what="live messages")
        link.pause()
        eventually(lambda: bot.self_ids == [], what="the bot saw the outage")
        for i in range(6, 16):
            onebot.emit_group_message(7, 2, str(i))  # only in history
        link.resume()
        eventually(lambda: len(got) == 15, what="recovered messages")
        assert bot._dispatcher.wait_idle(5)
    assert [int(e.plain_text) for e in got] == list(range(1, 16))
    assert [e.recovered for e in got] == [False] * 5 + [True] * 10


def test_recovery_can_be_turned_off(onebot: FakeOneBot, make_bot: Callable[..., Bot]) -> None:
    bot = make_bot(onebot.ws_url, recover_chats=0, workers=1)
    got = _collect(bot)
    with bot:
        bot.wait_connected(5)
        onebot.emit_group_message(1, 2, "1")
        eventually(lambda: len(got) == 1, what="live message")
        onebot.down()
        onebot.emit_group_message(1, 2, "2")
        onebot.up()
        onebot.wait_for_connections(2)
        eventually(lambda: bot.connected, what="reconnected")
        onebot.emit_group_message(1, 2, "3")
        eventually(lambda: len(got) == 2, what="the next live message")
        assert bot._dispatcher.wait_idle(5)
    assert [e.plain_text for e in got] == ["1", "3"]
    assert "get_group_msg_history" not in [c["action"] for c in onebot.calls]


def test_history_failure_is_counted_not_fatal(onebot: FakeOneBot, make_bot: Callable[..., Bot]) -> None:
    bot = make_bot(onebot.ws_url, workers=1)
    got = _collect(bot)
    with bot:
        bot.wait_connected(5)
        onebot.emit_group_message(1, 2, "1")
        onebot.emit_private_message(3, "p1")
        eventually(lambda: len(got) == 1, what="live message")
        onebot.down()
        onebot.emit_group_message(1, 2, "2")
        onebot.fail_next("get_group_msg_history", retcode=100, message="no")
        onebot.up()
        eventually(lambda: bot.stats()["gap_fill_errors"] == 1, what="the failed history call")
        onebot.wait_for_call("get_friend_msg_history")  # the other chat is still recovered
        onebot.emit_group_message(1, 2, "3")
        eventually(lambda: len(got) == 2, what="live again")
    assert [e.plain_text for e in got] == ["1", "3"]


# -- the filler on its own (no sockets) ------------------------------------


def _history(n: int, chat: int = 1) -> List[Dict[str, Any]]:
    return [
        {"post_type": "message", "message_type": "group", "group_id": chat, "user_id": 2, "self_id": 9,
         "message_id": 1000 + i, "message_seq": i, "time": 100 + i, "message": str(i)}
        for i in range(1, n + 1)
    ]


class _FakeHistory:
    def __init__(self, messages: List[Dict[str, Any]]) -> None:
        self.messages = messages
        self.calls: List[Dict[str, Any]] = []

    def __call__(self, action: str, self_id: Optional[int], params: Dict[str, Any]) -> Any:
        self.calls.append(dict(params))
        seq = params.get("message_seq")
        page = [m for m in self.messages if seq is None or m["message_seq"] <= seq]
        return {"messages": page[-params["count"]:]}


def _filler(history: _FakeHistory, delivered: List[Dict[str, Any]], **kwargs: Any) -> GapFiller:
    onebot = OneBotHistory(history)
    tracker = ChatTracker(locate=onebot.locate)
    return GapFiller(
        tracker,
        history=onebot,
        deliver=lambda e: delivered.append(e) is None,
        stopping=threading.Event(),
        **kwargs,
    )


def test_filler_pages_back_to_the_last_seen_message() -> None:
    messages = _history(100)
    history = _FakeHistory(messages)
    delivered: List[Dict[str, Any]] = []
    filler = _filler(history, delivered, page_size=30)
    filler.tracker.observe(messages[19])  # saw message 20 live
    filler.connection_lost(9)
    assert filler.has_gap(9)
    assert filler.fill(9) == 80
    assert [m["message_seq"] for m in delivered] == list(range(21, 101))
    assert len(history.calls) == 3 and "message_seq" in history.calls[1]
    assert not filler.has_gap(9) and filler.fill(9) == 0


def test_filler_skips_own_messages_and_reports_an_incomplete_gap() -> None:
    messages = _history(10)
    messages[7]["user_id"] = 9  # the bot's own message (seq 8)
    history = _FakeHistory(messages)
    delivered: List[Dict[str, Any]] = []
    filler = _filler(history, delivered, page_size=3, max_pages=2)
    anchor = dict(_history(1)[0], message_id=999, time=104)  # not in the history any more
    filler.tracker.observe(anchor)
    filler.connection_lost(9)
    filler.fill(9)
    assert filler.incomplete == 1
    # two pages of 3 (overlapping by one) reach back to seq 6; the anchor is not there,
    # so what is not older than it is delivered, without the bot's own message
    assert [m["message_seq"] for m in delivered] == [6, 7, 9, 10]


def test_first_loss_wins_until_filled() -> None:
    messages = _history(5)
    delivered: List[Dict[str, Any]] = []
    filler = _filler(_FakeHistory(messages), delivered)
    filler.tracker.observe(messages[1])
    filler.connection_lost(9)
    filler.tracker.observe(messages[3])  # a brief reconnect saw message 4, then the link flapped
    filler.connection_lost(9)
    filler.fill(9)
    assert [m["message_seq"] for m in delivered] == [3, 4, 5]  # deliver() dedupes message 4


def test_tracker_keeps_the_last_message_of_the_most_recent_chats_from_several_readers() -> None:
    """Sightings are noted without the lock and applied in batches: a snapshot still
    sees every one of them (the latest per chat, at most ``max_chats`` chats, the
    most recently active), whatever the batch boundaries and however many readers."""
    clock = [100.0]
    history = OneBotHistory(lambda *a: None)
    tracker = ChatTracker(max_chats=20, window=600.0, clock=lambda: clock[0], locate=history.locate)

    def message(group: int, n: int) -> Dict[str, Any]:
        return {"post_type": "message", "message_type": "group", "self_id": 1, "group_id": group,
                "user_id": 2, "message_id": n, "time": 1000 + n}

    tracker.observe(message(1, 1))
    assert [(chat, a.message_id) for chat, a in tracker.snapshot(1)] == [(("group", 1), 1)]  # before any batch

    def reader(offset: int) -> None:
        for n in range(1000):
            tracker.observe(message(100 + (n % 30), offset + n))

    readers = [threading.Thread(target=reader, args=(k * 10_000,), name=f"test-reader-{k}") for k in range(3)]
    for thread in readers:
        thread.start()
    for thread in readers:
        thread.join(10)
    for n in range(5):  # a few more than any batch holds, then read
        tracker.observe(message(200, 50_000 + n))
    snap = tracker.snapshot(1)
    assert len(snap) == 20
    assert snap[-1][0] == ("group", 200) and snap[-1][1].message_id == 50_004
    assert snap[-1][1].time == 1000 + 50_004
    ids = {chat: a.message_id for chat, a in snap}
    for group in range(100, 130):  # the last message of each tracked group is the last one any reader saw
        if ("group", group) in ids:
            assert ids[("group", group)] % 10_000 >= 970
    assert tracker.accounts() == [1]
    clock[0] += 601  # out of the window: nothing is recent any more
    assert tracker.snapshot(1) == []


def test_tracker_notes_a_batch_as_one_by_one() -> None:
    """observe_many() (the events of one read, one clock reading) leaves the same
    snapshot as observe() for each; events that are not messages are skipped."""
    clock = [100.0]
    history = OneBotHistory(lambda *a: None)
    one = ChatTracker(max_chats=5, window=600.0, clock=lambda: clock[0], locate=history.locate)
    many = ChatTracker(max_chats=5, window=600.0, clock=lambda: clock[0], locate=history.locate)
    events: List[Dict[str, Any]] = []
    for n in range(300):
        events.append({"post_type": "message", "message_type": "group", "self_id": 1 + n % 2,
                       "group_id": n % 9, "user_id": 2, "message_id": n, "time": 1000 + n})
        if n % 40 == 0:
            events.append({"post_type": "notice", "notice_type": "group_increase", "self_id": 1})
            events.append({"post_type": "message", "message_type": "private", "self_id": 1, "user_id": 3,
                           "message_id": None})
    for event in events:
        one.observe(event)
    for start in range(0, len(events), 37):
        many.observe_many(events[start:start + 37])
    many.observe_many([])
    for account in (1, 2):
        assert many.snapshot(account) == one.snapshot(account)
        assert len(many.snapshot(account)) == 5
    assert many.accounts() == one.accounts()
