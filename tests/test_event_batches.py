"""The events of one read go to the bot as a batch (forward and reverse WebSocket):
nothing lost, nothing reordered, repeats within a batch dropped, drops counted."""

from __future__ import annotations

import threading
from typing import Any, Callable, List

import pytest

from qqreliable import Bot, Event
from qqreliable.testing import FakeOneBot

from .helpers import eventually

pytestmark = pytest.mark.timeout(60)

BURST = 3000


def _message(n: int) -> dict:
    return {"post_type": "message", "message_type": "group", "sub_type": "normal", "group_id": 5,
            "user_id": 9, "message_id": n, "message": [{"type": "text", "data": {"text": f"m{n}"}}],
            "raw_message": f"m{n}", "font": 0, "sender": {"user_id": 9}}


def _spy_batches(bot: Bot) -> List[int]:
    """The sizes of the batches the de-duplication window is asked about."""
    sizes: List[int] = []
    fresh = bot._dedupe.fresh

    def spy(events: Any) -> Any:
        sizes.append(len(events))
        return fresh(events)

    bot._dedupe.fresh = spy  # type: ignore[method-assign]
    return sizes


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_a_burst_arrives_whole_in_order_without_repeats(
    mode: str, onebot: FakeOneBot, make_bot: Callable[..., Bot]
) -> None:
    bot = make_bot(onebot.ws_url, workers=1) if mode == "forward" else make_bot(
        listen="ws://127.0.0.1:0/ws/", workers=1)
    handled: List[int] = []
    notices: List[str] = []
    bot.on_message("group")(lambda e: handled.append(e["message_id"]))
    bot.on_notice()(lambda e: notices.append(e.name))
    sizes = _spy_batches(bot)
    expected: List[int] = []
    repeats = 0
    with bot:
        if mode == "reverse":
            onebot.connect_reverse(bot.listen_url).wait_connects(1)
        bot.wait_connected(10)
        for n in range(BURST):
            onebot.push_event(_message(n))
            expected.append(n)
            if n % 100 == 99:
                onebot.push_event(_message(n))  # a repeat, right behind the original
                onebot.push_event(_message(n - 50))  # and an older one
                repeats += 2
            if n == BURST // 2:
                onebot.emit_notice("group_increase", group_id=5, user_id=7, operator_id=7, sub_type="approve")
        onebot.push_event(_message(BURST))  # the last one: every repeat before it was read
        expected.append(BURST)
        eventually(lambda: len(handled) > BURST, timeout=30, what="the burst")
        assert bot._dispatcher.wait_idle(10)
        stats = bot.stats()
    assert handled == expected  # one worker: handled in the order received, each once
    assert notices == ["notice.group_increase.approve"]
    assert stats["events_duplicate"] == repeats, stats
    assert stats["events_dropped"] == 0
    assert max(sizes) > 1  # some reads brought several events: the batch path ran


def test_a_batch_over_the_queue_room_drops_the_newest_and_counts_them(
    onebot: FakeOneBot, make_bot: Callable[..., Bot]
) -> None:
    """A handler blocked while a burst arrives: the queue takes ``queue_size`` events,
    the oldest first, and every other one is counted as dropped, batch or not."""
    queue_size = 50
    bot = make_bot(onebot.ws_url, workers=1, queue_size=queue_size)
    release = threading.Event()
    entered = threading.Event()
    handled: List[int] = []

    @bot.on_message("group")
    def slow(event: Event) -> None:
        entered.set()
        release.wait(30)
        handled.append(event["message_id"])

    sizes = _spy_batches(bot)
    with bot:
        try:
            bot.wait_connected(10)
            onebot.push_event(_message(0))
            assert entered.wait(10)  # the worker holds message 0: the queue is empty
            for n in range(1, 1001):
                onebot.push_event(_message(n))
            eventually(lambda: bot.stats()["events_dropped"] >= 1000 - queue_size, timeout=30, what="the drops")
            assert bot._dispatcher.queued == queue_size
        finally:
            release.set()
        eventually(lambda: len(handled) == 1 + queue_size, timeout=30, what="the queued events")
        stats = bot.stats()
    assert stats["events_dropped"] == 1000 - queue_size
    assert handled == list(range(queue_size + 1))  # the oldest kept, in order
    assert max(sizes) > 1
