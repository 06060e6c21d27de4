"""OfficialBot sends on the shared reliability layer, against FakeOfficial on real sockets:
the send pipeline (the same msg_seq on a repeat, 40054005 = delivered, 500 then absent,
Retry-After), pacing shared through a store by two bots, repeated pushes dropped by the
shared Deduper, the passive-reply state shared through a store, audit holds."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, List

import pytest

from qqreliable import OfficialBot, Pacing, SendUnconfirmed
from qqreliable.official.codes import Kind, OfficialApiError
from qqreliable.official.events import Event
from qqreliable.reliability.store import MemoryStore
from qqreliable.testing import FakeOfficial

from ..helpers import eventually
from .conftest import inbound, started


def posts(official: FakeOfficial, route: str = "c2c") -> List[dict]:
    return [c["json"] for c in official.calls if c["route"] == route]


# ------------------------------------------------------------------ the pipeline


def test_timeout_repeat_reuses_msg_seq_and_40054005_is_a_receipt(official: FakeOfficial, make_official_bot) -> None:
    bot = started(make_official_bot, official, api_timeout=0.3)
    event = inbound(official, bot)
    official.delay("c2c", 1.0, deliver=True)  # delivered at once, the answer comes too late
    receipt = bot.reply(event, "once")
    sent = posts(official)
    assert len(sent) == 2 and sent[0]["msg_seq"] == sent[1]["msg_seq"] and sent[0]["msg_id"] == sent[1]["msg_id"]
    assert [m["text"] for m in official.sent_messages] == ["once"]
    assert receipt.verified and receipt.attempts == 2
    stats = bot.stats()
    assert stats["official"]["duplicates_as_delivered"] == 1
    assert stats["sends"]["ambiguous"] == 1 and stats["sends"]["resent"] == 1
    bot.reply(event, "next")  # a new message: a new msg_seq
    assert posts(official)[-1]["msg_seq"] == sent[0]["msg_seq"] + 1


def test_500_before_delivery_then_absent_is_sent_again_with_the_same_seq(
    official: FakeOfficial, make_official_bot
) -> None:
    bot = started(make_official_bot, official)
    event = inbound(official, bot, scene="group")
    official.fail_next("group", 500, deliver=False)  # the API failed before it ran
    receipt = bot.reply(event, "lands on the repeat")
    sent = posts(official, "group")
    assert len(sent) == 2 and sent[0]["msg_seq"] == sent[1]["msg_seq"]
    assert [m["text"] for m in official.sent_messages] == ["lands on the repeat"]
    assert receipt.attempts == 2 and not receipt.verified and receipt.message_id == official.sent_messages[0]["id"]


def test_500_every_time_ends_unconfirmed_after_the_attempts(official: FakeOfficial, make_official_bot) -> None:
    bot = started(make_official_bot, official, send_attempts=3)
    event = inbound(official, bot)
    official.fail_next("c2c", 504, deliver=False, times=3)
    with pytest.raises(SendUnconfirmed):
        bot.reply(event, "never answered")
    sent = posts(official)
    assert len(sent) == 3 and len({p["msg_seq"] for p in sent}) == 1
    assert bot.stats()["sends"]["undecidable"] == 1


def test_proactive_unknown_is_never_repeated(official: FakeOfficial, make_official_bot) -> None:
    bot = started(make_official_bot, official)
    official.fail_next("group", 500, deliver=True)
    with pytest.raises(SendUnconfirmed) as info:
        bot.send_group_message("G7", "maybe")
    assert len(posts(official, "group")) == 1 and "msg_id" not in posts(official, "group")[0]
    assert info.value.attempts == 1


def test_429_waits_for_retry_after(official: FakeOfficial, make_official_bot) -> None:
    bot = started(make_official_bot, official)
    official.fail_next("c2c", 429, retry_after=0.4)
    begun = time.monotonic()
    receipt = bot.send_c2c_message("U1", "after the wait")
    assert time.monotonic() - begun >= 0.4
    assert receipt.attempts == 2 and [m["text"] for m in official.sent_messages] == ["after the wait"]


def test_retry_after_beyond_the_deadline_is_raised_nothing_sent(official: FakeOfficial, make_official_bot) -> None:
    bot = started(make_official_bot, official, api_timeout=1.0)
    official.fail_next("c2c", 503, retry_after=30)
    with pytest.raises(OfficialApiError) as info:
        bot.send_c2c_message("U1", "not now")
    assert info.value.kind is Kind.RETRY and info.value.retry_after == 30
    assert len(posts(official)) == 1 and official.sent_messages == []


def test_duplicate_on_a_first_attempt_is_an_error_not_a_delivery(official: FakeOfficial, make_official_bot) -> None:
    bot = started(make_official_bot, official)
    event = inbound(official, bot)
    official.fail_next("c2c", 400, code=40054005, message="消息被去重，请检查请求msgseq")
    with pytest.raises(OfficialApiError) as info:
        bot.reply(event, "x")
    assert info.value.kind is Kind.DUPLICATE and bot.stats()["official"]["duplicates_as_delivered"] == 0


# ------------------------------------------------------------------ pacing through a store


def _paced_pair(make: Callable[..., OfficialBot], official: FakeOfficial, store: Any) -> List[OfficialBot]:
    pacing = Pacing(target_rate=5.0, target_burst=1, global_rate=100.0, global_burst=100, max_wait=30.0)
    return [started(make, official, store=store, pacing=pacing) for _ in range(2)]


def _send_from_both(bots: List[OfficialBot], per_bot: int) -> None:
    errors: List[BaseException] = []

    def run(bot: OfficialBot, tag: str) -> None:
        try:
            for i in range(per_bot):
                bot.send_c2c_message("U-paced", f"{tag}{i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(b, f"b{i}-"), name=f"qqreliable:test-pace-{i}")
               for i, b in enumerate(bots)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and not any(t.is_alive() for t in threads)


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_two_bots_on_one_store_share_one_pacing(kind: str, make_official_bot, request) -> None:
    store: Any = MemoryStore() if kind == "memory" else request.getfixturevalue("redis_url")
    with FakeOfficial() as official:
        bots = _paced_pair(make_official_bot, official, store)
        begun = time.monotonic()
        _send_from_both(bots, 3)
        elapsed = time.monotonic() - begun
        assert len(official.sent_messages) == 6
        # One bucket of 5/s (burst 1) for both: six messages need at least 5 / 5 s.
        assert elapsed >= 0.95, elapsed
        assert sum(b.stats()["sends"]["paced_seconds"] for b in bots) > 0.5


def test_two_bots_without_a_store_pace_apart(make_official_bot) -> None:
    """The control: each bot alone keeps its own bucket (so a shared store is what slows the pair)."""
    with FakeOfficial() as official:
        pacing = Pacing(target_rate=5.0, target_burst=1, global_rate=100.0, global_burst=100, max_wait=30.0)
        bots = [started(make_official_bot, official, pacing=pacing) for _ in range(2)]
        _send_from_both(bots, 3)
        assert len(official.sent_messages) == 6
        assert all(b.stats()["sends"]["paced_seconds"] < 0.5 + 0.25 for b in bots)


# ------------------------------------------------------------------ dedupe of repeated pushes


def test_a_message_pushed_twice_is_handled_once(official: FakeOfficial, make_official_bot) -> None:
    bot = make_official_bot(official)
    handled: List[str] = []
    second = threading.Event()

    @bot.on_message("c2c")
    def on_c2c(event: Event) -> None:
        handled.append(event.plain_text)
        if event.plain_text == "after":
            second.set()

    bot.start()
    bot.wait_connected(5)
    d = official.emit_c2c_message("U1", "twice")
    official.emit_c2c_message("U1", "twice", msg_id=d["id"])  # the same message, a new envelope
    official.emit_c2c_message("U1", "after")
    assert second.wait(5)
    assert handled == ["twice", "after"]
    assert bot.stats()["official"]["duplicates_dropped"] == 1


def test_repeated_pushes_dropped_fleet_wide_with_a_store(make_official_bot) -> None:
    store = MemoryStore()
    handled: List[str] = []
    lock = threading.Lock()
    with FakeOfficial() as official:
        bots = [make_official_bot(official, store=store) for _ in range(2)]
        for bot in bots:
            @bot.on_message("c2c")
            def on_c2c(event: Event) -> None:
                with lock:
                    handled.append(event.plain_text)

            bot.start()
        for bot in bots:
            bot.wait_connected(5)
        d = official.emit_c2c_message("U1", "one")
        official.emit_c2c_message("U1", "one", msg_id=d["id"])
        official.emit_c2c_message("U1", "two")
        eventually(lambda: "two" in handled, timeout=10, what="the last message handled")
        official.emit_c2c_message("U1", "three")
        eventually(lambda: "three" in handled, timeout=10, what="a later message handled")
        assert sorted(handled) == ["one", "three", "two"]


# ------------------------------------------------------------------ passive-reply state in the store


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_two_bots_replying_to_one_message_share_msg_seq_and_budget(kind: str, make_official_bot, request) -> None:
    store: Any = MemoryStore() if kind == "memory" else request.getfixturevalue("redis_url")
    with FakeOfficial() as official:
        bots = [started(make_official_bot, official, store=store, proactive=()) for _ in range(2)]
        got: List[Event] = []
        ready = threading.Event()
        for bot in bots:
            @bot.on_message("group")
            def grab(event: Event) -> None:
                got.append(event)
                ready.set()

        official.emit_group_at_message("G1", "M1", "hi")
        assert ready.wait(5)
        first = got[0]  # handled by whichever bot claimed it: only that one noted it arrived
        a = first._bot
        b = bots[1] if a is bots[0] else bots[0]
        event = first
        twin = Event(dict(first), type=first.type, event_id=first.event_id, seq=first.seq, bot=b)
        receipts = []
        for i in range(5):
            receipts.append((a if i % 2 else b).reply(event if i % 2 else twin, f"r{i}"))
        sent = official.sent_messages
        assert [m["msg_seq"] for m in sent] == [1, 2, 3, 4, 5] and all(m["passive"] for m in sent)
        from qqreliable.official.codes import ReplyBudgetSpent

        calls = len(official.calls)
        with pytest.raises(ReplyBudgetSpent):
            a.reply(event, "sixth")
        with pytest.raises(ReplyBudgetSpent):
            b.reply(twin, "sixth")
        assert len(official.calls) == calls  # nothing sent past the budget
        assert a._ledger.used(event.message_id) == b._ledger.used(event.message_id) == 5


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_a_ledger_that_never_saw_the_message_knows_its_age(kind: str, request) -> None:
    from qqreliable.official.codes import ReplyWindowClosed
    from qqreliable.official.replies import ReplyLedger
    from qqreliable.scale import open_store

    store: Any = MemoryStore() if kind == "memory" else open_store(request.getfixturevalue("redis_url"))
    wall = [1_000_000.0]
    a = ReplyLedger(store=store, app_id="app", wall=lambda: wall[0], proactive=())
    b = ReplyLedger(store=store, app_id="app", wall=lambda: wall[0], proactive=())
    other = ReplyLedger(store=store, app_id="another-app", wall=lambda: wall[0], proactive=())
    a.received("m-old", "group")
    wall[0] += 290  # 290 s later (window 300 s, margin 20 s)
    with pytest.raises(ReplyWindowClosed):
        b.plan("group", "m-old")  # b never received it, the store says how old it is
    assert other.plan("group", "m-old").msg_seq == 1  # another app's keys are apart
    a.received("m-new", "c2c")
    assert b.plan("c2c", "m-new").msg_seq == 1 and a.plan("c2c", "m-new").msg_seq == 2
    if kind == "redis":
        ttl = store._redis.ttl(f"{store.namespace}:reply:app:m-new:seq")
        assert 0 < ttl <= 3600 + 60  # nothing grows for ever
        store.close()


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_a_worker_noting_a_queued_message_keeps_the_fleets_arrival_time(kind: str, request) -> None:
    """A queue worker (or a process taking an event over) notes the message when it
    rebuilds the event, later than the connection owner did: the window still counts
    from the first arrival, and a worker's own clock never reopens it."""
    from qqreliable.official.codes import ReplyWindowClosed
    from qqreliable.official.replies import ReplyLedger
    from qqreliable.scale import open_store

    store: Any = MemoryStore() if kind == "memory" else open_store(request.getfixturevalue("redis_url"))
    wall = [1_000_000.0]
    owner = ReplyLedger(store=store, app_id="app", wall=lambda: wall[0], clock=lambda: wall[0] - 7.0, proactive=())
    worker = ReplyLedger(store=store, app_id="app", wall=lambda: wall[0], clock=lambda: wall[0] - 99.0, proactive=())
    owner.received("m-queued", "group")
    owner.received("m-fresh", "group")
    wall[0] += 200  # the job waited 200 s in the queue (window 300 s, margin 20 s)
    worker.received("m-queued", "group")
    assert worker.remaining("m-queued") == pytest.approx(80)
    wall[0] += 90
    with pytest.raises(ReplyWindowClosed):
        worker.plan("group", "m-queued")
    worker.received("m-late", "group")  # first seen here: fresh
    assert worker.remaining("m-late") == pytest.approx(280)
    if kind == "redis":
        store.close()


# ------------------------------------------------------------------ audit holds


def test_a_message_held_for_audit_is_a_receipt_not_an_error_and_never_resent(
    official: FakeOfficial, make_official_bot
) -> None:
    bot = make_official_bot(official, intents=(1 << 25) | (1 << 27))
    verdicts: List[Event] = []
    got = threading.Event()

    @bot.on("MESSAGE_AUDIT_PASS")
    def passed(event: Event) -> None:
        verdicts.append(event)
        got.set()

    bot.start()
    bot.wait_connected(5)
    event = inbound(official, bot)
    official.audit_next("c2c", status=202, code=304024)
    receipt = bot.reply(event, "needs a review")
    (held,) = official.audits
    assert receipt.pending_audit and receipt.audit_id == held["audit_id"] and receipt.message_id is None
    assert len(posts(official)) == 1 and official.sent_messages == []  # not delivered, not resent
    assert bot.stats()["official"]["pending_audit"] == 1
    official.end_audit(held["audit_id"], passed=True)
    assert got.wait(5) and verdicts[0]["audit_id"] == held["audit_id"]
    plain = bot.reply(event, "no review")
    assert not plain.pending_audit and plain.audit_id is None and plain.message_id


# ------------------------------------------------------------------ the gateway URL read again


def test_4011_reads_gateway_bot_again_and_identifies(official: FakeOfficial, make_official_bot) -> None:
    bot = started(make_official_bot, official)
    gets = len([c for c in official.calls if c["route"] == "gateway"])
    official.close_connections(4011)
    official.wait_for_ready(2, timeout=10)
    assert len([c for c in official.calls if c["route"] == "gateway"]) == gets + 1
    assert official.resumed_count == 0  # 4011: a new Identify, not a Resume
    assert bot.stats()["official"]["gateway_refetches"] == 1


def test_a_gateway_url_gone_stale_is_read_again(official: FakeOfficial, make_official_bot) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"ws://127.0.0.1:{probe.getsockname()[1]}/websocket"
    official.gateway_url = dead
    bot = make_official_bot(official)
    bot.start()
    eventually(lambda: bot._ws is not None and bot._ws.connect_failures >= 1, timeout=10,
               what="a failed connect to the stale URL")
    official.gateway_url = None  # /gateway/bot now answers the live URL
    assert bot.wait_connected(10)
    assert bot._ws is not None and bot._ws.url == official.ws_url
    assert bot.stats()["official"]["gateway_refetches"] >= 1


# ------------------------------------------------------------------ shards


def _guild_bot(make: Callable[..., OfficialBot], official: FakeOfficial, seen: List[str], done: threading.Event,
               want: int, **kw: Any) -> OfficialBot:
    bot = make(official, shard_interval=0.05, **kw)
    lock = threading.Lock()

    @bot.on_message("guild")
    def on_guild(event: Event) -> None:
        with lock:
            seen.append(event.plain_text)
            if len(seen) >= want:
                done.set()

    bot.start()
    return bot


def test_shards_one_connection_each_identified_with_i_of_n(official: FakeOfficial, make_official_bot) -> None:
    seen: List[str] = []
    done = threading.Event()
    bot = _guild_bot(make_official_bot, official, seen, done, 2, shards=2)
    official.wait_for_ready(2, timeout=10)
    identifies = sorted(f["d"]["shard"] for f in official.frames if f["op"] == 2)
    assert identifies == [[0, 2], [1, 2]] and official.connection_count == 2
    official.emit_guild_at_message("C1", "1", "A1", "to shard 0")               # (1 >> 22) % 2 == 0
    official.emit_guild_at_message("C2", str(1 << 22), "A1", "to shard 1")      # (2**22 >> 22) % 2 == 1
    assert done.wait(5)
    assert sorted(seen) == ["to shard 0", "to shard 1"]
    assert len(bot.stats()["gateway_shards"]) == 2


def test_shards_auto_from_gateway_bot(official_factory, make_official_bot) -> None:
    official = official_factory(shards=3)
    seen: List[str] = []
    done = threading.Event()
    _guild_bot(make_official_bot, official, seen, done, 1, shards="auto")
    official.wait_for_ready(3, timeout=10)
    assert sorted(f["d"]["shard"] for f in official.frames if f["op"] == 2) == [[0, 3], [1, 3], [2, 3]]


def test_more_shards_than_sessions_left_is_fatal(official: FakeOfficial, make_official_bot) -> None:
    from qqreliable.official.gateway import GatewayFatal

    bot = make_official_bot(official, shards=1000)  # the fake has 999 sessions left today
    with pytest.raises(GatewayFatal, match="only 999 are left"):
        bot.run(log_handler=None)
    assert not [f for f in official.frames if f["op"] == 2]


def test_shards_option_is_checked() -> None:
    with pytest.raises(ValueError, match="shards"):
        OfficialBot(app_id="1", secret="s", shards=0)
    with pytest.raises(TypeError, match="shard_interval"):
        OfficialBot(app_id="1", secret="s", shards=2, shard_interval="1")
