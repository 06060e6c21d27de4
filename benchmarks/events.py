"""Events per second through ``Bot`` handlers against a raw websocket-client loop.

    python benchmarks/events.py [--events 30000] [--rounds 3]

Throughput: both sides read the same pre-encoded stream from a local server
that writes frames back to back (``_blast.py``, in a process of its own as a real
server is: see ``_blast_process.py``), so the client is the bottleneck. The
baseline is the least any client must do: websocket-client ``recv()`` plus
``json.loads`` on one thread. ``Bot`` does that and more: the liveness watchdog,
an ``Event`` per frame, the bounded queue and a handler on the thread pool.
Rounds alternate so machine noise falls on both sides.

Latency: FakeOneBot pushes events paced at 1,000/s; each carries the time it
was built, and the handler (or the raw loop) measures how late it runs.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from typing import Any, Callable, Dict, List

import _common
import websocket
from _blast_process import BlastProcess

from qqreliable import Bot, Event
from qqreliable.stats import percentile
from qqreliable.testing import FakeOneBot


def _event(n: int) -> Dict[str, Any]:
    return {
        "time": 1764500000,
        "self_id": 10001,
        "post_type": "message",
        "message_type": "group",
        "sub_type": "normal",
        "message_id": n,
        "group_id": 30003,
        "user_id": 20002,
        "message": [{"type": "text", "data": {"text": f"message number {n}"}}],
        "raw_message": f"message number {n}",
        "font": 0,
        "sender": {"user_id": 20002, "nickname": "load", "card": "", "role": "member"},
        "bench_t": time.perf_counter(),
    }


class _Raw:
    """The baseline client: recv + json.loads on the calling thread."""

    def __init__(self, url: str) -> None:
        self.ws = websocket.create_connection(url, timeout=30)

    def consume(self, count: int, latencies: List[float]) -> None:
        seen = 0
        while seen < count:
            obj = json.loads(self.ws.recv())
            if obj.get("post_type") == "message":
                seen += 1
                latencies.append(time.perf_counter() - obj["bench_t"])

    def close(self) -> None:
        self.ws.close()


class _BotSide:
    """qqreliable: a Bot with one group-message handler."""

    def __init__(self, url: str) -> None:
        self._lock = threading.Lock()
        self._target = 0
        self._latencies: List[float] = []
        self._done = threading.Event()
        self.bot = Bot(url, workers=8)
        self.bot.on_message("group")(self._handle)
        self.bot.start()
        self.bot.wait_connected(10)

    def _handle(self, event: Event) -> None:
        latency = time.perf_counter() - event["bench_t"]
        with self._lock:
            self._latencies.append(latency)
            if len(self._latencies) >= self._target:
                self._done.set()

    def consume(self, count: int, latencies: List[float]) -> None:
        if not self._done.wait(120):
            raise RuntimeError(f"only {len(self._latencies)} of {count} events handled")
        latencies.extend(self._latencies)

    def expect(self, count: int) -> None:
        with self._lock:
            self._target, self._latencies = count, []
            self._done.clear()

    def close(self) -> None:
        self.bot.stop()


def _open(kind: str, url: str, count: int) -> Any:
    side: Any = _Raw(url) if kind == "raw" else _BotSide(url)
    if kind == "bot":
        side.expect(count)
    return side


def throughput(server: BlastProcess, kind: str, frames: List[bytes]) -> Dict[str, Any]:
    side = _open(kind, server.url, len(frames))
    try:
        server.wait_clients(1)
        latencies: List[float] = []
        started = time.perf_counter()
        writer = threading.Thread(target=server.blast, args=(frames,))
        writer.start()
        side.consume(len(frames), latencies)
        elapsed = time.perf_counter() - started
        writer.join(30)
        dropped = side.bot.stats()["events_dropped"] if kind == "bot" else 0
    finally:
        side.close()
    server.wait_clients(0)
    return {"rate": len(frames) / elapsed, "dropped": dropped}


def paced(server: FakeOneBot, kind: str, count: int, rate: float) -> List[float]:
    side = _open(kind, server.ws_url, count)
    try:
        _wait(lambda: server.connection_count == 1)
        latencies: List[float] = []
        pause = threading.Event()

        def produce() -> None:
            start = time.perf_counter()
            for n in range(count):
                ahead = start + n / rate - time.perf_counter()
                if ahead > 0:
                    pause.wait(ahead)
                server.push_event(_event(n))

        producer = threading.Thread(target=produce)
        producer.start()
        side.consume(count, latencies)
        producer.join(60)
    finally:
        side.close()
    _wait(lambda: server.connection_count == 0)
    return sorted(latencies)


def _wait(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark set-up did not settle")
        pause.wait(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--paced-seconds", type=float, default=5.0)
    args = parser.parse_args()
    _common.quiet()
    _common.header(f"events.py: {args.events:,} group messages per round, {args.rounds} rounds")
    frames = [json.dumps(_event(n)).encode() for n in range(args.events)]
    runs: Dict[str, List[Dict[str, Any]]] = {"raw": [], "bot": []}
    server = BlastProcess("onebot")
    try:
        server.load(frames)  # before any clock starts
        for _ in range(args.rounds):
            for kind in runs:
                runs[kind].append(throughput(server, kind, frames))
    finally:
        server.close()
    raw = _common.median([r["rate"] for r in runs["raw"]])
    bot = _common.median([r["rate"] for r in runs["bot"]])
    drops = sum(r["dropped"] for r in runs["bot"])
    _common.table(
        ["throughput (median of rounds)", "events/s", "vs raw"],
        [
            ["raw websocket-client recv + json.loads", raw, "1.00x"],
            ["qqreliable Bot -> handler (8 workers)", bot, f"{bot / raw:.2f}x"],
        ],
    )
    count = int(1000 * args.paced_seconds)
    rows = []
    with FakeOneBot(heartbeat_interval=30.0) as fake:
        for kind, label in (("raw", "raw recv loop"), ("bot", "qqreliable Bot handler")):
            lat = paced(fake, kind, count, 1000.0)
            rows.append([label, percentile(lat, 0.5) * 1000, percentile(lat, 0.99) * 1000, lat[-1] * 1000])
    _common.table([f"latency at 1,000 events/s ({count:,} events)", "p50 ms", "p99 ms", "max ms"], rows)
    _common.table(["check", "value"], [["events dropped by the bot's queue (throughput rounds)", drops]])


if __name__ == "__main__":
    main()
