"""Past one machine: worker throughput, the cost of the Redis store, failover time.

    python benchmarks/scale.py [--quick]

Needs ``redis-server`` on PATH (or QQRELIABLE_TEST_REDIS) and the redis extra. Prints:

1. events/s handled by 1, 2 and 4 worker processes (``handlers="queue"``) for a
   handler that waits 50 ms;
2. the cost per event of the dedupe/claim path: in-memory window, the claim path on a
   memory store, the claim path on Redis (claim + mark: two round trips);
3. failover: one of two bot processes is killed (SIGKILL) while it handles an event;
   the time until the survivor has answered that event, for two claim TTLs;
4. the official access token: getAppAccessToken requests when several OfficialBot
   processes start together against FakeOfficial, without a store and with one.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Dict, List, Optional

from _common import header, median, quiet, table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GROUP = 5001


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Redis:
    def __init__(self) -> None:
        self.proc: Optional[subprocess.Popen] = None
        self.dir = ""
        env = os.environ.get("QQRELIABLE_TEST_REDIS")
        if env:
            self.url = env
            return
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is not on PATH (apt-get install -y redis-server)")
        port = _free_port()
        self.dir = tempfile.mkdtemp(prefix="qqr-bench-redis-")
        self.proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL,
        )
        self.url = f"redis://127.0.0.1:{port}/0"
        import redis

        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def ns(self, **options: object) -> str:
        extra = "".join(f"&{k}={v}" for k, v in options.items())
        return f"{self.url}?namespace=b{uuid.uuid4().hex[:8]}{extra}"

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            shutil.rmtree(self.dir, ignore_errors=True)


class Proc:
    def __init__(self, env: Dict[str, str], args: List[str]) -> None:
        full = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, "benchmarks")]), **env)
        self.proc = subprocess.Popen([sys.executable, *args], env=full, cwd=ROOT, stdout=subprocess.PIPE)
        self.buffer = b""

    def read(self, timeout: float) -> None:
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if sel.select(timeout):
                self.buffer += os.read(self.proc.stdout.fileno(), 4096)

    def wait_for(self, text: bytes, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.buffer:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"a process never printed {text!r}")
            self.read(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _wait(predicate, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(0.005)


def workers_throughput(redis: Redis, counts: List[int], events: int) -> List[List[object]]:
    from qqreliable import Bot
    from qqreliable.reliability.sendpolicy import Pacing
    from qqreliable.testing import FakeOneBot

    rows = []
    for n in counts:
        store = redis.ns()
        with FakeOneBot() as onebot:
            onebot.add_group(GROUP)
            owner = Bot(onebot.ws_url, store=store, handlers="queue", pacing=Pacing.unlimited(), recover_chats=0)
            owner.on_message("group")(lambda event: None)  # registered: group messages are queued
            owner.start()
            owner.wait_connected(10)
            env = {"QQR_ONEBOT": onebot.ws_url, "QQR_STORE": store, "QQR_HANDLERS": "queue", "QQR_DELAY": "0.05"}
            procs = [Proc(env, ["-m", "qqreliable", "worker", "_scale_app:bot"]) for _ in range(n)]
            try:
                for proc in procs:
                    proc.wait_for(b"WORKER READY")
                started = time.monotonic()
                for i in range(events):
                    onebot.emit_group_message(GROUP, 42, f"e{i}")
                _wait(lambda: len(onebot.sent_messages) >= events, 120)
                elapsed = time.monotonic() - started
            finally:
                for proc in procs:
                    proc.stop()
                owner.stop()
        rate = events / elapsed
        rows.append([n, events, round(elapsed, 2), rate, rate / (20.0 * n)])
    return rows


def store_cost(redis: Redis, n: int) -> List[List[object]]:
    from qqreliable.onebot.history import event_key
    from qqreliable.reliability.dedupe import Deduper
    from qqreliable.reliability.shared import EventClaims
    from qqreliable.reliability.store import MemoryStore
    from qqreliable.scale import open_store

    def events(tag: str) -> List[dict]:
        return [
            {"post_type": "message", "message_type": "group", "self_id": 1, "group_id": 5, "message_id": f"{tag}{i}"}
            for i in range(n)
        ]

    rows = []
    dedupe = Deduper(key=event_key)
    batch = events("d")
    t = time.perf_counter()
    for e in batch:
        dedupe.seen(e)
    rows.append(["in-memory dedupe window (no store)", (time.perf_counter() - t) / n * 1e6])
    stores = (("claim + mark, memory store", MemoryStore()), ("claim + mark, Redis store", open_store(redis.ns())))
    for label, store in stores:
        claims = EventClaims(store, event_key)
        batch = events(label[:3])
        t = time.perf_counter()
        for e in batch:
            ok, key = claims.admit(e)
            claims.done(key)
        rows.append([label, (time.perf_counter() - t) / n * 1e6])
    return rows


def failover(redis: Redis, claim_ttl: float, rounds: int) -> List[float]:
    from qqreliable.testing import FakeOneBot

    times = []
    for r in range(rounds):
        store = redis.ns(claim_ttl=claim_ttl)
        with FakeOneBot() as onebot:
            onebot.add_group(GROUP)
            env = {"QQR_ONEBOT": onebot.ws_url, "QQR_STORE": store, "QQR_DELAY": "1.0"}
            procs = [Proc(env, ["benchmarks/_scale_app.py"]) for _ in range(2)]
            try:
                for proc in procs:
                    proc.wait_for(b"READY")
                onebot.emit_group_message(GROUP, 42, f"f{r}")
                victim = None
                deadline = time.monotonic() + 30
                while victim is None and time.monotonic() < deadline:
                    for proc in procs:
                        proc.read(0.01)
                        if b"HANDLING" in proc.buffer:
                            victim = proc
                            break
                if victim is None:
                    raise RuntimeError("no process started the handler")
                victim.proc.send_signal(signal.SIGKILL)
                killed = time.monotonic()
                _wait(lambda: len(onebot.sent_messages) >= 1, 60)
                # The survivor's handler itself waits 1.0 s: not failover time.
                times.append(time.monotonic() - killed - 1.0)
            finally:
                for proc in procs:
                    proc.stop()
    return times


def official_tokens(redis: Redis, n: int) -> List[List[object]]:
    from qqreliable.testing import FakeOfficial

    rows: List[List[object]] = []
    for label, store in (("no store", ""), ("Redis store", redis.ns())):
        with FakeOfficial() as official:
            env = {"QQR_API": official.url, "QQR_TOKEN_URL": official.token_url, "QQR_APP_ID": official.app_id,
                   "QQR_SECRET": official.secret, "QQR_STORE": store}
            started = time.monotonic()
            procs = [Proc(env, ["benchmarks/_scale_official_app.py"]) for _ in range(n)]
            try:
                for proc in procs:
                    proc.wait_for(b"READY")
                elapsed = time.monotonic() - started
                fetches = sum(1 for c in official.calls if c["route"] == "token")
            finally:
                for proc in procs:
                    proc.stop()
        rows.append([label, n, fetches, elapsed])
    return rows


def main() -> None:
    quick = "--quick" in sys.argv
    quiet()
    header("qqreliable: past one machine (Redis store, RQ workers)")
    redis = Redis()
    try:
        sys.stdout.write("1. Worker processes, handler waits 50 ms (ideal: 20 events/s per worker)\n\n")
        table(
            ["workers", "events", "seconds", "events/s", "of ideal"],
            workers_throughput(redis, [1, 2, 4], 40 if quick else 100),
        )
        sys.stdout.write("2. Cost per inbound event of the dedupe/claim path\n\n")
        table(["path", "µs/event"], store_cost(redis, 500 if quick else 3000))
        sys.stdout.write(
            "3. Failover: one of two bot processes killed (SIGKILL) mid-event; seconds until the\n"
            "   survivor starts that event (handler time excluded)\n\n"
        )
        rows = []
        for ttl in (2.0, 10.0):
            times = failover(redis, ttl, 1 if quick else 3)
            rows.append([f"claim_ttl={ttl:g}s", len(times), median(times), max(times)])
        table(["setting", "runs", "median s", "max s"], rows)
        sys.stdout.write(
            "4. Official access token: getAppAccessToken requests when OfficialBot processes start\n"
            "   together (FakeOfficial); seconds until every one is connected\n\n"
        )
        table(["setting", "processes", "token requests", "seconds"], official_tokens(redis, 4))
    finally:
        redis.stop()


if __name__ == "__main__":
    main()
