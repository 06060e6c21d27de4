"""Several bot processes on one account, one shared Redis: real processes, real sockets."""

from __future__ import annotations

import collections
import os
import pathlib
import selectors
import signal
import subprocess
import sys
import time
from typing import Dict, Iterator, List

import pytest

from qqreliable.testing import FakeOneBot

from .helpers import eventually

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GROUP = 5001

pytestmark = pytest.mark.timeout(120)


class Proc:
    def __init__(self, name: str, env: Dict[str, str], args: List[str]) -> None:
        full = dict(os.environ, PYTHONPATH=ROOT, QQR_NAME=name, **env)
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, *args], env=full, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )

    def wait_line(self, text: bytes, timeout: float = 30.0) -> None:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        buffer = b""
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while text not in buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.proc.poll() is not None:
                    err = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else ""
                    raise AssertionError(f"{self.name} never printed {text!r}: {buffer!r} {err}")
                if sel.select(remaining):
                    chunk = os.read(self.proc.stdout.fileno(), 4096)
                    buffer += chunk

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_workers(app: str, env: Dict[str, str], n: int) -> List[Proc]:
    """``n`` processes ``python -m qqreliable worker <app>`` (named w0, w1, ...), each past
    ``WORKER READY``; on a failure the ones started are stopped."""
    procs = [Proc(f"w{i}", env, ["-m", "qqreliable", "worker", app]) for i in range(n)]
    try:
        for proc in procs:
            proc.wait_line(b"WORKER READY")
    except BaseException:
        for proc in procs:
            proc.stop()
        raise
    return procs


@pytest.fixture
def onebot() -> Iterator[FakeOneBot]:
    with FakeOneBot() as server:
        server.add_group(GROUP)
        yield server


def _bots(onebot: FakeOneBot, store: str, n: int, **env: str) -> List[Proc]:
    env.setdefault("QQR_RATE", "200")  # the default pacing (1/s per group) would make this slow
    procs = []
    for i in range(n):
        proc = Proc(f"p{i}", {"QQR_ONEBOT": onebot.ws_url, "QQR_STORE": store, **env}, ["tests/scale_app.py"])
        procs.append(proc)
    for proc in procs:
        proc.wait_line(b"READY")
    onebot.wait_for_connections(n, timeout=10)
    return procs


def _answers(onebot: FakeOneBot) -> "collections.Counter[str]":
    out: "collections.Counter[str]" = collections.Counter()
    for sent in onebot.sent_messages:
        text = sent["raw_message"]
        out[text.split(":", 1)[1]] += 1
    return out


def test_two_processes_answer_every_message_once(onebot: FakeOneBot, redis_url: str) -> None:
    procs = _bots(onebot, redis_url, 2)
    try:
        texts = [f"m{i}" for i in range(40)]
        for text in texts:
            onebot.emit_group_message(GROUP, 42, text)
        eventually(lambda: len(_answers(onebot)) == len(texts), timeout=30, what="every message answered")
        # Let any duplicate that would come arrive: both processes received every event.
        onebot.emit_group_message(GROUP, 42, "last")
        eventually(lambda: _answers(onebot)["last"] >= 1, timeout=30, what="the last answer")
        answers = _answers(onebot)
        assert all(answers[t] == 1 for t in texts + ["last"]), answers
        by = collections.Counter(s["raw_message"].split(":", 1)[0] for s in onebot.sent_messages)
        assert sum(by.values()) == len(texts) + 1
    finally:
        for proc in procs:
            proc.stop()


def test_one_killed_the_other_answers_the_rest(onebot: FakeOneBot, redis_url: str) -> None:
    # Handlers take 0.3 s: the kill lands while the victim holds claims on events.
    procs = _bots(onebot, redis_url + "&claim_ttl=1", 2, QQR_DELAY="0.3")
    try:
        texts = [f"k{i}" for i in range(30)]
        for text in texts[:10]:
            onebot.emit_group_message(GROUP, 42, text)
        eventually(lambda: len(_answers(onebot)) >= 2, timeout=30, what="the first answers")
        procs[0].kill()
        for text in texts[10:]:
            onebot.emit_group_message(GROUP, 42, text)
        eventually(
            lambda: all(_answers(onebot)[t] >= 1 for t in texts), timeout=60, what="every message answered"
        )
        answers = _answers(onebot)
        # At most the events the victim was handling when it died run twice (at least once).
        extra = sum(answers[t] - 1 for t in texts)
        assert extra <= 4, answers
        survivor = [s for s in onebot.sent_messages if s["raw_message"].startswith("p1:")]
        assert {s["raw_message"].split(":", 1)[1] for s in survivor} >= set(texts[10:])
    finally:
        for proc in procs:
            proc.stop()


def test_two_processes_share_one_accounts_pacing(onebot: FakeOneBot, redis_url: str, tmp_path: "pathlib.Path") -> None:
    rate = 5.0
    each = 8
    go = tmp_path / "go"
    procs = _bots(onebot, redis_url, 2, QQR_RATE=str(rate), QQR_SENDS=str(each), QQR_GO=str(go))
    try:
        go.touch()  # both processes are connected: they send at once, each as fast as pacing lets it
        n = 2 * each
        eventually(lambda: len(onebot.sent_messages) >= n, timeout=30, what="every send")
        by = collections.Counter(s["raw_message"].split(":", 1)[0] for s in onebot.sent_messages)
        assert by == {"p0": each, "p1": each}, by
        times = sorted(c["time"] for c in onebot.calls if c["action"] == "send_group_msg")
        assert len(times) == n
        # One account's budget: n sends at `rate`/s with a burst of 1 take (n-1)/rate seconds;
        # two budgets, one per process, would take about (each - 1) / rate, under half of that.
        span = times[-1] - times[0]
        assert span >= (n - 1) / rate * 0.8, span
    finally:
        for proc in procs:
            proc.stop()
