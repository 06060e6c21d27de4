"""Shared test helpers."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any, Callable, Iterator, List

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
