"""The listen modes and the inbound safety nets, each against a baseline in the same run.

    python benchmarks/modes.py [--events 20000] [--posts 2000] [--flood 100000] [--rounds 3]

Loopback only (FakeOneBot on 127.0.0.1, port 0). Rounds alternate the sides so
noise on a shared machine falls on both; the medians are printed.

- Reverse WS vs forward WS: events/s from FakeOneBot.push_event to a handler,
  the same frames, the same producer; a raw websocket-client loop (recv +
  json.loads) is the floor. Reverse WS runs on the project's own server code
  (transport/wsserver.py) instead of websocket-client.
- HTTP POST: sequential signed POSTs (as go-cqhttp sends them) answered by the
  bot (signature check, dedupe, queueing, 204) vs a stdlib
  ThreadingHTTPServer that answers 204 without reading the JSON.
- Dedupe: one ``Deduper.seen()`` per distinct message event, and ``fresh()`` on
  the events of one read (8 here), as the bots call it, vs a dict copy.
- Flood: events into a handler that never returns, with the default bounded
  queue vs an effectively unbounded one: RSS growth, drops, worst
  ``get_status`` latency during the flood.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import http.server
import json
import os
import threading
import time
from typing import Any, Dict, List, Tuple

import _common
import websocket

from qqreliable import Bot
from qqreliable.onebot.history import event_key
from qqreliable.reliability.dedupe import Deduper
from qqreliable.stats import percentile
from qqreliable.testing import FakeOneBot


def frames(n: int, self_id: int = 10001) -> List[Dict[str, Any]]:
    return [
        {"post_type": "message", "message_type": "private", "sub_type": "friend", "user_id": 5,
         "message_id": i, "message": [{"type": "text", "data": {"text": f"m{i}"}}],
         "raw_message": f"m{i}", "font": 0, "sender": {"user_id": 5}, "time": 1764500000, "self_id": self_id}
        for i in range(n)
    ]


def rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def _counter(bot: Bot, n: int) -> threading.Event:
    done = threading.Event()
    count = [0]
    lock = threading.Lock()

    @bot.on_message()
    def handler(event: Any) -> None:
        with lock:
            count[0] += 1
            if count[0] >= n:
                done.set()

    return done


def _push(onebot: FakeOneBot, events: List[Dict[str, Any]], done: threading.Event) -> float:
    started = time.perf_counter()
    for e in events:
        onebot.push_event(e)
    if not done.wait(120):
        raise RuntimeError("not every event reached the handler")
    return len(events) / (time.perf_counter() - started)


def raw_ws(n: int) -> float:
    with FakeOneBot() as onebot:
        ws = websocket.create_connection(onebot.ws_url, timeout=30, skip_utf8_validation=True)
        ws.recv()  # lifecycle
        done = threading.Event()

        def reader() -> None:
            for _ in range(n):
                json.loads(ws.recv())
            done.set()

        t = threading.Thread(target=reader)
        t.start()
        rate = _push(onebot, frames(n), done)
        t.join(30)
        ws.close()
    return rate


def forward_ws(n: int) -> float:
    with FakeOneBot() as onebot:
        bot = Bot(onebot.ws_url, queue_size=n + 10)
        done = _counter(bot, n)
        with bot:
            bot.wait_connected(10)
            return _push(onebot, frames(n), done)


def reverse_ws(n: int) -> float:
    with FakeOneBot() as onebot:
        bot = Bot(listen="ws://127.0.0.1:0/ws", queue_size=n + 10)
        done = _counter(bot, n)
        with bot:
            onebot.connect_reverse(bot.listen_url).wait_connects(1, timeout=10)
            bot.wait_connected(10)
            return _push(onebot, frames(n), done)


def _post_all(port: int, path: str, n: int) -> Tuple[float, List[float]]:
    bodies = [json.dumps(e).encode() for e in frames(n)]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    latencies = []
    started = time.perf_counter()
    for body in bodies:
        sig = "sha1=" + hmac.new(b"s", body, hashlib.sha1).hexdigest()
        t = time.perf_counter()
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json", "X-Signature": sig})
        resp = conn.getresponse()
        resp.read()
        latencies.append((time.perf_counter() - t) * 1000)
    rate = n / (time.perf_counter() - started)
    conn.close()
    return rate, sorted(latencies)


class _NoContent(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def stdlib_post(n: int) -> Tuple[float, List[float]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NoContent)
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    t.start()
    try:
        return _post_all(server.server_address[1], "/", n)
    finally:
        server.shutdown()
        server.server_close()
        t.join(5)


def bot_post(n: int) -> Tuple[float, List[float]]:
    bot = Bot(listen="http://127.0.0.1:0/post", secret="s", queue_size=n + 10)
    done = _counter(bot, n)
    with bot:
        port = int(bot.listen_url.rsplit(":", 1)[1].split("/")[0])
        result = _post_all(port, "/post", n)
        done.wait(30)
    return result


def dedupe_cost(n: int = 200_000, batch: int = 8) -> Tuple[float, float, float]:
    """Microseconds per event: seen() one by one, fresh() on batches of ``batch`` (the
    events of one socket read, as the bots call it), and a dict copy."""
    events = frames(n)
    d = Deduper(key=event_key)
    started = time.perf_counter()
    for e in events:
        d.seen(e)
    one_by_one = (time.perf_counter() - started) / n * 1e6
    d = Deduper(key=event_key)
    batches = [events[i:i + batch] for i in range(0, n, batch)]
    started = time.perf_counter()
    for b in batches:
        d.fresh(b)
    batched = (time.perf_counter() - started) / n * 1e6
    started = time.perf_counter()
    for e in events:
        dict(e)
    return one_by_one, batched, (time.perf_counter() - started) / n * 1e6


def flood(n: int, queue_size: int) -> Tuple[float, float, int, float]:
    with FakeOneBot() as onebot:
        bot = Bot(onebot.ws_url, workers=2, queue_size=queue_size)
        release = threading.Event()
        bot.on_message()(lambda e: release.wait(120))
        latencies: List[float] = []
        with bot:
            bot.wait_connected(10)
            events = frames(n)
            base = peak = rss()
            flooding = threading.Event()
            flooding.set()

            def caller() -> None:
                while flooding.is_set():
                    t = time.perf_counter()
                    bot.call_action("get_status", api_timeout=10)
                    latencies.append((time.perf_counter() - t) * 1000)

            c = threading.Thread(target=caller)
            c.start()
            started = time.perf_counter()
            for i, e in enumerate(events):
                onebot.push_event(e)
                if i % 5000 == 0:
                    peak = max(peak, rss())
            pause = threading.Event()
            while bot.events_received < n and time.perf_counter() - started < 120:
                pause.wait(0.01)
            elapsed = time.perf_counter() - started
            peak = max(peak, rss())
            flooding.clear()
            c.join(10)
            dropped = bot.stats()["events_dropped"]
            release.set()
    return elapsed, (peak - base) / 1e6, dropped, max(latencies) if latencies else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--posts", type=int, default=2_000)
    parser.add_argument("--flood", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    _common.quiet()
    _common.header("qqreliable listen modes: reverse WS, HTTP POST, dedupe, backpressure (benchmarks/modes.py)")
    started = time.perf_counter()

    raw: List[float] = []
    fwd: List[float] = []
    rev: List[float] = []
    base_posts: List[Tuple[float, List[float]]] = []
    bot_posts: List[Tuple[float, List[float]]] = []
    for _ in range(args.rounds):
        raw.append(raw_ws(args.events))
        fwd.append(forward_ws(args.events))
        rev.append(reverse_ws(args.events))
        base_posts.append(stdlib_post(args.posts))
        bot_posts.append(bot_post(args.posts))
    med = _common.median
    _common.table(
        ["events/s to a handler", "qqreliable", "baseline", "ratio"],
        [
            ["reverse WS (baseline: forward WS Bot)", med(rev), med(fwd), med(rev) / med(fwd)],
            ["forward WS Bot (baseline: raw recv loop)", med(fwd), med(raw), med(fwd) / med(raw)],
        ],
    )
    b_rate = med([r for r, _ in base_posts])
    q_rate = med([r for r, _ in bot_posts])
    b50 = med([percentile(lat, 0.5) or 0.0 for _, lat in base_posts])
    q50 = med([percentile(lat, 0.5) or 0.0 for _, lat in bot_posts])
    b99 = med([percentile(lat, 0.99) or 0.0 for _, lat in base_posts])
    q99 = med([percentile(lat, 0.99) or 0.0 for _, lat in bot_posts])
    _common.table(
        ["HTTP POST, signed, sequential", "qqreliable", "stdlib 204", "ratio"],
        [
            ["events/s", q_rate, b_rate, q_rate / b_rate],
            ["answer p50 ms", q50, b50, q50 / b50],
            ["answer p99 ms", q99, b99, q99 / b99],
        ],
    )
    dd, batched, copy_cost = dedupe_cost()
    _common.table(
        ["dedupe", "seen()", "fresh(), 8 per read", "dict copy", "ratios"],
        [["us per event", dd, batched, copy_cost, f"{dd / copy_cost:.1f} / {batched / copy_cost:.1f}"]],
    )
    bounded = flood(args.flood, 1000)
    unbounded = flood(args.flood, args.flood + 10)
    _common.table(
        [f"flood: {args.flood:,} events, handler blocked", "queue_size=1000", f"queue_size={args.flood + 10:,}"],
        [
            ["seconds to read the flood", bounded[0], unbounded[0]],
            ["RSS growth MB", bounded[1], unbounded[1]],
            ["events dropped (counted)", bounded[2], unbounded[2]],
            ["worst get_status during flood ms", bounded[3], unbounded[3]],
        ],
    )
    print(f"{args.rounds} rounds, medians; total {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
