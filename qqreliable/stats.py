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
    __slots__ = ("count", "ok", "errors", "retries", "outcomes", "latencies")

    def __init__(self) -> None:
        self.count = 0
        self.ok = 0
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
        fewest steps). Thread-safe."""
        lock = self._lock
        lock.acquire()  # not `with`: Lock.__exit__ parses three arguments
        try:
            stats = self._actions.get(action)
            if stats is None:
                stats = self._actions[action] = _ActionStats()
            stats.count += 1
            stats.ok += 1
            stats.latencies.append(latency)
            outcomes = stats.outcomes
            outcomes["delivered"] = outcomes.get("delivered", 0) + 1
        finally:
            lock.release()

    def snapshot(self) -> Dict[str, Dict[str, Any]]:
        with self._lock:
            items = [(name, s, sorted(s.latencies)) for name, s in self._actions.items()]
            out: Dict[str, Dict[str, Any]] = {}
            for name, s, lat in items:
                out[name] = {
                    "count": s.count,
                    "ok": s.ok,
                    "success_rate": s.ok / s.count if s.count else None,
                    "errors": dict(s.errors),
                    "retries": s.retries,
                    "outcomes": dict(s.outcomes),
                    "latency_p50": percentile(lat, 0.50),
                    "latency_p90": percentile(lat, 0.90),
                    "latency_p99": percentile(lat, 0.99),
                }
        return out
