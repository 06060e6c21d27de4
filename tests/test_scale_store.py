"""The Store interface: the in-memory and the Redis implementation behave alike; claims across
processes; a store that is down at start or while running."""

from __future__ import annotations

import logging
import subprocess
import sys
import uuid
from typing import Iterator

import pytest

from qqreliable import Bot, ConnectFailed
from qqreliable.reliability.shared import EventClaims
from qqreliable.reliability.store import DONE, MemoryStore
from qqreliable.scale import open_store

from .scale_helpers import RedisServer, _free_port, redis_base, redis_url  # noqa: F401 (fixtures)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, redis_base: str) -> Iterator[object]:  # noqa: F811
    if request.param == "memory":
        yield MemoryStore()
    else:
        s = open_store(f"{redis_base}?namespace=u{uuid.uuid4().hex[:8]}")
        assert s is not None
        s.check()
        yield s
        s.close()


def test_claim_renew_release_put_get(store) -> None:  # type: ignore[no-untyped-def]
    assert store.claim("k", "a", 30) is True
    assert store.claim("k", "b", 30) is False
    assert store.get("k") == "a"
    assert store.renew("k", "a", 30) is True
    assert store.renew("k", "b", 30) is False
    store.release("k", "b")  # not b's: stays
    assert store.get("k") == "a"
    store.release("k", "a")
    assert store.get("k") is None
    assert store.claim("k", "b", 30) is True
    store.put("k", DONE, 30)
    assert store.get("k") == DONE
    assert store.claim("k", "a", 30) is False


def test_counters_count_and_expire(store) -> None:  # type: ignore[no-untyped-def]
    assert [store.incr("seq", 30) for _ in range(3)] == [1, 2, 3]
    assert store.incr("other", 30) == 1
    assert store.incr("short", 0.05) == 1
    assert store.get("seq") == "3"  # a counter reads as text in both


def test_peek_reads_a_value_with_its_remaining_lifetime(store) -> None:  # type: ignore[no-untyped-def]
    assert store.peek("tok") is None
    store.put("tok", "abc", 30)
    value, ttl = store.peek("tok")
    assert value == "abc" and 29 < ttl <= 30
    store.release("tok", "other")  # compare-and-delete: not that value, stays
    assert store.peek("tok")[0] == "abc"
    store.release("tok", "abc")
    assert store.peek("tok") is None
    store.incr("n", 30)
    assert store.peek("n")[0] == "1"


def test_memory_counter_expires() -> None:
    clock = Clock()
    s = MemoryStore(clock=clock)
    assert s.incr("c", 5) == 1 and s.incr("c", 5) == 2
    clock.now += 6
    assert s.incr("c", 5) == 1


def test_take_by_a_worker(store) -> None:  # type: ignore[no-untyped-def]
    assert store.claim("e", "owner", 30)
    assert store.take("e", "w:1", 30) is True  # from the process that queued it
    assert store.take("e", "w:2", 30) is False  # never from another worker
    assert store.take("e", "w:1", 30) is True  # its own: renewed
    store.put("e", DONE, 30)
    assert store.take("e", "w:2", 30) is False  # done: a repeated job is skipped
    assert store.take("fresh", "w:2", 30) is True


def test_token_buckets_take_from_all_or_none(store) -> None:  # type: ignore[no-untyped-def]
    buckets = [("t", 0.001, 2), ("acct", 0.001, 3)]  # practically no refill during the test
    assert store.reserve(buckets, 0) == 0.0
    assert store.reserve(buckets, 0) == 0.0
    assert store.reserve(buckets, 0) is None  # target empty: refused, nothing taken
    assert store.reserve([("acct", 0.001, 3)], 0) == 0.0  # the account still had its third token
    assert store.reserve([("acct", 0.001, 3)], 0) is None
    wait = store.reserve([("slow", 2.0, 1)], 10)
    assert wait == 0.0
    wait = store.reserve([("slow", 2.0, 1)], 10)
    assert 0.3 < wait <= 0.5  # one token every 0.5 s


def test_memory_store_expires_keys() -> None:
    clock = Clock()
    s = MemoryStore(clock=clock)
    s.claim("a", "x", 5)
    clock.now += 6
    assert s.get("a") is None
    assert s.claim("a", "y", 5)
    assert len(s) == 1
    clock.now += 10
    assert len(s) == 0


def test_event_claims_once_then_takeover_when_the_holder_gives_up() -> None:
    shared = MemoryStore(claim_ttl=1.0)
    key = lambda e: ("m", e["id"])  # noqa: E731
    a = EventClaims(shared, key, owner="a")
    b = EventClaims(shared, key, owner="b")
    ok_a, claim_a = a.admit({"id": 1})
    ok_b, claim_b = b.admit({"id": 1})
    assert ok_a and claim_a and not ok_b
    assert b.pending == 1
    assert b.tick() == []  # a holds it (and renews)
    a.tick()
    a.abandon(claim_a)  # a will not handle it after all
    taken = b.tick()
    assert [e for e, _ in taken] == [{"id": 1}]
    b.done(taken[0][1])
    assert a.admit({"id": 1}) == (False, None)  # done: a duplicate now
    assert a.duplicates == 1 and b.taken_over == 1


def test_event_claims_take_over_an_expired_claim() -> None:
    clock = Clock()
    shared = MemoryStore(claim_ttl=1.0, clock=clock)
    key = lambda e: ("m", e["id"])  # noqa: E731
    a = EventClaims(shared, key, owner="a", clock=clock)
    b = EventClaims(shared, key, owner="b", clock=clock)
    assert a.admit({"id": 7})[0]
    assert not b.admit({"id": 7})[0]
    clock.now += 2  # a died: no renewal
    assert [e for e, _ in b.tick()] == [{"id": 7}]
    assert a.tick() == [] and a.lost_claims == 1


def test_events_without_identity_are_handled_by_every_process() -> None:
    shared = MemoryStore()
    a = EventClaims(shared, lambda e: None, owner="a")
    assert a.admit({"x": 1}) == (True, None)
    assert a.admit({"x": 1}) == (True, None)


def test_bad_store_options_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        Bot("ws://127.0.0.1:1", store="mysql://x")
    with pytest.raises(ValueError, match="needs a Redis store"):
        Bot("ws://127.0.0.1:1", handlers="queue")
    with pytest.raises(ValueError, match="handlers must be 'threads'"):
        Bot("ws://127.0.0.1:1", handlers="processes")
    with pytest.raises(ValueError, match="Redis store"):
        Bot("ws://127.0.0.1:1", store=MemoryStore(), handlers="queue")
    with pytest.raises(TypeError, match="store must be a redis:// URL, a Store or None"):
        Bot("ws://127.0.0.1:1", store=42)
    with pytest.raises(ValueError, match="claim_ttl"):
        Bot("ws://127.0.0.1:1", store="redis://127.0.0.1:1/0?claim_ttl=soon")


def test_unreachable_store_fails_start_naming_the_url() -> None:
    url = f"redis://127.0.0.1:{_free_port()}/0"
    bot = Bot("ws://127.0.0.1:1", store=url)
    with pytest.raises(ConnectFailed, match=url.replace("/", ".")):
        bot.start()
    bot.stop()


def test_store_down_while_running_degrades_then_recovers(caplog: pytest.LogCaptureFixture) -> None:
    server = RedisServer()
    port = server.port
    s = open_store(server.url + "?claim_ttl=5")
    assert s is not None
    s.retry_every = 0.0  # type: ignore[attr-defined]
    s.check()
    assert s.claim("x", "a", 30)
    server.stop()
    with caplog.at_level(logging.WARNING, logger="qqreliable"):
        assert s.claim("y", "a", 30) is True  # local state: never raises
        assert s.claim("y", "b", 30) is False
    assert s.stats()["degraded"] is True and s.stats()["fallbacks"] >= 2
    assert any("unreachable" in r.getMessage() for r in caplog.records)
    server = RedisServer(port)
    try:
        assert s.claim("y", "c", 30) is False  # still local until a probe: no network on this path
        assert s.probe() is True  # type: ignore[attr-defined]
        assert s.claim("x", "b", 30) is True  # shared again (the server restarted empty)
        assert s.stats()["degraded"] is False and s.stats()["outages"] == 1
    finally:
        s.close()
        server.stop()


def test_without_a_store_nothing_imports_redis_or_rq() -> None:
    code = (
        "import sys, qqreliable\n"
        "from qqreliable import Bot\n"
        "bot = Bot('ws://127.0.0.1:1')\n"
        "bad = [m for m in ('redis', 'rq', 'qqreliable.scale.redis_store') if m in sys.modules]\n"
        "assert not bad, bad\n"
        "bot2 = Bot('ws://127.0.0.1:1', store='redis://127.0.0.1:1/0')\n"
        "assert 'redis' in sys.modules\n"  # the check can fail: a store does import it
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_only_scale_imports_redis_and_rq() -> None:
    import ast
    import pathlib

    import qqreliable

    pkg = pathlib.Path(qqreliable.__file__).parent
    offenders = []
    for path in pkg.rglob("*.py"):
        rel = path.relative_to(pkg).as_posix()
        if rel.startswith("scale/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            if any(n.split(".")[0] in ("redis", "rq") for n in names):
                offenders.append(rel)
    assert offenders == []


def test_a_running_bot_survives_its_store_going_away_and_coming_back(caplog: pytest.LogCaptureFixture) -> None:
    from qqreliable.reliability.sendpolicy import Pacing
    from qqreliable.testing import FakeOneBot

    from .helpers import eventually

    server = RedisServer()
    port = server.port
    answered: list = []
    try:
        with FakeOneBot() as onebot, caplog.at_level(logging.WARNING, logger="qqreliable"):
            onebot.add_group(7)
            bot = Bot(onebot.ws_url, store=server.url + "?claim_ttl=0.6", pacing=Pacing.unlimited(), recover_chats=0)
            bot.on_message("group")(lambda event: answered.append(event.plain_text))
            with bot:
                bot.wait_connected(10)
                onebot.emit_group_message(7, 1, "shared")
                eventually(lambda: answered == ["shared"], timeout=10, what="the first answer")
                server.stop()
                onebot.emit_group_message(7, 1, "degraded")
                eventually(lambda: "degraded" in answered, timeout=10, what="an answer without Redis")
                store = bot.stats()["store"]
                assert store["degraded"] is True and store["fallbacks"] >= 1 and store["outages"] == 1
                assert any("unreachable" in r.getMessage() for r in caplog.records)
                server = RedisServer(port)
                eventually(lambda: bot.stats()["store"]["degraded"] is False, timeout=10, what="shared again")
                onebot.emit_group_message(7, 1, "back")
                eventually(lambda: "back" in answered, timeout=10, what="an answer with Redis back")
                assert any("back after" in r.getMessage() for r in caplog.records)
        assert answered == ["shared", "degraded", "back"]
    finally:
        server.stop()
