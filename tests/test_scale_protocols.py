"""Past one machine for MiraiBot and OfficialBot: real Redis, real processes.

- handlers="queue": an owner queues the events, RQ worker processes
  (``python -m qqreliable worker``) run them; replies reach FakeMirai / FakeOfficial;
  a worker killed mid-event loses nothing; ``stats()`` shows depth and workers.
- The official access token is fetched once for the fleet; a refresher killed
  mid-fetch is taken over.
- Events survive the queue's JSON and pickling, per protocol.
- Redis stopped and restarted under a running MiraiBot / OfficialBot.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import pickle
import selectors
import time
from typing import Any, Callable, Dict, List

import pytest

from qqreliable import OfficialBot
from qqreliable.mirai.bot import MiraiBot
from qqreliable.testing import FakeMirai, FakeOfficial

from .helpers import FAST, bot_factory, eventually
from .scale_helpers import RedisServer
from .test_scale_processes import Proc, start_workers

pytestmark = pytest.mark.timeout(150)

GROUP = 100
KEY = "1234567890"
QQ = 10001


# --------------------------------------------------------------------------- helpers


def _mirai_text(sent: Dict[str, Any]) -> str:
    return "".join(e.get("text", "") for e in sent["messageChain"] if e.get("type") == "Plain")


def _mirai_answers(mirai: FakeMirai) -> "collections.Counter[str]":
    return collections.Counter(_mirai_text(s).split(":", 1)[1] for s in mirai.sent_messages if ":" in _mirai_text(s))


def _official_answers(official: FakeOfficial) -> "collections.Counter[str]":
    return collections.Counter(s["text"].split(":", 1)[1] for s in official.sent_messages if ":" in s["text"])


def _token_fetches(official: FakeOfficial) -> int:
    return sum(1 for c in official.calls if c["route"] == "token")


def _official_env(official: FakeOfficial, store: str, **extra: str) -> Dict[str, str]:
    return {"QQR_API": official.url, "QQR_TOKEN_URL": official.token_url, "QQR_APP_ID": official.app_id,
            "QQR_SECRET": official.secret, "QQR_STORE": store, **extra}


def _first_line(procs: List[Proc], text: bytes, timeout: float = 30.0) -> Proc:
    """The first of ``procs`` to print ``text`` on stdout."""
    buffers = {p.proc.stdout.fileno(): b"" for p in procs}  # type: ignore[union-attr]
    by_fd = {p.proc.stdout.fileno(): p for p in procs}  # type: ignore[union-attr]
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        for fd in by_fd:
            sel.register(fd, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no process printed {text!r}: {buffers!r}")
            for key, _ in sel.select(remaining):
                chunk = os.read(key.fd, 4096)
                if not chunk:
                    sel.unregister(key.fd)
                    continue
                buffers[key.fd] += chunk
                if text in buffers[key.fd]:
                    return by_fd[key.fd]


def _stop(procs: List[Proc]) -> None:
    for proc in procs:
        proc.stop()


@pytest.fixture
def make_official_bot() -> Any:
    def make(official: FakeOfficial, **kwargs: Any) -> OfficialBot:
        return factory(app_id=official.app_id, secret=official.secret, api_base=official.url,
                       token_url=official.token_url, **kwargs)

    with bot_factory(OfficialBot, reconnect_steps=(0.05, 0.1, 0.2), storm_delay=0.2, retry_backoff=0.05,
                     api_timeout=2.0, shutdown_grace=2.0) as factory:
        yield make


# --------------------------------------------------------------------------- mirai: queue


@pytest.fixture
def mirai_owner() -> Any:
    def make(mirai: FakeMirai, store: str) -> MiraiBot:
        bot = factory(mirai.ws_url, store=store, handlers="queue")

        @bot.on_message("group")
        def never_here(event: Any) -> None:
            raise AssertionError("a queued event ran in the connection owner")

        bot.start()
        bot.wait_connected(10)
        return bot

    with bot_factory(MiraiBot, verify_key=KEY, qq=QQ, reconnect=FAST, api_timeout=5.0, shutdown_grace=2.0,
                     pacing=None) as factory:
        yield make


def _mirai_workers(mirai: FakeMirai, store: str, n: int, **env: str) -> List[Proc]:
    env = {"QQR_MIRAI": mirai.ws_url, "QQR_STORE": store, "QQR_HANDLERS": "queue", **env}
    return start_workers("tests.scale_app_mirai:bot", env, n)


def test_mirai_workers_spread_the_load_and_answer_once(mirai: FakeMirai, mirai_owner: Any, redis_url: str) -> None:
    bot = mirai_owner(mirai, redis_url)
    procs = _mirai_workers(mirai, redis_url, 2, QQR_DELAY="0.2")
    try:
        eventually(lambda: bot.stats()["queue"]["workers"] == 2, timeout=10, what="two workers registered")
        texts = [f"q{i}" for i in range(12)]
        for text in texts:
            mirai.emit_group_message(GROUP, 2, text)
        eventually(lambda: len(_mirai_answers(mirai)) == len(texts), timeout=60, what="every message answered")
        answers = _mirai_answers(mirai)
        assert all(answers[t] == 1 for t in texts), answers
        by = collections.Counter(_mirai_text(s).split(":", 1)[0] for s in mirai.sent_messages)
        assert set(by) == {"w0", "w1"}, by  # both workers took jobs
        assert all(s["type"] == "group" and s["target"] == GROUP for s in mirai.sent_messages)
        stats = bot.stats()
        assert stats["queue"]["enqueued"] == len(texts) and stats["queue"]["depth"] == 0
        assert stats["events_dispatched"] == 0  # nothing ran in the owner
    finally:
        _stop(procs)


def test_mirai_worker_killed_mid_event_loses_nothing(mirai: FakeMirai, mirai_owner: Any, redis_url: str) -> None:
    store = redis_url + "&claim_ttl=1"
    bot = mirai_owner(mirai, store)
    procs = _mirai_workers(mirai, store, 2, QQR_DELAY="1.0", QQR_MARK="1")
    try:
        texts = [f"d{i}" for i in range(6)]
        for text in texts:
            mirai.emit_group_message(GROUP, 2, text)
        mirai.wait_for_call("botProfile", timeout=30, count=2)  # both workers are mid-event
        procs[0].kill()
        eventually(lambda: all(_mirai_answers(mirai)[t] >= 1 for t in texts), timeout=60,
                   what="every message answered")
        answers = _mirai_answers(mirai)
        assert all(answers[t] == 1 for t in texts), answers  # killed before its reply: no repeat
        assert bot.stats()["store"]["requeued"] >= 1
    finally:
        _stop(procs)


# --------------------------------------------------------------------------- official: queue


def _official_owner(make_official_bot: Callable[..., OfficialBot], official: FakeOfficial, store: str) -> OfficialBot:
    bot = make_official_bot(official, store=store, handlers="queue")

    @bot.on_message("c2c")
    def never_here(event: Any) -> None:
        raise AssertionError("a queued event ran in the connection owner")

    bot.start()
    bot.wait_connected(10)
    return bot


def _official_workers(official: FakeOfficial, store: str, n: int, **env: str) -> List[Proc]:
    env = _official_env(official, store, QQR_HANDLERS="queue", **env)
    return start_workers("tests.scale_app_official:bot", env, n)


def test_official_workers_reply_passively_once(make_official_bot: Any, redis_url: str) -> None:
    with FakeOfficial() as official:
        bot = _official_owner(make_official_bot, official, redis_url)
        procs = _official_workers(official, redis_url, 2, QQR_DELAY="0.2")
        try:
            eventually(lambda: bot.stats()["queue"]["workers"] == 2, timeout=10, what="two workers registered")
            assert official.connection_count == 1  # workers open no gateway session: REST only
            inbound = {}
            texts = [f"o{i}" for i in range(10)]
            for text in texts:
                inbound[text] = official.emit_c2c_message("user-1", text)["id"]
            eventually(lambda: len(_official_answers(official)) == len(texts), timeout=60,
                       what="every message answered")
            answers = _official_answers(official)
            assert all(answers[t] == 1 for t in texts), answers
            sent = official.sent_messages
            by = collections.Counter(s["text"].split(":", 1)[0] for s in sent)
            assert set(by) == {"w0", "w1"}, by
            for s in sent:  # a reply from a worker is passive: the inbound msg_id, a msg_seq
                assert s["passive"] and s["msg_id"] == inbound[s["text"].split(":", 1)[1]] and s["msg_seq"] == 1
            stats = bot.stats()
            assert stats["queue"]["enqueued"] == len(texts) and stats["queue"]["depth"] == 0
            assert stats["events_dispatched"] == 0
            assert _token_fetches(official) == 1  # the owner's token, adopted by both workers
        finally:
            _stop(procs)


def test_official_worker_killed_mid_event_loses_nothing(make_official_bot: Any, redis_url: str) -> None:
    store = redis_url + "&claim_ttl=1"
    with FakeOfficial() as official:
        bot = _official_owner(make_official_bot, official, store)
        procs = _official_workers(official, store, 2, QQR_DELAY="1.0", QQR_MARK="1")
        try:
            texts = [f"k{i}" for i in range(6)]
            for text in texts:
                official.emit_c2c_message("user-1", text)
            official.wait_for_call("me", count=2, timeout=30)  # both workers are mid-event
            procs[0].kill()
            eventually(lambda: all(_official_answers(official)[t] >= 1 for t in texts), timeout=60,
                       what="every message answered")
            answers = _official_answers(official)
            assert all(answers[t] == 1 for t in texts), answers
            assert all(s["passive"] for s in official.sent_messages)
            assert bot.stats()["store"]["requeued"] >= 1
        finally:
            _stop(procs)


# --------------------------------------------------------------------------- official: one token


def test_two_official_processes_fetch_one_token(redis_url: str) -> None:
    with FakeOfficial() as official:
        env = _official_env(official, redis_url)
        procs = [Proc(f"p{i}", env, ["tests/scale_app_official.py"]) for i in range(2)]
        try:
            for proc in procs:
                proc.wait_line(b"READY")
            official.wait_until(lambda: official.ready_count >= 2, timeout=10, what="two gateway sessions")
            texts = [f"t{i}" for i in range(6)]
            for text in texts:
                official.emit_c2c_message("user-1", text)
            eventually(lambda: len(_official_answers(official)) == len(texts), timeout=30,
                       what="every message answered")
            assert all(_official_answers(official)[t] == 1 for t in texts)
            assert _token_fetches(official) == 1  # one getAppAccessToken for both processes
        finally:
            _stop(procs)


def test_official_token_refresher_killed_mid_fetch_is_taken_over(redis_url: str) -> None:
    with FakeOfficial() as official:
        official.delay("token", 120, deliver=False)  # the first fetch hangs: its process holds the lock
        # A long fetch timeout (the holder keeps waiting), a short refresh lock (a dead holder
        # delays the others 8 s at most).
        env = _official_env(official, redis_url, QQR_TOKEN_LOG="1", QQR_API_TIMEOUT="60", QQR_LOCK_TTL="8")
        procs = [Proc(f"p{i}", env, ["tests/scale_app_official.py"]) for i in range(2)]
        try:
            official.wait_for_call("token", timeout=30)
            waiter = _first_line(procs, b"another process is refreshing it")
            assert _token_fetches(official) == 1
            holder = procs[1] if waiter is procs[0] else procs[0]
            holder.kill()
            waiter.wait_line(b"READY", timeout=30)  # the lock expired: it fetched by itself
            assert _token_fetches(official) == 2
            official.emit_c2c_message("user-1", "after")
            eventually(lambda: _official_answers(official)["after"] == 1, timeout=30, what="an answer")
        finally:
            _stop(procs)


# --------------------------------------------------------------------------- events through the queue


def test_mirai_and_official_events_survive_json_and_pickle(mirai: FakeMirai, official: FakeOfficial) -> None:
    from qqreliable.mirai.events import Event as MiraiEvent
    from qqreliable.official.events import Event as OfficialEvent

    mbot = MiraiBot(mirai.ws_url, verify_key=KEY, qq=QQ)
    raw = {"type": "GroupMessage", "sender": {"id": 2, "memberName": "m", "permission": "MEMBER",
                                              "group": {"id": GROUP, "name": "g", "permission": "MEMBER"}},
           "messageChain": [{"type": "Source", "id": 77, "time": 1}, {"type": "Plain", "text": "hi"},
                            {"type": "At", "target": QQ, "display": "@bot"}]}
    event = MiraiEvent(raw, bot=mbot)
    again = mbot._event_from(json.loads(json.dumps(mbot._raw_event(event))))
    assert dict(again) == dict(event) and again.message_id == 77 and again.plain_text == event.plain_text
    assert again.name == event.name and again._bot is mbot
    pickled = pickle.loads(pickle.dumps(event))
    assert dict(pickled) == dict(event) and pickled.message_id == 77

    obot = OfficialBot(app_id=official.app_id, secret=official.secret, api_base=official.url,
                       token_url=official.token_url)
    frame = {"op": 0, "t": "GROUP_AT_MESSAGE_CREATE", "id": "GROUP_AT_MESSAGE_CREATE:abc", "s": 42,
             "d": {"id": "ROBOT1.0_m1", "content": " hi", "group_openid": "g1",
                   "author": {"member_openid": "u1"}, "timestamp": "2026-01-01T00:00:00+08:00"}}
    event = OfficialEvent.from_payload(frame, bot=obot)
    again = obot._event_from(json.loads(json.dumps(obot._raw_event(event))))
    assert dict(again) == dict(event) and (again.type, again.event_id, again.seq) == (event.type, event.event_id, 42)
    assert again.message_id == "ROBOT1.0_m1" and again.name == event.name
    # The worker's ledger knows the message: event.reply() is passive there with msg_seq 1, 2.
    assert obot._ledger.remaining("ROBOT1.0_m1") > 0
    assert [obot._ledger.plan("group", "ROBOT1.0_m1").msg_seq for _ in range(2)] == [1, 2]
    pickled = pickle.loads(pickle.dumps(event))
    assert dict(pickled) == dict(event) and pickled.event_id == event.event_id and pickled.seq == 42


# --------------------------------------------------------------------------- Redis down while running


def test_a_running_mirai_bot_survives_its_store_going_away_and_coming_back(
    mirai: FakeMirai, caplog: pytest.LogCaptureFixture
) -> None:
    server = RedisServer()
    port = server.port
    answered: List[str] = []
    bot = MiraiBot(mirai.ws_url, verify_key=KEY, qq=QQ, reconnect=FAST, pacing=None, shutdown_grace=2.0,
                   store=server.url + "?claim_ttl=0.6")
    bot.on_message("group")(lambda event: answered.append(event.plain_text))
    try:
        with caplog.at_level(logging.WARNING, logger="qqreliable"), bot:
            bot.wait_connected(10)
            mirai.emit_group_message(GROUP, 2, "shared")
            eventually(lambda: answered == ["shared"], timeout=10, what="the first answer")
            server.stop()
            mirai.emit_group_message(GROUP, 2, "degraded")
            eventually(lambda: "degraded" in answered, timeout=10, what="an answer without Redis")
            store = bot.stats()["store"]
            assert store["degraded"] is True and store["fallbacks"] >= 1 and store["outages"] == 1
            assert any("unreachable" in r.getMessage() for r in caplog.records)
            server = RedisServer(port)
            eventually(lambda: bot.stats()["store"]["degraded"] is False, timeout=10, what="shared again")
            mirai.emit_group_message(GROUP, 2, "back")
            eventually(lambda: "back" in answered, timeout=10, what="an answer with Redis back")
            assert any("back after" in r.getMessage() for r in caplog.records)
        assert answered == ["shared", "degraded", "back"]
    finally:
        bot.stop()
        server.stop()


def test_a_running_official_bot_survives_its_store_going_away_and_coming_back(
    make_official_bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = RedisServer()
    port = server.port
    answered: List[str] = []
    try:
        with FakeOfficial() as official, caplog.at_level(logging.WARNING, logger="qqreliable"):
            bot = make_official_bot(official, store=server.url + "?claim_ttl=0.6")

            @bot.on_message("c2c")
            def on_c2c(event: Any) -> None:
                answered.append(event.plain_text)
                event.reply("ok")

            bot.start()
            bot.wait_connected(10)
            official.emit_c2c_message("user-1", "shared")
            eventually(lambda: answered == ["shared"], timeout=10, what="the first answer")
            server.stop()
            official.expire_tokens()  # the token must be fetched again while Redis is down
            official.emit_c2c_message("user-1", "degraded")
            eventually(lambda: len(official.sent_messages) == 2, timeout=15, what="a reply without Redis")
            store = bot.stats()["store"]
            assert store["degraded"] is True and store["fallbacks"] >= 1 and store["outages"] == 1
            server = RedisServer(port)
            eventually(lambda: bot.stats()["store"]["degraded"] is False, timeout=10, what="shared again")
            official.emit_c2c_message("user-1", "back")
            eventually(lambda: len(official.sent_messages) == 3, timeout=15, what="a reply with Redis back")
            assert answered == ["shared", "degraded", "back"]
            assert all(s["passive"] for s in official.sent_messages)
    finally:
        server.stop()
