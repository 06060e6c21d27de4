"""Pacing of sends: token buckets per target and per account, circuits per target,
and a concurrency limit for large media uploads.

The decisions (:class:`TokenBucket`, :class:`Circuits`) are pure and take the time
as an argument, so they are tested without sleeping. :class:`Pacer` puts them
together for the send pipeline; its waits are on the bot's stop Event (or on a
Condition that :meth:`Pacer.interrupt` wakes), so ``stop()`` ends them at once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Callable, Dict, Hashable, Iterator, Optional, Set, Tuple

from ..exceptions import BotStopped, RateLimited
from .interfaces import target_name
from .sendpolicy import Pacing
from .store import Store

__all__ = ["TokenBucket", "Circuits", "Pacer", "target_name"]

log = logging.getLogger(__name__)


_MAX_BUCKETS = 10_000  # idle (full) per-target buckets are pruned beyond this


class TokenBucket:
    """A token bucket: ``burst`` tokens, refilled at ``rate`` per second.

    Not thread-safe; :class:`Pacer` holds its lock around it. A reservation may
    take the level below zero: that is the queue of senders already waiting.
    """

    __slots__ = ("rate", "burst", "level", "stamp")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.level = float(burst)
        self.stamp = now

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.level = min(self.burst, self.level + (now - self.stamp) * self.rate)
            self.stamp = now

    def wait_for(self, now: float) -> float:
        """Seconds until one more token would be available (0 when one is)."""
        self._refill(now)
        return 0.0 if self.level >= 1.0 else (1.0 - self.level) / self.rate

    def take(self, now: float) -> None:
        """Take one token (possibly going below zero: a reservation)."""
        self._refill(now)
        self.level -= 1.0

    def give_back(self, now: float) -> None:
        """Return a token taken for a send that did not happen."""
        self._refill(now)
        self.level = min(self.burst, self.level + 1.0)

    def full(self, now: float) -> bool:
        self._refill(now)
        return self.level >= self.burst


class _Circuit:
    """One target's breaker state (a plain slotted class: cheaper to import than a dataclass)."""

    __slots__ = ("failures", "open_until", "cooldown", "probing", "reason")

    def __init__(self) -> None:
        self.failures = 0
        self.open_until: Optional[float] = None
        self.cooldown = 0.0
        self.probing = False
        self.reason = ""

    def __repr__(self) -> str:
        return (f"_Circuit(failures={self.failures}, open_until={self.open_until}, cooldown={self.cooldown}, "
                f"probing={self.probing}, reason={self.reason!r})")


class Circuits:
    """Per-target circuit breakers against risk control. Pure; not thread-safe.

    Closed: sends flow, consecutive undelivered ambiguous sends are counted.
    Open: sends are refused until ``open_until``. Then half-open: one probe send
    is let through; its success closes the circuit, its failure reopens it with
    a doubled cooldown (capped).
    """

    def __init__(self, threshold: int, cooldown: float, max_cooldown: float) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.max_cooldown = max_cooldown
        self._circuits: Dict[Hashable, _Circuit] = {}

    def admit(self, target: Hashable, now: float) -> Optional[Tuple[float, str]]:
        """``None`` when a send may go; else ``(seconds to wait, reason)``."""
        circuit = self._circuits.get(target)
        if circuit is None or circuit.open_until is None:
            return None
        if now < circuit.open_until:
            return circuit.open_until - now, circuit.reason
        if circuit.probing:
            return max(self.cooldown, 1.0), circuit.reason + " (a probe send is in flight)"
        circuit.probing = True
        return None

    @property
    def active(self) -> bool:
        """Whether any target has a circuit record (open, or counting failures)."""
        return bool(self._circuits)

    def is_open(self, target: Hashable) -> bool:
        circuit = self._circuits.get(target)
        return circuit is not None and circuit.open_until is not None

    def succeeded(self, target: Hashable) -> None:
        """A send to ``target`` was delivered: close its circuit."""
        if self._circuits.pop(target, None) is not None:
            log.info("circuit for %s closed", target_name(target))

    def released(self, target: Hashable) -> None:
        """A probe ended without telling anything (e.g. a bad request): allow the next."""
        circuit = self._circuits.get(target)
        if circuit is not None:
            circuit.probing = False

    def tripped(self, target: Hashable, now: float, reason: str) -> float:
        """Risk control answered: open the circuit now. Returns the cooldown."""
        return self._open(self._circuits.setdefault(target, _Circuit()), target, now, reason)

    def undelivered(self, target: Hashable, now: float, reason: str) -> Optional[float]:
        """An ambiguous send was found undelivered. Returns the cooldown when it opened."""
        circuit = self._circuits.setdefault(target, _Circuit())
        circuit.failures += 1
        if circuit.open_until is not None or circuit.failures >= self.threshold:
            return self._open(circuit, target, now, reason)
        return None

    def _open(self, circuit: _Circuit, target: Hashable, now: float, reason: str) -> float:
        if circuit.open_until is None:
            circuit.cooldown = self.cooldown
        else:  # failed again while open or half-open: back off harder
            circuit.cooldown = min(self.max_cooldown, max(circuit.cooldown * 2, self.cooldown))
        circuit.open_until = now + circuit.cooldown
        circuit.probing = False
        circuit.reason = reason
        log.warning(
            "circuit for %s open for %.0fs: %s", target_name(target), circuit.cooldown, reason
        )
        return circuit.cooldown


class Pacer:
    """Token buckets, circuits and the media limit, shared by every sending thread.

    Thread-safe. Waits happen on ``stopping`` (the bot's stop Event), so a
    ``stop()`` interrupts them with :class:`BotStopped`.
    """

    def __init__(
        self,
        pacing: Pacing,
        stopping: threading.Event,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pacing = pacing
        self._stopping = stopping
        self._clock = clock
        self._lock = threading.Lock()
        self._media = threading.Condition(threading.Lock())
        self._media_in_flight = 0
        self._global = TokenBucket(pacing.global_rate, pacing.global_burst, clock())
        self._targets: Dict[Hashable, TokenBucket] = {}
        self._announced: Set[Hashable] = set()  # targets whose first wait was logged at INFO
        self._circuits = Circuits(
            pacing.circuit_threshold, pacing.circuit_cooldown, pacing.circuit_max_cooldown
        )
        self.waited = 0.0  # total seconds spent waiting for tokens (stats)
        self.refused = 0  # sends refused by a circuit or max_wait (stats)
        self._store: Optional[Store] = None
        self._account: Callable[[], Hashable] = lambda: None

    def share(self, store: Store, account: Callable[[], Hashable]) -> None:
        """Keep the buckets (per target and per account) and open circuits in ``store``:
        every process sending for an account then shares one budget."""
        self._store = store
        self._account = account

    def _shared_key(self, kind: str, target: Optional[Hashable] = None) -> str:
        account = self._account()
        if target is None:
            return f"pace:{account}:{kind}"
        return f"pace:{account}:{kind}:{target_name(target)}"

    # -- circuits -------------------------------------------------------------

    def admit(self, target: Hashable, action: str) -> bool:
        """Raise :class:`RateLimited` when ``target``'s circuit is open.

        Returns:
            True when this send is the probe of a half-open circuit: the caller
            must call :meth:`released` when it ends (a verdict closes or reopens
            the circuit first, making that a no-op).
        """
        if self._store is not None:
            self._shared_admit(target, action)
        if not self._circuits._circuits:  # no circuit record (Circuits.active): the common case, no lock
            return False
        with self._lock:
            verdict = self._circuits.admit(target, self._clock())
            if verdict is not None:
                self.refused += 1
            probe = verdict is None and self._circuits.is_open(target)
        if verdict is not None:
            wait, reason = verdict
            name = target_name(target)
            raise RateLimited(
                f"{action}: sends to {name} are paused for {wait:.0f}s more: {reason}",
                target=name,
                retry_after=wait,
            )
        return probe

    def _shared_admit(self, target: Hashable, action: str) -> None:
        assert self._store is not None
        reason = self._store.get(self._shared_key("circuit", target))
        if reason is None:
            return
        self.refused += 1
        name = target_name(target)
        raise RateLimited(
            f"{action}: sends to {name} are paused (by another process of this bot): {reason}",
            target=name,
            retry_after=self.pacing.circuit_cooldown,
        )

    def _shared_trip(self, target: Hashable, cooldown: Optional[float], reason: str) -> None:
        if self._store is not None and cooldown:
            self._store.put(self._shared_key("circuit", target), reason or "risk control", cooldown)

    def circuit_open(self, target: Hashable) -> bool:
        with self._lock:
            return self._circuits.is_open(target)

    def delivered(self, target: Hashable) -> None:
        if not self._circuits._circuits:  # nothing to close (Circuits.active): the common case, no lock
            return
        with self._lock:
            self._circuits.succeeded(target)

    def released(self, target: Hashable) -> None:
        with self._lock:
            self._circuits.released(target)

    def risk_control(self, target: Hashable, reason: str) -> float:
        with self._lock:
            cooldown = self._circuits.tripped(target, self._clock(), reason)
        self._shared_trip(target, cooldown, reason)
        return cooldown

    def undelivered(self, target: Hashable, reason: str) -> Optional[float]:
        with self._lock:
            cooldown = self._circuits.undelivered(target, self._clock(), reason)
        self._shared_trip(target, cooldown, reason)
        return cooldown

    # -- tokens ---------------------------------------------------------------

    def acquire(self, target: Hashable, action: str) -> float:
        """Take a token for ``target`` and the account, waiting if needed.

        Returns:
            The seconds waited.

        Raises:
            RateLimited: the wait would exceed ``max_wait`` (nothing taken).
            BotStopped: the bot stopped while waiting.
        """
        if self._store is not None:
            return self._acquire_shared(target, action)
        with self._lock:
            now = self._clock()
            bucket = self._targets.get(target)
            if bucket is None:
                if len(self._targets) >= _MAX_BUCKETS:
                    self._prune(now)
                bucket = self._targets[target] = TokenBucket(
                    self.pacing.target_rate, self.pacing.target_burst, now
                )
            target_wait, global_wait = bucket.wait_for(now), self._global.wait_for(now)
            wait = max(target_wait, global_wait)
            if wait > self.pacing.max_wait:
                self.refused += 1
                name = target_name(target)
                raise RateLimited(
                    f"{action}: pacing would hold this send {wait:.1f}s "
                    f"(max_wait {self.pacing.max_wait:g}s)",
                    target=name,
                    retry_after=wait,
                )
            bucket.take(now)
            self._global.take(now)
            self.waited += wait
            first = wait > 0 and target not in self._announced
            if first:
                if len(self._announced) >= _MAX_BUCKETS:
                    self._announced.clear()
                self._announced.add(target)
        if first:
            pacing = self.pacing
            why = (
                f"{pacing.target_rate:g}/s per chat, burst {pacing.target_burst}"
                if target_wait >= global_wait
                else f"{pacing.global_rate * 60:g}/min per account, burst {pacing.global_burst}"
            )
            log.info(
                "%s to %s paced: waiting %.2fs (Pacing: %s; Bot(pacing=None) turns pacing off, "
                "e.g. in tests); later waits for this chat are logged at DEBUG",
                action, target_name(target), wait, why,
            )
        elif wait > 0:
            log.debug("%s to %s paced for %.3fs", action, target_name(target), wait)
        if wait > 0:
            if self._stopping.wait(wait):
                raise BotStopped(f"{action}: the bot stopped while the send was paced")
        return wait

    def _acquire_shared(self, target: Hashable, action: str) -> float:
        assert self._store is not None
        pacing = self.pacing
        wait = self._store.reserve(
            [
                (self._shared_key("target", target), pacing.target_rate, pacing.target_burst),
                (self._shared_key("account"), pacing.global_rate, pacing.global_burst),
            ],
            pacing.max_wait,
        )
        name = target_name(target)
        if wait is None:
            with self._lock:
                self.refused += 1
            raise RateLimited(
                f"{action}: pacing (shared by every process of this bot) would hold this send "
                f"more than max_wait {pacing.max_wait:g}s",
                target=name,
                retry_after=pacing.max_wait,
            )
        with self._lock:
            self.waited += wait
        if wait > 0:
            log.debug("%s to %s paced for %.3fs (shared)", action, name, wait)
            if self._stopping.wait(wait):
                raise BotStopped(f"{action}: the bot stopped while the send was paced")
        return wait

    def _prune(self, now: float) -> None:
        for key in [k for k, b in self._targets.items() if b.full(now)]:
            del self._targets[key]

    # -- large media ------------------------------------------------------------

    @contextlib.contextmanager
    def media_slot(self, large: bool, action: str) -> Iterator[None]:
        """Hold one of ``media_concurrency`` slots while a large upload runs."""
        limit = self.pacing.media_concurrency
        if not large or limit is None:
            yield
            return
        with self._media:
            while self._media_in_flight >= limit:
                if self._stopping.is_set():
                    raise BotStopped(f"{action}: the bot stopped while waiting to upload")
                self._media.wait(5.0)  # interrupt() and every release notify; 5 s: a safety net
            self._media_in_flight += 1
        try:
            yield
        finally:
            with self._media:
                self._media_in_flight -= 1
                self._media.notify()

    def interrupt(self) -> None:
        """Wake every waiter (called by ``Bot.stop`` after setting the stop Event)."""
        with self._media:
            self._media.notify_all()
