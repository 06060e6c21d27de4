"""MiraiBot throughput, calls and reconnects, against a raw loop, ``Bot``, YiriMirai and graia-ariadne.

    python benchmarks/mirai.py [--events 20000] [--rounds 3] [--calls 4000] [--yiri-calls 400]
                               [--peers-python benchmarks/.peers-venv/bin/python]

* events/s to a handler: every client reads the same pre-encoded stream from a
  local server writing frames back to back (``_mirai_blast.py`` for MAH,
  ``_blast.py`` for OneBot), so the client is the bottleneck. The baseline is
  websocket-client ``recv()`` + ``json.loads`` on one thread. Each server runs in a
  process of its own, as a real one does (``_blast_process.py``: next to the
  client, its writer would share the GIL with the reader it feeds). CPU us/event
  is the client process's CPU time over the measurement per event: less disturbed
  by a busy machine than the rate.
* calls/s from 8 threads (the peers: 8 concurrent coroutines) against the same
  server, which answers every command at once. Baselines: a raw websocket-client
  RPC loop (send, receive until the answer) on one connection, and 8 of them on 8
  connections.
* reconnect after a 1006: from the server aborting the socket to the client's
  handler running for an event pushed after the drop (a probe every 20 ms), one
  fresh client per round; a client that sees no event within 15 s never came back,
  and its row says what happened instead.

YiriMirai (``yiri-mirai-rc``) and graia-ariadne run in a separate venv
(``--peers-python``; ``pip install yiri-mirai-rc==0.2.7.3 graia-ariadne==0.11.7``
installs both into one); without them their rows say so (with the driver's
error). Each kind of measurement runs in rounds that alternate between the
clients, so that machine noise falls on every side alike; tables give the
median and the spread (min-max) of the rounds.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import queue
import subprocess
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Optional

import _common
import websocket
from _blast_process import BlastProcess
from _mirai_blast import group_message
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
        if mode == "reconnect":
            print("EVENT", time.time(), flush=True)
            return
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
    else:  # reconnect: stay up for ``count`` seconds, printing every event seen
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

# graia-ariadne (0.11, launart) over its WebSocket client: events, calls (get_version = "about"),
# reconnect (prints every event seen).
ARIADNE_DRIVER = r'''
import asyncio, os, sys, time
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
tasks = []  # keeps the calls / stay-up task referenced

async def calls():
    per = max(1, count // 8)
    started = time.perf_counter()
    async def loop():
        for _ in range(per):
            await app.get_version()  # the "about" command, every time (cache=False)
    await asyncio.gather(*(loop() for _ in range(8)))
    print("CALLS", per * 8 / (time.perf_counter() - started), flush=True)
    os._exit(0)

async def stay_up():
    await asyncio.sleep(count)
    print("ALIVE", flush=True)
    os._exit(0)

@app.broadcast.receiver(ApplicationLaunched)
async def launched():
    print("READY", flush=True)
    if mode == "calls":
        tasks.append(asyncio.ensure_future(calls()))
    elif mode == "reconnect":
        tasks.append(asyncio.ensure_future(stay_up()))

@app.broadcast.receiver(GroupMessage)
async def handler(event: GroupMessage):
    if mode == "reconnect":
        print("EVENT", time.time(), flush=True)
        return
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
        """The next line starting with ``prefix`` (or an end: EOF, ERROR, SYSTEMEXIT);
        ``"TIMEOUT"`` when none came within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "TIMEOUT"
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                return "TIMEOUT"
            if line.startswith(prefix) or line in ("EOF",) or line.startswith(("ERROR", "SYSTEMEXIT")):
                return line

    def close(self, kill: bool = False) -> None:
        if kill and self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._reader.join(5)
        os.unlink(self.path)


# --------------------------------------------------------------------------- events/s


def _raw_events(server: BlastProcess, frames: List[bytes]) -> Dict[str, float]:
    ws = websocket.create_connection(server.url + "/all", header=["verifyKey: k", "qq: 10001"], timeout=60,
                                     skip_utf8_validation=True)  # as the transport reads
    try:
        json.loads(ws.recv())  # the handshake
        server.wait_clients(1)
        writer = threading.Thread(target=server.blast, args=(frames,), name="bench:blast")
        started, cpu = time.perf_counter(), time.process_time()
        writer.start()
        seen = 0
        while seen < len(frames):
            obj = json.loads(ws.recv())
            if obj.get("syncId") == "-1":
                seen += 1
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        writer.join(60)
    finally:
        ws.close()
    server.wait_clients(0)
    return {"rate": len(frames) / elapsed, "cpu": cpu / len(frames)}


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


def _wait_handled(counter: _Counter, bot: Any, total: int, name: str, timeout: float = 300.0) -> None:
    """Until every event was handled or dropped by the bot's bounded queue (a burst
    faster than the handlers fills it: the drops are counted and reported)."""
    deadline = time.monotonic() + timeout
    while not counter.done.wait(0.05):
        if counter.seen + bot.stats()["events_dropped"] >= total:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} handled {counter.seen} of {total}")


def _mirai_events(server: BlastProcess, frames: List[bytes]) -> Dict[str, float]:
    counter = _Counter(len(frames))
    bot = MiraiBot(server.url, verify_key="k", qq=10001, workers=8, send_policy=None, dedupe_size=0)
    bot.on_message("group")(counter)
    bot.start()
    try:
        bot.wait_connected(10)
        server.wait_clients(1)
        writer = threading.Thread(target=server.blast, args=(frames,), name="bench:blast")
        started, cpu = time.perf_counter(), time.process_time()
        writer.start()
        _wait_handled(counter, bot, len(frames), "MiraiBot")
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        writer.join(60)
        dropped = bot.stats()["events_dropped"]
    finally:
        bot.stop()
    server.wait_clients(0)
    return {"rate": len(frames) / elapsed, "cpu": cpu / len(frames), "dropped": dropped}


def _onebot_events(server: BlastProcess, frames: List[bytes]) -> Dict[str, float]:
    counter = _Counter(len(frames))
    bot = Bot(server.url, workers=8, dedupe_size=0)
    bot.on_message("group")(counter)
    bot.start()
    try:
        bot.wait_connected(10)
        server.wait_clients(1)
        writer = threading.Thread(target=server.blast, args=(frames,), name="bench:blast")
        started, cpu = time.perf_counter(), time.process_time()
        writer.start()
        _wait_handled(counter, bot, len(frames), "Bot")
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        writer.join(60)
        dropped = bot.stats()["events_dropped"]
    finally:
        bot.stop()
    server.wait_clients(0)
    return {"rate": len(frames) / elapsed, "cpu": cpu / len(frames), "dropped": dropped}


def _yiri_events(python: str, server: BlastProcess, frames: List[bytes],
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


def _threads_calls(make: Callable[[int], Callable[[], Any]], total: int, threads: int = 8) -> float:
    """Calls per second made by ``threads`` threads, thread ``i`` calling ``make(i)``."""
    per = max(1, total // threads)
    barrier = threading.Barrier(threads + 1)
    errors: List[BaseException] = []

    def work(i: int) -> None:
        barrier.wait()
        try:
            call = make(i)
            for _ in range(per):
                call()
        except BaseException as exc:  # surfaced below: a benchmark must not hide failures
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(i,), name=f"bench:call-{i}") for i in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in pool:
        t.join(300)
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return per * threads / elapsed


class _RawRpc:
    """A raw websocket-client RPC loop on a connection of its own: send a command
    with a fresh syncId, receive until that syncId's answer comes back."""

    def __init__(self, server: BlastProcess) -> None:
        self.ws = websocket.create_connection(server.url + "/all", header=["verifyKey: k", "qq: 10001"],
                                              timeout=60, skip_utf8_validation=True)
        json.loads(self.ws.recv())  # the handshake
        self.n = 0

    def __call__(self) -> Any:
        self.n += 1
        sync_id = str(self.n)
        self.ws.send(json.dumps({"syncId": sync_id, "command": "about", "content": {}}))
        while True:
            obj = json.loads(self.ws.recv())
            if obj.get("syncId") == sync_id:
                return obj["data"]


def _raw_calls(server: BlastProcess, total: int, threads: int) -> float:
    """``threads`` raw RPC loops, each on its own connection (one socket is one
    request at a time for a loop this simple)."""
    rpcs = [_RawRpc(server) for _ in range(threads)]
    try:
        server.wait_clients(threads)
        return _threads_calls(lambda i: rpcs[i], total, threads)
    finally:
        for rpc in rpcs:
            rpc.ws.close()
        server.wait_clients(0)


def _mirai_calls(server: BlastProcess, total: int) -> float:
    with MiraiBot(server.url, verify_key="k", qq=10001, send_policy=None) as bot:
        bot.wait_connected(10)
        rate = _threads_calls(lambda i: lambda: bot.call("about"), total)
    server.wait_clients(0)
    return rate


def _onebot_calls(server: BlastProcess, total: int) -> float:
    with Bot(server.url) as bot:
        bot.wait_connected(10)
        rate = _threads_calls(lambda i: lambda: bot.call_action("get_login_info"), total)
    server.wait_clients(0)
    return rate


def _peer_calls(python: str, server: BlastProcess, total: int, driver: str,
                why: List[str]) -> Optional[float]:
    peer = _Yiri(python, server.port, "calls", total, driver)
    try:
        line = peer.expect("CALLS")
        if line.startswith("CALLS"):
            return float(line.split()[1])
        why.append(line)
        return None
    finally:
        peer.close(kill=True)
        server.wait_clients(0)


# --------------------------------------------------------------------------- reconnect
#
# Every client is timed the same way: from the server aborting the socket (no close
# frame: the client sees 1006) to the client's handler running for an event pushed
# after the drop. A prober pushes a fresh group message to every connected client
# every PROBE_EVERY seconds, so the figure is reconnect + handshake + one event
# (+ up to PROBE_EVERY). A client that sees no event within the bound never came back.

PROBE_EVERY = 0.02
RECONNECT_BOUND = 15.0


class _Prober:
    def __init__(self, server: BlastProcess) -> None:
        self.server = server
        self.ids = itertools.count(1_000_000)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="bench:probe", daemon=True)

    def push_one(self) -> None:
        self.server.blast([json.dumps(group_message(next(self.ids))).encode()])

    def _run(self) -> None:
        while not self.stop.wait(PROBE_EVERY):
            self.push_one()

    def __enter__(self) -> "_Prober":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)


def _mirai_reconnect(server: BlastProcess) -> float:
    """A fresh bot per round: the first drop of a healthy link (later drops within
    ``Backoff.healthy_after`` wait longer, by design)."""
    before = threading.Event()
    armed = threading.Event()
    seen = threading.Event()

    def handler(event: Any) -> None:
        (seen if armed.is_set() else before).set()

    bot = MiraiBot(server.url, verify_key="k", qq=10001, send_policy=None, reconnect=Backoff())
    bot.on_message("group")(handler)
    with bot:
        bot.wait_connected(10)
        server.wait_clients(1)
        prober = _Prober(server)
        prober.push_one()
        if not before.wait(10):
            raise RuntimeError("MiraiBot saw no event before the drop")
        armed.set()
        started = time.perf_counter()
        server.drop_all()
        with prober:
            if not seen.wait(RECONNECT_BOUND):
                raise RuntimeError(f"MiraiBot saw no event within {RECONNECT_BOUND} s of the drop")
        elapsed = time.perf_counter() - started
    server.wait_clients(0)
    return elapsed



def _peer_reconnect(python: str, server: BlastProcess, driver: str) -> Any:
    """Seconds from the drop to the peer's handler seeing an event, or a string
    saying what happened instead (measured: no event within RECONNECT_BOUND)."""
    peer = _Yiri(python, server.port, "reconnect", int(RECONNECT_BOUND) + 20, driver)
    try:
        line = peer.expect("READY", 60)
        if not line.startswith("READY"):
            return f"did not start ({line[:60]})"
        server.wait_clients(1)
        prober = _Prober(server)
        prober.push_one()
        line = peer.expect("EVENT", 10)
        if not line.startswith("EVENT"):
            return f"saw no event before the drop ({line[:40]})"
        before = server.connections
        started = time.time()
        server.drop_all()
        with prober:
            line = peer.expect("EVENT", RECONNECT_BOUND)
        if line.startswith("EVENT"):
            return float(line.split()[1]) - started
        came_back = server.connections > before
        if line.startswith("SYSTEMEXIT") or line == "EOF":
            how = "SystemExit raised in its task" if line.startswith("SYSTEMEXIT") else "its process ended"
            after = time.time() - started
            when = "within 1 s of the drop" if after < 1 else f"{after:.0f} s after the drop"
            return f"never: {how} {when}, no event after it"
        what = "reconnected, but no event" if came_back else "still running, never reconnected"
        return f"never: no event within {RECONNECT_BOUND:.0f} s of the drop ({what})"
    finally:
        peer.close(kill=True)
        server.wait_clients(0)


# --------------------------------------------------------------------------- main


def _spread(values: List[float]) -> str:
    if not values:
        return ""
    return f"{min(values):,.0f}-{max(values):,.0f}" if max(values) >= 100 else f"{min(values):.2f}-{max(values):.2f}"


def _ms(values: List[float]) -> str:
    return (f"{_common.median(values) * 1000:,.0f} ms (median of {len(values)}, "
            f"{min(values) * 1000:,.0f}-{max(values) * 1000:,.0f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=4_000)
    parser.add_argument("--yiri-calls", type=int, default=400,
                        help="calls per YiriMirai round (it polls 0.1 s per answer: ~80 calls/s)")
    parser.add_argument("--peers-python", default=DEFAULT_PEERS)
    args = parser.parse_args()
    _common.quiet()
    peers = args.peers_python if os.path.exists(args.peers_python) else None
    _common.header(f"mirai.py: {args.events:,} group messages per round, {args.calls:,} calls per round, "
                   f"{args.rounds} rounds; peers: {peers or 'no peers venv'}")
    mirai_frames = [json.dumps(group_message(n)).encode() for n in range(args.events)]
    onebot_frames = [json.dumps(_event(n)).encode() for n in range(args.events)]
    # Each server in a process of its own, as a real one is: in this process its writer
    # would share the GIL with the client it feeds (see _blast_process.py).
    mah = BlastProcess("mirai")
    onebot = BlastProcess("onebot")
    mah.load(mirai_frames)  # before any clock starts
    onebot.load(onebot_frames)
    runs: Dict[str, List[float]] = {"raw": [], "mirai": [], "bot": [], "yiri": [], "ariadne": []}
    calls: Dict[str, List[float]] = {"raw1": [], "raw8": [], "mirai": [], "bot": [], "yiri": [], "ariadne": []}
    recon: Dict[str, List[Any]] = {"mirai": [], "yiri": [], "ariadne": []}
    why: Dict[str, List[str]] = {"ariadne": [], "yiri calls": [], "ariadne calls": []}
    cpu: Dict[str, List[float]] = {"raw": [], "mirai": [], "bot": []}  # process CPU seconds per event
    drops = 0
    try:
        for _ in range(args.rounds):
            for key, result in (("raw", _raw_events(mah, mirai_frames)), ("mirai", _mirai_events(mah, mirai_frames)),
                                ("bot", _onebot_events(onebot, onebot_frames))):
                runs[key].append(result["rate"])
                cpu[key].append(result["cpu"])
                drops += int(result.get("dropped", 0))
            if peers:
                rate = _yiri_events(peers, mah, mirai_frames)
                if rate is not None:
                    runs["yiri"].append(rate)
                if not why["ariadne"]:
                    rate = _yiri_events(peers, mah, mirai_frames, ARIADNE_DRIVER, why["ariadne"])
                    if rate is not None:
                        runs["ariadne"].append(rate)
        for _ in range(args.rounds):
            calls["raw1"].append(_raw_calls(mah, args.calls, 1))
            calls["raw8"].append(_raw_calls(mah, args.calls, 8))
            calls["mirai"].append(_mirai_calls(mah, args.calls))
            calls["bot"].append(_onebot_calls(onebot, args.calls))
            if peers:
                for name, driver, total in (("yiri", YIRI_DRIVER, args.yiri_calls),
                                            ("ariadne", ARIADNE_DRIVER, args.calls)):
                    if not why[f"{name} calls"]:
                        rate = _peer_calls(peers, mah, total, driver, why[f"{name} calls"])
                        if rate is not None:
                            calls[name].append(rate)
        for _ in range(args.rounds):
            recon["mirai"].append(_mirai_reconnect(mah))
            if peers:
                recon["yiri"].append(_peer_reconnect(peers, mah, YIRI_DRIVER))
                recon["ariadne"].append(_peer_reconnect(peers, mah, ARIADNE_DRIVER))

        raw = _common.median(runs["raw"])
        bot = _common.median(runs["bot"])

        def row(label: str, values: List[float], key: str = "") -> List[Any]:
            med = _common.median(values)
            us = f"{_common.median(cpu[key]) * 1e6:.1f}" if key else "(own process)"
            return [label, med, _spread(values), f"{med / raw:.2f}x", f"{med / bot:.2f}x", us]

        rows = [
            row("raw websocket-client recv + json.loads (no UTF-8 check)", runs["raw"], "raw"),
            row("qqreliable MiraiBot -> handler (8 workers)", runs["mirai"], "mirai"),
            row("qqreliable Bot (OneBot) -> handler (8 workers)", runs["bot"], "bot"),
        ]
        if runs["yiri"]:
            rows.append(row("YiriMirai (yiri-mirai-rc) -> async handler", runs["yiri"]))
        else:
            rows.append(["YiriMirai (yiri-mirai-rc)", "n/a", "", "", "", ""])
        if runs["ariadne"]:
            rows.append(row("graia-ariadne -> async receiver (logging off)", runs["ariadne"]))
        else:
            reason = why["ariadne"][0] if why["ariadne"] else "no peers venv"
            rows.append([f"graia-ariadne: n/a ({reason[:60]})", "n/a", "", "", "", ""])
        _common.table(["events/s to a handler", "median", "spread", "vs raw", "vs Bot", "CPU us/event"], rows)

        raw1 = _common.median(calls["raw1"])

        def crow(label: str, key: str) -> List[Any]:
            values = calls[key]
            if not values:
                reason = (why.get(f"{key} calls") or ["no peers venv"])[0]
                return [f"{label}: n/a ({reason[:50]})", "n/a", "", ""]
            med = _common.median(values)
            return [label, med, _spread(values), f"{med / raw1:.2f}x"]

        _common.table(["calls/s over ws (about / get_login_info)", "median", "spread", "vs raw"], [
            crow("raw websocket-client RPC loop, 1 thread, 1 connection", "raw1"),
            crow("raw websocket-client RPC loop, 8 threads x own connection", "raw8"),
            crow("qqreliable MiraiBot.call('about'), 8 threads, 1 connection", "mirai"),
            crow("qqreliable Bot.call_action('get_login_info'), 8 threads", "bot"),
            crow("YiriMirai bot.about(), 8 coroutines", "yiri"),
            crow("graia-ariadne app.get_version(), 8 coroutines", "ariadne"),
        ])

        def rrow(label: str, values: List[Any]) -> List[Any]:
            times = [v for v in values if isinstance(v, float)]
            notes = sorted({v for v in values if isinstance(v, str)})
            text = _ms(times) if times else ""
            if len(notes) == 1 and not times:
                text = f"{notes[0]} (every round of {len(values)})"
            elif notes:
                text = (text + "; " if text else "") + f"{len(values) - len(times)}/{len(values)} rounds: " + \
                    "; ".join(notes)
            return [label, text or "n/a (no peers venv)"]

        _common.table(["reconnect after a 1006 (drop -> first event handled)", "time"], [
            rrow("qqreliable MiraiBot (default Backoff: first retry 0.5 s +-25%)", recon["mirai"]),
            rrow("YiriMirai (yiri-mirai-rc)", recon["yiri"]),
            rrow("graia-ariadne (fixed 5 s wait before reconnecting)", recon["ariadne"]),
        ])
        _common.table(["check", "value"], [["events dropped by the bots' queues (MiraiBot, Bot; all rounds)", drops]])
    finally:
        mah.close()
        onebot.close()


if __name__ == "__main__":
    main()
