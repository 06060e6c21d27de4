"""Seed 002 as a real process: a MiraiBot in ``run()`` never hangs.

QChatGPT 2.x on YiriMirai: a WebSocket closed with 1006, or mirai not up yet at
start, left the process alive and connected to nothing. Here: a 1006 is
reconnected, a wrong key or a spent budget exits non-zero, SIGINT / SIGTERM
exit cleanly within 2 s, whether connected (ws or http) or waiting for MAH.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import Any, Tuple

import pytest

from qqreliable.testing import FakeMirai

from .helpers import Lines, reap, spawn_python

pytestmark = pytest.mark.timeout(60)

SCRIPT = textwrap.dedent(
    """
    import logging, sys
    from qqreliable import Backoff, MiraiBot

    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(name)s %(message)s")
    budget = int(sys.argv[3]) if len(sys.argv) > 3 else None
    bot = MiraiBot(sys.argv[1], verify_key=sys.argv[2], qq=10001, poll_interval=0.05,
                   reconnect=Backoff(initial=0.05, maximum=0.2, max_attempts=budget))

    @bot.on_connect
    def connected(qq):
        sys.stdout.write("connected\\n")
        sys.stdout.flush()

    @bot.on_message("group")
    def echo(event):
        event.reply("pong")

    bot.run()
    sys.stdout.write("returned\\n")
    sys.stdout.flush()
    """
)


def _spawn(*args: str) -> Tuple[Any, Lines, Lines]:
    return spawn_python(["-c", SCRIPT, *args])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("backend", ["ws", "http", "down"])
def test_signal_stops_run_quickly(mirai: FakeMirai, sig: int, backend: str) -> None:
    if backend == "down":
        mirai.down()
    url = mirai.url if backend == "http" else mirai.ws_url
    proc, out, err = _spawn(url, mirai.verify_key)
    try:
        if backend == "down":
            err.wait_for("reconnecting in")
        else:
            out.wait_for("connected")
        started = time.monotonic()
        proc.send_signal(sig)
        code = proc.wait(timeout=10)
        elapsed = time.monotonic() - started
    finally:
        reap(proc)
    assert code == 0
    assert elapsed < 2.0, f"took {elapsed:.2f}s to exit"
    out.wait_for("returned", timeout=2)


def test_a_1006_is_survived_and_the_bot_answers_again(mirai: FakeMirai) -> None:
    proc, out, err = _spawn(mirai.ws_url, mirai.verify_key)
    try:
        out.wait_for("connected")
        mirai.drop_connections()
        out.wait_for("connected")  # reconnected, in the same process
        mirai.emit_group_message(100, 2, "ping")
        assert mirai.wait_for_message(timeout=15)["messageChain"] == [{"type": "Plain", "text": "pong"}]
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        reap(proc)


def test_mirai_not_up_at_start_is_waited_for(mirai: FakeMirai) -> None:
    mirai.down()
    proc, out, err = _spawn(mirai.ws_url, mirai.verify_key)
    try:
        err.wait_for("reconnecting in")
        mirai.up()
        out.wait_for("connected")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        reap(proc)


@pytest.mark.parametrize("case", ["wrong key", "budget spent"])
def test_unrecoverable_exits_non_zero(mirai: FakeMirai, case: str) -> None:
    if case == "budget spent":
        mirai.down()
        args = (mirai.ws_url, mirai.verify_key, "3")
        expected = "ConnectionLost"
    else:
        args = (mirai.ws_url, "wrong-key")
        expected = "AuthenticationError"
    proc, out, err = _spawn(*args)
    try:
        code = proc.wait(timeout=20)
    finally:
        reap(proc)
    assert code != 0
    err.wait_for(expected, timeout=5)


EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "mirai_echo_bot.py")


def test_the_example_prints_its_usage() -> None:
    done = subprocess.run([sys.executable, EXAMPLE, "--help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout and "verify_key" in done.stdout


@pytest.mark.parametrize("backend", ["ws", "http"])
def test_the_example_echoes_against_fake_mirai(mirai: FakeMirai, backend: str) -> None:
    url = mirai.url if backend == "http" else mirai.ws_url
    proc, out, err = spawn_python([EXAMPLE, url, mirai.verify_key, str(mirai.qq)])
    try:
        err.wait_for(f"online as {mirai.qq}")
        source = mirai.emit_group_message(100, 2, "ping")
        sent = mirai.wait_for_message(timeout=15)
        assert sent["messageChain"] == [{"type": "Plain", "text": "pong"}]
        assert sent["quote"] == source["messageChain"][0]["id"]  # quote=event.is_group
        mirai.emit_friend_message(3, "echo hello there")
        sent = mirai.wait_for_message(timeout=15, count=2)
        assert sent["messageChain"] == [{"type": "Plain", "text": "hello there"}]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        reap(proc)
