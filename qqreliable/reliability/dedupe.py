"""No event handled twice: a bounded, time-limited window of event identities.

Servers deliver the same event more than once: a webhook re-POSTed because its
answer was late, a notice reported twice, a reconnect (or two live connections for
one account) repeating what was in flight, and the gap filler re-reading history
that partly overlaps what arrived live. Every inbound event therefore passes
:meth:`Deduper.seen` before it is dispatched; a known identity is dropped and
counted.

The identity of an event comes from the protocol (an
:data:`~qqreliable.reliability.interfaces.EventKeyFn`; OneBot:
:func:`qqreliable.onebot.history.event_key`): for a message, its account, chat and
id; for events without a stable id, a digest of the whole event
(:func:`digest_key`, the default), so only an exact repeat is dropped; None for
events that must never be dropped (heartbeats).

An identity is remembered for ``ttl`` seconds and at most ``size`` identities
are kept (the oldest go first), so memory stays bounded whatever the event
rate. Pure and thread-safe; the clock is injectable.
"""

from __future__ import annotations

import collections
import hashlib
import json
import threading
import time
from typing import Any, Callable, Deque, Dict, Hashable, List, Mapping, Optional, Sequence, Tuple, TypeVar

__all__ = ["Deduper", "digest", "digest_key", "EventKey"]

EventKey = Tuple[Hashable, ...]
M = TypeVar("M", bound=Mapping[str, Any])
_NEVER = float("inf")


def digest(event: Mapping[str, Any]) -> str:
    """A digest of the whole event (keys sorted): equal only for an exact repeat."""
    try:
        text = json.dumps(event, sort_keys=True, ensure_ascii=False, default=str)
    except (TypeError, ValueError):  # unorderable mixed keys: fall back to repr order
        text = repr(sorted((str(k), repr(v)) for k, v in event.items()))
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def digest_key(event: Mapping[str, Any]) -> Optional[EventKey]:
    """The default identity: only an exact repeat of the whole event is a duplicate."""
    return ("digest", digest(event))


class Deduper:
    """Remembers event identities for ``ttl`` seconds, at most ``size`` of them.

    Args:
        size: identities kept; the oldest are forgotten first. 0 turns
            de-duplication off.
        ttl: seconds an identity is remembered.
        clock: a monotonic clock (tests inject one).
        key: the protocol's ``key(event) -> tuple | None`` (default
            :func:`digest_key`: exact repeats only).
    """

    def __init__(
        self,
        size: int = 20_000,
        ttl: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        key: Callable[[Mapping[str, Any]], Optional[EventKey]] = digest_key,
    ) -> None:
        if size < 0:
            raise ValueError("size must be >= 0 (0 turns de-duplication off)")
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self.size = size
        self.ttl = ttl
        self._key = key
        self._clock = clock
        self._lock = threading.Lock()
        # identity -> when it expires, and the identities oldest first (a dict and a
        # deque: cheaper per event than an OrderedDict, the same order).
        self._seen: Dict[EventKey, float] = {}
        self._order: Deque[EventKey] = collections.deque()
        self._next_expiry = _NEVER  # when the oldest identity expires (lock held to read or write)
        self.duplicates = 0

    def seen(self, event: Mapping[str, Any]) -> bool:
        """True when ``event`` was seen within the window (drop it); records it otherwise."""
        if self.size == 0:
            return False
        key = self._key(event)
        if key is None:
            return False
        now = self._clock()
        lock = self._lock
        lock.acquire()  # not `with`: Lock.__exit__ parses three arguments
        try:
            if now >= self._next_expiry:
                self._expire(now)
            seen = self._seen
            known = len(seen)
            expires = now + self.ttl
            seen.setdefault(key, expires)
            if len(seen) == known:  # nothing added (one look-up): known already
                self.duplicates += 1
                return True
            order = self._order
            order.append(key)
            if known == 0:
                self._next_expiry = expires
            elif known >= self.size:
                # _next_expiry stays: it is the forgotten identity's expiry, no later
                # than the new oldest one's, so the next _expire() sets it right.
                del seen[order.popleft()]
        finally:
            lock.release()
        return False

    def fresh(self, events: Sequence[M]) -> List[M]:
        """The events of ``events`` not seen within the window, in order, recorded:
        :meth:`seen` for each (a repeat within ``events`` is a repeat too), under
        one lock and one clock reading (the events of one read)."""
        if self.size == 0:
            return list(events)
        key_of = self._key
        keys = [key_of(event) for event in events]
        out: List[M] = []
        now = self._clock()
        with self._lock:
            seen = self._seen
            order = self._order
            if now >= self._next_expiry:
                self._expire(now)
            expires = now + self.ttl
            size = self.size
            for event, key in zip(events, keys):
                if key is None:
                    out.append(event)
                    continue
                known = len(seen)
                seen.setdefault(key, expires)
                if len(seen) == known:  # nothing added: known already
                    self.duplicates += 1
                    continue
                out.append(event)
                order.append(key)
                if known == 0:
                    self._next_expiry = expires
                elif known >= size:
                    del seen[order.popleft()]  # as in seen(): _next_expiry stays
        return out

    def knows(self, event: Mapping[str, Any]) -> bool:
        """True when ``event`` is in the window; records nothing."""
        key = self._key(event)
        if key is None or self.size == 0:
            return False
        with self._lock:
            expires = self._seen.get(key)
            return expires is not None and expires > self._clock()

    def _expire(self, now: float) -> None:
        # Insertion order is expiry order (one ttl for all): stop at the first live one,
        # and remember when it expires so that seen() looks again only then.
        seen, order = self._seen, self._order
        while order:
            expires = seen[order[0]]
            if expires > now:
                self._next_expiry = expires
                return
            del seen[order.popleft()]
        self._next_expiry = _NEVER

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)
