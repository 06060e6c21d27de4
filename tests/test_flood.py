"""Backpressure: a flood of events into a slow handler never blocks the reader or grows memory."""

from __future__ import annotations

import os
import resource
import sys
import threading
import time
from typing import Any, Callable, List

import pytest

from qqreliable import Bot, Event
from qqreliable.testing import FakeOneBot

from .helpers import eventually

FLOOD = 100_000


def rss_bytes() -> int:
    """Resident set size now (Linux /proc), else the peak so far (getrusage)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


class RssSampler:
    """Samples the process RSS every ``period`` seconds on a thread; keeps the peak."""

    def __init__(self, period: float = 0.05) -> None:
        self.base = rss_bytes()
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-rss")
        self._period = period

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            self.peak = max(self.peak, rss_bytes())

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(5)
        self.peak = max(self.peak, rss_bytes())

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / 1e6


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_flood_of_100k_events_into_a_slow_handler(onebot: FakeOneBot, make_bot: Callable[..., Bot]) -> None:
    queue_size = 1000
    bot = make_bot(onebot.ws_url, workers=2, queue_size=queue_size, dedupe_size=5000)
    release = threading.Event()
    handled: List[int] = []

    @bot.on_message()
    def slow(event: Event) -> None:
        release.wait(30)  # as slow as it gets: blocked until the flood is over
        handled.append(event.message_id)

    frames = [
        {"post_type": "message", "message_type": "private", "sub_type": "friend", "user_id": 5,
         "message_id": i, "message": [{"type": "text", "data": {"text": f"m{i}"}}], "raw_message": f"m{i}",
         "font": 0, "sender": {"user_id": 5}, "time": 1700000000, "self_id": onebot.self_id}
        for i in range(FLOOD)
    ]
    latencies: List[float] = []
    with bot:
        bot.wait_connected(5)
        flooding = threading.Event()

        errors: List[BaseException] = []

        def caller() -> None:
            flooding.wait(5)
            while flooding.is_set():
                started = time.monotonic()
                try:
                    assert bot.call_action("get_status", api_timeout=10)["online"] is True
                except BaseException as exc:  # noqa: B902 - reported by the test below
                    errors.append(exc)
                    return
                latencies.append(time.monotonic() - started)

        calls = threading.Thread(target=caller, name="test-caller")
        calls.start()
        with RssSampler() as rss:
            started = time.monotonic()
            flooding.set()
            for frame in frames:
                onebot.push_event(frame)
            eventually(lambda: bot.events_received >= FLOOD, timeout=30, what="the whole flood read")
            elapsed = time.monotonic() - started
            flooding.clear()
            calls.join(10)
        stats = bot.stats()
        release.set()
    growth_mb = rss.growth_mb
    print(f"\nflood: {FLOOD} events in {elapsed:.1f}s, peak RSS growth {growth_mb:.1f} MB, "
          f"dropped {stats['events_dropped']}, calls during flood {len(latencies)}, "
          f"max call latency {max(latencies) * 1000:.0f} ms")
    # Overflow: everything beyond the queue and the two busy workers is dropped and counted.
    assert stats["events_dropped"] >= FLOOD - queue_size - 2 - 10
    assert stats["events_dropped"] + stats["events_dispatched"] + stats["events_queued"] >= FLOOD - 10
    # Memory: 100k events held as Event objects would take well over 100 MB; the bot
    # keeps only the bounded queue and dedupe window.
    assert growth_mb < 40, f"memory grew by {growth_mb:.1f} MB"
    # The reader never waited for the handlers: calls were answered throughout. A reply
    # queues behind the events already in the socket (one ordered stream), so its latency
    # is the backlog's read time: well under a second alone, seconds on a loaded machine.
    assert errors == [] and len(latencies) >= 3 and max(latencies) < 10
    assert not calls.is_alive()


def test_overflow_is_logged_at_warning(onebot: FakeOneBot, make_bot: Callable[..., Bot], caplog: Any) -> None:
    bot = make_bot(onebot.ws_url, workers=1, queue_size=2)
    release = threading.Event()
    bot.on_message()(lambda e: release.wait(10))
    with bot:
        bot.wait_connected(5)
        for i in range(10):
            onebot.emit_private_message(5, f"m{i}")
        eventually(lambda: bot.stats()["events_dropped"] >= 7, what="drops")
        release.set()
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "queue full" in r.getMessage()]
    assert warnings and "dropping" in warnings[0].getMessage()


def test_quick_operations_are_bounded_too(onebot: FakeOneBot, make_bot: Callable[..., Bot]) -> None:
    bot = make_bot(onebot.ws_url, workers=1, queue_size=5)
    release = threading.Event()
    onebot.set_action(".handle_quick_operation", lambda params: None)
    bot.quick_operation("message")(lambda e: release.wait(10) and None)
    with bot:
        bot.wait_connected(5)
        for i in range(50):
            onebot.emit_private_message(5, f"m{i}")
        eventually(lambda: bot.events_received >= 50, what="all read")
        assert bot._dispatcher.queued <= 10  # events and quick jobs, each bounded by queue_size
        assert bot.stats()["quick_dropped"] >= 40
        release.set()
