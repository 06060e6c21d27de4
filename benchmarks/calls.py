"""Calls per second through ``Bot`` against raw clients, over WebSocket and HTTP.

    python benchmarks/calls.py [--seconds 3] [--rounds 3]

All calls are ``get_login_info`` against one FakeOneBot on 127.0.0.1, run in a
child process so that the server does not compete for the client's GIL.

* WebSocket: ``Bot.call_action`` from 1 and from 8 threads sharing one
  connection, against a raw single-socket websocket-client RPC loop (send a
  frame with an echo, receive until that echo comes back) on one thread.
* HTTP: ``Bot`` with an ``http://`` url from 1 and 8 threads, against a raw
  ``requests.Session().post`` loop on one thread.

Rounds alternate between the sides so machine noise falls on both.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from typing import Callable, Dict, List

import _common
import requests
import websocket

from qqreliable import Bot


def _run_for(seconds: float, threads: int, call: Callable[[], object]) -> float:
    """Calls per second made by ``threads`` threads calling ``call`` for ``seconds``."""
    stop = threading.Event()
    counts = [0] * threads
    errors: List[BaseException] = []

    def worker(i: int) -> None:
        try:
            while not stop.is_set():
                call()
                counts[i] += 1
        except BaseException as exc:  # surfaced below: a benchmark must not hide failures
            errors.append(exc)
            stop.set()

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for t in pool:
        t.start()
    stop.wait(seconds)
    stop.set()
    for t in pool:
        t.join(30)
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return sum(counts) / elapsed


def raw_ws(urls: Dict[str, str], seconds: float) -> float:
    ws = websocket.create_connection(urls["ws"], timeout=10)
    seq = iter(range(1 << 62))

    def call() -> object:
        echo = str(next(seq))
        ws.send(json.dumps({"action": "get_login_info", "params": {}, "echo": echo}))
        while True:
            reply = json.loads(ws.recv())
            if reply.get("echo") == echo:
                return reply["data"]

    try:
        return _run_for(seconds, 1, call)
    finally:
        ws.close()


def bot_ws(urls: Dict[str, str], seconds: float, threads: int) -> float:
    with Bot(urls["ws"], workers=8) as bot:
        bot.wait_connected(10)
        return _run_for(seconds, threads, bot.get_login_info)


def raw_http(urls: Dict[str, str], seconds: float, trust_env: bool = True) -> float:
    with requests.Session() as session:
        # trust_env=True is the default a script gets: every request then looks
        # up proxy variables and ~/.netrc. Bot turns it off (a local OneBot must
        # not go through a proxy); the second baseline shows what that alone buys.
        session.trust_env = trust_env
        url = f"{urls['http']}/get_login_info"

        def call() -> object:
            body = session.post(url, json={}, timeout=10).json()
            if body.get("retcode") != 0:
                raise RuntimeError(body)
            return body["data"]

        return _run_for(seconds, 1, call)


def bot_http(urls: Dict[str, str], seconds: float, threads: int) -> float:
    bot = Bot(urls["http"], workers=8)
    try:
        return _run_for(seconds, threads, bot.get_login_info)
    finally:
        bot.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    _common.quiet()
    _common.header(f"calls.py: get_login_info, {args.seconds:g} s per measurement, {args.rounds} rounds")
    sides: Dict[str, Callable[[Dict[str, str]], float]] = {
        "ws raw": lambda s: raw_ws(s, args.seconds),
        "ws bot 1": lambda s: bot_ws(s, args.seconds, 1),
        "ws bot 8": lambda s: bot_ws(s, args.seconds, 8),
        "http raw": lambda s: raw_http(s, args.seconds),
        "http raw no env": lambda s: raw_http(s, args.seconds, trust_env=False),
        "http bot 1": lambda s: bot_http(s, args.seconds, 1),
        "http bot 8": lambda s: bot_http(s, args.seconds, 8),
    }
    results: Dict[str, List[float]] = {name: [] for name in sides}
    with _common.ServerProcess(heartbeat_interval=30.0) as urls:
        for _ in range(args.rounds):
            for name, fn in sides.items():
                results[name].append(fn(urls))
    rate = {name: _common.median(values) for name, values in results.items()}
    _common.table(
        ["WebSocket (one connection)", "calls/s", "vs raw"],
        [
            ["raw websocket-client RPC loop, 1 thread", rate["ws raw"], "1.00x"],
            ["qqreliable Bot, 1 thread", rate["ws bot 1"], f"{rate['ws bot 1'] / rate['ws raw']:.2f}x"],
            ["qqreliable Bot, 8 threads", rate["ws bot 8"], f"{rate['ws bot 8'] / rate['ws raw']:.2f}x"],
        ],
    )
    _common.table(
        ["HTTP", "calls/s", "vs raw"],
        [
            ["raw requests.Session, 1 thread", rate["http raw"], "1.00x"],
            [
                "raw requests.Session, trust_env=False, 1 thread",
                rate["http raw no env"],
                f"{rate['http raw no env'] / rate['http raw']:.2f}x",
            ],
            ["qqreliable Bot, 1 thread", rate["http bot 1"], f"{rate['http bot 1'] / rate['http raw']:.2f}x"],
            ["qqreliable Bot, 8 threads", rate["http bot 8"], f"{rate['http bot 8'] / rate['http raw']:.2f}x"],
        ],
    )


if __name__ == "__main__":
    main()
