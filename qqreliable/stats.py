"""Per-action call statistics: counts, outcomes, retries, latency percentiles."""

from __future__ import annotations

import collections
import threading
from typing import Any, Deque, Dict, List, Optional

__all__ = ["CallStats", "percentile"]

_SAMPLES = 2048  # latency samples kept per action (the most recent ones)


def percentile(sorted_values: List[float], q: float) -> Optional[float]:
    """The ``q`` quantile (0..1) of already sorted values, nearest-rank; None when empty."""
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, int(round(q * (len(sorted_values) - 1)))))
    return sorted_values[index]


class _ActionStats:
    __slots__ = ("count", "ok", "delivered", "errors", "retries", "outcomes", "latencies")

    def __init__(self) -> None:
        self.count = 0
        self.ok = 0
        # Sends delivered as answered on their first attempt (CallStats.delivered): one
        # counter for the usual send, added to count, ok and outcomes when read.
        self.delivered = 0
        self.errors: Dict[str, int] = {}
        self.retries = 0
        self.outcomes: Dict[str, int] = {}
        self.latencies: Deque[float] = collections.deque(maxlen=_SAMPLES)


class CallStats:
    """Thread-safe per-action counters; ``snapshot()`` is what ``bot.stats()`` shows."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._actions: Dict[str, _ActionStats] = {}

    def record(
        self,
        action: str,
        *,
        latency: float,
        error: Optional[BaseException] = None,
        retries: int = 0,
        outcome: Optional[str] = None,
    ) -> None:
        with self._lock:
            stats = self._actions.get(action)
            if stats is None:
                stats = self._actions[action] = _ActionStats()
            stats.count += 1
            stats.retries += retries
            stats.latencies.append(latency)
            if error is None:
                stats.ok += 1
            else:
                name = type(error).__name__
                stats.errors[name] = stats.errors.get(name, 0) + 1
            if outcome is not None:
                stats.outcomes[outcome] = stats.outcomes.get(outcome, 0) + 1

    def delivered(self, action: str, latency: float) -> None:
        """``record(action, latency=latency, outcome="delivered")``: a send delivered as
        answered, on its first attempt (the send pipeline's usual case, so the
        fewest steps: one counter, read into the others by :meth:`snapshot`).
        Thread-safe."""
        stats = self._actions.get(action)  # entries are added under the lock, never removed
        if stats is None:
            with self._lock:
                stats = self._actions.get(action)
                if stats is None:
                    stats = self._actions[action] = _ActionStats()
        lock = self._lock
        lock.acquire()  # not `with`: Lock.__exit__ parses three arguments
        try:
            stats.delivered += 1
            stats.latencies.append(latency)
        finally:
            lock.release()

    def snapshot(self) -> Dict[str, Dict[str, Any]]:
        with self._lock:
            items = [(name, s, sorted(s.latencies)) for name, s in self._actions.items()]
            out: Dict[str, Dict[str, Any]] = {}
            for name, s, lat in items:
                count, ok, outcomes = s.count + s.delivered, s.ok + s.delivered, dict(s.outcomes)
                if s.delivered:
                    outcomes["delivered"] = outcomes.get("delivered", 0) + s.delivered
                out[name] = {
                    "count": count,
                    "ok": ok,
                    "success_rate": ok / count if count else None,
                    "errors": dict(s.errors),
                    "retries": s.retries,
                    "outcomes": outcomes,
                    "latency_p50": percentile(lat, 0.50),
                    "latency_p90": percentile(lat, 0.90),
                    "latency_p99": percentile(lat, 0.99),
                }
        return out
