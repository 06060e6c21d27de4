"""Where state that several processes may share lives: the :class:`Store` interface.

The reliability layer keeps a few pieces of state that decide whether something
happens once: the event dedupe window (is this event handled, and by whom), the
pacing token buckets, the send-verification claims (which send owns a message
id). In one process they live in memory; several processes acting as one bot
(``store="redis://…"``) keep them in a shared :class:`Store`.

A store offers a handful of atomic operations on string keys. Every key expires
(nothing grows for ever); the caller namespaces keys per bot account.

- :meth:`Store.claim` — take ``key`` for ``owner`` unless someone holds it
  (``SET NX PX``); :meth:`Store.renew` extends the holder's claim;
  :meth:`Store.release` gives it up; :meth:`Store.put` / :meth:`Store.get` write
  and read a value (a verdict: ``done``); :meth:`Store.peek` reads a value with the
  seconds it still lives (a shared access token: its remaining lifetime is the TTL).
- :meth:`Store.incr` — a counter with a TTL (the official API's ``msg_seq``).
- :meth:`Store.reserve` — take one token from each of several token buckets at
  once, or none when the wait would exceed ``max_wait``.

:class:`MemoryStore` is the in-process implementation (and the fallback a shared
store degrades to while its server is unreachable). The Redis implementation is
in :mod:`qqreliable.scale.redis_store` (a layer above this one: a facade opens a
``store=`` URL with :func:`qqreliable.scale.open_store` and hands the Store down).
Thread-safe.
"""

from __future__ import annotations

import heapq
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

try:  # 3.8+: typing.Protocol
    from typing import Protocol
except ImportError:  # pragma: no cover
    Protocol = object  # type: ignore[assignment,misc]

__all__ = ["Store", "MemoryStore", "Bucket", "DONE"]

#: The value of an event key once its handlers ran (or it was queued).
DONE = "done"

#: A token bucket: (key, rate per second, burst).
Bucket = Tuple[str, float, float]

_MAX_KEYS = 200_000  # a memory store forgets the soonest-expiring keys beyond this


class Store(Protocol):
    """The atomic operations shared state needs. Every method is thread-safe.

    A shared implementation may degrade to local state while its server is
    unreachable (``stats()["degraded"]``); it never raises from these methods.
    """

    #: Where the store is (for messages; a password is never part of it).
    url: str
    #: Seconds an event claim lives without renewal (a dead holder's claim expires).
    claim_ttl: float

    def check(self) -> None:
        """Raise :class:`~qqreliable.exceptions.ConnectFailed` (naming the URL) when unreachable."""

    def claim(self, key: str, owner: str, ttl: float) -> bool:
        """Set ``key`` to ``owner`` for ``ttl`` seconds unless it exists; True when set."""

    def renew(self, key: str, owner: str, ttl: float) -> bool:
        """Extend ``owner``'s claim on ``key`` to ``ttl`` seconds; False when not its own."""

    def release(self, key: str, owner: str) -> None:
        """Delete ``key`` when ``owner`` holds it."""

    def take(self, key: str, owner: str, ttl: float) -> bool:
        """Set ``key`` to ``owner`` for ``ttl`` seconds unless it is :data:`DONE` or held
        by another owner named ``w:…`` (a queue worker); True when set. A queue worker
        takes an event from the process that queued it, never from another worker."""

    def put(self, key: str, value: str, ttl: float) -> None:
        """Set ``key`` to ``value`` for ``ttl`` seconds (overwriting)."""

    def get(self, key: str) -> Optional[str]:
        """The value of ``key``, or None (absent or expired)."""

    def peek(self, key: str) -> Optional[Tuple[str, float]]:
        """The value of ``key`` and the seconds it still lives, or None (absent or expired).

        Read atomically (one round trip); the lifetime is on the store's clock, so
        processes on machines with skewed clocks agree on it."""

    def incr(self, key: str, ttl: float) -> int:
        """Add 1 to the counter ``key`` (absent: 0) and return it; the counter expires
        ``ttl`` seconds after its first increment (per-message sequence numbers, budgets)."""

    def reserve(self, buckets: Sequence[Bucket], max_wait: float) -> Optional[float]:
        """Take a token from every bucket; return the seconds to wait before using them.

        None when the wait would exceed ``max_wait`` (then nothing is taken).
        A bucket unknown or expired is full.
        """

    def stats(self) -> Dict[str, Any]:
        """Counters (``degraded``, ``errors``, …)."""

    def close(self) -> None:
        """Release connections (idempotent)."""


class MemoryStore:
    """A :class:`Store` in this process's memory. Thread-safe; the clock is injectable."""

    url = "memory://"

    def __init__(self, *, claim_ttl: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.claim_ttl = claim_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._data: Dict[str, Tuple[Any, float]] = {}
        self._expiry: List[Tuple[float, str]] = []  # heap of (expires, key); stale entries skipped

    def check(self) -> None:
        return None

    def _live(self, key: str, now: float) -> Optional[Any]:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] <= now:
            del self._data[key]
            return None
        return item[0]

    def _set(self, key: str, value: Any, ttl: float, now: float) -> None:
        expires = now + ttl
        self._data[key] = (value, expires)
        heapq.heappush(self._expiry, (expires, key))
        if len(self._expiry) > 2 * max(len(self._data), 1024) or len(self._data) > _MAX_KEYS:
            self._expire(now)

    def _expire(self, now: float) -> None:
        heap = self._expiry
        while heap and (heap[0][0] <= now or len(self._data) > _MAX_KEYS):
            expires, key = heapq.heappop(heap)
            item = self._data.get(key)
            if item is not None and item[1] == expires:
                del self._data[key]
        if len(heap) > 2 * max(len(self._data), 1024):  # compact stale entries
            self._expiry = [(e, k) for k, (_, e) in self._data.items()]
            heapq.heapify(self._expiry)

    def claim(self, key: str, owner: str, ttl: float) -> bool:
        with self._lock:
            now = self._clock()
            if self._live(key, now) is not None:
                return False
            self._set(key, owner, ttl, now)
            return True

    def renew(self, key: str, owner: str, ttl: float) -> bool:
        with self._lock:
            now = self._clock()
            if self._live(key, now) != owner:
                return False
            self._set(key, owner, ttl, now)
            return True

    def release(self, key: str, owner: str) -> None:
        with self._lock:
            if self._live(key, self._clock()) == owner:
                del self._data[key]

    def take(self, key: str, owner: str, ttl: float) -> bool:
        with self._lock:
            now = self._clock()
            value = self._live(key, now)
            if value == DONE or (isinstance(value, str) and value.startswith("w:") and value != owner):
                return False
            self._set(key, owner, ttl, now)
            return True

    def put(self, key: str, value: str, ttl: float) -> None:
        with self._lock:
            self._set(key, value, ttl, self._clock())

    def get(self, key: str) -> Optional[str]:
        with self._lock:
            value = self._live(key, self._clock())
            if isinstance(value, int):
                return str(value)  # a counter reads as text, as in Redis
            return value if isinstance(value, str) else None

    def peek(self, key: str) -> Optional[Tuple[str, float]]:
        with self._lock:
            now = self._clock()
            value = self._live(key, now)
            if isinstance(value, int):
                value = str(value)
            if not isinstance(value, str):
                return None
            return value, self._data[key][1] - now

    def incr(self, key: str, ttl: float) -> int:
        with self._lock:
            now = self._clock()
            item = self._data.get(key)
            if item is None or item[1] <= now or not isinstance(item[0], int):
                self._set(key, 1, ttl, now)
                return 1
            value = item[0] + 1
            self._data[key] = (value, item[1])  # the first increment's expiry stands
            return value

    def reserve(self, buckets: Sequence[Bucket], max_wait: float) -> Optional[float]:
        with self._lock:
            now = self._clock()
            levels = []
            wait = 0.0
            for key, rate, burst in buckets:
                state = self._live(key, now)
                level = float(burst) if state is None else min(float(burst), state[0] + (now - state[1]) * rate)
                levels.append(level)
                if level < 1.0:
                    wait = max(wait, (1.0 - level) / rate)
            if wait > max_wait:
                return None
            for (key, rate, burst), level in zip(buckets, levels):
                level -= 1.0
                # Expires once it would be full again: then it equals a new bucket.
                self._set(key, (level, now), (burst - level) / rate + 1.0, now)
            return wait

    def stats(self) -> Dict[str, Any]:
        with self._lock:
            return {"kind": "memory", "keys": len(self._data)}

    def close(self) -> None:
        return None

    def __len__(self) -> int:
        with self._lock:
            self._expire(self._clock())
            return len(self._data)
