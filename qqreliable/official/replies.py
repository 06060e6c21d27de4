"""Passive replies: ``msg_seq`` allocation, the reply window and the reply budget.

The platform de-duplicates replies on (``msg_id``, ``msg_seq``) (qq-official.md
§6.4): a second send with the same pair answers 40054005. So every *distinct*
outbound message to one inbound ``msg_id`` gets its own ``msg_seq`` (1..65535),
and a *retry* of the same message reuses it: a 40054005 on the retry then means
the first attempt was delivered.

A reply is passive while the inbound message is younger than its window (5 min
in groups, guild channels and DMs, 60 min in C2C; a safety margin before the
end) and fewer than 5 replies used it (§6.3). Past either, :meth:`ReplyLedger.plan`
turns the reply proactive where the scene allows it, or raises a typed error
with nothing sent: never a loop on 22009 / 40034024.

The counters live behind the :class:`~qqreliable.reliability.store.Store`
interface, namespaced per app (``reply:<app_id>:<msg_id>:seq`` / ``:used`` /
``:dead`` / ``:at``) and expiring a minute after the message's window: a
:class:`~qqreliable.reliability.store.MemoryStore` of its own by default, the
bot's shared store with ``store="redis://..."`` -- then two processes replying to
one message never reuse a ``msg_seq`` nor spend more than its 5 replies, and a
process that did not receive the message still knows its age.

Pure: injected clocks; the store's and one lock's thread safety, no threads.
"""

from __future__ import annotations

import collections
import itertools
import threading
import time
from dataclasses import dataclass
from typing import Callable, Collection, Dict, Optional, Sequence, Tuple

from ..reliability.store import MemoryStore, Store
from .codes import Kind, ReplyBudgetSpent, ReplyWindowClosed

__all__ = ["ReplyLedger", "ReplySlot", "WINDOWS", "SCENES", "MAX_SEQ"]

SCENES = ("c2c", "group", "guild", "direct")
#: Passive-reply windows in seconds, per scene (send.md).
WINDOWS: Dict[str, float] = {"c2c": 3600.0, "group": 300.0, "guild": 300.0, "direct": 300.0}
MAX_SEQ = 65535


@dataclass(frozen=True)
class ReplySlot:
    """One logical outbound message: keep it for every retry of that message.

    Attributes:
        msg_id: the inbound message replied to (None: proactive).
        event_id: the inbound event replied to (None unless replying to an event).
        msg_seq: the sequence number of this message (1..65535).
        passive: True when it is sent as a reply.
        reason: why a reply turned proactive ("window", "budget", "refused"), or "".
    """

    msg_id: Optional[str]
    msg_seq: int
    passive: bool
    event_id: Optional[str] = None
    reason: str = ""

    def fields(self) -> Dict[str, object]:
        """The body fields of this slot (``msg_id``/``event_id`` only when passive)."""
        body: Dict[str, object] = {"msg_seq": self.msg_seq}
        if self.passive and self.msg_id:
            body["msg_id"] = self.msg_id
        if self.passive and self.event_id:
            body["event_id"] = self.event_id
        return body


class _Entry:
    __slots__ = ("scene", "received", "dead")

    def __init__(self, scene: str, received: float) -> None:
        self.scene = scene
        self.received = received  # on this process's monotonic clock
        self.dead = ""  # "window" / "budget" once the platform said so


class ReplyLedger:
    """What each inbound message still allows. Thread-safe.

    Args:
        clock: a monotonic clock.
        wall: the wall clock (ages shared between processes are in epoch seconds).
        windows: passive windows per scene (seconds).
        margin: stop replying passively this many seconds before the window ends.
        budget: replies per inbound message.
        proactive: scenes where a reply may turn proactive when it can no longer
            be passive.
        size: inbound messages remembered locally at most (oldest forgotten first).
        store: where ``msg_seq`` counters, budgets and refusals live (default: a
            :class:`~qqreliable.reliability.store.MemoryStore` of its own).
        app_id: the namespace of the keys (one bot app).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        windows: Optional[Dict[str, float]] = None,
        margin: float = 20.0,
        budget: int = 5,
        proactive: Collection[str] = ("c2c", "group"),
        size: int = 50_000,
        store: Optional[Store] = None,
        app_id: str = "",
    ) -> None:
        self._clock = clock
        self._wall = wall
        self.windows = dict(WINDOWS)
        self.windows.update(windows or {})
        self.margin = margin
        self.budget = budget
        self.proactive = frozenset(proactive)
        self.size = size
        self._lock = threading.Lock()
        self._entries: "collections.OrderedDict[str, _Entry]" = collections.OrderedDict()
        self._proactive_seq = itertools.count(1)
        self._store: Store = store if store is not None else MemoryStore(clock=clock)
        self._shared = store is not None  # arrival times matter to others only then
        self._prefix = f"reply:{app_id}"
        self._next_prune = 0.0

    def share(self, store: Store, app_id: str) -> None:
        """Several processes reply for ``app_id``: keep ``msg_seq``, the reply budget and
        the refusals in ``store`` (a :class:`~qqreliable.reliability.store.Store`), so two
        processes replying to one message never reuse a ``msg_seq`` nor overspend."""
        self._store = store
        self._shared = True
        self._prefix = f"reply:{app_id}"

    def _key(self, anchor: str, what: str) -> str:
        return f"{self._prefix}:{anchor}:{what}"

    def _ttl(self, scene: str) -> float:
        return self.windows.get(scene, max(self.windows.values())) + 60.0

    # ------------------------------------------------------------------ inbound

    def received(self, msg_id: str, scene: str, *, age: float = 0.0) -> None:
        """Note an inbound message (call before its handlers run). ``age``: seconds it
        already waited (a webhook or replay delay). When another process noted it
        first (a queue worker, a takeover), its arrival time wins: the window counts
        from when the message reached the fleet, not from when this process saw it.
        Blocks on the store (one write, and a read when another process was first)."""
        if scene not in self.windows:
            raise ValueError(f"unknown scene {scene!r}; one of {SCENES}")
        if msg_id in self._entries:  # a repeat (a resume's replay): nothing to note
            return
        now = self._clock()
        received = now - age if age > 0 else now
        if self._shared:
            key = self._key(msg_id, "at")
            if not self._store.claim(key, f"{scene} {self._wall() - max(0.0, age):.3f}", self._ttl(scene)):
                scene, received = self._shared_arrival(key, scene, received)
        with self._lock:
            entries = self._entries
            entries.setdefault(msg_id, _Entry(scene, received))
            if len(entries) > self.size or now >= self._next_prune:
                # Forget the oldest past the size, and (once a second) what is past every window.
                self._prune(now)

    def received_many(self, notes: Sequence[Tuple[str, str]]) -> None:
        """:meth:`received` for each ``(msg_id, scene)`` of ``notes`` (the messages of
        one read), under one lock and one clock reading. With a shared store, one by
        one (each is a store write).

        Raises:
            ValueError: a scene is unknown (the notes before it are kept).
        """
        if self._shared:
            for msg_id, scene in notes:
                self.received(msg_id, scene)
            return
        windows = self.windows
        now = self._clock()
        with self._lock:
            entries = self._entries
            for msg_id, scene in notes:
                if scene not in windows:
                    raise ValueError(f"unknown scene {scene!r}; one of {SCENES}")
                if msg_id not in entries:
                    entries[msg_id] = _Entry(scene, now)
            if len(entries) > self.size or now >= self._next_prune:
                self._prune(now)

    def _prune(self, now: float) -> None:
        """Forget the oldest past the size, and what is past every window (lock held)."""
        entries = self._entries
        self._next_prune = now + 1.0
        horizon = now - max(self.windows.values()) - 60.0
        while entries and (len(entries) > self.size or next(iter(entries.values())).received < horizon):
            entries.popitem(last=False)

    def _shared_arrival(self, key: str, scene: str, received: float) -> Tuple[str, float]:
        """(scene, arrival on this process's clock) as the store has them; the given
        values when the store has none or cannot be read."""
        seen = self._store.get(key)
        if not seen:
            return scene, received
        try:
            shared_scene, at = seen.split(" ", 1)
            arrived = self._clock() - max(0.0, self._wall() - float(at))
        except ValueError:
            return scene, received  # unreadable: assume fresh
        return (shared_scene if shared_scene in self.windows else scene), min(received, arrived)

    def _entry(self, msg_id: str, scene: str) -> _Entry:
        """The local entry; for a message another process received, its age from the store."""
        with self._lock:
            entry = self._entries.get(msg_id)
        if entry is not None:
            return entry
        received = self._clock()
        if self._shared:
            scene, received = self._shared_arrival(self._key(msg_id, "at"), scene, received)
        with self._lock:
            # Seen elsewhere: aged as the store says; not seen anywhere (or forgotten): fresh.
            return self._entries.setdefault(msg_id, _Entry(scene, received))

    def remaining(self, msg_id: str) -> float:
        """Seconds of passive window left (0 when closed or unknown)."""
        with self._lock:
            entry = self._entries.get(msg_id)
            if entry is None:
                return 0.0
            return max(0.0, entry.received + self.windows[entry.scene] - self.margin - self._clock())

    # ------------------------------------------------------------------ outbound

    def plan(
        self, scene: str, msg_id: Optional[str], *, count: bool = True, event_id: Optional[str] = None
    ) -> ReplySlot:
        """A slot for one new logical message replying to ``msg_id`` (or proactive when None).

        Blocks on the store (up to three round trips). Thread-safe.

        Args:
            scene: "c2c", "group", "guild" or "direct".
            msg_id: the inbound message replied to; None sends proactively.
            count: False for a message that does not use a reply of the budget
                (a stream's later chunks).
            event_id: reply to an event instead (``FRIEND_ADD`` ...); allocated like msg_id.

        Raises:
            ReplyWindowClosed: the window has passed and ``scene`` may not send proactively.
            ReplyBudgetSpent: the budget is spent and ``scene`` may not send proactively.
        """
        anchor = msg_id or event_id
        if anchor is None:
            return ReplySlot(None, self._next_proactive(), False)
        entry = self._entry(anchor, scene)
        ttl = self._ttl(entry.scene)
        reason = entry.dead or (self._store.get(self._key(anchor, "dead")) or "")
        if not reason and self._clock() > entry.received + self.windows[entry.scene] - self.margin:
            reason = "window"
        if not reason and count and self._store.incr(self._key(anchor, "used"), ttl) > self.budget:
            reason = "budget"
        if not reason:
            seq = (self._store.incr(self._key(anchor, "seq"), ttl) - 1) % MAX_SEQ + 1
            return ReplySlot(msg_id, seq, True, event_id=event_id)
        return self.proactive_slot(scene, reason, anchor)

    def proactive_slot(self, scene: str, reason: str, anchor: Optional[str] = None) -> ReplySlot:
        """The proactive fallback of a reply, or the typed error when ``scene`` allows none."""
        if scene not in self.proactive:
            cls = ReplyBudgetSpent if reason == "budget" else ReplyWindowClosed
            what = "its 5 replies are spent" if reason == "budget" else "its passive window has passed"
            raise cls(
                f"reply to {anchor}",
                message=f"cannot reply to {anchor}: {what}, and proactive {scene} messages are not allowed",
                kind=Kind.BUDGET if reason == "budget" else Kind.WINDOW,
                sent=False,
            )
        return ReplySlot(None, self._next_proactive(), False, reason=reason)

    def _next_proactive(self) -> int:
        with self._lock:
            return (next(self._proactive_seq) - 1) % MAX_SEQ + 1

    def mark(self, msg_id: str, reason: str) -> None:
        """The platform refused ``msg_id`` ("window": 40034024 / expired, "budget": 22009):
        later replies (in every process sharing the store) skip the doomed passive attempt."""
        with self._lock:
            entry = self._entries.get(msg_id)
            if entry is not None:
                entry.dead = reason
                ttl = self._ttl(entry.scene)
            else:
                ttl = max(self.windows.values()) + 60.0
        self._store.put(self._key(msg_id, "dead"), reason, ttl)

    def used(self, msg_id: str) -> int:
        """Replies counted against ``msg_id`` so far (in every process sharing the store)."""
        value = self._store.get(self._key(msg_id, "used"))
        return min(int(value), self.budget) if value else 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
