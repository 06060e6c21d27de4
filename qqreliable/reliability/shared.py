"""Several processes, one bot: each event handled once, none lost when one dies.

With a shared :class:`~qqreliable.reliability.store.Store`, every process
connected to an account receives each of its events. :class:`EventClaims`
decides which one handles it: the first to *claim* the event's key (a claim
lives ``claim_ttl`` seconds and is renewed while the handlers run) handles it,
then *marks* it done (kept ``done_ttl`` seconds: the dedupe window). The others
keep the event aside (*pending*) and look again every tick: done → forgotten;
the claim expired without a mark (its holder died) → they claim it and handle
it themselves. So a process killed mid-event delays that event by at most about
``claim_ttl`` and loses nothing.

Events the protocol gives no identity (heartbeats) are handled by every process.
Pure logic over the store; the caller (the bot's runtime) calls :meth:`tick`
periodically. Thread-safe.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import os
import socket
import threading
import time
from typing import Any, Callable, Dict, Hashable, List, Mapping, Optional, Tuple

from .store import DONE, Store

__all__ = ["EventClaims", "process_owner", "key_text"]

log = logging.getLogger(__name__)

KeyFn = Callable[[Mapping[str, Any]], Optional[Tuple[Hashable, ...]]]


def process_owner() -> str:
    """An identity for this process in claims: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"  # random as uuid4, without its import


def key_text(key: Tuple[Hashable, ...]) -> str:
    """A stable, short text for an event identity (the same in every process)."""
    text = repr(tuple(key))
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


class EventClaims:
    """Claim → handle → mark over a shared store, with takeover of dead claims.

    Args:
        store: the shared store.
        key: the protocol's event identity (``key(event) -> tuple | None``).
        owner: this process's identity in claims (default :func:`process_owner`).
        done_ttl: seconds a handled event is remembered (the dedupe window).
        pending_max: events kept aside while another process holds them; the
            oldest are forgotten beyond this (logged, counted).
    """

    def __init__(
        self,
        store: Store,
        key: KeyFn,
        *,
        owner: Optional[str] = None,
        done_ttl: float = 3600.0,
        pending_max: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self._key = key
        self.owner = owner or process_owner()
        self.claim_ttl = float(getattr(store, "claim_ttl", 10.0))
        self.done_ttl = done_ttl
        self.pending_max = pending_max
        self._clock = clock
        self._lock = threading.Lock()
        self._held: Dict[str, float] = {}  # claims being handled here -> last renewal
        self._pending: "collections.OrderedDict[str, Tuple[Dict[str, Any], float]]" = collections.OrderedDict()
        # Events handed to a queue worker: kept until a worker marks them done.
        self._queued: Dict[str, Dict[str, Any]] = {}
        self.requeued = 0
        self.duplicates = 0
        self.taken_over = 0
        self.pending_dropped = 0
        self.lost_claims = 0

    def event_key(self, event: Mapping[str, Any]) -> Optional[str]:
        key = self._key(event)
        return None if key is None else "ev:" + key_text(key)

    def admit(self, event: Dict[str, Any]) -> Tuple[bool, Optional[str]]:
        """Whether this process handles ``event`` now, and the claim to :meth:`done` after.

        ``(True, None)``: no identity, handle it (every process does);
        ``(True, key)``: claimed here; ``(False, None)``: a duplicate, or another
        process holds it (kept aside: :meth:`tick` may hand it back).
        """
        key = self.event_key(event)
        if key is None:
            return True, None
        if self.store.claim(key, self.owner, self.claim_ttl):
            with self._lock:
                self._held[key] = self._clock()
                self._pending.pop(key, None)
            return True, key
        state = self.store.get(key)
        with self._lock:
            if state == DONE or key in self._pending or key in self._held:
                self.duplicates += 1
                return False, None
            self._pending[key] = (event, self._clock())
            while len(self._pending) > self.pending_max:
                self._pending.popitem(last=False)
                self.pending_dropped += 1
        if state is None and self.store.claim(key, self.owner, self.claim_ttl):  # expired meanwhile
            with self._lock:
                self._pending.pop(key, None)
                self._held[key] = self._clock()
            return True, key
        return False, None

    def done(self, key: Optional[str]) -> None:
        """The handlers of a claimed event ran (or it was queued elsewhere): mark it."""
        if key is None:
            return
        with self._lock:
            self._held.pop(key, None)
        self.store.put(key, DONE, self.done_ttl)

    def queued(self, key: Optional[str], event: Dict[str, Any]) -> None:
        """A claimed event went to the worker queue: hold the claim until a worker takes it,
        watch the worker's claim, and hand the event back (:meth:`tick`) if it dies."""
        if key is None:
            return
        with self._lock:
            self._held.pop(key, None)
            self._queued[key] = event

    def take(self, key: str) -> bool:
        """A queue worker (owner ``w:…``) starts on ``key``: False when it is done or
        another worker has it (then the job is a repeat: skip it)."""
        if not self.store.take(key, self.owner, self.claim_ttl):
            return False
        with self._lock:
            self._held[key] = self._clock()
        return True

    def abandon(self, key: Optional[str]) -> None:
        """A claimed event will not be handled here (dropped, shutting down): free it now."""
        if key is None:
            return
        with self._lock:
            self._held.pop(key, None)
        self.store.release(key, self.owner)

    def tick(self) -> List[Tuple[Dict[str, Any], str]]:
        """Renew this process's claims; return pending events taken over (with their claims).

        Blocking (store calls); run it on a periodic thread every ``claim_ttl / 3``.
        """
        probe = getattr(self.store, "probe", None)
        if probe is not None:
            probe()  # a degraded store tries its server again (here: never on a reader)
        now = self._clock()
        with self._lock:
            held = list(self._held)
            pending = list(self._pending.items())
        for key in held:
            if not self.store.renew(key, self.owner, self.claim_ttl):
                with self._lock:
                    still = self._held.pop(key, None) is not None
                if still:
                    self.lost_claims += 1
                    log.warning("lost the claim on event %s while handling it: it may run twice", key)
        taken: List[Tuple[Dict[str, Any], str]] = []
        with self._lock:
            queued = list(self._queued.items())
        for key, event in queued:
            state = self.store.get(key)
            if state == DONE:
                with self._lock:
                    self._queued.pop(key, None)
            elif state == self.owner:
                self.store.renew(key, self.owner, self.claim_ttl)  # still waiting in the queue
            elif state is None and self.store.claim(key, self.owner, self.claim_ttl):
                # The worker that took it died before marking it: queue it again.
                with self._lock:
                    self._queued.pop(key, None)
                    self._held[key] = self._clock()
                self.requeued += 1
                log.warning("event %s: its queue worker died mid-event; queued again", key)
                taken.append((event, key))
        for key, (event, since) in pending:
            state = self.store.get(key)
            if state == DONE or now - since > self.done_ttl:
                with self._lock:
                    self._pending.pop(key, None)
                continue
            if state is None and self.store.claim(key, self.owner, self.claim_ttl):  # expired meanwhile
                with self._lock:
                    self._pending.pop(key, None)
                    self._held[key] = self._clock()
                self.taken_over += 1
                log.warning("took over event %s: the process that claimed it never finished it", key)
                taken.append((event, key))
        return taken

    def release_all(self) -> None:
        """Shutting down: give up every claim not yet done (others take them over at once)."""
        with self._lock:
            held = list(self._held)
            self._held.clear()
            self._pending.clear()
            self._queued.clear()  # a worker marks them; if none does, their claims expire
        for key in held:
            self.store.release(key, self.owner)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    @property
    def held(self) -> int:
        with self._lock:
            return len(self._held)

    def stats(self) -> Dict[str, Any]:
        with self._lock:
            out = {
                "owner": self.owner,
                "claims_held": len(self._held),
                "pending_elsewhere": len(self._pending),
                "queued_unfinished": len(self._queued),
            }
        out.update(
            duplicates=self.duplicates,
            taken_over=self.taken_over,
            pending_dropped=self.pending_dropped,
            lost_claims=self.lost_claims,
            requeued=self.requeued,
        )
        return out
