"""Event delivery in every connection mode, against baselines measured in the same run.

    python benchmarks/modes.py

Loopback only (FakeOneBot on 127.0.0.1, port 0). Rows:

- forward WS / reverse WS: events/s from FakeOneBot.push_event to a handler,
  versus a raw websocket-client loop that only reads and json-parses the same
  frames (the cost of dedupe, chat tracking, Event objects and the pool).
- HTTP POST: events/s and answer latency of sequential signed POSTs, versus a
  stdlib ThreadingHTTPServer that answers 204 without looking at the body.
- dedupe: cost of one Deduper.seen() call on distinct message events.
- flood: 100,000 events into a handler that never returns: RSS growth,
  drops counted, worst get_status latency during the flood.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import http.server
import json
import os
import sys
import threading
import time
from typing import Any, Dict, List, Tuple

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import websocket  # noqa: E402

from qqreliable import Bot  # noqa: E402
from qqreliable.reliability.dedupe import Deduper  # noqa: E402
from qqreliable.testing import FakeOneBot  # noqa: E402

N_WS = 20_000
N_POST = 2_000
N_FLOOD = 100_000


def frames(n: int, self_id: int = 10001, start: int = 0) -> List[Dict[str, Any]]:
    return [
        {"post_type": "message", "message_type": "private", "sub_type": "friend", "user_id": 5,
         "message_id": start + i, "message": [{"type": "text", "data": {"text": f"m{i}"}}],
         "raw_message": f"m{i}", "font": 0, "sender": {"user_id": 5}, "time": 1700000000, "self_id": self_id}
        for i in range(n)
    ]


def rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def counting_bot(bot: Bot, n: int) -> threading.Event:
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


def raw_ws_baseline() -> float:
    with FakeOneBot() as onebot:
        ws = websocket.create_connection(onebot.ws_url, timeout=10, skip_utf8_validation=True)
        ws.recv()  # lifecycle
        events = frames(N_WS)
        got = [0]

        def reader() -> None:
            while got[0] < N_WS:
                json.loads(ws.recv())
                got[0] += 1

        t = threading.Thread(target=reader)
        started = time.perf_counter()
        t.start()
        for e in events:
            onebot.push_event(e)
        t.join(60)
        elapsed = time.perf_counter() - started
        ws.close()
    return N_WS / elapsed


def bot_forward() -> float:
    with FakeOneBot() as onebot:
        bot = Bot(onebot.ws_url, queue_size=N_WS + 10)
        done = counting_bot(bot, N_WS)
        with bot:
            bot.wait_connected(5)
            events = frames(N_WS)
            started = time.perf_counter()
            for e in events:
                onebot.push_event(e)
            done.wait(60)
            elapsed = time.perf_counter() - started
    return N_WS / elapsed


def bot_reverse() -> float:
    with FakeOneBot() as onebot:
        bot = Bot(listen="ws://127.0.0.1:0/ws", queue_size=N_WS + 10)
        done = counting_bot(bot, N_WS)
        with bot:
            link = onebot.connect_reverse(bot.listen_url)
            link.wait_connects(1)
            bot.wait_connected(5)
            events = frames(N_WS)
            started = time.perf_counter()
            for e in events:
                onebot.push_event(e)
            done.wait(60)
            elapsed = time.perf_counter() - started
    return N_WS / elapsed


def post_all(port: int, path: str, secret: str) -> Tuple[float, List[float]]:
    bodies = [json.dumps(e).encode() for e in frames(N_POST)]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    latencies = []
    started = time.perf_counter()
    for body in bodies:
        sig = "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
        t = time.perf_counter()
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json", "X-Signature": sig})
        resp = conn.getresponse()
        resp.read()
        latencies.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - started
    conn.close()
    return N_POST / elapsed, latencies


class _NoContent(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def stdlib_post_baseline() -> Tuple[float, List[float]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NoContent)
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    t.start()
    try:
        return post_all(server.server_address[1], "/", "s")
    finally:
        server.shutdown()
        server.server_close()
        t.join(5)


def bot_webhook() -> Tuple[float, List[float]]:
    bot = Bot(listen="http://127.0.0.1:0/post", secret="s", queue_size=N_POST + 10)
    done = counting_bot(bot, N_POST)
    with bot:
        port = int(bot.listen_url.rsplit(":", 1)[1].split("/")[0])
        rate, latencies = post_all(port, "/post", "s")
        done.wait(30)
    return rate, latencies


def dedupe_cost() -> Tuple[float, float]:
    events = frames(200_000)
    d = Deduper()
    started = time.perf_counter()
    for e in events:
        d.seen(e)
    with_dedupe = (time.perf_counter() - started) / len(events)
    started = time.perf_counter()
    for e in events:
        dict(e)  # the baseline: touching each event once
    baseline = (time.perf_counter() - started) / len(events)
    return with_dedupe * 1e6, baseline * 1e6


def flood() -> Tuple[float, float, int, float]:
    with FakeOneBot() as onebot:
        bot = Bot(onebot.ws_url, workers=2, queue_size=1000)
        release = threading.Event()
        bot.on_message()(lambda e: release.wait(60))
        latencies: List[float] = []
        with bot:
            bot.wait_connected(5)
            events = frames(N_FLOOD)
            base = peak = rss()
            flooding = threading.Event()
            flooding.set()

            def caller() -> None:
                while flooding.is_set():
                    t = time.perf_counter()
                    bot.call_action("get_status", api_timeout=10)
                    latencies.append(time.perf_counter() - t)

            c = threading.Thread(target=caller)
            c.start()
            started = time.perf_counter()
            for i, e in enumerate(events):
                onebot.push_event(e)
                if i % 5000 == 0:
                    peak = max(peak, rss())
            while bot.events_received < N_FLOOD and time.perf_counter() - started < 60:
                threading.Event().wait(0.01)
            elapsed = time.perf_counter() - started
            peak = max(peak, rss())
            flooding.clear()
            c.join(10)
            dropped = bot.stats()["events_dropped"]
            release.set()
    return elapsed, (peak - base) / 1e6, dropped, max(latencies) * 1000


def main() -> None:
    t0 = time.perf_counter()
    raw = raw_ws_baseline()
    fwd = bot_forward()
    rev = bot_reverse()
    base_rate, base_lat = stdlib_post_baseline()
    hook_rate, hook_lat = bot_webhook()
    dd, dd_base = dedupe_cost()
    f_elapsed, f_growth, f_dropped, f_lat = flood()

    def p(lat: List[float], q: float) -> float:
        return sorted(lat)[int(q * (len(lat) - 1))] * 1000

    print(f"qqreliable connection modes (python {sys.version.split()[0]}, loopback, {os.cpu_count()} cores)\n")
    print(f"{'measurement':<46}{'qqreliable':>14}{'baseline':>14}{'ratio':>8}")
    print("-" * 82)
    print(f"{'forward WS events/s (baseline: raw ws-client)':<46}{fwd:>14,.0f}{raw:>14,.0f}{fwd / raw:>8.2f}")
    print(f"{'reverse WS events/s (baseline: raw ws-client)':<46}{rev:>14,.0f}{raw:>14,.0f}{rev / raw:>8.2f}")
    print(f"{'HTTP POST events/s (baseline: stdlib 204)':<46}{hook_rate:>14,.0f}{base_rate:>14,.0f}{hook_rate / base_rate:>8.2f}")
    print(f"{'HTTP POST answer p50 ms':<46}{p(hook_lat, .5):>14.2f}{p(base_lat, .5):>14.2f}{p(hook_lat, .5) / p(base_lat, .5):>8.2f}")
    print(f"{'HTTP POST answer p99 ms':<46}{p(hook_lat, .99):>14.2f}{p(base_lat, .99):>14.2f}{p(hook_lat, .99) / p(base_lat, .99):>8.2f}")
    print(f"{'dedupe check us/event (baseline: dict copy)':<46}{dd:>14.2f}{dd_base:>14.2f}{dd / dd_base:>8.2f}")
    print(f"{'flood 100k into a blocked handler: seconds':<46}{f_elapsed:>14.1f}{'':>14}{'':>8}")
    print(f"{'  RSS growth MB (queue_size=1000)':<46}{f_growth:>14.1f}{'':>14}{'':>8}")
    print(f"{'  events dropped and counted':<46}{f_dropped:>14,}{'':>14}{'':>8}")
    print(f"{'  worst get_status latency during flood ms':<46}{f_lat:>14.0f}{'':>14}{'':>8}")
    print(f"\none run, total {time.perf_counter() - t0:.0f}s. WS rates are bounded by the producer")
    print("(FakeOneBot.push_event on the same 2 cores), so ratios near or above 1 mean 'keeps up'.")


if __name__ == "__main__":
    main()
