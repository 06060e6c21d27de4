"""mirai-api-http's facts for the send pipeline: :class:`MiraiSends`.

What :class:`~qqreliable.reliability.verify.SendPipeline` needs to know about a
MAH send (reference §8, §9.7):

* the outcome of a failed attempt (:meth:`MiraiSends.judge`): nothing left
  (:class:`~qqreliable.ConnectFailed`) → NOT_SENT, repeatable at once; a lost
  answer or MAH's code 500 (:class:`~qqreliable.ActionFailed` category
  ``ambiguous``) → UNKNOWN; ``messageId -1``
  (:class:`~qqreliable.NotDelivered`) and every other code → NOT_SENT;
* the target: ``("group", id)``, ``("friend", qq)``, ``("temp", (group, qq))``;
* the fingerprint of a chain: the Plain text without whitespace, and the other
  elements by type (At by target, Face by id): what survives MAH re-rendering
  a chain in ``roamingMessages``;
* the lookups: ``roamingMessages`` (friends; groups from MAH 2.10) as chat
  history, and the bot's own qq. MAH reports no event for the bot's own API
  sends, and a 500 carries no message id, so there is no lookup by id.

Pure except for the lookup, which calls ``read(command, content, timeout)``.
Thread-safe.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import abc
from collections.abc import Mapping
from typing import Any, Callable, Dict, Hashable, List, Optional, Sequence

from ..exceptions import ActionFailed, ConnectFailed, Error, ResponseLost
from ..outcome import Category, Outcome
from ..reliability.interfaces import (
    SIGNAL_NOTICE,
    AccountSignal,
    DeliveryLookup,
    HistoryEntry,
    Judgement,
    Payload,
    Target,
)
from .chain import source_of
from .commands import Version
from ..reliability.interfaces import as_int as _as_int

__all__ = ["MiraiSends", "target_of", "fingerprint", "payload_of", "account_signal"]

ReadFn = Callable[[str, Dict[str, Any], float], Any]

_WHITESPACE = re.compile(r"\s+")
_SKIP = frozenset(("Source", "Quote"))
_MEDIA = frozenset(("Image", "FlashImage", "Voice", "ShortVideo", "File"))
_OFFLINE = ("BotOfflineEventActive", "BotOfflineEventForce", "BotOfflineEventDropped")
_ONLINE = ("BotOnlineEvent", "BotReloginEvent")
#: How far back ``roamingMessages`` looks when the pipeline gives no start time.
ROAMING_LOOKBACK = 600.0


def target_of(action: str, params: Mapping[str, Any]) -> Optional[Target]:
    """The chat a send goes to, or None when unclear."""
    if action == "sendGroupMessage":
        group = _as_int(params.get("target", params.get("group")))
        return ("group", group) if group is not None else None
    if action == "sendFriendMessage":
        qq = _as_int(params.get("target", params.get("qq")))
        return ("friend", qq) if qq is not None else None
    if action == "sendTempMessage":
        qq, group = _as_int(params.get("qq")), _as_int(params.get("group"))
        return ("temp", (group, qq)) if qq is not None and group is not None else None
    if action == "sendOtherClientMessage":
        client = _as_int(params.get("target"))
        return ("other_client", client) if client is not None else None
    return None


def fingerprint(chain: Any) -> str:
    """A short digest of a chain that survives MAH re-rendering it. Never raises."""
    text: List[str] = []
    marks: List[str] = []
    if isinstance(chain, (list, tuple)):
        for element in chain:
            if not isinstance(element, abc.Mapping):
                continue
            kind = element.get("type")
            if kind in _SKIP:
                continue
            if kind == "Plain":
                value = element.get("text")
                if value is not None:
                    text.append(str(value))
            elif kind == "At":
                marks.append(f"At:{element.get('target')}")
            elif kind == "Face":
                marks.append(f"Face:{element.get('faceId')}")
            elif kind == "FlashImage":
                marks.append("Image")  # some servers report a flash image as an Image
            else:
                marks.append(str(kind))
    plain = _WHITESPACE.sub("", "".join(text))
    return hashlib.sha1(f"{plain}\x1f{','.join(marks)}".encode("utf-8", "replace")).hexdigest()[:20]


def payload_of(params: Mapping[str, Any]) -> Payload:
    """Inline (base64) media bytes and media URLs of a send."""
    size = urls = 0
    media = False
    stack: List[Any] = [params.get("messageChain")]
    depth = 0
    while stack and depth < 1000:
        depth += 1
        chain = stack.pop()
        if not isinstance(chain, list):
            continue
        for element in chain:
            if not isinstance(element, abc.Mapping):
                continue
            kind = element.get("type")
            if kind == "Forward":
                media = True
                for node in element.get("nodeList") or []:
                    if isinstance(node, abc.Mapping):
                        stack.append(node.get("messageChain"))
                continue
            if kind not in _MEDIA:
                continue
            media = True
            b64 = element.get("base64")
            if isinstance(b64, str):
                size += len(b64) * 3 // 4
            elif isinstance(element.get("url"), str) and not element.get("imageId") and not element.get("voiceId"):
                urls += 1
    return Payload(size, urls, media)


def account_signal(event: Mapping[str, Any]) -> Optional[AccountSignal]:
    """``BotOfflineEvent*`` / ``BotOnlineEvent`` / ``BotReloginEvent``. Never raises."""
    kind = event.get("type")
    if kind in _OFFLINE:
        return AccountSignal(False, str(kind), SIGNAL_NOTICE)
    if kind in _ONLINE:
        return AccountSignal(True, str(kind), SIGNAL_NOTICE)
    return None


class MiraiSends:
    """:class:`~qqreliable.reliability.interfaces.SendFacts` for mirai-api-http.

    Args:
        read: ``read(command, content, timeout) -> data`` for ``roamingMessages``
            (a qqreliable error on failure); None: no history lookups.
        qq: the bot account (to recognise its messages in history).
        version: returns MAH's version when known (``roamingMessages`` serves
            groups from 2.10 on).
        clock: wall clock (tests).
    """

    def __init__(
        self,
        read: Optional[ReadFn] = None,
        *,
        qq: Optional[int] = None,
        version: Callable[[], Optional[Version]] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._read = read
        self._qq = qq
        self._version = version
        self._clock = clock
        self.lookup = DeliveryLookup(
            own_message=None,
            history=self._history if read is not None else None,
            by_id=None,
            whoami=(lambda timeout: self._qq) if qq is not None else None,
        )

    # -- SendFacts ---------------------------------------------------------------

    def judge(self, action: str, error: Error, attempt: int) -> Judgement:
        if isinstance(error, ConnectFailed):
            return Judgement(Outcome.NOT_SENT, never_left=True)
        if isinstance(error, ActionFailed):
            outcome = Outcome.UNKNOWN if error.category == Category.AMBIGUOUS else Outcome.NOT_SENT
            return Judgement(outcome)
        if isinstance(error, ResponseLost):
            return Judgement(Outcome.UNKNOWN)
        return Judgement(Outcome.UNKNOWN if getattr(error, "sent", None) else Outcome.NOT_SENT)

    answer_id_key = "messageId"  # the pipeline's fast path reads an int id there itself

    def answered_id(self, action: str, data: Any) -> Optional[Hashable]:
        if isinstance(data, abc.Mapping):
            return _as_int(data.get("messageId"))
        return None

    def target(self, action: str, params: Mapping[str, Any]) -> Optional[Target]:
        return target_of(action, params)

    def content(self, action: str, params: Mapping[str, Any]) -> Any:
        return params.get("messageChain")

    def fingerprint(self, content: Any) -> str:
        return fingerprint(content)

    def payload(self, action: str, params: Mapping[str, Any]) -> Payload:
        return payload_of(params)

    def slow(self, action: str) -> bool:
        return False

    def resend_safe(self, action: str, params: Mapping[str, Any]) -> bool:
        return False  # MAH has no idempotency key: a repeat may deliver twice

    def account_signal(self, event: Mapping[str, Any]) -> Optional[AccountSignal]:
        return account_signal(event)

    # -- lookups ------------------------------------------------------------------

    def _history(self, target: Target, since: float, count: int, timeout: float) -> Optional[Sequence[HistoryEntry]]:
        assert self._read is not None
        kind, chat = target
        version = self._version()
        if kind not in ("friend", "group") or (kind == "group" and version is not None and version < (2, 10, 0)):
            raise ActionFailed("roamingMessages", 6, f"no roaming history for {kind} chats on this MAH",
                               category=Category.UNSUPPORTED)
        now = self._clock()
        start = since if since and since > 0 else now - ROAMING_LOOKBACK
        content = {"timeStart": int(start), "timeEnd": int(now + 60), "target": chat}
        try:
            data = self._read("roamingMessages", content, timeout)
        except ActionFailed as exc:
            if exc.category in (Category.NOT_FOUND, Category.UNSUPPORTED, Category.BAD_REQUEST):
                # MAH before 2.10 answers a group id with "friend not found": no history for groups.
                raise ActionFailed("roamingMessages", exc.retcode, exc.message,
                                   category=Category.UNSUPPORTED, response=exc.response) from exc
            raise
        messages = data.get("data") if isinstance(data, abc.Mapping) and "data" in data else data
        if not isinstance(messages, list):
            return None
        out: List[HistoryEntry] = []
        for message in messages[-max(1, count):]:
            if not isinstance(message, abc.Mapping):
                continue
            chain = message.get("messageChain")
            mid, when = source_of(chain)
            sender = message.get("sender")
            author = _as_int(sender.get("id")) if isinstance(sender, abc.Mapping) else None
            kind_name = message.get("type")
            own = isinstance(kind_name, str) and kind_name.endswith("SyncMessage")
            out.append(HistoryEntry(content=chain, message_id=mid, time=float(when) if when is not None else None,
                                    author=author if not own else self._qq, own=own))
        return out
