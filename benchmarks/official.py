"""OfficialBot against qq-botpy and nonebot-adapter-qq on the same FakeOfficial; resume
time; the cost of a stream chunk.

    python benchmarks/official.py [--events 1000] [--rounds 3] [--peer-python PATH]

Every peer figure is a ratio to qqreliable measured in the same run.

Method
------
qq-botpy 1.2.1 and nonebot2 2.5 + nonebot-adapter-qq 1.7 (``~httpx+~websockets``
driver) run in their own virtualenv (``benchmarks/.official-peers-venv``, made by this
script, or ``--peer-python``), qqreliable in the project's interpreter; each in a
child process (``_official_driver.py``). qq-botpy has no endpoint settings (its
route constants and token URL are redirected in the driver); nonebot takes
``QQ_API_BASE`` / ``QQ_AUTH_BASE``. FakeOfficial runs in this process on
127.0.0.1. Times are ``time.monotonic()`` (one clock for all processes on Linux).

1. Events: N C2C messages, encoded before the clock starts and written back to back
   by the fake (``FakeOfficial.flood_c2c``); the figure is N / the time from the
   first frame to the peer's handler having run N times.
2. Replies: M messages (300), the handler answering each with one passive reply;
   the clock stops when the fake has received M replies (0 when they did not all
   arrive within 300 s).
3. Resume: the fake drops the gateway connection (no close frame) of a connection
   that has lived 6 s, then pushes a message; the figure is the time until the
   peer's handler sees it (a resumed session gets it replayed).
4. Streaming (qqreliable only, in this process): ``reply_stream`` of K chunks with
   ``interval=0``, against K plain replies: the cost per chunk on loopback.

Caveats: loopback, 2 CPUs shared with other work (figures vary by 2x between rounds:
read the medians' ratios); the replies row includes the fake's own HTTP handling (a
thread per connection, in the parent process). Every peer's log is set to WARNING, and
the handlers do nothing but count (and reply).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from qqreliable import OfficialBot  # noqa: E402
from qqreliable.testing import FakeOfficial  # noqa: E402

VENV = os.path.join(HERE, ".official-peers-venv")
PINS = ["qq-botpy==1.2.1", "nonebot2[httpx,websockets]==2.5.0", "nonebot-adapter-qq==1.7.3"]
DRIVER_NAMES = {"qqreliable": "qqreliable", "qq-botpy": "botpy", "nonebot-adapter-qq": "nonebot"}


def peer_python(explicit: Optional[str]) -> str:
    if explicit:
        return explicit
    python = os.path.join(VENV, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True, timeout=180)
        subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", *PINS],
                       check=True, timeout=900)
    return python


class Child:
    def __init__(self, python: str, peer: str, mode: str, official: FakeOfficial, count: int) -> None:
        self.proc = subprocess.Popen(
            [python, os.path.join(HERE, "_official_driver.py"), peer, mode, str(official.port), official.app_id,
             official.secret, str(count)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env=dict(os.environ, PYTHONPATH=os.path.dirname(HERE)),
        )
        self.lines: List[Dict[str, Any]] = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, name=f"bench:{peer}", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            with self.cond:
                self.lines.append(obj)
                self.cond.notify_all()

    def wait(self, key: str, timeout: float, value: Any = None) -> Dict[str, Any]:
        def found() -> Optional[Dict[str, Any]]:
            for obj in self.lines:
                if key in obj and (value is None or obj[key] == value):
                    return obj
            return None

        with self.cond:
            if not self.cond.wait_for(lambda: found() is not None, timeout):
                raise TimeoutError(f"no {key}={value!r} from the child within {timeout}s")
            result = found()
            assert result is not None
            return result

    def stop(self) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def ratio(value: float, base: float) -> str:
    """``value / base`` for the table; "  n/a" when qqreliable's own figure is missing
    (0: it did not finish within the timeout, said above the table)."""
    return f"{value / base:4.2f}x" if base > 0 else "  n/a"


def throughput(python: str, peer: str, mode: str, n: int, timeout: float = 300.0) -> float:
    with FakeOfficial() as official:
        child = Child(python, peer, mode, official, n)
        try:
            child.wait("ready", 60)
            started = official.flood_c2c(n, content="m")
            if mode == "replies":
                official.wait_for_sent(n, timeout=timeout)
                ended = time.monotonic()
            else:
                ended = child.wait("done", timeout, n)["t"]
            return n / (ended - started)
        finally:
            child.stop()


def resume_time(python: str, peer: str, cycles: int) -> List[float]:
    out = []
    with FakeOfficial() as official:
        child = Child(python, peer, "events", official, 10**9)
        try:
            child.wait("ready", 60)
            for i in range(cycles):
                # Let the connection live 6 s first: three connections closed within 5 s of
                # opening make qqreliable wait 60 s (a close storm, qq-official.md §10).
                time.sleep(6.0)
                official.emit_c2c_message("u", f"warm{i}")
                started = time.monotonic()
                official.drop_connections()
                official.emit_c2c_message("u", f"probe{i}")
                out.append(child.wait("seen", 60, f"probe{i}")["t"] - started)
        finally:
            child.stop()
    return out


def stream_cost(k: int) -> Dict[str, float]:
    with FakeOfficial() as official:
        bot = OfficialBot(app_id=official.app_id, secret=official.secret, api_base=official.url,
                          token_url=official.token_url, pacing=None)  # the cost per chunk, not the pacing
        results: Dict[str, float] = {}
        done = threading.Event()

        @bot.on_message("c2c")
        def handler(event: Any) -> None:
            started = time.monotonic()
            event.reply_stream((f"w{i} " for i in range(k)), interval=0)
            results["stream"] = (time.monotonic() - started) / (k + 1)
            done.set()

        with bot:
            bot.wait_connected(10)
            official.emit_c2c_message("u", "go")
            done.wait(120)
            started = time.monotonic()
            for i in range(k):
                bot.send_c2c_message("u", f"plain {i}")
            results["plain"] = (time.monotonic() - started) / k
        return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--replies", type=int, default=300,
                        help="messages in the replies rows (qq-botpy opens a connection per reply, all at once)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--peer-python", help="an interpreter with qq-botpy and nonebot-adapter-qq installed")
    parser.add_argument("--peers", default="qq-botpy,nonebot-adapter-qq")
    parser.add_argument("--modes", default="events,replies,resume,stream")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a peer gets per workload")
    args = parser.parse_args()
    peers = {"qqreliable": sys.executable}
    try:
        python = peer_python(args.peer_python)
        for name in args.peers.split(","):
            if name:
                peers[name] = python
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"peers not measured: {exc}")
    rows = []
    modes = args.modes.split(",")
    for mode in [m for m in ("events", "replies") if m in modes]:
        figures: Dict[str, List[float]] = {p: [] for p in peers}
        for _ in range(args.rounds):
            for peer, python in peers.items():
                count = args.events if mode == "events" else args.replies
                try:
                    figures[peer].append(throughput(python, DRIVER_NAMES[peer], mode, count, args.timeout))
                except TimeoutError as exc:
                    print(f"{peer} {mode}: {exc} (with more events than a bot's handler queue holds, "
                          "10,000 by default, a burst can fill it: the newest are dropped and counted)",
                          flush=True)
                    figures[peer].append(0.0)
        medians = {p: statistics.median(v) for p, v in figures.items()}
        rows.append((f"{mode}/s", medians))
        print(f"{mode}/s: {figures}", flush=True)
    resume = {}
    if "resume" in modes:
        for peer, python in peers.items():
            try:
                resume[peer] = statistics.median(resume_time(python, DRIVER_NAMES[peer], args.cycles))
            except TimeoutError as exc:
                print(f"{peer} resume: {exc}", flush=True)
                resume[peer] = float("inf")
            print(f"resume {peer}: {resume[peer]:.3f}s", flush=True)
    print(f"\n{'workload':<22}" + "".join(f"{p:>24}" for p in peers))
    for name, medians in rows:
        base = medians["qqreliable"]
        print(f"{name:<22}" + "".join(f"{medians[p]:>14.0f} ({ratio(medians[p], base)})" for p in peers))
    if resume:
        base = resume["qqreliable"]
        print(f"{'resume after a drop':<22}"
              + "".join(f"{resume[p]:>13.3f}s ({resume[p] / base:4.0f}x)" for p in peers))
    if "stream" not in modes:
        return
    cost = stream_cost(args.chunks)
    print(f"\nstream chunk: {cost['stream'] * 1000:.2f} ms each; a plain proactive send: {cost['plain'] * 1000:.2f} ms "
          f"(loopback, {args.chunks} of each)")


if __name__ == "__main__":
    main()
