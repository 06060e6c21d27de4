"""qqreliable against aiocqhttp, nonebot2's OneBot v11 adapter and a bare asyncio loop, same workloads.

    python benchmarks/peers.py [--events 3000] [--rounds 5] [--seconds 2] [--cycles 5]
                               [--only events,calls,reconnect]

Every figure is the median [min-max] of ``--rounds`` rounds (at least 3), and
every ratio is taken round by round against qqreliable measured in the same
round, then summarised the same way: qqreliable is 1.00x, and a peer at 0.50x
did half as well (for reconnect time, lower is better and the column says how
many times longer the peer took). A table of the issue-16 targets closes the
run.

Method
------
The peers are installed by this script into ``benchmarks/.peers-venv`` (made
with this interpreter's ``-m venv``; pinned versions below), and each runs in
a process of that interpreter (``_peer_driver.py``), so their dependencies
never meet the project's. qqreliable runs the same driver in the project's
own interpreter, also in a child process. The servers run in this process,
on 127.0.0.1 with port 0. Times are ``time.monotonic()``, one clock for every
process on Linux. Every child has a timeout and is stopped at the end.

1. Events: N group messages, encoded before the clock starts and written back
   to back, until the peer's group-message handler has run N times. Every
   round has message_ids of its own (a bot that drops repeats, as qqreliable
   does, must see new events each round). Forward WebSocket: from
   ``_blast.BlastServer``; reverse WebSocket: from ``_reverse.ReverseClient``,
   frames masked with a random key as a real implementation's are. Rows:
   qqreliable forward and reverse, nonebot2 forward, aiocqhttp reverse, and
   the floor, a bare asyncio ``websockets`` client doing ``recv()`` +
   ``json.loads`` and nothing else; and the same loop as a ``websockets``
   server in reverse WebSocket (masked frames on both sides of that ratio).
2. Calls: ``get_login_info`` for a fixed time, one caller, then 8 concurrent
   callers (8 threads sharing one ``Bot`` for qqreliable, 8 asyncio tasks in
   ``asyncio.gather`` for the async peers), first against FakeOneBot, then
   (WebSocket only) against BlastServer, which answers every call with a
   canned reply at a fraction of FakeOneBot's cost. Each row shows the
   client's CPU per call (the driver's process time) and the server's (this
   process's, which does nothing else meanwhile); table 2c divides each
   client's rate on BlastServer by its rate on FakeOneBot, and names
   FakeOneBot as the bottleneck where that is 1.5x or more.
3. Reconnect: FakeOneBot drops the connection (TCP closed, no close frame:
   1006), then pushes a group message as soon as a new connection is up; the
   figure is the time from the drop to the handler seeing that message. Each
   cycle starts a fresh process (first drop after a healthy connection);
   a second row drops back to back in one process (a flapping server).

Modes, and why
--------------
* qqreliable: forward WebSocket (``ws://``) and HTTP (``http://``) client, and
  reverse WebSocket (``listen=``) for events.
* nonebot2 2.5 + nonebot-adapter-onebot 2.4 (v11): forward WebSocket
  (``ONEBOT_WS_URLS``) with the ``~none+~websockets`` driver. It reconnects
  after a fixed ``RECONNECT_INTERVAL = 3.0`` s in the adapter (not a setting),
  so its reconnect time is that default. Its log level is set to WARNING
  (its default INFO logs every event to the terminal).
* aiocqhttp 1.4: a server-side framework (Quart on Hypercorn) with no
  forward-WebSocket client. Events reach it in reverse-WebSocket mode from
  ``_reverse.ReverseClient``, which dials it like go-cqhttp would. Its calls
  are measured two ways: over the reverse WebSocket, through ``_reverse.py``'s
  relay process to the same server (one extra loopback hop each way, so
  slightly pessimistic for aiocqhttp), compared with qqreliable's forward
  WebSocket; and over HTTP to ``api_root``, compared with qqreliable's HTTP
  client (aiocqhttp builds a new ``httpx.AsyncClient``, TLS context included,
  for every HTTP call).
* asyncio ``websockets`` (the version nonebot2[websockets] pins): the fastest
  raw receive loop measured on this machine, the floor for events. Forward, it
  reads unmasked frames; the issue's target for both qqreliable rows is
  against that loop. Reverse, as a server, it unmasks every frame (with its C
  extension where the wheel has one), as qqreliable's reverse server must: that
  row compares the same work.

Caveats
-------
Same machine, loopback only, 2 CPUs shared with whatever else runs: read the
ratios and their spread, not the absolute figures. Every peer is used as its
documentation shows, with default settings except the log level; handlers do
nothing but count, so the figures are framework overhead, not a bot's real
work. A process start costs qqreliable well under a second and nonebot about
two, which is why the reconnect cycles take longer than their figures.
Transitive dependencies of the peers are not pinned; the versions that ran
are printed in the header.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Dict, IO, List, Optional, Sequence

import _common
from _blast import BlastServer
from _reverse import ReverseClient, client_frame

from qqreliable.testing import FakeOneBot

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(HERE, ".peers-venv")
DRIVER = os.path.join(HERE, "_peer_driver.py")
# Verified to install and run together on Python 3.11 (Nov 2026).
PINS: Dict[str, List[str]] = {
    "aiocqhttp": ["aiocqhttp==1.4.4"],
    "nonebot": ["nonebot2[websockets]==2.5.0", "nonebot-adapter-onebot==2.4.6"],
}
SHOWN_VERSIONS = {
    "aiocqhttp": ["aiocqhttp", "Quart", "Hypercorn", "httpx"],
    "nonebot": ["nonebot2", "nonebot-adapter-onebot", "websockets", "pydantic"],
}
LABELS = {"qqreliable": "qqreliable", "nonebot": "nonebot2 OneBot v11", "aiocqhttp": "aiocqhttp",
          "websockets": "asyncio websockets recv + json.loads"}
GROUP_ID, USER_ID = 30003, 20002


class PeerError(Exception):
    """A peer could not be installed, started or measured; the text says why."""


# ---------------------------------------------------------------- the peers' virtualenv


def venv_python() -> str:
    return os.path.join(VENV, "Scripts" if os.name == "nt" else "bin", "python")


def prepare_peers() -> Dict[str, Any]:
    """Install the pinned peers once; for each peer, its python path or a PeerError."""
    result: Dict[str, Any] = {}
    try:
        if not os.path.exists(venv_python()):
            _run([sys.executable, "-m", "venv", VENV], 180, "create the virtualenv")
    except PeerError as exc:
        return {peer: exc for peer in PINS}
    for peer, pins in PINS.items():
        stamp = os.path.join(VENV, f"{peer}.pins")
        wanted = "\n".join(pins)
        try:
            if _read(stamp) != wanted:
                _run([venv_python(), "-m", "pip", "install", "--disable-pip-version-check", "-q", *pins],
                     600, f"pip install {' '.join(pins)}")
                with open(stamp, "w") as out:
                    out.write(wanted)
            result[peer] = venv_python()
        except PeerError as exc:
            result[peer] = exc
    return result


def _read(path: str) -> Optional[str]:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def peer_versions(peer: str) -> str:
    code = (
        "import importlib.metadata as m, sys\n"
        "print(', '.join(f'{n} {m.version(n)}' for n in sys.argv[1:]))"
    )
    try:
        out = subprocess.run([venv_python(), "-c", code, *SHOWN_VERSIONS[peer]], capture_output=True,
                             text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"versions unknown ({exc})"
    return out.stdout.strip() or f"versions unknown ({out.stderr.strip()[-200:]})"


def _run(cmd: Sequence[str], timeout: float, what: str) -> None:
    sys.stdout.write(f"({what} ...)\n")
    sys.stdout.flush()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise PeerError(f"could not {what}: timed out after {timeout:.0f} s") from None
    except OSError as exc:
        raise PeerError(f"could not {what}: {exc}") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise PeerError(f"could not {what}: {tail[0][:160]}")


# ---------------------------------------------------------------- a driver process


class Driver:
    """One ``_peer_driver.py`` child: JSON lines out, commands in, always reaped."""

    def __init__(self, python: str, peer: str, workload: str, url: str, count: int = 1) -> None:
        self.peer = peer
        self._stderr: IO[str] = tempfile.TemporaryFile("w+")
        self._lines: "queue.Queue[Optional[Dict[str, Any]]]" = queue.Queue()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("PYTHONPATH", None)
        self._proc = subprocess.Popen(
            [python, DRIVER, peer, workload, url, "--count", str(count)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, text=True,
            cwd=tempfile.gettempdir(), env=env,  # nonebot reads a .env from its working directory
        )
        self._reader = threading.Thread(target=self._read, name="peers:reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                self._lines.put(json.loads(line))
            except ValueError:
                continue
        self._lines.put(None)

    def expect(
        self, key: str, timeout: float, where: Optional[Callable[[Dict[str, Any]], bool]] = None
    ) -> Dict[str, Any]:
        """The next report holding ``key`` (and matching ``where``); others are skipped."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                item = self._lines.get(timeout=max(0.0, left))
            except queue.Empty:
                raise PeerError(f"{self.peer}: no {key!r} within {timeout:g} s{self._why()}") from None
            if item is None:
                self._lines.put(None)
                raise PeerError(f"{self.peer}: driver exited{self._why()}")
            if key in item and (where is None or where(item)):
                return item

    def send(self, **command: Any) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(command) + "\n")
        self._proc.stdin.flush()

    def _why(self) -> str:
        self._stderr.seek(0)
        lines = [ln for ln in self._stderr.read().splitlines() if ln.strip()]
        return f" ({lines[-1].strip()[:200]})" if lines else ""

    def close(self, timeout: float = 20.0) -> None:
        try:
            if self._proc.stdin:
                self._proc.stdin.close()
        except OSError:
            pass
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(10)
        self._reader.join(5)
        self._stderr.close()


# ---------------------------------------------------------------- workloads


def group_event(n: int) -> Dict[str, Any]:
    return {
        "time": 1764500000,
        "self_id": 10001,
        "post_type": "message",
        "message_type": "group",
        "sub_type": "normal",
        "message_id": n,
        "group_id": GROUP_ID,
        "user_id": USER_ID,
        "message": [{"type": "text", "data": {"text": f"message number {n}"}}],
        "raw_message": f"message number {n}",
        "font": 0,
        "sender": {"user_id": USER_ID, "nickname": "load", "card": "", "role": "member"},
    }


EVENT_PLAN = [
    # (peer, reverse?, label of the mode)
    ("qqreliable", False, "forward WS"),
    ("qqreliable", True, "reverse WS"),
    ("websockets", False, "forward WS, raw loop"),
    ("websockets", True, "reverse WS, raw loop"),
    ("nonebot", False, "forward WS"),
    ("aiocqhttp", True, "reverse WS"),
]


class _EventSide:
    """A peer with its event source: forward (BlastServer) or reverse (ReverseClient)."""

    def __init__(self, peer: str, python: str, reverse: bool, rounds: List[List[bytes]]) -> None:
        self.peer = peer
        self.count = len(rounds[0])
        self.server: Optional[BlastServer] = None
        self.client: Optional[ReverseClient] = None
        self.rates: List[float] = []
        if reverse:
            self.driver = Driver(python, peer, "events", "-", count=self.count)
            try:
                url = self.driver.expect("listening", 60)["listening"]
                self.client = ReverseClient(url)
            except BaseException:
                self.driver.close()
                raise
            # masked once, before any clock starts
            self.rounds = [[client_frame(f) for f in frames] for frames in rounds]
        else:
            self.rounds = rounds
            self.server = BlastServer()
            self.driver = Driver(python, peer, "events", self.server.url, count=self.count)
            try:
                self.driver.expect("ready", 60)
                self.server.wait_clients(1, 30)
            except BaseException:
                self.close()
                raise

    def round(self, k: int) -> None:
        """Round ``k`` (from 1): its own message_ids, never seen before by the peer."""
        frames = self.rounds[k - 1]
        started = time.monotonic()
        if self.client is not None:
            writer = threading.Thread(target=self.client.blast, args=(frames,), name="peers:blast")
        else:
            assert self.server is not None
            writer = threading.Thread(target=self.server.blast, args=(frames,), name="peers:blast")
        writer.start()
        try:
            done = self.driver.expect("done", 180, lambda r: r["done"] == k)
        finally:
            writer.join(60)
        self.rates.append(self.count / (done["t"] - started))

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        self.driver.close()
        if self.server is not None:
            self.server.close()


def events_workload(pythons: Dict[str, Any], count: int, rounds: int) -> Dict[Any, Any]:
    """Events/s per round, keyed by (peer, reverse); an exception where a peer failed.

    Every round has fresh message_ids (round k: k*count ... k*count+count-1):
    a bot that drops repeats, as qqreliable does, must see new events each time.
    """
    frames = [[json.dumps(group_event(k * count + n)).encode() for n in range(count)]
              for k in range(1, rounds + 1)]
    sides: Dict[Any, Any] = {}
    for peer, reverse, _ in EVENT_PLAN:
        python = pythons.get(peer)
        if isinstance(python, Exception):
            sides[(peer, reverse)] = python
            continue
        try:
            sides[(peer, reverse)] = _EventSide(peer, python, reverse, frames)
        except (PeerError, OSError, TimeoutError) as exc:
            sides[(peer, reverse)] = exc if isinstance(exc, PeerError) else PeerError(f"{peer}: {exc}")
    try:
        for k in range(1, rounds + 1):
            for key, side in sides.items():
                if isinstance(side, Exception):
                    continue
                try:
                    side.round(k)
                except (PeerError, OSError) as exc:
                    side.close()
                    sides[key] = exc
    finally:
        for side in sides.values():
            if not isinstance(side, Exception):
                side.close()
    return {key: side if isinstance(side, Exception) else side.rates for key, side in sides.items()}


class Relay:
    """``_reverse.py`` in a child process: aiocqhttp's reverse WebSocket <-> FakeOneBot."""

    def __init__(self, reverse_url: str, forward_url: str) -> None:
        self._stderr: IO[str] = tempfile.TemporaryFile("w+")
        self._proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "_reverse.py"), reverse_url, forward_url],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, text=True,
        )
        ready: "queue.Queue[str]" = queue.Queue()
        threading.Thread(target=lambda: ready.put(self._proc.stdout.readline()),  # type: ignore[union-attr]
                         name="peers:relay", daemon=True).start()
        try:
            line = ready.get(timeout=30)
        except queue.Empty:
            line = ""
        if line.strip() != "ready":
            why = self.close()
            raise PeerError(f"aiocqhttp: the reverse-WebSocket relay did not connect ({why})")

    def close(self) -> str:
        """Stop the relay; the last line it wrote to stderr."""
        if self._stderr.closed:
            return ""
        try:
            if self._proc.stdin:
                self._proc.stdin.close()
        except OSError:
            pass
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)
        self._stderr.seek(0)
        lines = [ln.strip() for ln in self._stderr.read().splitlines() if ln.strip()]
        self._stderr.close()
        return lines[-1][:200] if lines else "no output"


CALL_PLAN = [
    # (transport, peer, mode label)
    ("ws", "qqreliable", "forward WS"),
    ("ws", "nonebot", "forward WS"),
    ("ws", "aiocqhttp", "reverse WS, relay"),
    ("http", "qqreliable", "HTTP"),
    ("http", "aiocqhttp", "HTTP api_root"),
]
SERVERS = ("fake", "blast")  # FakeOneBot, then the cheap BlastServer (WebSocket only)
FAKE_BOUND = 0.85  # server CPU / wall above this: the single-GIL server is near its ceiling
FAKE_LIMITS = 1.5  # a client this much faster on BlastServer was held back by FakeOneBot


def _start_caller(python: str, transport: str, peer: str, ws_url: str, http_url: str) -> Any:
    if transport == "http":
        driver = Driver(python, peer, "calls", http_url)
        driver.expect("ready", 60)
        return driver, None
    if peer != "aiocqhttp":
        driver = Driver(python, peer, "calls", ws_url)
        driver.expect("ready", 60)
        return driver, None
    driver = Driver(python, peer, "calls", "-")
    try:
        relay = Relay(driver.expect("listening", 60)["listening"], ws_url)
    except (PeerError, OSError):
        driver.close()
        raise
    return driver, relay


class _Sample:
    """One rate measurement: calls/s and the server's CPU (this process) per call."""

    def __init__(self, rate: float, calls: int, cpu: float, wall: float, client_cpu: float) -> None:
        self.rate = rate
        self.cpu_per_call = cpu / calls if calls else float("nan")
        self.client_cpu_per_call = client_cpu / calls if calls else float("nan")
        self.busy = cpu / wall if wall > 0 else float("nan")


def calls_workload(pythons: Dict[str, Any], seconds: float, rounds: int) -> Dict[Any, Any]:
    """Samples per round keyed by (server, transport, peer, tasks); an exception where a peer failed.

    The servers run in this process, which does nothing else meanwhile (the
    drivers' pipes aside): its CPU time over a measurement is the server's.
    """
    results: Dict[Any, Any] = {}
    for server in SERVERS:
        plan = [p for p in CALL_PLAN if server == "fake" or p[0] == "ws"]
        with (FakeOneBot(heartbeat_interval=30.0) if server == "fake" else _BlastUrls()) as backend:
            ws_url = backend.ws_url
            http_url = getattr(backend, "url", "")
            sides: Dict[Any, Any] = {}
            for transport, peer, _ in plan:
                python = pythons.get(peer)
                if isinstance(python, Exception):
                    sides[(transport, peer)] = python
                    continue
                try:
                    sides[(transport, peer)] = _start_caller(python, transport, peer, ws_url, http_url)
                except (PeerError, OSError) as exc:
                    sides[(transport, peer)] = exc if isinstance(exc, PeerError) else PeerError(f"{peer}: {exc}")
            samples: Dict[Any, List[_Sample]] = {}
            try:
                for _ in range(rounds):
                    for key, side in sides.items():
                        if isinstance(side, Exception):
                            continue
                        for tasks in (1, 8):
                            try:
                                cpu0, wall0 = time.process_time(), time.monotonic()
                                side[0].send(seconds=seconds, tasks=tasks)
                                got = side[0].expect("rate", seconds + 60)
                                cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
                            except PeerError as exc:
                                _close_caller(side)
                                sides[key] = exc
                                break
                            samples.setdefault(key + (tasks,), []).append(
                                _Sample(got["rate"], got["calls"], cpu, wall, got["cpu"]))
            finally:
                for side in sides.values():
                    if not isinstance(side, Exception):
                        _close_caller(side)
        for key, side in sides.items():
            for tasks in (1, 8):
                results[(server,) + key + (tasks,)] = (
                    side if isinstance(side, Exception) else samples[key + (tasks,)])
    return results


class _BlastUrls:
    """BlastServer as a context manager with FakeOneBot's ``ws_url``."""

    def __enter__(self) -> "_BlastUrls":
        self._server = BlastServer()
        self.ws_url = self._server.url
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.close()


def _close_caller(side: Any) -> None:
    driver, relay = side
    driver.close()
    if relay is not None:
        relay.close()


def _reconnect_once(driver: Driver, fake: FakeOneBot, probe_id: int, seen_id: int) -> float:
    """Drop the live connection; seconds until the handler sees the next message."""
    fake.emit_group_message(GROUP_ID, USER_ID, "probe", message_id=probe_id)
    driver.expect("seen", 15, lambda r: r["seen"] == probe_id)  # connected and handling
    before = fake.total_connections
    dropped = time.monotonic()
    fake.drop_connections()
    fake.wait_for_connections(before + 1, timeout=30)
    fake.emit_group_message(GROUP_ID, USER_ID, "after the drop", message_id=seen_id)
    seen = driver.expect("seen", 15, lambda r: r["seen"] == seen_id)
    return seen["t"] - dropped


def reconnect_workload(pythons: Dict[str, Any], cycles: int) -> Dict[str, Any]:
    """Per peer: (median of fresh-process cycles, list of back-to-back cycles) or an error."""
    results: Dict[str, Any] = {}
    for peer in ("qqreliable", "nonebot"):
        python = pythons.get(peer)
        if isinstance(python, Exception):
            results[peer] = python
            continue
        try:
            with FakeOneBot(heartbeat_interval=30.0) as fake:
                fresh = []
                for cycle in range(cycles):
                    driver = Driver(python, peer, "reconnect", fake.ws_url)
                    try:
                        driver.expect("ready", 60)
                        fresh.append(_reconnect_once(driver, fake, 100 + 2 * cycle, 101 + 2 * cycle))
                    finally:
                        driver.close()
                driver = Driver(python, peer, "reconnect", fake.ws_url)
                try:
                    driver.expect("ready", 60)
                    series = [_reconnect_once(driver, fake, 200 + 2 * n, 201 + 2 * n) for n in range(4)]
                finally:
                    driver.close()
            results[peer] = (_common.median(fresh), series)
        except (PeerError, OSError) as exc:  # TimeoutError included
            results[peer] = exc if isinstance(exc, PeerError) else PeerError(f"{peer}: {exc}")
    results["aiocqhttp"] = PeerError(
        "aiocqhttp is a reverse-WebSocket server: reconnecting is the OneBot side's job, "
        "so it has no reconnect of its own to time"
    )
    return results


# ---------------------------------------------------------------- report


class Notes:
    """Why a cell holds no figure: printed under the table, each reason once."""

    def __init__(self) -> None:
        self.reasons: List[str] = []

    def cell(self, value: Any) -> str:
        if not isinstance(value, Exception):
            return f"{value:,.0f}" if value >= 10 else f"{value:.2f}"
        reason = str(value)
        if reason not in self.reasons:
            self.reasons.append(reason)
        return f"n/a [{self.reasons.index(reason) + 1}]"

    def flush(self) -> None:
        if self.reasons:
            sys.stdout.write("".join(f"[{n}] {r}\n" for n, r in enumerate(self.reasons, 1)) + "\n")
            sys.stdout.flush()
        self.reasons = []


def _ratio(value: Any, base: Any) -> str:
    if isinstance(value, Exception) or isinstance(base, Exception) or not base:
        return "--"
    return f"{value / base:.2f}x"


def spread(values: Sequence[float], fmt: str = "{:,.0f}", unit: str = "") -> str:
    """``median [min-max]`` of one measurement over the rounds."""
    if len(values) == 1:
        return fmt.format(values[0]) + unit
    return (f"{fmt.format(_common.median(values))}{unit} "
            f"[{fmt.format(min(values))}-{fmt.format(max(values))}]")


def ratios(values: Any, bases: Any) -> Any:
    """Round-by-round ratios (value_k / base_k); an exception when either side failed."""
    for side in (values, bases):
        if isinstance(side, Exception):
            return side
    return [v / b for v, b in zip(values, bases) if b]


def ratio_cell(values: Any, bases: Any) -> str:
    r = ratios(values, bases)
    return "--" if isinstance(r, Exception) or not r else spread(r, "{:.2f}", "x")


def rates_cell(notes: Notes, values: Any) -> str:
    return notes.cell(values) if isinstance(values, Exception) else spread(values)


def _rates(samples: Any) -> Any:
    return samples if isinstance(samples, Exception) else [x.rate for x in samples]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=3_000, help="group messages per round")
    parser.add_argument("--rounds", type=int, default=5, help="runs of every measurement (at least 3)")
    parser.add_argument("--seconds", type=float, default=2.0, help="per call-rate measurement")
    parser.add_argument("--cycles", type=int, default=5, help="reconnect cycles (fresh process each)")
    parser.add_argument("--only", default="events,calls,reconnect",
                        help="comma-separated workloads to run (events, calls, reconnect)")
    args = parser.parse_args()
    if args.rounds < 3:
        parser.error("--rounds must be at least 3: one run has no spread")
    only = {w.strip() for w in args.only.split(",")}
    _common.quiet()
    peers = prepare_peers()
    _common.header("peers.py: qqreliable vs nonebot2 (OneBot v11 adapter) and aiocqhttp, same workloads")
    lines = []
    for peer in PINS:
        state = peers[peer]
        lines.append(f"  {LABELS[peer]}: " + (f"not available: {state}" if isinstance(state, Exception)
                                                else peer_versions(peer)))
    sys.stdout.write("peers (benchmarks/.peers-venv):\n" + "\n".join(lines) + "\n")
    sys.stdout.write(
        f"every figure: median [min-max] of {args.rounds} rounds; rounds alternate between the peers.\n"
        "ratios: peer / qqreliable in the same round, then median [min-max] of those. Events and calls:\n"
        "above 1.00x the peer is faster. Reconnect time: above 1.00x the peer takes longer.\n\n")
    sys.stdout.flush()
    pythons: Dict[str, Any] = {"qqreliable": sys.executable, **peers}
    # the bare asyncio websockets loop runs in the peers' venv (websockets comes with nonebot2[websockets])
    pythons["websockets"] = peers["nonebot"]

    notes = Notes()
    targets: List[List[str]] = []
    if "events" in only:
        events = events_workload(pythons, args.events, args.rounds)
        rows = []
        for peer, reverse, mode in EVENT_PLAN:
            value = events[(peer, reverse)]
            rows.append([LABELS[peer], mode, rates_cell(notes, value),
                         ratio_cell(value, events[("qqreliable", reverse)])])
        _common.table([f"1. events: {args.events:,} group messages -> handler", "mode", "events/s",
                       "vs qqreliable, same mode"], rows)
        notes.flush()
        fwd, rev = events[("qqreliable", False)], events[("qqreliable", True)]
        targets += [
            ["events, forward WS / aiocqhttp", ">= 1.20x", _target(fwd, events[("aiocqhttp", True)], 1.2)],
            ["events, reverse WS / aiocqhttp", ">= 1.20x", _target(rev, events[("aiocqhttp", True)], 1.2)],
            ["events, forward WS / raw websockets loop", ">= 0.70x", _target(fwd, events[("websockets", False)], 0.7)],
            ["events, reverse WS / raw websockets loop", ">= 0.70x", _target(rev, events[("websockets", False)], 0.7)],
            # The same mode on both sides: masked frames, the loop as a websockets server.
            ["events, reverse WS / raw loop, reverse WS too", ">= 0.70x",
             _target(rev, events[("websockets", True)], 0.7)],
        ]

    if "calls" in only:
        calls = calls_workload(pythons, args.seconds, args.rounds)
        for server in SERVERS:
            rows = []
            bound = False
            for transport, peer, mode in CALL_PLAN:
                if server == "blast" and transport != "ws":
                    continue
                for tasks in (1, 8):
                    samples = calls[(server, transport, peer, tasks)]
                    ref = calls[(server, transport, "qqreliable", tasks)]
                    who = "1 caller" if tasks == 1 else ("8 threads" if peer == "qqreliable" else "8 tasks (gather)")
                    if isinstance(samples, Exception):
                        rows.append([f"{LABELS[peer]}, {who}", mode, notes.cell(samples), "--", "--", "--", "--"])
                        continue
                    busy = _common.median([x.busy for x in samples])
                    flag = " server-bound" if busy >= FAKE_BOUND else ""
                    bound = bound or bool(flag)
                    rows.append([f"{LABELS[peer]}, {who}", mode, spread([x.rate for x in samples]),
                                 ratio_cell(_rates(samples), _rates(ref)),
                                 spread([x.client_cpu_per_call * 1e6 for x in samples]),
                                 spread([x.cpu_per_call * 1e6 for x in samples]),
                                 f"{busy:.0%}{flag}"])
            title = ("FakeOneBot" if server == "fake" else "BlastServer (canned answers, the cheap baseline)")
            _common.table([f"2{'ab'[SERVERS.index(server)]}. calls: get_login_info on {title}, {args.seconds:g} s each",
                           "mode", "calls/s", "vs qqreliable", "client CPU us/call", "server CPU us/call",
                           "server CPU / wall"], rows)
            if bound:
                sys.stdout.write(f"server-bound: the server used >= {FAKE_BOUND:.0%} of a CPU "
                                 "(it runs on one GIL), so\n"
                                 "that row measures the server's ceiling more than the client.\n\n")
            notes.flush()
            q8, n8 = _rates(calls[(server, "ws", "qqreliable", 8)]), _rates(calls[(server, "ws", "nonebot", 8)])
            q1 = _rates(calls[(server, "ws", "qqreliable", 1)])
            targets.append([f"calls, 8 threads / nonebot2 8 tasks ({server})", ">= 1.20x", _target(q8, n8, 1.2)])
            for peer in ("nonebot", "aiocqhttp"):
                targets.append([f"calls, 1 caller / {LABELS[peer]} ({server})", "> 1.00x",
                                _target(q1, _rates(calls[(server, "ws", peer, 1)]), 1.0, strict=True)])

        rows = []
        for transport, peer, mode in CALL_PLAN:
            if transport != "ws":
                continue
            for tasks in (1, 8):
                fake, blast = _rates(calls[("fake", "ws", peer, tasks)]), _rates(calls[("blast", "ws", peer, tasks)])
                r = ratios(blast, fake)
                if isinstance(r, Exception) or not r:
                    continue
                who = "1 caller" if tasks == 1 else ("8 threads" if peer == "qqreliable" else "8 tasks (gather)")
                verdict = "FakeOneBot is the bottleneck" if _common.median(r) >= FAKE_LIMITS else "the client is"
                rows.append([f"{LABELS[peer]}, {who}", mode, spread(r, "{:.2f}", "x"), verdict])
        _common.table(["2c. the same client on BlastServer / on FakeOneBot, same round", "mode", "calls/s ratio",
                       f"verdict (>= {FAKE_LIMITS:.1f}x: the fake)"], rows)

    if "reconnect" in only:
        reconnect = reconnect_workload(pythons, args.cycles)
        rows = []
        qq_result = reconnect["qqreliable"]
        base_fresh = qq_result[0] if not isinstance(qq_result, Exception) else qq_result
        for peer in ("qqreliable", "nonebot", "aiocqhttp"):
            result = reconnect[peer]
            if isinstance(result, Exception):
                transport = "reverse WS" if peer == "aiocqhttp" else "forward WS"
                rows.append([LABELS[peer], transport, notes.cell(result), "--", "--"])
                continue
            fresh, series = result
            rows.append([LABELS[peer], "forward WS", f"{fresh:.2f}", _ratio(fresh, base_fresh),
                         " ".join(f"{s:.2f}" for s in series)])
        _common.table(
            ["3. reconnect: drop (1006) -> next event handled", "mode", f"s, median of {args.cycles}",
             "vs qqreliable", "4 drops back to back, s"],
            rows,
        )
        notes.flush()

    if targets:
        _common.table(["targets (issue 16): qqreliable / peer, same round", "target", "median [min-max]: verdict"],
                      targets)


def _target(ours: Any, theirs: Any, goal: float, strict: bool = False) -> str:
    r = ratios(ours, theirs)
    if isinstance(r, Exception) or not r:
        return "not measured"
    med = _common.median(r)
    met = med > goal if strict else med >= goal
    return f"{spread(r, '{:.2f}', 'x')}: {'met' if met else 'NOT met'}"


if __name__ == "__main__":
    main()
