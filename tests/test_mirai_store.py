"""MiraiBot with ``store=``: two bots on one MAH account and one real Redis act as one bot."""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterator, List, Tuple

import pytest

from qqreliable.mirai.bot import MiraiBot
from qqreliable.testing import FakeMirai

from .helpers import MIRAI_DEFAULTS, MIRAI_KEY, MIRAI_QQ, bot_factory

KEY, QQ = MIRAI_KEY, MIRAI_QQ


@pytest.fixture
def make_bot() -> Iterator[Callable[..., MiraiBot]]:
    with bot_factory(MiraiBot, **MIRAI_DEFAULTS) as make:
        yield make


def test_two_bots_on_one_redis_handle_each_message_once(mirai: FakeMirai, make_bot, redis_url: str) -> None:
    cond = threading.Condition()
    handled: List[Tuple[str, Any]] = []
    markers: List[str] = []
    bots = [make_bot(mirai.ws_url, store=redis_url, workers=1) for _ in range(2)]  # FIFO per bot
    for name, bot in zip("ab", bots):

        def on_message(event: Any, name: str = name) -> None:
            with cond:
                handled.append((name, event.message_id))
                cond.notify_all()

        def on_marker(event: Any, name: str = name) -> None:
            with cond:
                markers.append(name)
                cond.notify_all()

        bot.on_message("group")(on_message)
        bot.on("NudgeEvent")(on_marker)
        bot.start()
        bot.wait_connected(5)
    mirai.wait_for_connections(2)
    sent = [mirai.emit_group_message(100, 2, f"m{i}")["messageChain"][0]["id"] for i in range(20)]
    # Not a message: no identity, so every bot handles it; on a one-worker pool it runs
    # after everything the same bot queued before it.
    mirai.emit_event("NudgeEvent", fromId=2, target=QQ, subject={"id": 100, "kind": "Group"},
                     action="戳了戳", suffix="")
    with cond:
        assert cond.wait_for(lambda: sorted(markers) == ["a", "b"], 10), markers
        ids = [mid for _, mid in handled]
    assert sorted(ids) == sorted(sent), handled  # each message handled once across both bots
    assert sum(b.stats()["events_received"] for b in bots) == 42  # both saw every event


def test_bad_store_and_handlers_options_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="store"):
        MiraiBot("ws://127.0.0.1:1", verify_key=KEY, qq=QQ, store="localhost:6379")
    with pytest.raises(TypeError, match="store"):
        MiraiBot("ws://127.0.0.1:1", verify_key=KEY, qq=QQ, store=42)
    with pytest.raises(ValueError, match="handlers"):
        MiraiBot("ws://127.0.0.1:1", verify_key=KEY, qq=QQ, handlers="processes")
    with pytest.raises(ValueError, match="store"):
        MiraiBot("ws://127.0.0.1:1", verify_key=KEY, qq=QQ, handlers="queue")  # the queue needs Redis
