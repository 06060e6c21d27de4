"""SIGINT / SIGTERM to a process blocked in ``bot.run()``: a clean exit in under 2 s."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from typing import IO, Any

import pytest

from qqreliable.testing import FakeOneBot

pytestmark = pytest.mark.timeout(30)

SCRIPT = textwrap.dedent(
    """
    import logging, sys
    from qqreliable import Backoff, Bot

    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(name)s %(message)s")
    bot = Bot(sys.argv[1], reconnect=Backoff(initial=0.05, maximum=0.2))

    @bot.on_connect
    def connected(self_id):
        sys.stdout.write("connected\\n")
        sys.stdout.flush()

    bot.run()
    sys.stdout.write("returned\\n")
    sys.stdout.flush()
    """
)


def _lines(stream: IO[str], sink: "queue.Queue[str]") -> None:
    for line in stream:
        sink.put(line.rstrip("\n"))


def _wait_for(sink: "queue.Queue[str]", needle: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"never saw {needle!r}")
        try:
            if needle in sink.get(timeout=remaining):
                return
        except queue.Empty:
            continue


def _spawn(url: str) -> Any:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    out: "queue.Queue[str]" = queue.Queue()
    err: "queue.Queue[str]" = queue.Queue()
    for stream, sink in ((proc.stdout, out), (proc.stderr, err)):
        threading.Thread(target=_lines, args=(stream, sink), daemon=True).start()
    return proc, out, err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("backend", ["connected", "down"])
def test_signal_stops_run_quickly(onebot: FakeOneBot, sig: int, backend: str) -> None:
    if backend == "down":
        onebot.down()
    proc, out, err = _spawn(onebot.ws_url)
    try:
        if backend == "connected":
            _wait_for(out, "connected")
        else:
            _wait_for(err, "reconnecting in")
        started = time.monotonic()
        proc.send_signal(sig)
        code = proc.wait(timeout=5)
        elapsed = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert code == 0
    assert elapsed < 2.0, f"took {elapsed:.2f}s to exit"
    _wait_for(out, "returned", timeout=2)
