"""Reconnect backoff: an immutable policy value, decisions in pure code."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Callable, Optional

if not TYPE_CHECKING:
    from .._frozen import frozen_dataclass as dataclass  # dataclass(frozen=True), cheaper to import
else:
    from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter for reconnecting.

    The n-th consecutive failure waits ``initial * multiplier ** (n - 1)``, capped
    at ``maximum``, then spread by ``±jitter`` (a fraction) so that many bots do
    not reconnect in step. A connection that stayed up for ``healthy_after``
    seconds resets the count. ``max_attempts`` consecutive failed attempts
    spend the budget (``None``: retry for ever, the default: a backend that
    restarts must find the bot again).

    Frozen, so one value can be shared by any number of bots and used as a
    default argument.
    """

    initial: float = 0.5
    maximum: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.25
    healthy_after: float = 30.0
    max_attempts: Optional[int] = None

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < 0 or self.multiplier < 1:
            raise ValueError("Backoff needs initial >= 0, maximum >= 0 and multiplier >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("Backoff.jitter is a fraction between 0 and 1")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("Backoff.max_attempts must be at least 1 (or None)")

    def delay(self, failures: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after ``failures`` consecutive failures (``failures >= 1``)."""
        if failures <= 0:
            return 0.0
        base = min(self.maximum, self.initial * self.multiplier ** min(failures - 1, 64))
        return max(0.0, base * (1.0 + self.jitter * (2.0 * rand() - 1.0)))

    def exhausted(self, failures: int) -> bool:
        """True when ``failures`` consecutive failures spend the budget."""
        return self.max_attempts is not None and failures >= self.max_attempts
