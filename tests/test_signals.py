"""SIGINT / SIGTERM to a process blocked in ``bot.run()``: a clean exit in under 2 s."""

from __future__ import annotations

import signal
import textwrap
import time
from typing import Any, Tuple

import pytest

from qqreliable.testing import FakeOneBot

from .helpers import Lines, spawn_python

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


def _spawn(url: str) -> Tuple[Any, Lines, Lines]:
    return spawn_python(["-c", SCRIPT, url])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("backend", ["connected", "down"])
def test_signal_stops_run_quickly(onebot: FakeOneBot, sig: int, backend: str) -> None:
    if backend == "down":
        onebot.down()
    proc, out, err = _spawn(onebot.ws_url)
    try:
        if backend == "connected":
            out.wait_for("connected")
        else:
            err.wait_for("reconnecting in")
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
    out.wait_for("returned", timeout=2)
