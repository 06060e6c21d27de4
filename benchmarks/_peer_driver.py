"""One peer under test, in a process of its own: ``peers.py`` starts and steers it.

    python _peer_driver.py PEER WORKLOAD URL [--count N]

PEER is ``qqreliable`` (run with the project's interpreter), ``nonebot``,
``aiocqhttp`` or ``websockets`` (a bare asyncio ``websockets`` recv +
``json.loads`` loop, the floor; these three run with the interpreter of
``benchmarks/.peers-venv``, so their dependencies never meet the project's).
URL ``-`` makes ``qqreliable`` listen (reverse WebSocket) like ``aiocqhttp``. WORKLOAD is ``events``, ``calls`` or
``reconnect``. The driver talks JSON lines: it writes reports to stdout and
reads commands from stdin; end of stdin means stop. Times are
``time.monotonic()``, which on Linux is one clock for every process, so the
parent can subtract its own readings from the driver's.

Reports: ``{"ready": ...}`` once connected (a server-side peer reports
``{"listening": url}`` instead); ``events`` reports ``{"done": k, "t": ...}``
each time its handler has seen another ``--count`` group messages;
``reconnect`` reports ``{"seen": message_id, "t": ...}`` for every group
message; ``calls`` answers each ``{"seconds": s, "tasks": n}`` command with
``{"rate": calls_per_second, "calls": n, "t": ..., "cpu": seconds}`` (the
driver's own CPU time over the measurement, every thread).

Logging is set to WARNING for every peer (nonebot logs every event at INFO
by default, which would measure its terminal output).

This file must run on any Python the project supports and import nothing of
the project unless PEER is ``qqreliable``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional

SELF_ID = 10001
_out_lock = threading.Lock()
_reports = sys.stdout


def own_stdout() -> None:
    """Keep fd 1 for reports; anything else written to stdout goes to stderr.

    nonebot's logger writes to stdout, which would garble the report stream.
    """
    global _reports
    _reports = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr


def report(**fields: Any) -> None:
    line = json.dumps(fields) + "\n"
    with _out_lock:
        _reports.write(line)
        _reports.flush()


class Counter:
    """Counts handler calls; reports every ``count``-th (events) or each one (reconnect)."""

    def __init__(self, workload: str, count: int) -> None:
        self.workload = workload
        self.count = count
        self.seen = 0
        self._lock = threading.Lock()

    def hit(self, message_id: Any) -> None:
        now = time.monotonic()
        if self.workload == "reconnect":
            report(seen=message_id, t=now)
            return
        with self._lock:
            self.seen += 1
            done = self.seen % self.count == 0
            k = self.seen // self.count
        if done:
            report(done=k, t=now)


def stdin_lines(on_line: Callable[[Optional[str]], None]) -> threading.Thread:
    """Feed each stdin line to ``on_line`` from a thread; ``None`` at end of input."""

    def pump() -> None:
        for line in sys.stdin:
            if line.strip():
                on_line(line)
        on_line(None)

    thread = threading.Thread(target=pump, name="driver:stdin", daemon=True)
    thread.start()
    return thread


# ---------------------------------------------------------------- qqreliable


def run_qqreliable(args: argparse.Namespace) -> None:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from qqreliable import Bot, Event

    counter = Counter(args.workload, args.count)
    listening = args.url == "-"
    # "-": reverse WebSocket, the bot listens and the OneBot side dials it.
    bot = Bot(listen="ws://127.0.0.1:0/ws/", workers=8) if listening else Bot(args.url, workers=8)

    @bot.on_message("group")
    def handle(event: Event) -> None:
        counter.hit(event["message_id"])

    commands: "List[Optional[str]]" = []
    cond = threading.Condition()

    def on_line(line: Optional[str]) -> None:
        with cond:
            commands.append(line)
            cond.notify_all()

    bot.start()
    try:
        if listening:
            report(listening=bot.listen_url)
        elif args.url.startswith("ws"):
            bot.wait_connected(15)
            report(ready=True)
        else:
            report(ready=True)
        stdin_lines(on_line)
        while True:
            with cond:
                if not cond.wait_for(lambda: commands, timeout=600):
                    return
                line = commands.pop(0)
            if line is None:
                return
            command = json.loads(line)
            report(**_threaded_rate(bot.get_login_info, command["seconds"], command["tasks"]))
    finally:
        bot.stop()
        report(stopped=True, dropped=bot.stats()["events_dropped"])


def _threaded_rate(call: Callable[[], object], seconds: float, threads: int) -> Dict[str, float]:
    stop = threading.Event()
    counts = [0] * threads
    errors: List[BaseException] = []

    def worker(i: int) -> None:
        try:
            while not stop.is_set():
                call()
                counts[i] += 1
        except BaseException as exc:  # reported: a benchmark must not hide failures
            errors.append(exc)
            stop.set()

    pool = [threading.Thread(target=worker, args=(i,), name=f"driver:call-{i}") for i in range(threads)]
    cpu = time.process_time()
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    stop.wait(seconds)
    stop.set()
    for thread in pool:
        thread.join(30)
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return {"rate": sum(counts) / elapsed, "calls": sum(counts), "t": time.monotonic(),
            "cpu": time.process_time() - cpu}


async def _async_rate(call: Callable[[], Any], seconds: float, tasks: int) -> Dict[str, float]:
    deadline = time.perf_counter() + seconds
    counts = [0] * tasks

    async def worker(i: int) -> None:
        while time.perf_counter() < deadline:
            await call()
            counts[i] += 1

    cpu = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(tasks)))
    return {"rate": sum(counts) / (time.perf_counter() - started), "calls": sum(counts), "t": time.monotonic(),
            "cpu": time.process_time() - cpu}


async def _command_loop(call: Callable[[], Any]) -> None:
    """Answer ``calls`` commands from stdin until it ends."""
    loop = asyncio.get_running_loop()
    queue: "asyncio.Queue[Optional[str]]" = asyncio.Queue()
    stdin_lines(lambda line: loop.call_soon_threadsafe(queue.put_nowait, line))
    while True:
        line = await queue.get()
        if line is None:
            return
        command = json.loads(line)
        report(**await _async_rate(call, command["seconds"], command["tasks"]))


async def _wait_stdin_end() -> None:
    loop = asyncio.get_running_loop()
    ended = asyncio.Event()
    stdin_lines(lambda line: loop.call_soon_threadsafe(ended.set) if line is None else None)
    await ended.wait()


# ---------------------------------------------------------------- nonebot


def run_nonebot(args: argparse.Namespace) -> None:
    import nonebot
    from nonebot.adapters.onebot.v11 import Adapter, Bot, GroupMessageEvent

    # Forward WebSocket needs only a client driver: the "none" base driver
    # with the websockets mixin. No ASGI server is started.
    nonebot.init(
        driver="~none+~websockets",
        onebot_ws_urls=[args.url],
        log_level="WARNING",
        api_timeout=30.0,
    )
    driver = nonebot.get_driver()
    driver.register_adapter(Adapter)
    counter = Counter(args.workload, args.count)

    matcher = nonebot.on_message(block=False)

    async def handle(event: Any) -> None:
        counter.hit(event.message_id)

    # nonebot injects handler arguments by their annotations, which it
    # evaluates in the module's globals: hand it the classes themselves.
    handle.__annotations__ = {"event": GroupMessageEvent, "return": None}
    matcher.handle()(handle)

    state: Dict[str, Any] = {"control": None}

    async def connected(bot: Any) -> None:
        report(ready=True, t=time.monotonic())
        if state["control"] is None:
            state["control"] = asyncio.get_running_loop().create_task(control())

    connected.__annotations__ = {"bot": Bot, "return": None}
    driver.on_bot_connect(connected)

    async def control() -> None:
        try:
            if args.workload == "calls":
                await _command_loop(lambda: nonebot.get_bot(str(SELF_ID)).get_login_info())
            else:
                await _wait_stdin_end()
        finally:
            driver.exit()

    nonebot.run()
    report(stopped=True)


# ---------------------------------------------------------------- aiocqhttp


def run_aiocqhttp(args: argparse.Namespace) -> None:
    from aiocqhttp import CQHttp

    if args.workload == "calls" and args.url != "-":
        # With no reverse WebSocket connected, its API goes over HTTP to
        # ``api_root`` (here FakeOneBot's HTTP API); no server is needed.
        bot = CQHttp(api_root=args.url)

        async def calls() -> None:
            await bot.get_login_info()  # fail here, before any measurement
            report(ready=True)
            await _command_loop(bot.get_login_info)

        asyncio.run(calls())
        report(stopped=True)
        return

    # A server-side framework: Quart (through Hypercorn) serves the reverse
    # WebSocket on a socket bound here to port 0, handed over by descriptor.
    bot = CQHttp()
    counter = Counter(args.workload, args.count)

    @bot.on_message("group")
    async def handle(event: Any) -> None:
        counter.hit(event.message_id)

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = listener.getsockname()[1]

    async def serve() -> None:
        stopping = asyncio.Event()

        async def control() -> None:
            try:
                if args.workload == "calls":
                    # Calls go over the one reverse WebSocket once it is connected.
                    await _command_loop(bot.get_login_info)
                else:
                    await _wait_stdin_end()
            finally:
                stopping.set()

        loop = asyncio.get_running_loop()
        controller = loop.create_task(control())
        server = loop.create_task(bot.run_task(host=f"fd://{listener.fileno()}", shutdown_trigger=stopping.wait))
        report(listening=f"ws://127.0.0.1:{port}/ws/")
        await server
        controller.cancel()

    asyncio.run(serve())
    report(stopped=True)


# ---------------------------------------------------------------- raw asyncio websockets


def run_websockets(args: argparse.Namespace) -> None:
    """The floor: an asyncio ``websockets`` client doing ``recv()`` + ``json.loads``, nothing
    else; with the url ``-``, the same loop as a server the OneBot side dials (reverse WS:
    masked frames, unmasked by websockets' C extension when it has one)."""
    import websockets

    counter = Counter(args.workload, args.count)

    async def loop(ws: Any) -> None:
        try:
            while True:
                obj = json.loads(await ws.recv())
                if obj.get("post_type") == "message":
                    counter.hit(obj["message_id"])
        except websockets.ConnectionClosed:
            pass

    async def serve() -> None:
        async with websockets.serve(loop, "127.0.0.1", 0, max_size=None, compression=None) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            report(listening=f"ws://127.0.0.1:{port}/ws/")
            await _wait_stdin_end()

    async def consume() -> None:
        async with websockets.connect(args.url, max_size=None, compression=None) as ws:
            reader = asyncio.ensure_future(loop(ws))
            report(ready=True)
            await _wait_stdin_end()
            reader.cancel()

    asyncio.run(serve() if args.url == "-" else consume())
    report(stopped=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("peer", choices=["qqreliable", "nonebot", "aiocqhttp", "websockets"])
    parser.add_argument("workload", choices=["events", "calls", "reconnect"])
    parser.add_argument("url")
    parser.add_argument("--count", type=int, default=1)
    args = parser.parse_args()
    own_stdout()
    logging.basicConfig(level=logging.WARNING)
    runners = {"qqreliable": run_qqreliable, "nonebot": run_nonebot, "aiocqhttp": run_aiocqhttp,
               "websockets": run_websockets}
    runners[args.peer](args)


if __name__ == "__main__":
    main()
