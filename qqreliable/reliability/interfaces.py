"""What a protocol tells the reliability layer: small interfaces, no protocol names.

The reliability layer (send verification, gap filling, de-duplication, account state,
media fetching) knows no protocol. Each protocol package (``qqreliable.onebot``; later
mirai-api-http and the official QQ Bot API) implements the interfaces below and hands
them to the layer's classes when its bot is built. Nothing here imports a protocol,
and nothing here does I/O.

The interfaces, by consumer:

* :class:`SendFacts` -> :class:`~qqreliable.reliability.verify.SendPipeline`: the
  outcome of a send attempt (:meth:`SendFacts.judge`), a send's target, content
  fingerprint and payload, and the optional ways to look a delivery up
  (:class:`DeliveryLookup`: own-sent events, chat history, lookup by id).
* :class:`ChatHistory` -> :class:`~qqreliable.reliability.gapfill.GapFiller` and
  :class:`~qqreliable.reliability.gapfill.ChatTracker`: which chat a live message
  belongs to, one page of a chat's history as :class:`PastMessage` values.
* :data:`EventKeyFn` -> :class:`~qqreliable.reliability.dedupe.Deduper`.
* :data:`AccountSignalFn` -> :class:`~qqreliable.reliability.account.AccountState`
  and the media fetcher: an event saying the QQ account went offline or came back.
* :class:`MediaApi` -> :class:`~qqreliable.reliability.media.MediaFetcher` and
  :class:`~qqreliable.reliability.outbound.MediaPreparer`: where the fetchable
  reference is in a segment or event, how to ask the API for the file, and where
  the media of an outgoing message is (and how a replacement is written there).

How the three protocols fit (``reference/mirai-api-http.md`` §8-9,
``reference/qq-official.md`` §6-7):

========================  ===========================  ==========================  ===========================
fact                      OneBot v11                   mirai-api-http v2           official QQ Bot API
========================  ===========================  ==========================  ===========================
target                    ("group", number) /          ("friend", qq) / ("group",  ("group", group openid) /
                          ("private", qq)              id) / ("temp", (group, qq))  ("c2c", openid)
answered id               ``data.message_id``          ``messageId`` (-1: the call  ``id``
                                                       raises, NOT_SENT)
UNKNOWN                   code 1200, lost answer       code 500, lost answer        5xx, lost answer
judge on a repeat         as the first attempt         as the first attempt         40054005 -> DELIVERED
resend_safe               False                        False                        True with msg_id+msg_seq
own messages              self-sent events             (none by default)            (none)
history                   group/friend history         ``roamingMessages``          (none)
by id                     message lookup action        ``messageFromId``            (none)
========================  ===========================  ==========================  ===========================

Thread-safety: implementations must be callable from any thread at once (the send
pipeline runs in each sending thread, ``own_message``/``account_signal``/``locate``/
event keys on reader threads, where they must be quick and never block).
"""

from __future__ import annotations

from typing import (
    TYPE_CHECKING, Any, Callable, Dict, Hashable, Iterable, List, Mapping, NamedTuple, Optional, Protocol, Sequence,
    Tuple,
)

if not TYPE_CHECKING:
    from .._frozen import frozen_dataclass as dataclass  # dataclass(frozen=True), cheaper to import
else:
    from dataclasses import dataclass

from ..exceptions import ApiNotAvailable, ApiTimeout, BotStopped, Error, NetworkError

__all__ = [
    "Target",
    "Account",
    "Judgement",
    "Payload",
    "OwnMessage",
    "HistoryEntry",
    "DeliveryLookup",
    "SendFacts",
    "AccountSignal",
    "AccountSignalFn",
    "SIGNAL_NOTICE",
    "SIGNAL_STATUS",
    "SIGNAL_CONNECT",
    "EventKeyFn",
    "Sighting",
    "PastMessage",
    "ChatHistory",
    "MediaRef",
    "OutboundElement",
    "Replacement",
    "MediaApi",
    "target_name",
]

Target = Tuple[str, Hashable]
"""A chat a message goes to: ``(kind, id)``. The kind is the protocol's own word
(``"group"``, ``"private"``, ``"friend"``, ``"temp"``, ``"c2c"``); the id any hashable
(an int, an openid string, a tuple). Only equality and :func:`target_name` are used."""

Account = Optional[Hashable]
"""The bot account a message belongs to (OneBot ``self_id``; None when unknown)."""


def target_name(target: Optional[Hashable]) -> Optional[str]:
    """``("group", 1)`` -> ``"group:1"``, for logs and errors; None stays None."""
    if isinstance(target, tuple) and len(target) == 2:
        return f"{target[0]}:{target[1]}"
    return None if target is None else str(target)


# ---------------------------------------------------------------------------
# Sends
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Judgement:
    """What one failed send attempt means (:meth:`SendFacts.judge`).

    Attributes:
        outcome: an :class:`~qqreliable.outcome.Outcome` value. DELIVERED from an
            error is allowed (the official API's ``40054005`` on a repeat with the
            same ``msg_seq``: the first attempt landed); the send then returns a
            :class:`~qqreliable.Receipt` (``verified=False``: the answer said so,
            no lookup did) with :attr:`message_id` when the failure carried one.
        never_left: the request certainly never left this host (a connect failure):
            the pipeline may repeat it at once without counting an attempt (unless
            the error says the transport already retried: ``exhausted``).
        message_id: an id the failed answer still carried, for a lookup by id.
        upload_failed: the server failed to upload the message's media (NapCat
            "rich media transfer failed"): at most
            :attr:`SendPolicy.upload_failed_attempts` verified attempts.
        refused: with ``never_left``: the request reached the server, which answered
            that it did not run it (HTTP 502/503/429): repeated like a connect failure,
            but counted in :attr:`Receipt.attempts` (it went on the wire).
        retry_after: with ``never_left``: seconds the server asked to wait before a
            repeat (``Retry-After``); the pipeline waits at least that long, within the
            send's deadline (beyond it the error is raised, nothing sent).
        confirmed: with DELIVERED: the server's answer itself proves the delivery
            (the official API's ``40054005`` on a repeat): the receipt says
            ``verified=True``.
    """

    outcome: str
    never_left: bool = False
    message_id: Optional[Hashable] = None
    upload_failed: bool = False
    refused: bool = False
    retry_after: Optional[float] = None
    confirmed: bool = False


@dataclass(frozen=True)
class Payload:
    """What a send carries, for its deadline and the media limit."""

    bytes: int = 0
    urls: int = 0
    media: bool = False


class OwnMessage(NamedTuple):
    """A message the bot account itself sent, seen on the event stream.

    ``content`` is in whatever form :meth:`SendFacts.fingerprint` reads. Immutable;
    a named tuple rather than a frozen dataclass: one is built on the reader thread
    for every own message, and a tuple is several times cheaper to build.
    """

    target: Target
    content: Any
    message_id: Optional[Hashable] = None
    account: Account = None


@dataclass(frozen=True)
class HistoryEntry:
    """One message of a chat's history, as the send verifier needs it.

    Attributes:
        content: the message, in the form :meth:`SendFacts.fingerprint` reads.
        message_id: its id (claimed once it confirms a send), or None.
        time: when it was sent, wall-clock epoch seconds, or None when unknown.
        author: who sent it (compared with the bot's own account id), or None.
        own: the protocol knows it is the bot's own message whatever ``author`` says.
    """

    content: Any
    message_id: Optional[Hashable] = None
    time: Optional[float] = None
    author: Optional[Hashable] = None
    own: bool = False


@dataclass(frozen=True)
class DeliveryLookup:
    """The ways a protocol can show that a send landed; each is optional (None).

    The pipeline uses what is there, cheapest first: own messages seen on the event
    stream, then the chat's history, then a lookup by id. With none, an UNKNOWN send
    is undecidable (:class:`~qqreliable.SendUnconfirmed`, or resent when
    :meth:`SendFacts.resend_safe` says a repeat cannot duplicate).

    Attributes:
        own_message: ``own_message(event, account) -> OwnMessage | None``: the bot's
            own sent message in ``event`` (``account``: the bot's id when known).
            Reader thread: quick, never raises for odd input, never blocks.
        history: ``history(target, since, count, timeout) -> [HistoryEntry] | None``:
            the chat's messages sent at or after ``since`` (wall-clock epoch seconds,
            clock skew already subtracted), at most the last ``count``; a protocol
            whose history is paged by count (OneBot) may ignore ``since``, one whose
            history is ranged by time (mirai-api-http ``roamingMessages``) uses it.
            None: the answer held no message list. Blocks up to ``timeout``; raises a
            qqreliable :class:`~qqreliable.Error`; an
            :class:`~qqreliable.ActionFailed` with category ``"unsupported"`` means
            this kind of chat has no history on this account (asked no more).
        by_id: ``by_id(message_id, timeout) -> mapping | None``: the message with
            that id (its data, e.g. ``{"message_id": ...}``), None if absent. Raises
            a qqreliable :class:`~qqreliable.Error`.
        whoami: ``whoami(timeout) -> account id | None``: the bot's own account id
            (to recognise its messages in history). Raises a qqreliable Error.
    """

    own_message: Optional[Callable[[Mapping[str, Any], Account], Optional[OwnMessage]]] = None
    history: Optional[Callable[[Target, float, int, float], Optional[Sequence[HistoryEntry]]]] = None
    by_id: Optional[Callable[[Hashable, float], Optional[Mapping[str, Any]]]] = None
    whoami: Optional[Callable[[float], Account]] = None


class SendFacts(Protocol):
    """Everything the send pipeline needs to know about one protocol's sends.

    The protocol's ``call`` (given to the pipeline separately) makes one attempt
    and returns the answer's data or raises a typed qqreliable error; answers that
    mean "not delivered" although the call "succeeded" (mirai-api-http
    ``messageId: -1``) must be raised there as an :class:`~qqreliable.ActionFailed`
    (e.g. category ``"risk_control"``). All methods are pure and thread-safe.

    Optional: ``plain_target(action, params) -> Target | None``, the target of a
    send with no media that is not slow (None otherwise): when present, the
    pipeline's fast path asks it instead of :meth:`target`, :meth:`payload` and
    :meth:`slow`.

    Optional: ``answer_id_key: str``, the key of the message id in an answer that is
    a ``dict``: when the answer holds a non-zero ``int`` there, the fast path takes
    it as :meth:`answered_id` would, without the call (anything else still goes to
    :meth:`answered_id`).
    """

    lookup: DeliveryLookup

    def judge(self, action: str, error: Error, attempt: int) -> Judgement:
        """The meaning of attempt number ``attempt`` (1-based) having raised ``error``."""
        ...

    def answered_id(self, action: str, data: Any) -> Optional[Hashable]:
        """The message id in a successful answer; None when it carries none (the
        pipeline then verifies, per :attr:`SendPolicy.verify_ok_without_id`)."""
        ...

    def target(self, action: str, params: Mapping[str, Any]) -> Optional[Target]:
        """The chat this send goes to; None when unclear (no pacing, no verification)."""
        ...

    def content(self, action: str, params: Mapping[str, Any]) -> Any:
        """What the send puts in the chat, in the form :meth:`fingerprint` reads."""
        ...

    def fingerprint(self, content: Any) -> str:
        """A short digest of a message that survives the server re-rendering it (the
        same for what was sent, an :class:`OwnMessage` and a :class:`HistoryEntry`).
        Never raises."""
        ...

    def payload(self, action: str, params: Mapping[str, Any]) -> Payload:
        """The sizes of inline and local media in the send (never raises)."""
        ...

    def slow(self, action: str) -> bool:
        """True for sends that are slow by nature and delivered late (OneBot forwards):
        they get :attr:`SendPolicy.forward_timeout` and ``forward_settle_window``."""
        ...

    def resend_safe(self, action: str, params: Mapping[str, Any]) -> bool:
        """True when repeating exactly this request can never deliver twice (the
        server de-duplicates it: the official API's ``msg_id`` + ``msg_seq``). An
        undecidable UNKNOWN is then sent again instead of raised."""
        ...

    def account_signal(self, event: Mapping[str, Any]) -> Optional["AccountSignal"]:
        """See :data:`AccountSignalFn`."""
        ...


# ---------------------------------------------------------------------------
# Account state
# ---------------------------------------------------------------------------

SIGNAL_NOTICE = "notice"
SIGNAL_STATUS = "status"
SIGNAL_CONNECT = "connect"


@dataclass(frozen=True)
class AccountSignal:
    """An event's word on whether the QQ account is online.

    Attributes:
        online: what the event says.
        reason: for logs and :class:`~qqreliable.AccountOffline` (offline only).
        source: ``"notice"`` (an explicit offline/online notice: OneBot
            offline notice, mirai ``BotOfflineEvent*``), ``"status"`` (a periodic
            status report, e.g. a heartbeat's ``online`` flag: weak, it may be
            cached), or ``"connect"`` (the connection to the account (re)opened).
    """

    online: bool
    reason: str = ""
    source: str = SIGNAL_NOTICE


AccountSignalFn = Callable[[Mapping[str, Any]], Optional[AccountSignal]]
"""``signal(event) -> AccountSignal | None``: None for events that say nothing about
the account. Reader thread: quick, never raises."""


# ---------------------------------------------------------------------------
# De-duplication
# ---------------------------------------------------------------------------

EventKeyFn = Callable[[Mapping[str, Any]], Optional[Tuple[Hashable, ...]]]
"""``key(event) -> tuple | None``: the identity of an event for de-duplication (the
same for a repeat of the same event, even re-rendered), or None for events never to
be dropped (heartbeats). Reader thread: quick, never raises."""


# ---------------------------------------------------------------------------
# Gap filling
# ---------------------------------------------------------------------------


class Sighting(NamedTuple):
    """A live message event, as the chat tracker keeps it.

    A named tuple (immutable, like the frozen dataclass it was): one is made per
    live message on the reader thread, where a frozen dataclass's ``__init__``
    costs three times as much.

    Attributes:
        account: the bot account that received it.
        chat: the chat it belongs to.
        message_id: its id (where recovery pages back to).
        time: when it was sent, epoch seconds (None: unknown, now is used).
    """

    account: Account
    chat: Target
    message_id: Hashable
    time: Optional[float] = None


@dataclass(frozen=True)
class PastMessage:
    """One message read back from a chat's history.

    Attributes:
        message_id: its id (compared with the last one seen live).
        time: when it was sent, epoch seconds (None: unknown).
        cursor: what :meth:`ChatHistory.page` takes as ``before`` to read the page
            older than this message (None: cannot page further).
        event: the event to deliver, complete (account, chat, ... filled in).
        own: the bot's own message: never recovered.
    """

    message_id: Hashable
    time: Optional[float]
    cursor: Any
    event: Dict[str, Any]
    own: bool = False


class ChatHistory(Protocol):
    """A protocol's chat history, for gap filling. Thread-safe."""

    def locate(self, event: Mapping[str, Any]) -> Optional[Sighting]:
        """The chat and id of a live message event; None for every other event.
        Reader thread: quick, never raises."""
        ...

    def page(self, account: Account, chat: Target, count: int, before: Any) -> Optional[List["PastMessage"]]:
        """Up to ``count`` messages of ``chat``, oldest first, ending at ``before``
        (a :attr:`PastMessage.cursor`; None: the newest). None when the answer held
        no message list. Blocks (one API call); raises a qqreliable Error."""
        ...


# ---------------------------------------------------------------------------
# Media
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MediaRef:
    """What to fetch: the server's file id and/or a direct ``url``.

    ``kind`` is ``"image"``, ``"record"``, ``"video"`` or ``"file"``; :attr:`key`
    names it in the cache and among concurrent fetches.
    """

    kind: str
    file: Optional[str] = None
    url: Optional[str] = None

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.file or self.url}"


#: The common model's segment types that may hold media of each kind, in the
#: order a fetch looks for them (a "file" fetch takes any media segment).
MEDIA_SEGMENT_TYPES: Dict[str, Tuple[str, ...]] = {
    "image": ("image",),
    "record": ("record",),
    "video": ("video",),
    "file": ("file", "video", "record", "image"),
}


def first_media_data(kind: str, segments: Iterable[Any]) -> Optional[Mapping[str, Any]]:
    """The ``data`` of the first segment (``.type``/``.data``) holding media of ``kind``,
    or None. Used by each protocol's :class:`MediaApi` to find what to fetch."""
    segments = list(segments)
    for wanted in MEDIA_SEGMENT_TYPES[kind]:
        for segment in segments:
            if segment.type == wanted:
                return segment.data  # type: ignore[no-any-return]
    return None


def is_http_url(value: str) -> bool:
    """True for an ``http://`` or ``https://`` URL (any case)."""
    return value[:8].lower().startswith(("http://", "https://"))


def clean_text(value: Any) -> Optional[str]:
    """``value`` as stripped text, None when absent or blank."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


@dataclass(frozen=True)
class OutboundElement:
    """A media element of an outgoing message, as the protocol found it.

    Attributes:
        kind: ``"image"``, ``"record"``, ``"video"`` or ``"file"``.
        file: its reference: ``base64://...``, a ``data:`` URI, bytes, a
            ``file://`` URI, a local path, an ``http(s)`` URL, or a server file id.
        url: a URL beside a file id (media received earlier), or None.
    """

    kind: str
    file: Any
    url: Optional[str] = None


@dataclass(frozen=True)
class Replacement:
    """What an :class:`OutboundElement` becomes: the bytes inline (``base64``, the
    text without any prefix) or a ``file://`` ``uri``; ``name`` is a file name to
    keep when the element has none. The protocol writes it in its own form."""

    base64: Optional[str] = None
    uri: Optional[str] = None
    name: Optional[str] = None


class MediaApi(Protocol):
    """How a protocol's media is found in messages and asked of its API. Thread-safe.

    The fetcher races the direct URL against :meth:`ask`, retries, validates and
    caches; none of that is the protocol's business.
    """

    def find(self, kind: str, target: Any) -> MediaRef:
        """The fetchable reference of a ``kind`` in ``target`` (a segment, its data,
        an event or message holding one, a file id, a URL). Pure.

        Raises:
            ValueError: nothing fetchable was found.
            TypeError: ``target`` is of an unsupported type.
        """
        ...

    def describe(self, kind: str) -> str:
        """The API call's name, for messages (OneBot: the image action's name)."""
        ...

    def ask(self, ref: MediaRef, timeout: float, options: Mapping[str, Any]) -> List[str]:
        """Ask the API for the file: where its bytes are, as ``base64://...``, a local
        path or ``file://`` URI, or an ``http(s)`` URL, best first. ``options``: the
        fetcher's settings (``record_format``). Blocks up to ``timeout``.

        Raises:
            MediaAttemptError: the answer held nothing usable (cause ``api_no_file``).
            Error: the call failed (see :meth:`cause`).
        """
        ...

    def cause(self, error: BaseException) -> str:
        """A short cause code for a failed :meth:`ask` (``api_unsupported``,
        ``api_not_found``, ``api_bad_request``, ``api_1200``, ``api_timeout``,
        ``api_unavailable``, ``api_network``, ``api_failed``...); permanent ones are
        listed in :func:`qqreliable.reliability.media.retryable`."""
        ...

    def probe_offline(self, timeout: float) -> Optional[str]:
        """Ask the API (briefly) whether the account is offline: the reason, or None
        (online, or unknown). Blocks up to ``timeout``; never raises."""
        ...

    def account_signal(self, event: Mapping[str, Any]) -> Optional[AccountSignal]:
        """See :data:`AccountSignalFn`."""
        ...

    def rewrite_media(
        self,
        action: str,
        params: Dict[str, Any],
        visit: Callable[[OutboundElement], Optional[Replacement]],
        text: Callable[[str], None],
    ) -> Dict[str, Any]:
        """``params`` of an outgoing request with each media element replaced as
        ``visit`` answers (None: unchanged); ``text`` is called with each piece of
        text (for the request size). Returns ``params`` itself when nothing changed,
        else a new dict; never modifies the caller's objects. Exceptions of ``visit``
        propagate. Blocks only inside ``visit``."""
        ...


def transport_cause(exc: BaseException) -> str:
    """The :meth:`MediaApi.cause` code of a failure that is not the API's own
    answer (a timeout, no connection, the bot stopping, the network): the part of
    ``cause`` every protocol shares. Anything else is ``api_error``."""
    if isinstance(exc, ApiTimeout):
        return "api_timeout"
    if isinstance(exc, (ApiNotAvailable, BotStopped)):
        return "api_unavailable"
    if isinstance(exc, NetworkError):
        return "api_network"
    return "api_error"


def as_int(value: Any) -> Optional[int]:
    """``value`` as an int when it is one or a numeric string (ids arrive as both),
    else None; booleans are not ids. Cheap on the usual case (already an int)."""
    if type(value) is int:
        return value
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
