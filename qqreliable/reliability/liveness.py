"""Liveness of one connection, on a monotonic clock, from the peer's own traffic.

OneBot heartbeat meta events carry their ``interval`` in milliseconds. A link
with no inbound frame for ``grace × interval`` is dead; before the first
heartbeat (and on ``/api`` sockets, which get none) our own WebSocket pings
decide: a ping unanswered, with no other frame, for ``pong_timeout`` is dead.

A link that still answers pings and calls but has sent no event, not even a
heartbeat, for ``event_grace × interval`` is a zombie (the implementation's
event side died: faults.md CONN-07) and is treated as dead too.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

__all__ = ["Liveness"]


class Liveness:
    """Tracks inbound traffic and answers "is this link dead?" and "ping now?".

    Not thread-safe by itself: the owner calls it under its own lock, or from
    one thread for writes (the reader) and one for reads (the watchdog), which
    is safe for these float fields under the GIL.
    """

    def __init__(
        self,
        *,
        grace: float = 2.5,
        event_grace: float = 4.0,
        ping_interval: Optional[float] = 15.0,
        pong_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self.grace = grace
        self.event_grace = event_grace
        self.ping_interval = ping_interval
        self.pong_timeout = pong_timeout
        self.interval: Optional[float] = None
        self.last_rx = clock()
        self.last_event = self.last_rx
        self.ping_sent_at: Optional[float] = None

    def reset(self) -> None:
        """A new connection: forget the old one's timings (not the heartbeat interval)."""
        self.last_rx = self.last_event = self._clock()
        self.ping_sent_at = None

    def saw_frame(self) -> None:
        """Any inbound frame (event, reply, pong) is proof of life."""
        self.last_rx = self._clock()

    def saw_event(self) -> None:
        """An event (heartbeat included): the implementation's event side is alive."""
        self.last_rx = self.last_event = self._clock()

    def saw_heartbeat(self, interval_ms: object) -> None:
        """A heartbeat meta event; ``interval_ms`` is its ``interval`` field."""
        self.last_event = self._clock()
        if isinstance(interval_ms, (int, float)) and not isinstance(interval_ms, bool) and interval_ms > 0:
            self.interval = interval_ms / 1000.0

    def ping_due(self) -> bool:
        """True when the link has been quiet for a ping interval and no ping is out."""
        if self.ping_interval is None:
            return False
        now = self._clock()
        if self.ping_sent_at is not None and self.ping_sent_at > self.last_rx:
            return False  # one is outstanding
        return now - max(self.last_rx, self.ping_sent_at or 0.0) >= self.ping_interval

    def ping_sent(self) -> None:
        self.ping_sent_at = self._clock()

    def stale(self) -> Optional[str]:
        """Why the link is dead, or ``None`` while it is alive."""
        now = self._clock()
        quiet = now - self.last_rx
        if self.interval is not None and quiet > self.grace * self.interval:
            return f"no frame for {quiet:.1f}s (heartbeat interval {self.interval:g}s)"
        silent = now - self.last_event
        if self.interval is not None and silent > self.event_grace * self.interval:
            return (
                f"no event or heartbeat for {silent:.1f}s (heartbeat interval {self.interval:g}s) "
                "although the link answers: a zombie connection"
            )
        if (
            self.ping_sent_at is not None
            and self.ping_sent_at > self.last_rx
            and now - self.ping_sent_at > self.pong_timeout
        ):
            return f"no pong within {self.pong_timeout:g}s"
        return None

    def next_check_in(self, floor: float = 0.01, ceiling: float = 1.0) -> float:
        """Seconds until the next moment :meth:`stale` or :meth:`ping_due` can change.

        The watchdog sleeps exactly that long (clamped to ``[floor, ceiling]``),
        so a dead link is noticed within a few milliseconds of its deadline
        rather than up to a polling period late.
        """
        now = self._clock()
        moments = []
        if self.interval is not None:
            moments.append(self.last_rx + self.grace * self.interval)
            moments.append(self.last_event + self.event_grace * self.interval)
        if self.ping_interval is not None:
            outstanding = self.ping_sent_at is not None and self.ping_sent_at > self.last_rx
            if outstanding:
                moments.append(self.ping_sent_at + self.pong_timeout)  # type: ignore[operator]
                # The pong may come back long before its deadline: look again
                # then, so the next ping is not late.
                moments.append(self.ping_sent_at + self.ping_interval)  # type: ignore[operator]
            else:
                moments.append(max(self.last_rx, self.ping_sent_at or 0.0) + self.ping_interval)
        if not moments:
            return ceiling
        # A hair past the deadline: stale() compares with ">".
        return min(ceiling, max(floor, min(moments) - now + 0.001))
