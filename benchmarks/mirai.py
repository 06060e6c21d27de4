"""MiraiBot throughput, calls and reconnects, against a raw loop, ``Bot`` and YiriMirai.

    python benchmarks/mirai.py [--events 20000] [--rounds 3] [--calls 4000]
                               [--peers-python benchmarks/.peers-venv/bin/python]

* events/s to a handler: every client reads the same pre-encoded stream from a
  local server writing frames back to back (``_mirai_blast.py`` for MAH,
  ``_blast.py`` for OneBot), so the client is the bottleneck. The baseline is
  websocket-client ``recv()`` + ``json.loads`` on one thread.
* calls/s from 8 threads (YiriMirai: 8 concurrent coroutines) against the same
  server, which answers every command at once.
* reconnect after a 1006: how long from the server dropping the socket to the
  client being connected again.

YiriMirai (``yiri-mirai-rc``) and graia-ariadne (events/s only) run in a
separate venv (``--peers-python``); without them their rows say so (with the
driver's error for ariadne). Rounds alternate so that machine noise falls on
every side alike.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import tempfile
import threading
import time
from typing import Any, Dict, List, Optional

import _common
import websocket
from _blast import BlastServer
from _mirai_blast import MiraiBlastServer, group_message
from events import _event

from qqreliable import Backoff, Bot, MiraiBot

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PEERS = os.path.join(HERE, ".peers-venv", "bin", "python")

YIRI_DRIVER = r'''
import asyncio, sys, time
from mirai import Mirai, WebSocketAdapter, GroupMessage
port, mode, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])

async def main():
    bot = Mirai(qq=10001, adapter=WebSocketAdapter(verify_key="k", host="127.0.0.1", port=port))
    done = asyncio.Event()
    seen = [0]

    @bot.on(GroupMessage)
    async def handler(event):
        seen[0] += 1
        if seen[0] >= count:
            done.set()

    await bot.startup()
    print("READY", flush=True)
    if mode == "events":
        await asyncio.wait_for(done.wait(), 600)
        print("DONE", time.time(), flush=True)
    elif mode == "calls":
        per = max(1, count // 8)
        started = time.perf_counter()
        async def loop():
            for _ in range(per):
                await bot.about()
        await asyncio.gather(*(loop() for _ in range(8)))
        print("CALLS", per * 8 / (time.perf_counter() - started), flush=True)
    else:
        await asyncio.sleep(count)
        print("ALIVE", flush=True)
    await bot.shutdown()

try:
    asyncio.run(main())
except SystemExit as exc:
    print("SYSTEMEXIT", repr(exc), flush=True)
except BaseException as exc:
    print("ERROR", repr(exc), flush=True)
'''

# graia-ariadne (0.11, launart) over its WebSocket client; events only.
ARIADNE_DRIVER = r'''
import os, sys, time
port, mode, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
try:
    from graia.ariadne.app import Ariadne
    from graia.ariadne.connection.config import WebsocketClientConfig, config
    from graia.ariadne.event.lifecycle import ApplicationLaunched
    from graia.ariadne.event.message import GroupMessage
except BaseException as exc:
    print("ERROR", repr(exc), flush=True)
    sys.exit(0)
from loguru import logger
logger.remove()  # Ariadne logs every message at INFO; nothing printed, as for the other clients

app = Ariadne(config(10001, "k", WebsocketClientConfig(f"http://127.0.0.1:{port}")))
seen = [0]

@app.broadcast.receiver(ApplicationLaunched)
async def launched():
    print("READY", flush=True)

@app.broadcast.receiver(GroupMessage)
async def handler(event: GroupMessage):
    seen[0] += 1
    if seen[0] >= count:
        print("DONE", time.time(), flush=True)
        os._exit(0)

try:
    Ariadne.launch_blocking()
except BaseException as exc:
    print("ERROR", repr(exc), flush=True)
'''


class _Yiri:
    """A peer SDK (YiriMirai; graia-ariadne with ``driver=ARIADNE_DRIVER``) in the peers
    venv, driven line by line over stdout."""

    def __init__(self, python: str, port: int, mode: str, count: int, driver: str = YIRI_DRIVER) -> None:
        fd, self.path = tempfile.mkstemp(suffix="_peer_driver.py")
        with os.fdopen(fd, "w") as fh:
            fh.write(driver)
        self.proc = subprocess.Popen([python, self.path, str(port), mode, str(count)], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.lines: "queue.Queue[str]" = queue.Queue()
        self._reader = threading.Thread(target=self._read, name="bench:yiri-stdout", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put("EOF")

    def expect(self, prefix: str, timeout: float = 600.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if line.startswith(prefix) or line in ("EOF",) or line.startswith(("ERROR", "SYSTEMEXIT")):
                return line

    def close(self) -> None:
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._reader.join(5)
        os.unlink(self.path)


# --------------------------------------------------------------------------- events/s


def _raw_events(server: MiraiBlastServer, frames: List[bytes]) -> float:
    ws = websocket.create_connection(server.url + "/all", header=["verifyKey: k", "qq: 10001"], timeout=60,
                                     skip_utf8_validation=True)  # as the transport reads
    try:
        json.loads(ws.recv())  # the handshake
        server.wait_clients(1)
        writer = threading.Thread(target=server.blast, args=(frames,), name="bench:blast")
        started = time.perf_counter()
        writer.start()
        seen = 0
        while seen < len(frames):
            obj = json.loads(ws.recv())
            if obj.get("syncId") == "-1":
                seen += 1
        elapsed = time.perf_counter() - started
        writer.join(60)
    finally:
        ws.close()
    server.wait_clients(0)
    return len(frames) / elapsed


class _Counter:
    def __init__(self, target: int) -> None:
        self.target = target
        self.seen = 0
        self.lock = threading.Lock()
        self.done = threading.Event()

    def __call__(self, event: Any) -> None:
        with self.lock:
            self.seen += 1
            if self.seen >= self.target:
                self.done.set()


def _mirai_events(server: MiraiBlastServer, frames: List[bytes]) -> Dict[str, float]:
    counter = _Counter(len(frames))
    bot = MiraiBot(server.url, verify_key="k", qq=10001, workers=8, send_policy=None, dedupe_size=0)
    bot.on_message("group")(counter)
    bot.start()
    try:
        bot.wait_connected(10)
        server.wait_clients(1)
        writer = threading.Thread(target=server.blast, args=(frames,), name="bench:blast")
        started = time.perf_counter()
        writer.start()
        if not counter.done.wait(300):
            raise RuntimeError(f"MiraiBot handled {counter.seen} of {len(frames)}")
        elapsed = time.perf_counter() - started
        writer.join(60)
        dropped = bot.stats()["events_dropped"]
    finally:
        bot.stop()
    server.wait_clients(0)
    return {"rate": len(frames) / elapsed, "dropped": dropped}


def _onebot_events(server: BlastServer, frames: List[bytes]) -> float:
    counter = _Counter(len(frames))
    bot = Bot(server.url, workers=8, dedupe_size=0)
    bot.on_message("group")(counter)
    bot.start()
    try:
        bot.wait_connected(10)
        server.wait_clients(1)
        writer = threading.Thread(target=server.blast, args=(frames,), name="bench:blast")
        started = time.perf_counter()
        writer.start()
        if not counter.done.wait(300):
            raise RuntimeError(f"Bot handled {counter.seen} of {len(frames)}")
        elapsed = time.perf_counter() - started
        writer.join(60)
    finally:
        bot.stop()
    server.wait_clients(0)
    return len(frames) / elapsed


def _yiri_events(python: str, server: MiraiBlastServer, frames: List[bytes],
                 driver: str = YIRI_DRIVER, why: Optional[List[str]] = None) -> Optional[float]:
    yiri = _Yiri(python, server.port, "events", len(frames), driver)
    try:
        line = yiri.expect("READY")
        if not line.startswith("READY"):
            if why is not None:
                why.append(line)
            return None
        server.wait_clients(1)
        started = time.time()
        writer = threading.Thread(target=server.blast, args=(frames,), name="bench:blast")
        writer.start()
        line = yiri.expect("DONE")
        writer.join(60)
        if not line.startswith("DONE"):
            return None
        return len(frames) / (float(line.split()[1]) - started)
    finally:
        yiri.close()
        server.wait_clients(0)


# --------------------------------------------------------------------------- calls/s


def _threads_calls(fn: Any, total: int) -> float:
    per = max(1, total // 8)
    barrier = threading.Barrier(9)

    def work() -> None:
        barrier.wait()
        for _ in range(per):
            fn()

    threads = [threading.Thread(target=work, name=f"bench:call-{i}") for i in range(8)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join(300)
    return per * 8 / (time.perf_counter() - started)


def _mirai_calls(server: MiraiBlastServer, total: int) -> float:
    with MiraiBot(server.url, verify_key="k", qq=10001, send_policy=None) as bot:
        bot.wait_connected(10)
        rate = _threads_calls(lambda: bot.call("about"), total)
    server.wait_clients(0)
    return rate


def _onebot_calls(server: BlastServer, total: int) -> float:
    with Bot(server.url) as bot:
        bot.wait_connected(10)
        rate = _threads_calls(lambda: bot.call_action("get_login_info"), total)
    server.wait_clients(0)
    return rate


def _yiri_calls(python: str, server: MiraiBlastServer, total: int) -> Optional[float]:
    yiri = _Yiri(python, server.port, "calls", total)
    try:
        line = yiri.expect("CALLS")
        return float(line.split()[1]) if line.startswith("CALLS") else None
    finally:
        yiri.close()
        server.wait_clients(0)


# --------------------------------------------------------------------------- reconnect


def _mirai_reconnect(server: MiraiBlastServer, rounds: int) -> List[float]:
    """A fresh bot per round: the first drop of a healthy link (later drops within
    ``Backoff.healthy_after`` wait longer, by design)."""
    times: List[float] = []
    for _ in range(rounds):
        with MiraiBot(server.url, verify_key="k", qq=10001, send_policy=None, reconnect=Backoff()) as bot:
            bot.wait_connected(10)
            before = server.connections
            started = time.perf_counter()
            server.drop_all()
            server.wait_connections(before + 1)
            bot.wait_connected(10)
            times.append(time.perf_counter() - started)
        server.wait_clients(0)
    return times


def _yiri_reconnect(python: str, server: MiraiBlastServer) -> str:
    yiri = _Yiri(python, server.port, "reconnect", 5)
    try:
        if not yiri.expect("READY").startswith("READY"):
            return "did not start"
        server.wait_clients(1)
        before = server.connections
        server.drop_all()
        line = yiri.expect("ALIVE", timeout=15)
        again = server.connections > before
        if line.startswith("SYSTEMEXIT"):
            return "never: raises SystemExit inside its task (no reconnect code exists)"
        return "reconnected" if again else f"never reconnected within 5 s ({line})"
    finally:
        yiri.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=4_000)
    parser.add_argument("--peers-python", default=DEFAULT_PEERS)
    args = parser.parse_args()
    _common.quiet()
    peers = args.peers_python if os.path.exists(args.peers_python) else None
    _common.header(f"mirai.py: {args.events:,} group messages per round, {args.rounds} rounds; "
                   f"YiriMirai: {'yes' if peers else 'no peers venv'}")
    mirai_frames = [json.dumps(group_message(n)).encode() for n in range(args.events)]
    onebot_frames = [json.dumps(_event(n)).encode() for n in range(args.events)]
    mah = MiraiBlastServer()
    onebot = BlastServer()
    runs: Dict[str, List[float]] = {"raw": [], "mirai": [], "bot": [], "yiri": [], "ariadne": []}
    ariadne_why: List[str] = []
    drops = 0
    try:
        for _ in range(args.rounds):
            runs["raw"].append(_raw_events(mah, mirai_frames))
            result = _mirai_events(mah, mirai_frames)
            runs["mirai"].append(result["rate"])
            drops += int(result["dropped"])
            runs["bot"].append(_onebot_events(onebot, onebot_frames))
            if peers:
                rate = _yiri_events(peers, mah, mirai_frames)
                if rate is not None:
                    runs["yiri"].append(rate)
                if not ariadne_why:
                    rate = _yiri_events(peers, mah, mirai_frames, ARIADNE_DRIVER, ariadne_why)
                    if rate is not None:
                        runs["ariadne"].append(rate)
        raw = _common.median(runs["raw"])
        mirai = _common.median(runs["mirai"])
        bot = _common.median(runs["bot"])
        rows = [
            ["raw websocket-client recv + json.loads (no UTF-8 check)", raw, "1.00x", ""],
            ["qqreliable MiraiBot -> handler (8 workers)", mirai, f"{mirai / raw:.2f}x", f"{mirai / bot:.2f}x"],
            ["qqreliable Bot (OneBot) -> handler (8 workers)", bot, f"{bot / raw:.2f}x", "1.00x"],
        ]
        if runs["yiri"]:
            yiri = _common.median(runs["yiri"])
            rows.append(["YiriMirai (yiri-mirai-rc) -> async handler", yiri,
                         f"{yiri / raw:.2f}x", f"{yiri / bot:.2f}x"])
        else:
            rows.append(["YiriMirai (yiri-mirai-rc)", "n/a", "", ""])
        if runs["ariadne"]:
            ariadne = _common.median(runs["ariadne"])
            rows.append(["graia-ariadne -> async receiver (logging off)", ariadne,
                         f"{ariadne / raw:.2f}x", f"{ariadne / bot:.2f}x"])
        else:
            reason = ariadne_why[0] if ariadne_why else "no peers venv"
            rows.append([f"graia-ariadne: n/a ({reason[:60]})", "n/a", "", ""])
        _common.table(["events/s to a handler (median)", "events/s", "vs raw", "vs Bot"], rows)

        calls_rows = [
            ["qqreliable MiraiBot.call('about'), 8 threads", _mirai_calls(mah, args.calls)],
            ["qqreliable Bot.call_action('get_login_info'), 8 threads", _onebot_calls(onebot, args.calls)],
        ]
        if peers:
            yiri_calls = _yiri_calls(peers, mah, args.calls)
            calls_rows.append(["YiriMirai bot.about(), 8 coroutines", yiri_calls if yiri_calls else "failed"])
        _common.table(["calls/s over ws", "calls/s"], calls_rows)

        times = _mirai_reconnect(mah, 5)
        reconnect_rows = [["qqreliable MiraiBot (default Backoff: first retry 0.5 s +-25%)",
                           f"{_common.median(times) * 1000:.0f} ms median of {len(times)}"]]
        if peers:
            reconnect_rows.append(["YiriMirai", _yiri_reconnect(peers, mah)])
        _common.table(["reconnect after a 1006", "time"], reconnect_rows)
        _common.table(["check", "value"], [["events dropped by MiraiBot's queue (all rounds)", drops]])
    finally:
        mah.close()
        onebot.close()


if __name__ == "__main__":
    main()
