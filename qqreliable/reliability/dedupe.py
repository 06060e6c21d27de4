"""No event handled twice: a bounded, time-limited window of event identities.

OneBot implementations deliver the same event more than once: go-cqhttp
re-POSTs a webhook whose answer was late, NapCat reports some notices twice,
a reconnect (or two live connections for one account) repeats what was in
flight, and the gap filler re-reads history that partly overlaps what arrived
live. Every inbound event therefore passes :meth:`Deduper.seen` before it is
dispatched; a known identity is dropped and counted.

The identity of an event (:func:`event_key`):

- messages (and ``message_sent``): account, post type, chat and ``message_id``;
- requests: account, request type and ``flag`` (the handle used to answer it);
- notices and anything else: account plus a digest of the whole event, so only
  an exact repeat is dropped (two different pokes in the same second are not);
- heartbeat and lifecycle meta events: none. They are never deduplicated.

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
from typing import Any, Callable, Hashable, Mapping, Optional, Tuple

__all__ = ["Deduper", "event_key"]

EventKey = Tuple[Hashable, ...]


def _account(event: Mapping[str, Any]) -> str:
    return str(event.get("self_id", ""))


def _digest(event: Mapping[str, Any]) -> str:
    try:
        text = json.dumps(event, sort_keys=True, ensure_ascii=False, default=str)
    except (TypeError, ValueError):  # unorderable mixed keys: fall back to repr order
        text = repr(sorted((str(k), repr(v)) for k, v in event.items()))
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def event_key(event: Mapping[str, Any]) -> Optional[EventKey]:
    """The identity of ``event`` for de-duplication, or None when it must never be dropped."""
    post_type = event.get("post_type")
    if post_type == "meta_event":
        return None
    account = _account(event)
    if post_type in ("message", "message_sent"):
        message_id = event.get("message_id")
        if message_id is not None:
            chat = event.get("group_id") if event.get("message_type") == "group" else event.get("user_id")
            if event.get("message_type") != "group" and post_type == "message_sent":
                chat = event.get("target_id", chat)
            return (account, str(post_type), str(event.get("message_type", "")), str(chat), str(message_id))
    if post_type == "request" and event.get("flag") not in (None, ""):
        return (account, "request", str(event.get("request_type", "")), str(event.get("flag")))
    return (account, "digest", _digest(event))


class Deduper:
    """Remembers event identities for ``ttl`` seconds, at most ``size`` of them.

    Args:
        size: identities kept; the oldest are forgotten first. 0 turns
            de-duplication off.
        ttl: seconds an identity is remembered.
        clock: a monotonic clock (tests inject one).
    """

    def __init__(self, size: int = 20_000, ttl: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        if size < 0:
            raise ValueError("size must be >= 0 (0 turns de-duplication off)")
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self.size = size
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: "collections.OrderedDict[EventKey, float]" = collections.OrderedDict()
        self.duplicates = 0

    def seen(self, event: Mapping[str, Any]) -> bool:
        """True when ``event`` was seen within the window (drop it); records it otherwise."""
        if self.size == 0:
            return False
        key = event_key(event)
        if key is None:
            return False
        now = self._clock()
        with self._lock:
            self._expire(now)
            if key in self._seen:
                self.duplicates += 1
                return True
            self._seen[key] = now + self.ttl
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)
        return False

    def knows(self, event: Mapping[str, Any]) -> bool:
        """True when ``event`` is in the window; records nothing."""
        key = event_key(event)
        if key is None or self.size == 0:
            return False
        with self._lock:
            expires = self._seen.get(key)
            return expires is not None and expires > self._clock()

    def _expire(self, now: float) -> None:
        # Insertion order is expiry order (one ttl for all): stop at the first live one.
        while self._seen:
            key, expires = next(iter(self._seen.items()))
            if expires > now:
                return
            del self._seen[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)
