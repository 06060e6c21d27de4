"""handlers="queue": events on an RQ queue in a real Redis, handled by worker processes."""

from __future__ import annotations

import collections
from typing import Iterator, List

import pytest

from qqreliable import Bot
from qqreliable.reliability.sendpolicy import Pacing
from qqreliable.testing import FakeOneBot

from .helpers import eventually
from .test_scale_processes import GROUP, Proc, _answers, start_workers

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def onebot() -> Iterator[FakeOneBot]:
    with FakeOneBot() as server:
        server.add_group(GROUP)
        yield server


def _owner(onebot: FakeOneBot, store: str) -> Bot:
    bot = Bot(onebot.ws_url, store=store, handlers="queue", recover_chats=0, pacing=Pacing.unlimited())

    @bot.on_message("group")
    def never_here(event):  # type: ignore[no-untyped-def]
        raise AssertionError("a queued event ran in the connection owner")

    bot.start()
    bot.wait_connected(10)
    return bot


def _workers(onebot: FakeOneBot, store: str, n: int, **env: str) -> List[Proc]:
    env = {"QQR_ONEBOT": onebot.ws_url, "QQR_STORE": store, "QQR_HANDLERS": "queue", "QQR_RATE": "200", **env}
    return start_workers("tests.scale_app:bot", env, n)


def test_workers_spread_the_load_and_answer_once(onebot: FakeOneBot, redis_url: str) -> None:
    bot = _owner(onebot, redis_url)
    procs = _workers(onebot, redis_url, 2, QQR_DELAY="0.2")
    try:
        eventually(lambda: bot.stats()["queue"]["workers"] == 2, timeout=10, what="two workers registered")
        texts = [f"q{i}" for i in range(16)]
        for text in texts:
            onebot.emit_group_message(GROUP, 42, text)
        eventually(lambda: len(_answers(onebot)) == len(texts), timeout=60, what="every message answered")
        answers = _answers(onebot)
        assert all(answers[t] == 1 for t in texts), answers
        by = collections.Counter(s["raw_message"].split(":", 1)[0] for s in onebot.sent_messages)
        assert set(by) == {"w0", "w1"}, by  # both workers took jobs
        stats = bot.stats()
        assert stats["queue"]["enqueued"] == len(texts)
        assert stats["queue"]["depth"] == 0
        assert stats["events_dispatched"] == 0  # nothing ran in the owner
    finally:
        for proc in procs:
            proc.stop()
        bot.stop()


def test_a_worker_killed_mid_event_loses_nothing(onebot: FakeOneBot, redis_url: str) -> None:
    store = redis_url + "&claim_ttl=1"
    bot = _owner(onebot, store)
    procs = _workers(onebot, store, 2, QQR_DELAY="1.0", QQR_MARK="1")
    try:
        texts = [f"d{i}" for i in range(6)]
        for text in texts:
            onebot.emit_group_message(GROUP, 42, text)
        onebot.wait_for_call("get_status", timeout=30, count=2)  # both workers are mid-event
        procs[0].kill()
        eventually(
            lambda: all(_answers(onebot)[t] >= 1 for t in texts), timeout=60, what="every message answered"
        )
        answers = _answers(onebot)
        assert all(answers[t] == 1 for t in texts), answers  # killed before its reply: no repeat
        assert bot.stats()["store"]["requeued"] >= 1
    finally:
        for proc in procs:
            proc.stop()
        bot.stop()


def test_worker_with_a_bad_target_says_why() -> None:
    import subprocess
    import sys

    from .test_scale_processes import ROOT

    done = subprocess.run(
        [sys.executable, "-m", "qqreliable", "worker", "no_such_module_here:bot"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2 and "no_such_module_here" in done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "qqreliable", "worker", "qqreliable.cli:main"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2 and "no Redis store" in done.stderr
