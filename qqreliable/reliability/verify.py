"""Sends that land exactly once: outcome, verification, re-send, pacing.

Protocol-neutral: what a send means, where it goes and how a delivery can be looked
up come from the protocol's :class:`~qqreliable.reliability.interfaces.SendFacts`
(OneBot: :class:`qqreliable.onebot.sends.OneBotSends`).

Every send ends DELIVERED, NOT_SENT or UNKNOWN (:meth:`SendFacts.judge`). DELIVERED
returns a :class:`Receipt`; NOT_SENT raises and is never resent; UNKNOWN is verified
here, cheapest first, with what the protocol has (:class:`DeliveryLookup`):

1. the bot's own sent message seen on the event stream (OneBot: its self-sent events),
   matched by account, target, content fingerprint and arrival after the send
   started, for as long as the server may still deliver;
2. the chat's history, when the protocol has it (probed once per kind of chat and
   remembered);
3. a lookup by id when the ambiguous answer carried a message id.

Found: a :class:`Receipt` with ``verified=True`` and the real ``message_id``. Absent
once the settle window has passed: sent again (bounded attempts), each attempt
verified. Undecidable: :class:`SendUnconfirmed` (or an unverified receipt, by
policy), unless the protocol says a repeat cannot duplicate
(:meth:`SendFacts.resend_safe`): then it is sent again.

**Matching.** The fingerprint (the protocol's) survives the server re-rendering a
message, so two messages differing only in what it drops are the same message to
the verifier: a match is further bound to the sending account (several accounts
may send the same text to one chat), to the target, to arrival after the send
started, and to ids no other send has claimed (the id returned by every successful
send is claimed), and a match is not taken while another send of the same account
with the same fingerprint to the same target still waits for its own answer.

Everything here runs in the calling thread; the reader thread only calls
:meth:`SendPipeline.observe` or, for an event the protocol reads as an own message,
:meth:`SendPipeline.saw_own` (which keeps it unread until a verification looks:
:class:`Ledger`); neither blocks.
"""

from __future__ import annotations

import collections
import logging
import operator
import threading
import time
from collections import abc
from functools import partial
from itertools import repeat, starmap
from collections.abc import Mapping
from typing import Any, Callable, Deque, Dict, Hashable, Iterable, List, Optional, Set, Tuple

from ..exceptions import (
    AccountOffline,
    ActionFailed,
    ApiTimeout,
    BotStopped,
    Error,
    MediaTooLarge,
    RateLimited,
    ResponseLost,
    SendUnconfirmed,
)
from ..outcome import Category, Outcome
from ..receipt import Receipt
from ..stats import CallStats
from .account import AccountState
from .interfaces import Account, HistoryEntry, OwnMessage, Payload, SendFacts, Target, target_name
from .ratelimit import Pacer
from .sendpolicy import UNDECIDABLE_ASSUME_DELIVERED, Pacing, SendPolicy
from .shared import process_owner
from .store import Store

__all__ = [
    "SendPipeline",
    "Ledger",
    "Payload",
    "attribute_of",
]

log = logging.getLogger(__name__)

CallFn = Callable[[str, Dict[str, Any], float], Any]

#: Claims remembered at least (and at most _CLAIMS_FORGOTTEN more); and the ids
#: answered to sends remembered per account (Ledger._answered).
_CLAIMED_MAX = 20_000
_CLAIMS_FORGOTTEN = 256
#: The counters of ``bot.stats()["sends"]``.
_COUNTERS = (
    "ambiguous",
    "connect_retried",
    "ok_without_id",
    "resent",
    "undecidable",
    "verified_absent",
    "verified_by_event",
    "verified_by_history",
    "verified_by_lookup",
)
_SEEN_MAX = 5_000
#: Own-message events kept unread (Ledger.saw) at most; and how many more arrive
#: before the reader looks for ones no send can match any longer.
_RAW_MAX = 5_000
_RAW_TRIM = 256
_NOBODY: Any = object()  # no claim on an id (None is an account: "unknown")
_UNREAD: Any = object()  # SendPipeline.observe: the event's account signal not read yet
_consume: Callable[[Iterable[Any]], None] = collections.deque(maxlen=0).extend  # runs an iterator out, in C
_NO_KEY: Any = object()  # SendPipeline._id_key of facts without answer_id_key: never in an answer


def attribute_of(obj: Any, name: str) -> Callable[[], Any]:
    """``lambda: getattr(obj, name)`` made of C calls only: a bot's ``self_id`` for
    the pipeline, read for every send without a Python frame."""
    return partial(operator.attrgetter(name), obj)


# ---------------------------------------------------------------------------
# What the bot has seen itself send
# ---------------------------------------------------------------------------


def _same_account(a: Account, b: Account) -> bool:
    """Two accounts are the same, or one is unknown (a single-account bot before its
    QQ number is known)."""
    return a is None or b is None or a == b


class _Content:
    """One send as the ledger knows it: its fingerprint, computed on first use (a send
    answered normally never needs it, and this runs for every send), the sending
    account, and when the send started (own messages that arrived before the oldest
    send still going can be let go)."""

    __slots__ = ("_facts", "_action", "_params", "_value", "account", "started", "verifying")

    def __init__(
        self, facts: SendFacts, action: str, params: Mapping[str, Any], account: Account = None, started: float = 0.0
    ) -> None:
        self._facts = facts
        self._action = action
        self._params = params
        self._value: Optional[str] = None
        self.account = account
        self.started = started
        self.verifying = False  # an attempt ended without an id: kept in Ledger._verifying

    @property
    def value(self) -> str:
        if self._value is None:
            facts = self._facts
            self._value = facts.fingerprint(facts.content(self._action, self._params))
        return self._value


class _Seen:
    """One own message seen on the event stream; its fingerprint is computed on first
    use (only verification needs it, and the reader thread must stay quick)."""

    __slots__ = ("target", "message", "message_id", "account", "arrived", "_fingerprint", "_fp")

    def __init__(self, own: OwnMessage, arrived: float, fingerprint: Callable[[Any], str]) -> None:
        self.target = own.target
        self.message = own.content
        self.message_id = own.message_id
        self.account = own.account
        self.arrived = arrived
        self._fingerprint = fingerprint
        self._fp: Optional[str] = None

    @property
    def fp(self) -> str:
        if self._fp is None:
            self._fp = self._fingerprint(self.message)
        return self._fp

    @property
    def data(self) -> Dict[str, Any]:
        return {"message_id": self.message_id}


class Ledger:
    """Own messages seen on the event stream, claimed ids, and sends in flight.

    Everything is per account: an own message of one account never confirms a send
    of another, and ids are claimed per account (ids are per account on some
    servers). An unknown account (None) matches any.

    Own messages come in two ways: :meth:`observe` / :meth:`record` read one at once;
    :meth:`saw` (the reader's fast path for an event the protocol's ``own_message``
    will read) keeps the event as it is, with its arrival time, and it is read only
    when a verification looks (:meth:`take`). A send answered with its id (nearly
    all of them) never looks, so the reader does almost nothing per own message.
    A match must arrive after its send started, so an event that arrives while no
    send is going (in flight, or between an id-less answer and its verdict) is not
    kept at all, what was kept goes when the last send going ends (or at the first
    event that finds none going), events older than the oldest send still going are
    let go every :data:`_RAW_TRIM` events, and at most :data:`_RAW_MAX` are kept in
    any case: a bot that sends and hears its own messages keeps nothing per send,
    and the garbage collector has nothing more to walk than without verification.

    Args:
        clock: monotonic clock.
        facts: the protocol's :class:`SendFacts` (its ``lookup.own_message`` reads
            events, its ``fingerprint`` digests them).

    Thread-safe. :meth:`observe` and :meth:`saw` run on reader threads and never
    block for long; waiters are woken through a Condition.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, *, facts: SendFacts) -> None:
        self._clock = clock
        self._own = facts.lookup.own_message
        self._fingerprint = facts.fingerprint
        # One lock; ``with self._mutex`` where nobody waits (cheaper than entering the
        # Condition, a Python-level call), the Condition on it for wait/notify.
        self._mutex = threading.Lock()
        self._cond = threading.Condition(self._mutex)
        self._seen: Deque[_Seen] = collections.deque(maxlen=_SEEN_MAX)
        # (event, account, arrived) kept unread by saw(); appended without the lock
        # (one deque.append), taken from under it.
        self._raw: Deque[Tuple[Mapping[str, Any], Account, float]] = collections.deque()
        self._trim_at = _RAW_TRIM
        # What the last send going let go of ``_raw`` on the happy path: freed by the
        # reader at its next saw() (the thread that parsed those events, whose caches
        # still hold them), not by the sending thread. (Leaving them all to the
        # reader's trim every _RAW_TRIM events runs fewer instructions, but read about
        # a point more CPU per send in benchmarks/sends.py: more memory stays live.)
        self._let_go: List[Any] = []
        # message id -> the account that claimed it, or a set of accounts when several
        # did (ids are per account on some servers): one dict entry per send.
        self._claimed: Dict[Hashable, Any] = {}
        # Claims in order, for forgetting the oldest: ids and their accounts side by
        # side (no tuple made and kept per send).
        self._claim_ids: Deque[Hashable] = collections.deque()
        self._claim_accounts: Deque[Account] = collections.deque()
        # Sends on the wire awaiting their answer: content -> target (one store to
        # register, one to leave, each under the lock).
        self._unanswered: Dict[_Content, Target] = {}
        # The ids answered to sends, per account, newest last (one bounded deque
        # append per send: no dict entry, nothing to forget by hand); claims like
        # those in _claimed, looked through only when a verification asks.
        self._answered: Dict[Account, Deque[Hashable]] = {}
        self._verifying: Set[_Content] = set()  # sends between an id-less answer and their end
        self._waiting = 0  # verifiers in wait(): only then is a notify worth its cost
        self.reports_seen = False  # any account's own messages were reported
        self._reporters: Set[Account] = set()
        self.last_break = float("-inf")
        self.closed = False
        #: With a shared store: ``claim(message_id, account) -> bool`` across processes.
        self.shared_claim: Optional[Callable[[Hashable, Account], bool]] = None

    # -- events (reader thread) --

    def observe(self, event: Mapping[str, Any], self_id: Account) -> bool:
        """Record ``event`` when it is a message the bot sent; True when it was."""
        own = self._own(event, self_id) if self._own is not None else None
        if own is None:
            return False
        return self.record(own)

    def record(self, own: OwnMessage) -> bool:
        """Record an own message seen on the event stream (reader thread)."""
        seen = _Seen(own, self._clock(), self._fingerprint)
        with self._mutex:
            self._drain_locked()  # keep arrival order with what saw() kept
            self._seen.append(seen)
            self.reports_seen = True
            self._reporters.add(own.account)
            if self._waiting:
                self._cond.notify_all()
        return True

    def saw(self, event: Mapping[str, Any], account: Account) -> None:
        """An event the protocol's ``own_message`` reads as an own message of
        ``account`` (an id the caller read from the event itself), or rejects:
        kept unread, with its arrival time, until a verification looks (reader
        thread; never blocks for long, never raises)."""
        let_go = self._let_go
        if let_go:
            let_go.clear()
        if account not in self._reporters:
            self._new_reporter(event, account)  # once per account: read it now
        if not self._unanswered and not self._verifying:
            # No send is going, so none can match it: one that starts later looks only
            # at what arrives after it started (a send registers before its request
            # leaves, so this is not the reply to one about to go out).
            if self._raw:
                self._idle()
            return
        raw = self._raw
        raw.append((event, account, self._clock()))
        if len(raw) > self._trim_at:
            self._trim()
        if self._waiting:
            with self._mutex:
                self._cond.notify_all()

    def _new_reporter(self, event: Mapping[str, Any], account: Account) -> None:
        try:
            own = self._own(event, account) if self._own is not None else None
        except Exception:  # bad input must not kill the reader
            log.exception("send ledger could not read an event")
            return
        if own is not None:
            with self._mutex:
                self.reports_seen = True
                self._reporters.add(own.account)

    def _idle(self) -> None:
        """No send is going: let go of what was kept (reader thread). Under the lock,
        as no send can start while it is held: one that started since the caller
        looked keeps what arrived for it."""
        with self._mutex:
            if not self._unanswered and not self._verifying:
                self._raw.clear()
                self._trim_at = _RAW_TRIM

    def _trim(self) -> None:
        """Let go of unread events no send can match (arrived before the oldest send
        still going began), and of any beyond :data:`_RAW_MAX` (reader thread)."""
        with self._mutex:
            raw = self._raw
            oldest = min((c.started for c in self._unanswered), default=float("inf"))
            if self._verifying:
                oldest = min(oldest, min(c.started for c in self._verifying))
            # Events are kept in arrival order: those to keep are at the right end
            # (usually just the one of the send going), counted from there by index
            # (other readers may append meanwhile, which an iterator would not allow);
            # the rest are popped in one C loop.
            count = len(raw)
            keep = 0
            while keep < count and keep < _RAW_MAX and raw[count - 1 - keep][2] >= oldest:
                keep += 1
            _consume(starmap(raw.popleft, repeat((), count - keep)))
            self._trim_at = len(raw) + _RAW_TRIM

    def _drain_locked(self) -> None:
        """Read the events saw() kept into ``_seen``, in arrival order (mutex held)."""
        raw = self._raw
        own_message = self._own
        while raw:
            event, account, arrived = raw.popleft()
            try:
                own = own_message(event, account) if own_message is not None else None
            except Exception:  # a verifier must not fail on someone's odd event
                log.exception("send ledger could not read an event")
                continue
            if own is not None:
                self._seen.append(_Seen(own, arrived, self._fingerprint))
        self._trim_at = _RAW_TRIM

    def reports(self, account: Account) -> bool:
        """Whether ``account``'s own messages have been seen reported (its server
        reports them: their absence then means something)."""
        with self._mutex:
            if account is None or None in self._reporters:
                return self.reports_seen
            return account in self._reporters

    def connection_lost(self) -> None:
        with self._mutex:
            self.last_break = self._clock()

    def close(self) -> None:
        with self._mutex:
            self.closed = True
            self._let_go.clear()
            self._cond.notify_all()

    # -- claims --

    def claim(self, message_id: Optional[Hashable], account: Account = None) -> bool:
        """Mark an id of ``account`` as owned by one send; False when another send owns it."""
        if message_id is None:
            return True
        with self._mutex:
            return self._claim_locked(message_id, account)

    def _claimed_locked(self, message_id: Hashable, account: Account) -> bool:
        owners = self._claimed.get(message_id, _NOBODY)
        if owners is not _NOBODY:
            if type(owners) is set:
                if account is None or None in owners or account in owners:
                    return True
            elif account is None or owners is None or owners == account:
                return True
        answered = self._answered
        if not answered:
            return False
        if account is None:
            return any(message_id in ids for ids in answered.values())
        return any(message_id in ids for ids in (answered.get(account, ()), answered.get(None, ())))

    def _answered_locked(self, message_id: Hashable, account: Account) -> None:
        """A send of ``account`` was answered with ``message_id``: claimed for it (mutex
        held; with a shared store, claimed there too)."""
        if self.shared_claim is not None:
            self._claim_locked(message_id, account)
            return
        ids = self._answered.get(account)
        if ids is None:
            ids = self._answered[account] = collections.deque(maxlen=_CLAIMED_MAX)
        ids.append(message_id)

    def _claim_locked(self, message_id: Hashable, account: Account) -> bool:
        claimed = self._claimed
        if self._claimed_locked(message_id, account):
            return False
        owners = claimed.get(message_id, _NOBODY)
        if self.shared_claim is not None and not self.shared_claim(message_id, account):
            return False  # another process's send owns this id
        if owners is _NOBODY:
            claimed[message_id] = account  # one owner: the usual case, no set made
        elif type(owners) is set:
            owners.add(account)
        else:
            claimed[message_id] = {owners, account}
        ids = self._claim_ids
        ids.append(message_id)
        self._claim_accounts.append(account)
        if len(ids) > _CLAIMED_MAX + _CLAIMS_FORGOTTEN:
            self._forget_claims_locked()
        return True

    def _forget_claims_locked(self) -> None:
        """Forget the oldest claims, a batch at a time (the newest _CLAIMED_MAX stay)."""
        claimed, ids, accounts = self._claimed, self._claim_ids, self._claim_accounts
        for _ in range(len(ids) - _CLAIMED_MAX):
            old_id, old_account = ids.popleft(), accounts.popleft()
            owners = claimed.get(old_id, _NOBODY)
            if type(owners) is set:
                owners.discard(old_account)
                if not owners:
                    del claimed[old_id]
            elif owners is not _NOBODY and owners == old_account:
                del claimed[old_id]

    def claimed(self, message_id: Hashable, account: Account = None) -> bool:
        with self._mutex:
            return self._claimed_locked(message_id, account)

    # -- sends in flight --

    def begin(self, target: Target, content: _Content) -> None:
        """A send to ``target`` is on the wire, awaiting its answer."""
        with self._mutex:
            self._unanswered[content] = target

    def end(self, target: Target, content: _Content, answered_id: Optional[Hashable] = None) -> None:
        """That send has its answer (or its error); ``answered_id`` is claimed for it.

        Without an id the send may be verified next: it counts as still going (its
        own message, if it comes, is kept) until :meth:`done`.
        """
        with self._mutex:
            if answered_id is not None:
                self._answered_locked(answered_id, content.account)
            else:
                self._verifying.add(content)
                content.verifying = True
            unanswered = self._unanswered
            if unanswered.pop(content, None) is not None:
                if not unanswered and not self._verifying and self._raw:
                    self._raw.clear()  # no send going: none can match what was kept
            if self._waiting:
                self._cond.notify_all()

    def done(self, content: _Content) -> None:
        """A send that :meth:`end` kept as still going has ended."""
        with self._mutex:
            self._verifying.discard(content)
            content.verifying = False
            if not self._unanswered and not self._verifying:
                self._raw.clear()  # no send going: none can match what was kept

    def contested(self, target: Target, fp: str, account: Account = None) -> bool:
        """Another send of the same account with the same content to the same chat still
        awaits its answer: a match may be its message, so none is taken yet."""
        with self._mutex:
            return self._contested_locked(target, fp, account)

    def _contested_locked(self, target: Target, fp: str, account: Account) -> bool:
        return any(
            t == target and c.value == fp and _same_account(c.account, account)
            for c, t in self._unanswered.items()
        )

    # -- matching --

    def take(self, target: Target, fp: str, since: float, account: Account = None) -> Optional[_Seen]:
        """Claim and return an unclaimed own message of ``account`` matching, arrived at
        or after ``since``."""
        with self._mutex:
            if self._raw:
                self._drain_locked()
            if self._contested_locked(target, fp, account):
                return None
            for seen in reversed(self._seen):
                if seen.arrived < since:
                    break
                if seen.target != target or not _same_account(seen.account, account) or seen.fp != fp:
                    continue
                owner = seen.account if seen.account is not None else account
                if seen.message_id is not None and self._claimed_locked(seen.message_id, owner):
                    continue
                if seen.message_id is not None:
                    self._claim_locked(seen.message_id, owner)
                return seen
        return None

    def wait(self, timeout: float) -> None:
        """Sleep until an event arrives, a send settles, close(), or ``timeout``."""
        with self._cond:
            if not self.closed and timeout > 0:
                # Counted before looking at the kept events: saw() appends, then reads
                # the count, so an event either is seen here or finds a waiter to wake.
                self._waiting += 1
                try:
                    if not self._raw:
                        self._cond.wait(timeout)
                finally:
                    self._waiting -= 1



# ---------------------------------------------------------------------------
# The pipeline
# ---------------------------------------------------------------------------

_FOUND = "found"
_ABSENT = "absent"
_UNDECIDED = "undecided"


class _Verdict:
    """What verification found (a plain slotted class: cheaper to import than a dataclass)."""

    __slots__ = ("state", "data", "how")

    def __init__(self, state: str, data: Optional[Dict[str, Any]] = None, how: str = "") -> None:
        self.state = state
        self.data = data
        self.how = how

    def __repr__(self) -> str:
        return f"_Verdict({self.state!r}, {self.data!r}, {self.how!r})"


class SendPipeline:
    """Outcome, verification, re-send and pacing for every send of one bot.

    Args:
        policy: the :class:`SendPolicy`.
        pacing: the :class:`Pacing`, or None for no rate limits (circuits and the
            offline check stay on).
        call: ``call(action, params, timeout)`` makes one attempt and returns the
            answer's data or raises a qqreliable error (answers that mean "not
            delivered" raised as :class:`ActionFailed`).
        facts: the protocol's :class:`SendFacts`: outcomes, targets, fingerprints
            and the delivery lookups (which make their own read-only calls).
        self_id: returns the sending account's id when known (per calling thread:
            a bot with several accounts routes each send through one).
        events_live: returns True while the event stream is connected (None: the
            bot has no event stream, so own messages can never be evidence).
        stopping: the bot's stop Event.
        stats: where each send's outcome, retries and latency are recorded.
    """

    def __init__(
        self,
        *,
        policy: SendPolicy,
        pacing: Optional[Pacing],
        call: CallFn,
        facts: SendFacts,
        self_id: Callable[[], Account],
        events_live: Optional[Callable[[], bool]],
        stopping: threading.Event,
        stats: CallStats,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.policy = policy
        self._call = call
        self.facts = facts
        self._lookup = facts.lookup
        self._self_id_fn = self_id
        self._events_live = events_live
        self._stopping = stopping
        self._stats = stats
        self._clock = clock
        self._wall = wall
        self.ledger = Ledger(clock, facts=facts)
        self.account = AccountState(policy.offline_probe_interval, clock, signal=facts.account_signal)
        self.pacer = Pacer(pacing if pacing is not None else Pacing.unlimited(), stopping, clock)
        self._paced = pacing is not None
        # The fast path in send(): no pacing, a send without media is never large, and
        # one process (share() turns it off); taken while no circuit is open.
        self._fast = pacing is None and self.pacer.pacing.large_media_bytes > 0
        self._open_circuits = self.pacer._circuits._circuits  # the dict itself, never replaced
        self._plain_target: Callable[[str, Mapping[str, Any]], Optional[Target]] = (
            getattr(facts, "plain_target", None) or self._plain_target_of
        )
        # (account, kind of chat) -> history available (probed once per account: several
        # accounts may sit on different servers)
        self._history: Dict[Tuple[Account, str], bool] = {}
        self._known_self_id: Account = None
        self._lock = threading.Lock()
        # Where the fast path reads an answer's id without calling facts.answered_id.
        self._id_key: Any = getattr(facts, "answer_id_key", None) or _NO_KEY
        self._slow: Dict[str, bool] = {}  # action -> facts.slow(action), asked once per action
        # Every counter present from the start, so stats() has a stable shape.
        self.counters: Dict[str, int] = collections.Counter(
            {name: 0 for name in _COUNTERS}
        )

    # -- hooks from the bot ------------------------------------------------------

    def share(self, store: Store, claim_ttl: float = 600.0) -> None:
        """Several processes send for these accounts: share pacing, circuits and the
        claims on own message ids (two processes' ambiguous sends never both take
        one delivered message as theirs) through ``store``."""
        owner = process_owner()
        self.pacer.share(store, self._self_id)

        def shared_claim(message_id: Hashable, account: Account) -> bool:
            key = f"sent:{account if account is not None else self._self_id()}:{message_id!r}"
            if store.claim(key, owner, claim_ttl):
                return True
            return store.get(key) == owner

        self.ledger.shared_claim = shared_claim
        self._fast = False  # claims and circuits go through the store

    def saw_own(self, event: Mapping[str, Any], account: Account) -> None:
        """An event the protocol's ``own_message`` reads as the bot's own message of
        ``account`` (read from the event by the caller), or rejects; instead of
        :meth:`observe` for such an event (reader thread). Kept unread until a
        verification looks: see :class:`Ledger`. Never raises, never blocks for long."""
        self.ledger.saw(event, account)

    def observe(self, event: Mapping[str, Any], signal: Any = _UNREAD) -> None:
        """Every incoming event (reader thread); ``signal``: its account signal when the
        caller read it already (None: it has none). Never raises, never blocks for long."""
        try:
            self.ledger.observe(event, self._self_id_fn() or self._known_self_id)  # _self_id(), inline
            if signal is _UNREAD:
                self.account.observe(event)
            else:
                self.account.feed(signal)
        except Exception:  # bad input must not kill the reader
            log.exception("send pipeline could not read an event")

    def connection_lost(self) -> None:
        self.ledger.connection_lost()

    def close(self) -> None:
        self.ledger.close()
        self.pacer.interrupt()

    def stats(self) -> Dict[str, Any]:
        with self._lock:
            counters = dict(self.counters)
        return {
            "account_online": self.account.online,
            "paced_seconds": round(self.pacer.waited, 3),
            "refused_by_pacing": self.pacer.refused,
            **counters,
        }

    def _count(self, name: str) -> None:
        with self._lock:
            self.counters[name] += 1

    def _self_id(self) -> Account:
        return self._self_id_fn() or self._known_self_id

    # -- sending ---------------------------------------------------------------

    def send(self, action: str, params: Dict[str, Any], timeout: float) -> Receipt:
        """Send once, exactly: see the module docstring. Blocks the calling thread.

        Raises:
            ActionFailed: NOT_SENT (never resent), or every attempt was found undelivered.
            RateLimited: risk control, an open circuit, or pacing beyond ``max_wait``.
            AccountOffline: the account is offline.
            SendUnconfirmed: UNKNOWN and undecidable (policy ``on_undecidable="raise"``).
            BotStopped: the bot stopped meanwhile.
            ConnectFailed, AuthenticationError: nothing reached the implementation.
        """
        started = self._clock()
        try:
            target = self._plain_target(action, params)
            if target is not None and self._fast and self.account.online and not self._open_circuits:
                # The usual send (plain text to a known chat, nothing to upload, the
                # account online, no pacing, no circuit, one process): its first
                # attempt made here, with what _prepared, _attempts, _attempt and the
                # ledger's begin/end/claim would do for it inline (fewer calls and
                # look-ups: in a real loop, where each line of code is fetched cold,
                # every one counts). Anything but an answer with an int id in the
                # protocol's answer_id_key goes on in _first_ended.
                account = self._self_id_fn() or self._known_self_id
                fp = _Content(self.facts, action, params, account, started)
                ledger = self.ledger
                # The lock taken with acquire()/release(): the with statement costs
                # twice as much (Lock.__exit__ parses its three arguments).
                mutex = ledger._mutex
                mutex.acquire()
                try:
                    ledger._unanswered[fp] = target  # ledger.begin(target, fp)
                finally:
                    mutex.release()
                data: Any = None
                raised: Optional[BaseException] = None
                try:
                    data = self._call(action, params, timeout)
                    answered_id = data.get(self._id_key) if type(data) is dict else None
                    ids = ledger._answered.get(account)  # None before the account's first id, or shared
                    if type(answered_id) is int and answered_id and ids is not None:
                        # Answered with its id: delivered. The id is claimed in the same
                        # step that ends "unanswered" (ledger.end, inline): a concurrent
                        # verifier must never take this message for its own.
                        mutex.acquire()
                        try:
                            ids.append(answered_id)  # _answered_locked's usual case
                            unanswered = ledger._unanswered
                            del unanswered[fp]
                            if not unanswered and ledger._raw and not ledger._verifying:
                                # No send going: none can match what was kept, and none
                                # can start while the lock is held. Handed to the reader
                                # to free (Ledger._let_go); one it appends meanwhile is
                                # no send's either.
                                ledger._let_go.extend(ledger._raw)
                                ledger._raw.clear()
                            if ledger._waiting:
                                ledger._cond.notify_all()
                        finally:
                            mutex.release()
                        if not self.account.online:
                            self.account.mark_online()
                        if self._open_circuits:
                            self.pacer.delivered(target)
                        receipt = Receipt(data, message_id=answered_id)
                        # One attempt, delivered as answered: record()'s counts, in fewer steps.
                        self._stats.delivered(action, self._clock() - started)
                        return receipt
                except BaseException as exc:  # the send ended by _first_ended all the same, exc raised there
                    data, raised = None, exc
                receipt = self._first_ended(action, params, target, fp, timeout, data, raised)
            else:
                receipt = self._prepared(action, params, timeout, started)
        except _Failed as failed:
            self._stats.record(
                action,
                latency=self._clock() - started,
                error=failed.error,
                retries=max(0, failed.attempts - 1),
                outcome=failed.outcome,
            )
            raise failed.error from failed.error.__cause__
        self._stats.record(
            action,
            latency=self._clock() - started,
            retries=max(0, receipt.attempts - 1),
            outcome="delivered_verified" if receipt.verified else "delivered",
        )
        return receipt

    def _first_ended(
        self,
        action: str,
        params: Dict[str, Any],
        target: Target,
        fp: _Content,
        timeout: float,
        data: Any,
        raised: Optional[BaseException],
    ) -> Receipt:
        """The fast path's first attempt, unless it was answered with an int id: its
        answer (``data``) or what it raised, ended in the ledger, then handed to
        :meth:`_attempts` as its first attempt; raises :class:`_Failed` (anything but
        an :class:`Error` raised again as it is)."""
        ledger = self.ledger
        answered_id: Optional[Hashable] = None
        error = raised if isinstance(raised, Error) else None
        try:
            try:
                if raised is None:
                    answered_id = self.facts.answered_id(action, data)
            finally:
                # The id (if any) claimed as the send leaves "unanswered"; without one the
                # send stays going (its own message, if it comes, is kept) until done().
                ledger.end(target, fp, answered_id)
            if raised is not None and error is None:
                raise raised
            # An answer with an id (a string id, the account's first send) is delivered
            # by _attempts' first step; anything else goes on there as any send does.
            started = fp.started
            # The first attempt started with the send (nothing came between): its
            # wall-clock start is read only now that it is needed.
            first_wall = self._wall() - (self._clock() - started)
            return self._attempts(
                action, params, target, fp, self.facts.payload(action, params), timeout,
                self.policy.settle_window, started, first_wall, first=(error, data, answered_id, started),
            )
        finally:
            if fp.verifying:  # an attempt ended without an id: no longer going
                ledger.done(fp)

    def _slow_action(self, action: str) -> bool:
        """``facts.slow(action)``, asked once per action."""
        slow = self._slow.get(action)
        if slow is None:
            slow = bool(self.facts.slow(action))
            if len(self._slow) < 64:  # a protocol's send actions are few; never grows unbounded
                self._slow[action] = slow
        return slow

    def _plain_target_of(self, action: str, params: Mapping[str, Any]) -> Optional[Target]:
        """The target of a plain send (no media, not slow), or None: the fast path's
        test for a protocol whose facts have no ``plain_target``."""
        payload = self.facts.payload(action, params)
        if payload.bytes or payload.urls or payload.media or self._slow_action(action):
            return None
        return self.facts.target(action, params)

    def _prepared(self, action: str, params: Dict[str, Any], timeout: float, started: float) -> Receipt:
        """Any send: its target and payload, deadlines for them, the account and
        circuit checks, then :meth:`_attempts`; raises :class:`_Failed`."""
        policy = self.policy
        facts = self.facts
        target = facts.target(action, params)
        fp = _Content(facts, action, params, self._self_id_fn() or self._known_self_id, started)
        payload = facts.payload(action, params)
        if payload.bytes or payload.urls:
            attempt_timeout = timeout + policy.allowance(payload.bytes, payload.urls)
            window = policy.window(payload.media, payload.bytes, payload.urls)
        else:  # nothing to upload, no allowance to compute
            attempt_timeout = timeout
            window = policy.media_settle_window if payload.media else policy.settle_window
        if self._slow_action(action):  # slow by nature, delivered late (OneBot forwards: faults SEND-10)
            attempt_timeout = max(attempt_timeout, policy.forward_timeout)
            window = max(window, policy.forward_settle_window)
        first_wall = self._wall()
        try:
            if not self.account.online:  # online: the usual case, nothing to check
                self.account.check(action)
            probe = self.pacer.admit(target, action) if target is not None else False
        except AccountOffline as exc:
            raise _Failed(exc, 0, "offline") from None
        except RateLimited as exc:
            raise _Failed(exc, 0, "rate_limited") from None
        try:
            return self._attempts(
                action, params, target, fp, payload, attempt_timeout, window, started, first_wall
            )
        finally:
            if probe:
                self.pacer.released(target)
            if fp.verifying:  # an attempt ended without an id: no longer going
                self.ledger.done(fp)

    def _attempts(
        self,
        action: str,
        params: Dict[str, Any],
        target: Optional[Target],
        fp: _Content,
        payload: Payload,
        attempt_timeout: float,
        window: float,
        started: float,
        first_wall: float,
        first: Optional[Tuple[Optional[Error], Any, Optional[Hashable], float]] = None,
    ) -> Receipt:
        """Attempts until delivered, verified, or given up; raises :class:`_Failed`.
        ``first``: the first attempt, made already by :meth:`send`'s fast path
        (its error, data, answered id and start)."""
        policy = self.policy
        large = payload.bytes >= self.pacer.pacing.large_media_bytes
        evidence: List[str] = []
        attempts = 0
        unsent = 0  # connect failures retried
        while True:
            if first is not None:
                error, data, answered_id, attempt_started = first
                first = None
                attempts += 1
            else:
                error, data, answered_id, attempt_started = self._attempt(
                    action, params, target, fp, attempt_timeout, large, attempts
                )
                attempts += 1
            if error is None:
                if answered_id or target is None or not policy.verify_ok_without_id:
                    # Answered with an id: delivered (the usual send; _on_answer's first
                    # branch, inline).
                    if not self.account.online:
                        self.account.mark_online()
                    if target is not None:
                        self.pacer.delivered(target)
                    return Receipt(
                        data if type(data) is dict or isinstance(data, abc.Mapping) else {},
                        attempts=attempts,
                        message_id=answered_id,
                    )
                receipt = self._on_answer(
                    action, target, fp, data, answered_id, attempts, started, attempt_started, first_wall,
                    window, evidence
                )
                if receipt is not None:
                    return receipt
                continue  # ok without id, verified absent: send again

            judgement = self.facts.judge(action, error, attempts)
            outcome = judgement.outcome
            if (
                judgement.never_left
                and not getattr(error, "exhausted", False)  # the transport already retried
                and self._may_reconnect(started, attempt_timeout, unsent, judgement.retry_after)
            ):
                # Nothing left this host (e.g. the socket died just before the write):
                # safe to repeat, and not an attempt on the wire (DESIGN rule 2).
                unsent += 1
                if not judgement.refused:
                    attempts -= 1
                self._count("connect_retried")
                continue
            if outcome == Outcome.NOT_SENT:
                self._not_sent(action, target, error, attempts)
            if outcome == Outcome.DELIVERED:
                # The protocol reads this failure as proof of delivery (the official
                # API's 40054005 on a repeat with the same msg_seq).
                log.info("%s to %s: %s means an earlier attempt was delivered", action, target_name(target), error)
                return self._delivered_by_answer(target, judgement.message_id, fp, attempts, judgement.confirmed)
            # UNKNOWN: verify before anything else
            self._count("ambiguous")
            log.info("%s to %s: outcome unknown (%s); verifying", action, target_name(target), error)
            verdict = self._verify(
                action, target, fp, started, attempt_started, first_wall, window,
                judgement.message_id, evidence,
            )
            if verdict.state == _FOUND:
                return self._delivered(target, verdict, attempts)
            if verdict.state == _UNDECIDED:
                if self.facts.resend_safe(action, params) and attempts < policy.max_attempts:
                    # The server drops a repeat of a delivered request: sending again
                    # cannot duplicate, and may deliver.
                    self._count("resent")
                    log.warning(
                        "%s to %s: outcome unknown (%s); sending again, the server de-duplicates it "
                        "(attempt %d of %d)", action, target_name(target), error, attempts + 1, policy.max_attempts,
                    )
                    continue
                return self._undecided(action, params, target, error, attempts, evidence)
            # verified absent
            self._count("verified_absent")
            if target is not None and isinstance(error, ActionFailed):
                # Only the implementation's own answers (1200 "timeout" on a message that
                # never lands) hint at risk control; a dropped socket does not.
                opened = self.pacer.undelivered(target, f"{action} not delivered: {error}")
                if opened is not None:
                    name = target_name(target)
                    limited = RateLimited(
                        f"{action}: {name} keeps refusing messages ({error}); "
                        f"sends to it paused for {opened:.0f}s (nothing was delivered)",
                        target=name,
                        retry_after=opened,
                    )
                    limited.__cause__ = error
                    raise _Failed(limited, attempts, "rate_limited")
            if large and _connection_died(error):
                # The connection died right after a large request (a WebSocket close
                # 1009, an HTTP reset: faults MEDIA-05). Sending it again would only
                # kill the connection again, with every call in flight on it.
                raise _Failed(_oversized(action, payload, error), attempts, "not_sent")
            cap = policy.max_attempts
            if judgement.upload_failed:  # faults MEDIA-06: at most one verified retry
                cap = min(cap, policy.upload_failed_attempts)
            if attempts >= cap:
                error.outcome = Outcome.NOT_SENT  # type: ignore[attr-defined]
                error.attempts = attempts  # type: ignore[attr-defined]
                raise _Failed(error, attempts, "not_sent")
            self._count("resent")
            log.warning(
                "%s to %s: verified not delivered; sending again (attempt %d of %d)",
                action, target_name(target), attempts + 1, policy.max_attempts,
            )

    def _attempt(
        self,
        action: str,
        params: Dict[str, Any],
        target: Optional[Target],
        fp: _Content,
        attempt_timeout: float,
        large: bool,
        attempts: int,
    ) -> Tuple[Optional[Error], Any, Optional[Hashable], float]:
        """One attempt on the wire after the pacing allows it: (error, data, answered
        id, its start). ``attempts``: how many went before. Raises :class:`_Failed`
        when pacing refuses or the bot stops while waiting."""
        if target is not None and self._paced:
            try:
                self.pacer.acquire(target, action)
            except RateLimited as exc:
                raise _Failed(exc, attempts, "rate_limited") from None
            except BotStopped as exc:
                raise _Failed(exc, attempts, "not_sent") from None
        if target is not None:
            self.ledger.begin(target, fp)
        error: Optional[Error] = None
        data: Any = None
        answered_id: Optional[Hashable] = None
        attempt_started = self._clock()
        try:
            if large:
                with self.pacer.media_slot(large, action):
                    data = self._call(action, params, attempt_timeout)
            else:
                data = self._call(action, params, attempt_timeout)
            answered_id = self.facts.answered_id(action, data)
        except Error as exc:
            error = exc
        finally:
            # The answered id is claimed in the same step that ends "unanswered": a
            # concurrent verifier must never take this message for its own.
            if target is not None:
                self.ledger.end(target, fp, answered_id)
            elif answered_id is not None:
                self.ledger.claim(answered_id, fp.account)
        return error, data, answered_id, attempt_started

    def _may_reconnect(self, started: float, budget: float, retried: int, retry_after: Optional[float] = None) -> bool:
        """Wait a little (at least ``retry_after`` when the server asked for it) before
        repeating a send that never left; False when out of time."""
        pause = max(min(1.0, 0.05 * (2 ** min(retried, 10))), retry_after or 0.0)
        if self._clock() + pause - started > budget:
            return False
        if self._stopping.wait(pause):
            raise _Failed(BotStopped("the bot stopped while a send waited to reconnect"), 0, "not_sent")
        return True

    def _on_answer(
        self,
        action: str,
        target: Optional[Target],
        fp: _Content,
        data: Any,
        answered_id: Optional[Hashable],
        attempts: int,
        started: float,
        attempt_started: float,
        first_wall: float,
        window: float,
        evidence: List[str],
    ) -> Optional[Receipt]:
        mapping = data if isinstance(data, abc.Mapping) else {}
        # The id is the protocol's word (SendFacts.answered_id), not a field name guessed here.
        receipt = Receipt(mapping, attempts=attempts, message_id=answered_id)
        mid = answered_id
        if mid or not self.policy.verify_ok_without_id or target is None:
            self.account.mark_online()
            if target is not None:
                self.pacer.delivered(target)
            return receipt
        # ok without a usable id (faults SEND-03): not proof of delivery
        self._count("ok_without_id")
        verdict = self._verify(
            action, target, fp, started, attempt_started, first_wall, window, None, evidence
        )
        if verdict.state == _FOUND:
            return self._delivered(target, verdict, attempts)
        if verdict.state == _ABSENT and attempts < self.policy.max_attempts:
            self._count("resent")
            return None
        self.account.mark_online()
        return receipt  # undecidable (or out of attempts): as answered, unverified

    def _delivered_by_answer(
        self, target: Optional[Target], message_id: Optional[Hashable], fp: _Content, attempts: int,
        confirmed: bool = False,
    ) -> Receipt:
        if message_id is not None:
            self.ledger.claim(message_id, fp.account)
        self.account.mark_online()
        if target is not None:
            self.pacer.delivered(target)
        return Receipt({"message_id": message_id} if message_id is not None else {}, attempts=attempts,
                       verified=confirmed)

    def _delivered(self, target: Optional[Target], verdict: _Verdict, attempts: int) -> Receipt:
        self._count(f"verified_by_{verdict.how}")
        self.account.mark_online()
        if target is not None:
            self.pacer.delivered(target)
        return Receipt(verdict.data or {}, attempts=attempts, verified=True)

    def _not_sent(self, action: str, target: Optional[Target], error: Error, attempts: int) -> None:
        category = getattr(error, "category", None)
        name = target_name(target)
        if category == Category.RISK_CONTROL and target is not None:
            cooldown = self.pacer.risk_control(target, str(error))
            limited = RateLimited(
                f"{action}: risk control refused the message to {name} ({error}); "
                f"sends to it paused for {cooldown:.0f}s, not retried",
                target=name,
                retry_after=cooldown,
            )
            limited.__cause__ = error
            raise _Failed(limited, attempts, "rate_limited")
        if category == Category.OFFLINE:
            self.account.mark_offline(str(error))
            offline = AccountOffline(f"{action}: the QQ account is offline ({error}); not sent")
            offline.__cause__ = error
            raise _Failed(offline, attempts, "offline")
        raise _Failed(error, attempts, "not_sent")

    def _undecided(
        self,
        action: str,
        params: Dict[str, Any],
        target: Optional[Target],
        error: Error,
        attempts: int,
        evidence: List[str],
    ) -> Receipt:
        self._count("undecidable")
        if self.policy.on_undecidable == UNDECIDABLE_ASSUME_DELIVERED:
            log.warning("%s to %s: outcome unknown, assumed delivered (%s)", action, target_name(target), error)
            return Receipt({}, attempts=attempts, verified=False)
        unconfirmed = SendUnconfirmed(
            f"{action} to {target_name(target) or '?'}: {error}; could not verify whether it "
            f"was delivered ({'; '.join(evidence) or 'no way to check'}); not resent",
            action=action,
            params=params,
            attempts=attempts,
            cause=error,
        )
        unconfirmed.target = target_name(target)  # type: ignore[attr-defined]
        unconfirmed.evidence = list(evidence)  # type: ignore[attr-defined]
        unconfirmed.__cause__ = error
        raise _Failed(unconfirmed, attempts, "unknown")

    # -- verification ----------------------------------------------------------

    def _verify(
        self,
        action: str,
        target: Optional[Target],
        fp: _Content,
        started: float,
        attempt_started: float,
        first_wall: float,
        window: float,
        known_id: Optional[Hashable],
        evidence: List[str],
    ) -> _Verdict:
        """Look for the message until the attempt's settle window has passed.

        Matches are searched from the *first* attempt's start (any attempt of this
        send landing counts, so no further copy is sent); the window runs from this
        attempt's start, and at least one poll interval after its ambiguous answer.
        """
        if target is None:
            evidence.append("the target of the send is unknown")
            return _Verdict(_UNDECIDED)
        deadline = max(
            attempt_started + window, self._clock() + min(window, self.policy.poll_interval)
        )
        history_next = self._clock()
        kind = target[0]
        tried_by_id = self._lookup.by_id is None
        final_retries = 0
        while True:
            if self._stopping.is_set() or self.ledger.closed:  # stop() ends a verification
                raise _Failed(BotStopped(f"{action}: the bot stopped while verifying a send"), 1, "unknown")
            seen = self.ledger.take(target, fp.value, started, fp.account)
            if seen is not None:
                return _Verdict(_FOUND, seen.data, "event")
            now = self._clock()
            final = now >= deadline
            if final or now >= history_next:
                found = self._history_check(target, fp, first_wall, evidence)
                if isinstance(found, dict):
                    return _Verdict(_FOUND, found, "history")
                if found is False:
                    if final:
                        evidence.append("absent from history after the settle window")
                        return _Verdict(_ABSENT)
                elif final and self._has_history(fp.account, kind) and final_retries < 3:
                    # The deciding query failed (e.g. the link is reconnecting): try again
                    # a little later rather than give up on a decidable send.
                    final_retries += 1
                    deadline = now + self.policy.poll_interval
                    history_next = deadline
                    final = False
                else:
                    history_next = now + self.policy.poll_interval
            if known_id is not None and not tried_by_id:
                tried_by_id = True
                found_msg = self._by_id_check(known_id, fp.account, evidence)
                if found_msg is not None:
                    return _Verdict(_FOUND, found_msg, "lookup")
            no_reports = self._events_live is None or self._lookup.own_message is None
            if no_reports and not self._has_history(fp.account, kind):
                # No own messages to see and no history: nothing can ever decide; do not wait.
                return self._final_without_history(started, fp.account, evidence)
            if final:
                return self._final_without_history(started, fp.account, evidence)
            self.ledger.wait(max(0.0, min(deadline, history_next) - self._clock()))

    def _has_history(self, account: Account, kind: str) -> bool:
        """Whether this kind of chat may have a history to read (not yet refused)."""
        return self._lookup.history is not None and self._history.get((account, kind)) is not False

    def _final_without_history(self, started: float, account: Account, evidence: List[str]) -> _Verdict:
        live = self._events_live
        if self._lookup.own_message is None:
            evidence.append("the protocol reports no own messages")
        elif live is not None and self.ledger.reports(account):
            if self.ledger.last_break < started and live():
                evidence.append("the bot's own message was not reported within the settle window")
                return _Verdict(_ABSENT)
            evidence.append("the event stream broke during the settle window")
        elif live is None:
            evidence.append("no event stream to see the bot's own messages on")
        else:
            evidence.append("the server does not report the bot's own messages")
        return _Verdict(_UNDECIDED)

    def _history_check(
        self, target: Target, fp: _Content, first_wall: float, evidence: List[str]
    ) -> Any:
        """A matching history message's data (dict), False when absent, None when unknown."""
        kind = target[0]
        history = self._lookup.history
        probe = (fp.account, kind)
        if history is None or self._history.get(probe) is False:
            return None
        name = f"the history of {target_name(target)}"
        try:
            entries = history(
                target,
                first_wall - self.policy.clock_skew,
                self.policy.history_count,
                min(10.0, max(1.0, self.policy.poll_interval * 2)),
            )
        except ActionFailed as exc:
            if exc.category == Category.UNSUPPORTED:
                self._history[probe] = False
                evidence.append(f"{kind} chat history is not supported ({exc})")
                log.info("%s chat history is not supported here (%s); verifying without it", kind, exc)
            else:
                evidence.append(f"reading {name} failed: {exc}")
            return None
        except BotStopped:
            raise
        except Error as exc:
            evidence.append(f"reading {name} failed: {exc}")
            return None
        self._history[probe] = True
        if entries is None:
            evidence.append(f"{name} came back without a message list")
            return None
        self_id = fp.account if fp.account is not None else (self._self_id() or self._learn_self_id())
        if self_id is None:
            evidence.append("the bot's own account id is unknown")
            return None
        want = fp.value
        if self.ledger.contested(target, want, fp.account):
            return None  # another identical send is still waiting: do not guess
        oldest = first_wall - self.policy.clock_skew
        fingerprint = self.facts.fingerprint
        for entry in reversed(entries):
            if not isinstance(entry, HistoryEntry):
                continue
            if entry.author != self_id and not entry.own:
                continue
            if entry.time is not None and entry.time < oldest:
                continue
            if fingerprint(entry.content) != want:
                continue
            if entry.message_id is not None and not self.ledger.claim(entry.message_id, self_id):
                continue
            return {"message_id": entry.message_id}
        return False

    def _by_id_check(self, message_id: Hashable, account: Account, evidence: List[str]) -> Optional[Dict[str, Any]]:
        by_id = self._lookup.by_id
        if by_id is None:
            return None
        try:
            data = by_id(message_id, 10.0)
        except BotStopped:
            raise
        except Error as exc:
            evidence.append(f"looking up message {message_id} failed: {exc}")
            return None
        if isinstance(data, abc.Mapping) and self.ledger.claim(message_id, account):
            return {"message_id": data.get("message_id", message_id)}
        return None

    def _learn_self_id(self) -> Account:
        whoami = self._lookup.whoami
        if whoami is None:
            return None
        try:
            self._known_self_id = whoami(10.0)
        except Error:
            return None
        return self._known_self_id


class _Failed(Exception):
    """Internal: carries the error to raise, with what the stats need."""

    def __init__(self, error: Error, attempts: int, outcome: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.attempts = attempts
        self.outcome = outcome


def _connection_died(error: Error) -> bool:
    """The connection itself failed after the request left (not a timeout, not an
    HTTP 5xx answer)."""
    return (
        isinstance(error, ResponseLost)
        and not isinstance(error, ApiTimeout)
        and getattr(error, "status", None) is None
    )


def _oversized(action: str, payload: Payload, error: Error) -> MediaTooLarge:
    too_large = MediaTooLarge(
        f"{action}: the connection was lost right after a request of about {payload.bytes} bytes "
        f"of media ({error}); verified not delivered and not sent again: the implementation "
        "probably refuses requests this large (WebSocket close 1009, a reset). Send smaller "
        "media, or lower OutboundMedia.max_request_bytes",
        [error],
        size=payload.bytes,
    )
    too_large.__cause__ = error
    return too_large
