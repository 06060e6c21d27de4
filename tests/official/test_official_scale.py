"""OfficialBot with store=: two bots on one FakeOfficial (every session gets every dispatch)
handle each dispatch once across them, through a real Redis."""

from __future__ import annotations

import collections
import threading
from typing import Any, Callable

import pytest

from qqreliable import OfficialBot
from qqreliable.testing import FakeOfficial

from ..helpers import eventually
from ..scale_helpers import redis_base, redis_url  # noqa: F401 (fixtures)


def test_two_official_bots_with_one_store_handle_each_dispatch_once(
    make_official_bot: Callable[..., OfficialBot], redis_url: str  # noqa: F811
) -> None:
    handled: "collections.Counter[str]" = collections.Counter()
    by_bot: "collections.Counter[int]" = collections.Counter()
    lock = threading.Lock()
    with FakeOfficial() as official:
        bots = [make_official_bot(official, store=redis_url) for _ in range(2)]
        for i, bot in enumerate(bots):
            def on_c2c(event: Any, i: int = i) -> None:
                with lock:
                    handled[event["content"]] += 1
                    by_bot[i] += 1

            bot.on_message("c2c")(on_c2c)
            bot.start()
        for bot in bots:
            bot.wait_connected(10)
        texts = [f"o{i}" for i in range(30)]
        for text in texts:
            official.emit_c2c_message("user-1", text)
        eventually(lambda: len(handled) == len(texts), timeout=20, what="every dispatch handled")
        official.emit_c2c_message("user-1", "last")
        eventually(lambda: handled["last"] == 1, timeout=20, what="the last dispatch")
        assert all(handled[t] == 1 for t in texts), handled
        assert all(b.stats()["store"]["kind"] == "redis" for b in bots)


def test_official_store_option_is_checked() -> None:
    with pytest.raises(TypeError, match="store must be"):
        OfficialBot(app_id="1", secret="s", store=3)
    with pytest.raises(ValueError, match="needs a Redis store"):
        OfficialBot(app_id="1", secret="s", handlers="queue")


def test_two_reply_ledgers_on_one_store_share_msg_seq_and_the_budget() -> None:
    from qqreliable.official.replies import ReplyLedger
    from qqreliable.reliability.store import MemoryStore

    store = MemoryStore()
    a, b = ReplyLedger(), ReplyLedger()
    a.share(store, "app")
    b.share(store, "app")
    a.received("m1", "group")
    b.received("m1", "group")
    slots = [(a if i % 2 else b).plan("group", "m1") for i in range(5)]
    assert [s.msg_seq for s in slots] == [1, 2, 3, 4, 5] and all(s.passive for s in slots)
    sixth = a.plan("group", "m1")
    assert not sixth.passive and sixth.reason == "budget"  # the budget of 5 is one for both
    assert b.used("m1") == 5
    a.received("m2", "c2c")
    b.received("m2", "c2c")
    a.mark("m2", "window")
    assert not b.plan("c2c", "m2").passive  # the platform's refusal is known to both
