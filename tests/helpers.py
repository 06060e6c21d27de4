"""Shared test helpers."""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import sys
import threading
import time
from typing import IO, Any, Callable, Iterator, List, Optional, Sequence, Tuple

from qqreliable import Backoff, SendPolicy

FAST = Backoff(initial=0.02, maximum=0.1, jitter=0.1)
FAST_POLICY = SendPolicy(settle_window=0.3, media_settle_window=0.4, poll_interval=0.05, clock_skew=5)

# FakeMirai's default credentials, and what every MiraiBot test starts from
MIRAI_KEY = "1234567890"
MIRAI_QQ = 10001
MIRAI_DEFAULTS = {
    "verify_key": MIRAI_KEY,
    "qq": MIRAI_QQ,
    "reconnect": FAST,
    "api_timeout": 5.0,
    "shutdown_grace": 2.0,
    "pacing": None,
}


def eventually(predicate: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:
    """Wait until ``predicate()`` is true; fail the test after ``timeout`` seconds.

    For state with no event to wait on (counters of another thread). The wait
    between checks is on an Event, and the timeout is generous: this is a
    deadline, not a guess of how long something takes.
    """
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        pause.wait(0.005)


def qq_threads() -> List[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("qqreliable:"))


@contextlib.contextmanager
def bot_factory(cls: Callable[..., Any], **defaults: Any) -> Iterator[Callable[..., Any]]:
    """``make(*args, **kwargs)`` building ``cls`` with ``defaults`` under the
    caller's keywords; every bot made is stopped on exit, and no ``qqreliable:``
    thread may outlive that."""
    bots: List[Any] = []

    def make(*args: Any, **kwargs: Any) -> Any:
        for key, value in defaults.items():
            kwargs.setdefault(key, value)
        bot = cls(*args, **kwargs)
        bots.append(bot)
        return bot

    try:
        yield make
    finally:
        for bot in bots:
            bot.stop()
    leftover = qq_threads()
    assert not leftover, f"threads outlived stop(): {leftover}"


class Lines:
    """A child process's output, read line by line on a daemon thread, so a test
    can wait for a line with a deadline instead of blocking on the pipe."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: "queue.Queue[str]" = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), name="qqreliable-test:pipe", daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line.rstrip("\n"))

    def wait_for(self, needle: str, timeout: float = 15.0) -> str:
        """The first line (from here on) containing ``needle``; AssertionError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"never saw {needle!r}")
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if needle in line:
                return line


def spawn_python(args: Sequence[str], *, cwd: Optional[str] = None) -> Tuple["subprocess.Popen[str]", Lines, Lines]:
    """``python *args`` (this interpreter, unbuffered) with its stdout and stderr as :class:`Lines`."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd
    )
    assert proc.stdout is not None and proc.stderr is not None
    return proc, Lines(proc.stdout), Lines(proc.stderr)


def reap(proc: "subprocess.Popen[str]") -> None:
    """Kill ``proc`` if it still runs, and wait (bounded) for it."""
    if proc.poll() is None:
        proc.kill()
        proc.wait(5)
