"""No message lost: after a reconnect, read what was missed from message history.

Servers do not buffer events while no client is connected (no OneBot
implementation does, NapCat does not even build them; mirai-api-http's WebSocket
replays nothing), so a reconnect leaves a hole. The bot remembers, per account,
the chats that were active recently and the last message seen in each
(:class:`ChatTracker`). When an account's connection drops, that picture is
frozen; once it is back, :class:`GapFiller` reads each of those chats' history
through the protocol's :class:`~qqreliable.reliability.interfaces.ChatHistory`
(OneBot: :class:`qqreliable.onebot.history.OneBotHistory`), pages back until it
finds the last message seen before the outage, and hands every later message to
the bot, oldest first, through the same
de-duplication window as live events (so messages that arrived live are not
delivered again). Recovered events carry ``event.recovered == True``.

Limits, all configurable on the :class:`~qqreliable.Bot`: how many chats
(``recover_chats``, 0 turns gap filling off), how recently active
(``recover_window`` seconds), history page size and number of pages. The bot's
own messages are not recovered (handlers never see them anyway), and
notices/requests cannot be: no history exists for them; a gap for those is
only logged.

The filler runs as a job on the handler pool, never on a reader thread.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Sequence, Tuple

from .interfaces import Account, ChatHistory, PastMessage, Sighting, Target, target_name

__all__ = ["ChatTracker", "GapFiller", "Anchor", "StallWatch"]

log = logging.getLogger(__name__)
_APPLY_EVERY = 64  # sightings noted before the reader applies them to the chat table

Chat = Target  # (kind, id), as the protocol names chats


class Anchor:
    """The last message seen in a chat: where recovery starts. Immutable by convention.

    A plain slotted class, not a dataclass: one is made per message event on the
    reader thread, and a frozen dataclass costs both there and at import.
    """

    __slots__ = ("message_id", "time", "seen_at")

    def __init__(self, message_id: Any, time: float, seen_at: float) -> None:
        self.message_id = message_id
        self.time = time
        self.seen_at = seen_at

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Anchor):
            return NotImplemented
        return (self.message_id, self.time, self.seen_at) == (other.message_id, other.time, other.seen_at)

    def __hash__(self) -> int:
        return hash((self.message_id, self.time, self.seen_at))

    def __repr__(self) -> str:
        return f"Anchor(message_id={self.message_id!r}, time={self.time!r}, seen_at={self.seen_at!r})"


class ChatTracker:
    """Recently active chats per account, with the last message seen in each. Thread-safe.

    Args:
        max_chats: chats remembered per account (the most recently active).
        window: seconds a chat stays "recent" after its last message.
        clock: monotonic clock.
        locate: the protocol's ``locate(event) -> Sighting | None``
            (:meth:`ChatHistory.locate`): a live message's account, chat and id.
    """

    def __init__(
        self,
        max_chats: int = 20,
        window: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        locate: Callable[[Mapping[str, Any]], Optional[Sighting]],
    ) -> None:
        self._locate = locate
        self.max_chats = max_chats
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        # account -> chat -> (account, chat, message_id, time, seen_at), least recently active first
        self._chats: Dict[Account, "collections.OrderedDict[Chat, Tuple[Account, Chat, Any, float, float]]"] = {}
        # sightings not yet in _chats: (account, chat, message_id, time, seen_at)
        self._pending: Deque[Tuple[Account, Chat, Any, float, float]] = collections.deque()

    def observe(self, event: Mapping[str, Any]) -> None:
        """Note a message event (cheap; called on reader threads)."""
        if self.max_chats <= 0:
            return
        sighting = self._locate(event)
        if sighting is None:
            return
        account, chat, message_id, when = sighting
        if message_id is None:
            return
        if when is None:
            when = time.time()
        # A plain tuple here, noted without the lock (deque.append is thread-safe);
        # every _APPLY_EVERY sightings, or when someone reads, they are applied to
        # the per-chat table under the lock in one go. The Anchor is made when a
        # snapshot asks for it.
        pending = self._pending
        pending.append((account, chat, message_id, when, self._clock()))
        if len(pending) >= _APPLY_EVERY:
            with self._lock:
                self._apply()

    def observe_many(self, events: Sequence[Mapping[str, Any]]) -> None:
        """:meth:`observe` for each of ``events`` (the events of one read): noted
        straight into the per-chat table under one lock, with one clock reading
        (cheap; called on reader threads; ``locate`` is pure)."""
        if self.max_chats <= 0 or not events:
            return
        locate = self._locate
        table = self._chats
        limit = self.max_chats
        seen_at = self._clock()
        now: Optional[float] = None
        with self._lock:
            if self._pending:
                self._apply()  # what single observe() calls noted comes first
            for event in events:
                sighting = locate(event)
                if sighting is None:
                    continue
                account, chat, message_id, when = sighting
                if message_id is None:
                    continue
                if when is None:
                    if now is None:
                        now = time.time()
                    when = now
                chats = table.get(account)
                if chats is None:
                    chats = table[account] = collections.OrderedDict()
                elif chat in chats:
                    chats.move_to_end(chat)
                chats[chat] = (account, chat, message_id, when, seen_at)
                if len(chats) > limit:
                    chats.popitem(last=False)

    def _apply(self) -> None:
        """Move the pending sightings into the per-chat table (lock held)."""
        pending = self._pending
        table = self._chats
        limit = self.max_chats
        while pending:
            try:
                sighting = pending.popleft()
            except IndexError:  # another reader emptied it meanwhile
                return
            account, chat = sighting[0], sighting[1]
            chats = table.get(account)
            if chats is None:
                chats = table[account] = collections.OrderedDict()
            elif chat in chats:
                chats.move_to_end(chat)
            chats[chat] = sighting  # kept as it is: no second tuple per message
            while len(chats) > limit:
                chats.popitem(last=False)

    def snapshot(self, self_id: Account) -> List[Tuple[Chat, Anchor]]:
        """The account's recent chats and their anchors, most recent last."""
        now = self._clock()
        with self._lock:
            self._apply()
            chats = self._chats.get(self_id)
            if not chats:
                return []
            return [(chat, Anchor(s[2], s[3], s[4])) for chat, s in chats.items() if now - s[4] <= self.window]

    def accounts(self) -> List[Account]:
        with self._lock:
            self._apply()
            return list(self._chats)


class GapFiller:
    """Recovers the messages an account missed while its connection was down.

    Args:
        tracker: the :class:`ChatTracker` fed with every live message.
        history: the protocol's :class:`ChatHistory` (reads one page per call).
        deliver: ``deliver(event_dict) -> bool``: dedupe + dispatch as recovered;
            returns False for a duplicate.
        stopping: the bot's stop Event (checked between calls).
        page_size: messages asked for per history call.
        max_pages: history calls per chat at most.
    """

    def __init__(
        self,
        tracker: ChatTracker,
        *,
        history: ChatHistory,
        deliver: Callable[[Dict[str, Any]], bool],
        stopping: threading.Event,
        page_size: int = 50,
        max_pages: int = 10,
    ) -> None:
        self.tracker = tracker
        self._history = history
        self._deliver = deliver
        self._stopping = stopping
        self.page_size = page_size
        self.max_pages = max_pages
        self._lock = threading.Lock()
        self._pending: Dict[Account, List[Tuple[Chat, Anchor]]] = {}
        self.recovered = 0
        self.fills = 0
        self.errors = 0
        self.incomplete = 0

    @property
    def enabled(self) -> bool:
        return self.tracker.max_chats > 0

    def connection_lost(self, self_id: Account) -> None:
        """Freeze what the account had seen (reader thread; cheap). The first loss wins
        until the gap is filled, so a flapping link does not move the anchors forward."""
        if not self.enabled:
            return
        snapshot = self.tracker.snapshot(self_id)
        with self._lock:
            if self_id not in self._pending and snapshot:
                self._pending[self_id] = snapshot

    def has_gap(self, self_id: Account) -> bool:
        with self._lock:
            return self_id in self._pending

    def fill(self, self_id: Account) -> int:
        """Recover the account's missed messages (a handler-pool job); returns how many."""
        with self._lock:
            snapshot = self._pending.pop(self_id, None)
        if not snapshot:
            return 0
        self.fills += 1
        delivered = 0
        for chat, anchor in snapshot:
            if self._stopping.is_set():
                break
            try:
                missed = self._missed(self_id, chat, anchor)
            except Exception as exc:  # an API error for one chat must not stop the others
                self.errors += 1
                log.warning("gap fill of %s failed: %s", target_name(chat), exc)
                continue
            for event in missed:
                if self._deliver(event):
                    delivered += 1
        self.recovered += delivered
        if delivered:
            log.info("recovered %d message(s) missed while account %s was disconnected", delivered, self_id)
        return delivered

    def _missed(self, self_id: Account, chat: Chat, anchor: Anchor) -> List[Dict[str, Any]]:
        messages: List[PastMessage] = []  # oldest first
        ids: set = set()
        found = False
        start: Any = None
        for _ in range(max(1, self.max_pages)):
            page = self._history.page(self_id, chat, self.page_size, start)
            if page is None:
                break
            older = [m for m in page if m.message_id not in ids]
            if not older:
                break
            for m in older:
                ids.add(m.message_id)
            messages = older + messages
            if anchor.message_id in ids:
                found = True
                break
            start = older[0].cursor
            if start is None or self._stopping.is_set():
                break
        messages.sort(key=lambda m: (m.time or 0))  # stable: keeps history order within a second
        if found:
            index = next(i for i, m in enumerate(messages) if m.message_id == anchor.message_id)
            after = messages[index + 1 :]
        else:
            self.incomplete += 1
            log.warning(
                "gap fill of %s: the last message seen before the outage is not in the last %d "
                "history pages; delivering what is newer than it, older messages may be missing",
                target_name(chat), self.max_pages,
            )
            after = [m for m in messages if (m.time or 0) >= anchor.time]
        return [m.event for m in after if not m.own]


class StallWatch:
    """Notices when message events stop while the link stays up (faults LIVE-04).

    LLOneBot and NapCat have been seen to keep sending heartbeats after their
    message listener died: the connection looks healthy and nothing arrives.
    An account whose last message event is ``quiet`` seconds old, while it
    still has recently active chats, is due a reconciliation: the gap filler
    reads those chats' history and delivers what never arrived. Each account
    is checked at most once per ``quiet`` seconds, and only while it has chats
    active within the tracker's window, so an idle bot makes no calls.

    Pure: the owner calls :meth:`saw_message` for message events and asks
    :meth:`due` periodically. Thread-safe.
    """

    def __init__(self, quiet: Optional[float], clock: Callable[[], float] = time.monotonic) -> None:
        self.quiet = quiet
        self._clock = clock
        self._lock = threading.Lock()
        self._last: Dict[Account, float] = {}
        self._checked: Dict[Account, float] = {}
        self.checks = 0
        self.recovered = 0

    @property
    def enabled(self) -> bool:
        return self.quiet is not None and self.quiet > 0

    def saw_message(self, self_id: Account) -> None:
        # One dict store, atomic under the GIL: no lock on the reader's path
        # (due() reads a copy of the dict).
        self._last[self_id] = self._clock()

    def due(self) -> List[Account]:
        """The accounts to reconcile now (each is then not due for ``quiet`` seconds)."""
        if not self.enabled:
            return []
        assert self.quiet is not None
        now = self._clock()
        ready = []
        with self._lock:
            for self_id, last in list(self._last.items()):
                checked = self._checked.get(self_id, last)
                if now - last >= self.quiet and now - checked >= self.quiet:
                    self._checked[self_id] = now
                    ready.append(self_id)
                    self.checks += 1
        return ready

    def period(self) -> float:
        """How often the owner should ask :meth:`due`."""
        return min(30.0, max(0.05, (self.quiet or 30.0) / 4))
