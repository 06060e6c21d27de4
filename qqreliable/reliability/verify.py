"""Sends that land exactly once: outcome, verification, re-send, pacing.

Every send ends DELIVERED, NOT_SENT or UNKNOWN (:func:`qqreliable.onebot.actions.send_outcome`,
driven by the RULES table). DELIVERED returns a :class:`Receipt`; NOT_SENT raises and is
never resent; UNKNOWN is verified here, cheapest first:

1. the bot's own ``message_sent`` event (NapCat/LLOneBot/go-cqhttp ``reportSelfMessage``,
   Lagrange's self ``message``), matched by target, content fingerprint and arrival
   after the send started, for as long as the implementation may still deliver;
2. the chat's history (``get_group_msg_history`` / ``get_friend_msg_history``), when the
   implementation has it (probed once per action and remembered);
3. ``get_msg`` when the ambiguous answer carried a message id.

Found: a :class:`Receipt` with ``verified=True`` and the real ``message_id``. Absent once
the settle window has passed: sent again (bounded attempts), each attempt verified.
Undecidable: :class:`SendUnconfirmed` (or an unverified receipt, by policy).

**Content fingerprint.** Implementations re-render what they report: a CQ string comes
back as an array, image URLs are rewritten, ``at`` gains a ``name``, whitespace around
segments is trimmed. So the fingerprint keeps only what survives that: the plain text
with all whitespace removed, plus the sequence of non-text segment types, with the id
for ``face`` (``id``) and ``at`` (``qq``). Media, forwards, JSON/XML cards count by
type only. Two messages differing only in whitespace or in which image they carry are
the same message to the verifier: a match is further bound to the target, to arrival
after the send started, and to ids no other send has claimed (the id returned by every
successful send is claimed), and a match is not taken while another send with the same
fingerprint to the same target still waits for its own answer.

Everything here runs in the calling thread; the reader thread only calls
:meth:`SendPipeline.observe`, which never blocks.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import os
import re
import threading
import time
from collections import abc
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, Hashable, List, Mapping, Optional, Set, Tuple
from urllib.parse import unquote, urlsplit

from ..onebot.actions import Category, Outcome, Receipt, send_outcome
from ..exceptions import (
    AccountOffline,
    ActionFailed,
    ApiTimeout,
    BotStopped,
    ConnectFailed,
    Error,
    MediaTooLarge,
    RateLimited,
    ResponseLost,
    SendUnconfirmed,
)
from ..message import Message, MessageSegment, unescape
from ..runtime.stats import CallStats
from .account import AccountState
from .ratelimit import Pacer, target_name
from .sendpolicy import UNDECIDABLE_ASSUME_DELIVERED, Pacing, SendPolicy

__all__ = [
    "SendPipeline",
    "Ledger",
    "fingerprint",
    "target_of",
    "payload_of",
    "Payload",
]

log = logging.getLogger(__name__)

Target = Tuple[str, int]
CallFn = Callable[[str, Dict[str, Any], float], Any]
ReadFn = Callable[[str, Dict[str, Any], float], Any]

#: Segment types whose identity survives re-rendering, and the data key holding it.
_ID_KEYS: Dict[str, str] = {"face": "id", "at": "qq"}
_MEDIA_TYPES = frozenset({"image", "record", "video", "file"})
_WHITESPACE = re.compile(r"\s+")
_CLAIMED_MAX = 20_000
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
    "verified_by_get_msg",
)
_SEEN_MAX = 5_000


# ---------------------------------------------------------------------------
# Pure helpers: target, fingerprint, payload
# ---------------------------------------------------------------------------


def _as_int(value: Any) -> Optional[int]:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def target_of(action: str, params: Mapping[str, Any]) -> Optional[Target]:
    """The chat a send goes to: ``("group", id)`` or ``("private", id)``; None if unclear."""
    group_id = _as_int(params.get("group_id"))
    user_id = _as_int(params.get("user_id"))
    if action in ("send_group_msg", "send_group_forward_msg"):
        return ("group", group_id) if group_id is not None else None
    if action in ("send_private_msg", "send_private_forward_msg"):
        return ("private", user_id) if user_id is not None else None
    kind = params.get("message_type")
    if kind == "group" or (kind != "private" and group_id is not None):
        return ("group", group_id) if group_id is not None else None
    return ("private", user_id) if user_id is not None else None


def _segment_dicts(message: Any, auto_escape: bool = False) -> List[Tuple[Any, Mapping[str, Any]]]:
    """``(type, data)`` of each segment, reading the wire forms directly (this runs for
    every send, so the common forms avoid building :class:`Message` objects)."""
    if isinstance(message, str):
        if auto_escape or "[CQ:" not in message:
            text = message if auto_escape else unescape(message)
            return [("text", {"text": text})]
        message = Message(message)
    elif isinstance(message, (abc.Mapping, MessageSegment)):
        message = [message]
    if not isinstance(message, (list, tuple)):
        return []
    out: List[Tuple[Any, Mapping[str, Any]]] = []
    for seg in message:
        if isinstance(seg, MessageSegment):
            out.append((seg.type, seg.data))
        elif isinstance(seg, abc.Mapping):
            data = seg.get("data")
            out.append((seg.get("type"), data if isinstance(data, abc.Mapping) else {}))
    return out


def fingerprint(message: Any, auto_escape: bool = False) -> str:
    """A short digest of a message that survives the implementation re-rendering it.

    See the module docstring for what is kept. ``message`` is anything
    :class:`Message` accepts (a CQ string, segment dicts, ...); never raises.
    """
    text: List[str] = []
    marks: List[str] = []
    try:
        segments = _segment_dicts(message, auto_escape)
    except (TypeError, ValueError):
        segments = []
    for kind, data in segments:
        if kind == "text":
            value = data.get("text")
            if value is not None:
                text.append(str(value))
            continue
        key = _ID_KEYS.get(kind) if isinstance(kind, str) else None
        value = data.get(key) if key else None
        marks.append(f"{kind}:{value}" if value not in (None, "") else str(kind))
    plain = _WHITESPACE.sub("", "".join(text))
    digest = hashlib.sha1(f"{plain}\x1f{','.join(marks)}".encode("utf-8", "replace"))
    return digest.hexdigest()[:20]


def send_fingerprint(action: str, params: Mapping[str, Any]) -> str:
    """The fingerprint of what a send action puts in the chat."""
    if "forward" in action:
        return fingerprint([{"type": "forward", "data": {}}])
    return fingerprint(params.get("message"), bool(params.get("auto_escape")))


class _Content:
    """The fingerprint of one send, computed on first use: a send answered normally
    never needs it, and this runs for every send."""

    __slots__ = ("_action", "_params", "_value")

    def __init__(self, action: str, params: Mapping[str, Any]) -> None:
        self._action = action
        self._params = params
        self._value: Optional[str] = None

    @property
    def value(self) -> str:
        if self._value is None:
            self._value = send_fingerprint(self._action, self._params)
        return self._value


@dataclass(frozen=True)
class Payload:
    """What a send carries, for its deadline and the media limit."""

    bytes: int = 0
    urls: int = 0
    media: bool = False


def _file_size(ref: str) -> int:
    if ref.startswith("base64://"):
        return (len(ref) - 9) * 3 // 4
    path = ref
    if ref[:7].lower() == "file://":
        path = unquote(urlsplit(ref).path)
        if os.name == "nt" and re.match(r"^/[A-Za-z]:", path):
            path = path[1:]
    try:
        return os.path.getsize(path) if os.path.isfile(path) else 0
    except (OSError, ValueError):
        return 0


def payload_of(params: Mapping[str, Any]) -> Payload:
    """Sizes of inline (base64) and local-file media, and media URLs, in a send."""
    size = urls = 0
    media = False
    stack: List[Any] = [params.get("message"), params.get("messages")]
    depth = 0
    while stack and depth < 1000:
        depth += 1
        item = stack.pop()
        if item is None or isinstance(item, str):
            continue  # CQ strings: media there is by reference or small; not measured
        for seg in item if isinstance(item, list) else [item]:
            if not isinstance(seg, abc.Mapping):
                continue
            kind = seg.get("type")
            data = seg.get("data") if isinstance(seg.get("data"), abc.Mapping) else {}
            if kind == "node":
                stack.append(data.get("content"))
                continue
            if kind not in _MEDIA_TYPES and kind != "forward":
                continue
            media = True
            ref = data.get("file") or data.get("url")
            if not isinstance(ref, str):
                continue
            if ref[:8].lower().startswith(("http://", "https://")):
                urls += 1
            else:
                size += _file_size(ref)
    return Payload(size, urls, media)


# ---------------------------------------------------------------------------
# What the bot has seen itself send
# ---------------------------------------------------------------------------


class _Seen:
    """One own message seen on the event stream; its fingerprint is computed on first
    use (only verification needs it, and the reader thread must stay quick)."""

    __slots__ = ("target", "message", "message_id", "arrived", "_fp")

    def __init__(self, target: Target, message: Any, message_id: Optional[int], arrived: float) -> None:
        self.target = target
        self.message = message
        self.message_id = message_id
        self.arrived = arrived
        self._fp: Optional[str] = None

    @property
    def fp(self) -> str:
        if self._fp is None:
            self._fp = fingerprint(self.message)
        return self._fp

    @property
    def data(self) -> Dict[str, Any]:
        return {"message_id": self.message_id}


class Ledger:
    """Own messages seen on the event stream, claimed ids, and sends in flight.

    Thread-safe. :meth:`observe` runs on the reader thread and never blocks for
    long; waiters are woken through a Condition.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._cond = threading.Condition(threading.Lock())
        self._seen: Deque[_Seen] = collections.deque(maxlen=_SEEN_MAX)
        self._claimed: Set[Hashable] = set()
        self._claim_order: Deque[Hashable] = collections.deque()
        self._unanswered: Dict[Target, List[_Content]] = {}
        self._waiting = 0  # verifiers in wait(): only then is a notify worth its cost
        self.reports_seen = False
        self.last_break = float("-inf")
        self.closed = False

    # -- events (reader thread) --

    def observe(self, event: Mapping[str, Any], self_id: Optional[int]) -> bool:
        """Record ``event`` when it is a message the bot sent; True when it was."""
        post_type = event.get("post_type")
        user_id = _as_int(event.get("user_id"))
        if post_type == "message_sent":
            pass
        elif post_type == "message" and self_id is not None and user_id == self_id:
            pass  # Lagrange reports its own messages as ordinary messages
        else:
            return False
        kind = event.get("message_type")
        if kind == "group":
            chat = _as_int(event.get("group_id"))
        else:
            chat = _as_int(event.get("target_id"))
            if chat is None and user_id is not None and user_id != self_id:
                chat = user_id
        if chat is None or kind not in ("group", "private"):
            return False
        seen = _Seen((str(kind), chat), event.get("message"), _as_int(event.get("message_id")), self._clock())
        with self._cond:
            self._seen.append(seen)
            self.reports_seen = True
            if self._waiting:
                self._cond.notify_all()
        return True

    def connection_lost(self) -> None:
        with self._cond:
            self.last_break = self._clock()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    # -- claims --

    def claim(self, message_id: Optional[Hashable]) -> bool:
        """Mark an id as owned by one send; False when another send owns it already."""
        if message_id is None:
            return True
        with self._cond:
            return self._claim_locked(message_id)

    def _claim_locked(self, message_id: Hashable) -> bool:
        if message_id in self._claimed:
            return False
        self._claimed.add(message_id)
        self._claim_order.append(message_id)
        if len(self._claim_order) > _CLAIMED_MAX:
            self._claimed.discard(self._claim_order.popleft())
        return True

    def claimed(self, message_id: Hashable) -> bool:
        with self._cond:
            return message_id in self._claimed

    # -- sends in flight --

    def begin(self, target: Target, content: _Content) -> None:
        """A send to ``target`` is on the wire, awaiting its answer."""
        with self._cond:
            self._unanswered.setdefault(target, []).append(content)

    def end(self, target: Target, content: _Content, answered_id: Optional[int] = None) -> None:
        """That send has its answer (or its error); ``answered_id`` is claimed for it."""
        with self._cond:
            if answered_id is not None:
                self._claim_locked(answered_id)
            waiting = self._unanswered.get(target)
            if waiting is not None:
                waiting.remove(content)
                if not waiting:
                    del self._unanswered[target]
            if self._waiting:
                self._cond.notify_all()

    def contested(self, target: Target, fp: str) -> bool:
        """Another send of the same content to the same chat still awaits its answer:
        a match may be its message, so none is taken yet."""
        with self._cond:
            return self._contested_locked(target, fp)

    def _contested_locked(self, target: Target, fp: str) -> bool:
        return any(c.value == fp for c in self._unanswered.get(target, ()))

    # -- matching --

    def take(self, target: Target, fp: str, since: float) -> Optional[_Seen]:
        """Claim and return an unclaimed own message matching, arrived at or after ``since``."""
        with self._cond:
            if self._contested_locked(target, fp):
                return None
            for seen in reversed(self._seen):
                if seen.arrived < since:
                    break
                if seen.target != target or seen.fp != fp:
                    continue
                if seen.message_id is not None and seen.message_id in self._claimed:
                    continue
                if seen.message_id is not None:
                    self._claim_locked(seen.message_id)
                return seen
        return None

    def wait(self, timeout: float) -> None:
        """Sleep until an event arrives, a send settles, close(), or ``timeout``."""
        with self._cond:
            if not self.closed and timeout > 0:
                self._waiting += 1
                try:
                    self._cond.wait(timeout)
                finally:
                    self._waiting -= 1


# ---------------------------------------------------------------------------
# The pipeline
# ---------------------------------------------------------------------------

_FOUND = "found"
_ABSENT = "absent"
_UNDECIDED = "undecided"


@dataclass
class _Verdict:
    state: str
    data: Optional[Dict[str, Any]] = None
    how: str = ""


class SendPipeline:
    """Outcome, verification, re-send and pacing for every send of one bot.

    Args:
        policy: the :class:`SendPolicy`.
        pacing: the :class:`Pacing`, or None for no rate limits (circuits and the
            offline check stay on).
        call: ``call(action, params, timeout)`` makes one attempt and returns the
            response ``data`` or raises a qqreliable error.
        read: ``read(action, params, timeout)`` for the read-only verification
            actions (history, ``get_msg``, ``get_login_info``).
        self_id: returns the account's QQ number when known.
        events_live: returns True while the event stream is connected (None: the
            bot has no event stream, so ``message_sent`` can never be evidence).
        stopping: the bot's stop Event.
        stats: where each send's outcome, retries and latency are recorded.
    """

    def __init__(
        self,
        *,
        policy: SendPolicy,
        pacing: Optional[Pacing],
        call: CallFn,
        read: ReadFn,
        self_id: Callable[[], Optional[int]],
        events_live: Optional[Callable[[], bool]],
        stopping: threading.Event,
        stats: CallStats,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.policy = policy
        self._call = call
        self._read = read
        self._self_id_fn = self_id
        self._events_live = events_live
        self._stopping = stopping
        self._stats = stats
        self._clock = clock
        self._wall = wall
        self.ledger = Ledger(clock)
        self.account = AccountState(policy.offline_probe_interval, clock)
        self.pacer = Pacer(pacing if pacing is not None else Pacing.unlimited(), stopping, clock)
        self._paced = pacing is not None
        self._history: Dict[str, bool] = {}  # action -> available (probed once)
        self._known_self_id: Optional[int] = None
        self._lock = threading.Lock()
        # Every counter present from the start, so stats() has a stable shape.
        self.counters: Dict[str, int] = collections.Counter(
            {name: 0 for name in _COUNTERS}
        )

    # -- hooks from the bot ------------------------------------------------------

    def observe(self, event: Mapping[str, Any]) -> None:
        """Every incoming event (reader thread). Never raises, never blocks for long."""
        try:
            self.ledger.observe(event, self._self_id() or _as_int(event.get("self_id")))
            self.account.observe(event)
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

    def _self_id(self) -> Optional[int]:
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
            receipt = self._send(action, params, timeout, started)
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

    def _send(self, action: str, params: Dict[str, Any], timeout: float, started: float) -> Receipt:
        policy = self.policy
        target = target_of(action, params)
        fp = _Content(action, params)
        payload = payload_of(params)
        attempt_timeout = timeout + policy.allowance(payload.bytes, payload.urls)
        window = policy.window(payload.media, payload.bytes, payload.urls)
        if "forward" in action:  # slow by nature, delivered late (faults SEND-10)
            attempt_timeout = max(attempt_timeout, policy.forward_timeout)
            window = max(window, policy.forward_settle_window)
        first_wall = self._wall()
        try:
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
    ) -> Receipt:
        policy = self.policy
        large = payload.bytes >= self.pacer.pacing.large_media_bytes
        evidence: List[str] = []
        attempts = 0
        unsent = 0  # connect failures retried
        while True:
            if target is not None and self._paced:
                try:
                    self.pacer.acquire(target, action)
                except RateLimited as exc:
                    raise _Failed(exc, attempts, "rate_limited") from None
                except BotStopped as exc:
                    raise _Failed(exc, attempts, "not_sent") from None
            attempts += 1
            if target is not None:
                self.ledger.begin(target, fp)
            error: Optional[Error] = None
            data: Any = None
            answered_id: Optional[int] = None
            attempt_started = self._clock()
            try:
                if large:
                    with self.pacer.media_slot(large, action):
                        data = self._call(action, params, attempt_timeout)
                else:
                    data = self._call(action, params, attempt_timeout)
                if type(data) is dict or isinstance(data, abc.Mapping):
                    answered_id = _as_int(data.get("message_id")) or None
            except Error as exc:
                error = exc
            finally:
                # The answered id is claimed in the same step that ends "unanswered": a
                # concurrent verifier must never take this message for its own.
                if target is not None:
                    self.ledger.end(target, fp, answered_id)
                elif answered_id is not None:
                    self.ledger.claim(answered_id)

            if error is None:
                receipt = self._on_answer(
                    action, target, fp, data, attempts, started, attempt_started, first_wall, window, evidence
                )
                if receipt is not None:
                    return receipt
                continue  # ok without id, verified absent: send again

            outcome = send_outcome(error)
            if (
                isinstance(error, ConnectFailed)
                and not getattr(error, "exhausted", False)  # the transport already retried
                and self._may_reconnect(started, attempt_timeout, unsent)
            ):
                # Nothing left this host (e.g. the socket died just before the write):
                # safe to repeat, and not an attempt on the wire (DESIGN rule 2).
                unsent += 1
                attempts -= 1
                self._count("connect_retried")
                continue
            if outcome == Outcome.NOT_SENT:
                self._not_sent(action, target, error, attempts)
            # UNKNOWN: verify before anything else
            self._count("ambiguous")
            log.info("%s to %s: outcome unknown (%s); verifying", action, target_name(target), error)
            verdict = self._verify(
                action, target, fp, started, attempt_started, first_wall, window,
                _error_message_id(error), evidence,
            )
            if verdict.state == _FOUND:
                return self._delivered(target, verdict, attempts)
            if verdict.state == _UNDECIDED:
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
            if _upload_failed(error):  # faults MEDIA-06: at most one verified retry
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

    def _may_reconnect(self, started: float, budget: float, retried: int) -> bool:
        """Wait a little before repeating a send that never left; False when out of time."""
        pause = min(1.0, 0.05 * (2 ** min(retried, 10)))
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
        attempts: int,
        started: float,
        attempt_started: float,
        first_wall: float,
        window: float,
        evidence: List[str],
    ) -> Optional[Receipt]:
        mapping = data if isinstance(data, abc.Mapping) else {}
        receipt = Receipt(mapping, attempts=attempts)
        mid = receipt.message_id
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
        known_id: Optional[int],
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
        history_action = "get_group_msg_history" if target[0] == "group" else "get_friend_msg_history"
        tried_get_msg = False
        final_retries = 0
        while True:
            if self._stopping.is_set() or self.ledger.closed:  # stop() ends a verification
                raise _Failed(BotStopped(f"{action}: the bot stopped while verifying a send"), 1, "unknown")
            seen = self.ledger.take(target, fp.value, started)
            if seen is not None:
                return _Verdict(_FOUND, seen.data, "event")
            now = self._clock()
            final = now >= deadline
            if final or now >= history_next:
                found = self._history_check(target, fp.value, first_wall, evidence)
                if isinstance(found, dict):
                    return _Verdict(_FOUND, found, "history")
                if found is False:
                    if final:
                        evidence.append("absent from history after the settle window")
                        return _Verdict(_ABSENT)
                elif final and self._history.get(history_action) is not False and final_retries < 3:
                    # The deciding query failed (e.g. the link is reconnecting): try again
                    # a little later rather than give up on a decidable send.
                    final_retries += 1
                    deadline = now + self.policy.poll_interval
                    history_next = deadline
                    final = False
                else:
                    history_next = now + self.policy.poll_interval
            if known_id is not None and not tried_get_msg:
                tried_get_msg = True
                found_msg = self._get_msg_check(known_id, evidence)
                if found_msg is not None:
                    return _Verdict(_FOUND, found_msg, "get_msg")
            if self._events_live is None and self._history.get(history_action) is False:
                # No event stream and no history: nothing can ever decide; do not wait.
                return self._final_without_history(started, evidence)
            if final:
                return self._final_without_history(started, evidence)
            self.ledger.wait(max(0.0, min(deadline, history_next) - self._clock()))

    def _final_without_history(self, started: float, evidence: List[str]) -> _Verdict:
        live = self._events_live
        if live is not None and self.ledger.reports_seen:
            if self.ledger.last_break < started and live():
                evidence.append("no message_sent event within the settle window")
                return _Verdict(_ABSENT)
            evidence.append("the event stream broke during the settle window")
        elif live is None:
            evidence.append("no event stream to see message_sent on")
        else:
            evidence.append("the implementation does not report the bot's own messages")
        return _Verdict(_UNDECIDED)

    def _history_check(
        self, target: Target, fp: str, first_wall: float, evidence: List[str]
    ) -> Any:
        """A matching history message's data (dict), False when absent, None when unknown."""
        kind, chat = target
        action = "get_group_msg_history" if kind == "group" else "get_friend_msg_history"
        if self._history.get(action) is False:
            return None
        params = {"group_id" if kind == "group" else "user_id": chat, "count": self.policy.history_count}
        try:
            data = self._read(action, params, min(10.0, max(1.0, self.policy.poll_interval * 2)))
        except ActionFailed as exc:
            if exc.category == Category.UNSUPPORTED:
                self._history[action] = False
                evidence.append(f"{action} is not supported")
                log.info("%s is not supported here; verifying without history", action)
            else:
                evidence.append(f"{action} failed: {exc}")
            return None
        except BotStopped:
            raise
        except Error as exc:
            evidence.append(f"{action} failed: {exc}")
            return None
        self._history[action] = True
        messages = data.get("messages") if isinstance(data, abc.Mapping) else data
        if not isinstance(messages, list):
            evidence.append(f"{action} answered no message list")
            return None
        self_id = self._self_id() or self._learn_self_id()
        if self_id is None:
            evidence.append("the bot's own QQ number is unknown")
            return None
        if self.ledger.contested(target, fp):
            return None  # another identical send is still waiting: do not guess
        oldest = first_wall - self.policy.clock_skew
        for message in reversed(messages):
            if not isinstance(message, abc.Mapping):
                continue
            sender = message.get("sender")
            author = _as_int(message.get("user_id"))
            if author is None and isinstance(sender, abc.Mapping):
                author = _as_int(sender.get("user_id"))
            if author != self_id and message.get("post_type") != "message_sent":
                continue
            when = message.get("time")
            if isinstance(when, (int, float)) and not isinstance(when, bool) and when < oldest:
                continue
            if fingerprint(message.get("message")) != fp:
                continue
            mid = _as_int(message.get("message_id"))
            if mid is not None and not self.ledger.claim(mid):
                continue
            return {"message_id": message.get("message_id")}
        return False

    def _get_msg_check(self, message_id: int, evidence: List[str]) -> Optional[Dict[str, Any]]:
        try:
            data = self._read("get_msg", {"message_id": message_id}, 10.0)
        except BotStopped:
            raise
        except Error as exc:
            evidence.append(f"get_msg({message_id}) failed: {exc}")
            return None
        if isinstance(data, abc.Mapping) and self.ledger.claim(message_id):
            return {"message_id": data.get("message_id", message_id)}
        return None

    def _learn_self_id(self) -> Optional[int]:
        try:
            info = self._read("get_login_info", {}, 10.0)
        except Error:
            return None
        self._known_self_id = _as_int(info.get("user_id")) if isinstance(info, abc.Mapping) else None
        return self._known_self_id


class _Failed(Exception):
    """Internal: carries the error to raise, with what the stats need."""

    def __init__(self, error: Error, attempts: int, outcome: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.attempts = attempts
        self.outcome = outcome


def _upload_failed(error: Error) -> bool:
    """NapCat/LLOneBot "rich media transfer failed": the upload to Tencent failed."""
    if not isinstance(error, ActionFailed):
        return False
    return "rich media transfer failed" in f"{error.message}\n{error.wording}".lower()


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


def _error_message_id(error: Error) -> Optional[int]:
    response = getattr(error, "response", None)
    data = response.get("data") if isinstance(response, abc.Mapping) else None
    if isinstance(data, abc.Mapping):
        mid = _as_int(data.get("message_id"))
        return mid if mid else None
    return None
