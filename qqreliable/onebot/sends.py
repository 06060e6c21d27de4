"""OneBot v11's facts for the send pipeline: :class:`OneBotSends`.

What :class:`~qqreliable.reliability.verify.SendPipeline` needs to know about a
OneBot send, and nothing else (the pipeline itself is protocol-neutral):

* the outcome of a failed attempt: :func:`~qqreliable.onebot.actions.send_outcome`,
  driven by the RULES / SEND_OUTCOMES tables in :mod:`qqreliable.onebot.actions`;
* the target: ``("group", group_id)`` or ``("private", user_id)`` (:func:`target_of`);
* the content fingerprint (:func:`fingerprint`). Implementations re-render what they
  report: a CQ string comes back as an array, image URLs are rewritten, ``at`` gains
  a ``name``, whitespace around segments is trimmed. So the fingerprint keeps only
  what survives that: the plain text with all whitespace removed, plus the sequence
  of non-text segment types, with the id for ``face`` (``id``) and ``at`` (``qq``).
  Media, forwards, JSON/XML cards count by type only;
* the media payload (:func:`payload_of`), for deadlines and the request size limit;
* the ways to look a delivery up: the bot's own ``message_sent`` event
  (NapCat/LLOneBot/go-cqhttp ``reportSelfMessage``, Lagrange's self ``message``),
  the chat history (``get_group_msg_history`` / ``get_friend_msg_history``),
  ``get_msg`` for an id, ``get_login_info`` for the bot's own QQ number;
* the account state from ``bot_offline`` / ``bot_online`` notices and heartbeats
  (:func:`account_signal`).

Pure except for the lookups, which call ``read(action, params, timeout)`` (the bot's
read-only call path). Thread-safe.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import abc
from collections.abc import Mapping
from typing import Any, Callable, Dict, Hashable, List, Optional, Sequence, Tuple
from urllib.parse import unquote, urlsplit

from ..exceptions import ActionFailed, ConnectFailed, Error
from ..message import Message, MessageSegment, unescape
from ..reliability.interfaces import (
    SIGNAL_CONNECT,
    SIGNAL_NOTICE,
    SIGNAL_STATUS,
    Account,
    AccountSignal,
    DeliveryLookup,
    HistoryEntry,
    Judgement,
    OwnMessage,
    Payload,
    Target,
)
from .actions import send_outcome
from ..reliability.interfaces import as_int as _as_int

__all__ = [
    "OneBotSends",
    "target_of",
    "fingerprint",
    "send_fingerprint",
    "payload_of",
    "own_message",
    "account_signal",
    "history_action",
]

ReadFn = Callable[[str, Dict[str, Any], float], Any]

#: Segment types whose identity survives re-rendering, and the data key holding it.
_ID_KEYS: Dict[str, str] = {"face": "id", "at": "qq"}
_MEDIA_TYPES = frozenset({"image", "record", "video", "file"})
_WHITESPACE = re.compile(r"\s+")
_FORWARD = ({"type": "forward", "data": {}},)
_NO_PAYLOAD = Payload(0, 0, False)


def _message_id(value: Any) -> Optional[Hashable]:
    """A message id as claimed by the pipeline: an int where it is numeric."""
    number = _as_int(value)
    if number is not None:
        return number
    return value if isinstance(value, str) and value else None


# ---------------------------------------------------------------------------
# Target, fingerprint, payload (pure)
# ---------------------------------------------------------------------------


def target_of(action: str, params: Mapping[str, Any]) -> Optional[Target]:
    """The chat a send goes to: ``("group", id)`` or ``("private", id)``; None if unclear."""
    group_id = params.get("group_id")
    if group_id is not None and type(group_id) is not int:  # an int or absent: the usual case
        group_id = _as_int(group_id)
    user_id = params.get("user_id")
    if user_id is not None and type(user_id) is not int:
        user_id = _as_int(user_id)
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


def send_content(action: str, params: Mapping[str, Any]) -> Any:
    """What a send action puts in the chat, in the form :func:`fingerprint` reads."""
    if "forward" in action:
        return list(_FORWARD)
    message = params.get("message")
    if params.get("auto_escape") and isinstance(message, str):
        return [{"type": "text", "data": {"text": message}}]
    return message


def send_fingerprint(action: str, params: Mapping[str, Any]) -> str:
    """The fingerprint of what a send action puts in the chat."""
    return fingerprint(send_content(action, params))


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
    message, messages = params.get("message"), params.get("messages")
    if messages is None and (message is None or isinstance(message, str)):
        return _NO_PAYLOAD  # a text or CQ-string send: the usual case, nothing to walk
    size = urls = 0
    media = False
    stack: List[Any] = [message, messages]
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
            raw_data = seg.get("data")
            data = raw_data if isinstance(raw_data, abc.Mapping) else {}
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
# Events: own messages, account state (reader thread)
# ---------------------------------------------------------------------------


def own_message(event: Mapping[str, Any], self_id: Account) -> Optional[OwnMessage]:
    """The bot's own message in ``event`` (a ``message_sent``, or Lagrange's ``message``
    from the bot itself), or None. ``self_id``: the bot's QQ number when the event
    does not say. Never raises for odd input."""
    post_type = event.get("post_type")
    if post_type != "message_sent":
        if post_type != "message":
            return None
        user_id, own_id = event.get("user_id"), event.get("self_id")
        if type(user_id) is int and type(own_id) is int and user_id != own_id:
            return None  # someone else's message: the usual event, decided cheaply
    # (ints are the usual case: taken as they are, _as_int only for anything else)
    account = event.get("self_id")
    if type(account) is not int:
        account = _as_int(account)
        if account is None:
            account = _as_int(self_id)
    user_id = event.get("user_id")
    if type(user_id) is not int:
        user_id = _as_int(user_id)
    if post_type == "message_sent":
        pass
    elif post_type == "message" and account is not None and user_id == account:
        pass  # Lagrange reports its own messages as ordinary messages
    else:
        return None
    kind = event.get("message_type")
    if kind == "group":
        chat = event.get("group_id")
    else:
        chat = event.get("target_id")
        if chat is None and user_id is not None and user_id != account:
            chat = user_id
    if type(chat) is not int:
        chat = _as_int(chat)
    if chat is None or kind not in ("group", "private"):
        return None
    message_id = event.get("message_id")
    if type(message_id) is not int:
        message_id = _as_int(message_id)
    return OwnMessage((str(kind), chat), event.get("message"), message_id, account)


def account_signal(event: Mapping[str, Any]) -> Optional[AccountSignal]:
    """``bot_offline`` / ``bot_online`` notices, a heartbeat's ``status.online`` flag
    (when it is a bool), and lifecycle ``enable``/``connect``. Never raises."""
    post_type = event.get("post_type")
    if post_type == "notice":
        notice = event.get("notice_type")
        if notice == "bot_offline":
            text = event.get("message") or event.get("tag") or "bot_offline notice"
            return AccountSignal(False, str(text), SIGNAL_NOTICE)
        if notice == "bot_online":
            return AccountSignal(True, "bot_online notice", SIGNAL_NOTICE)
        return None
    if post_type != "meta_event":
        return None
    status = event.get("status")
    online = status.get("online") if isinstance(status, abc.Mapping) else None
    if online is True:
        return AccountSignal(True, "heartbeat status online=true", SIGNAL_STATUS)
    if online is False:
        return AccountSignal(False, "heartbeat status online=false", SIGNAL_STATUS)
    if event.get("meta_event_type") == "lifecycle" and event.get("sub_type") in ("enable", "connect"):
        return AccountSignal(True, f"lifecycle {event.get('sub_type')}", SIGNAL_CONNECT)
    return None


# ---------------------------------------------------------------------------
# Judging failed attempts
# ---------------------------------------------------------------------------


def _upload_failed(error: Error) -> bool:
    """NapCat/LLOneBot "rich media transfer failed": the upload to Tencent failed."""
    if not isinstance(error, ActionFailed):
        return False
    return "rich media transfer failed" in f"{error.message}\n{error.wording}".lower()


def _error_message_id(error: Error) -> Optional[int]:
    response = getattr(error, "response", None)
    data = response.get("data") if isinstance(response, abc.Mapping) else None
    if isinstance(data, abc.Mapping):
        mid = _as_int(data.get("message_id"))
        return mid if mid else None
    return None


def history_action(kind: str) -> str:
    """The history action of a chat kind."""
    return "get_group_msg_history" if kind == "group" else "get_friend_msg_history"


class OneBotSends:
    """:class:`~qqreliable.reliability.interfaces.SendFacts` for OneBot v11.

    Args:
        read: ``read(action, params, timeout) -> data`` for the read-only lookups
            (history, ``get_msg``, ``get_login_info``); raises a qqreliable error.
            None: no lookups (only own ``message_sent`` events verify).
    """

    def __init__(self, read: Optional[ReadFn] = None) -> None:
        self._read = read
        self.lookup = DeliveryLookup(
            own_message=own_message,
            history=self._history if read is not None else None,
            by_id=self._get_msg if read is not None else None,
            whoami=self._login_info if read is not None else None,
        )

    # -- SendFacts ---------------------------------------------------------------

    def judge(self, action: str, error: Error, attempt: int) -> Judgement:
        return Judgement(
            send_outcome(error),
            never_left=isinstance(error, ConnectFailed),
            message_id=_error_message_id(error),
            upload_failed=_upload_failed(error),
        )

    answer_id_key = "message_id"  # the pipeline's fast path reads an int id there itself

    def answered_id(self, action: str, data: Any) -> Optional[Hashable]:
        if type(data) is dict or isinstance(data, abc.Mapping):
            value = data.get("message_id")
            if type(value) is not int:  # an int: the usual answer, no conversion to try
                value = _as_int(value)
            return value or None
        return None

    # Pure functions as methods: one call per send instead of two.
    target = staticmethod(target_of)

    def content(self, action: str, params: Mapping[str, Any]) -> Any:
        return send_content(action, params)

    def fingerprint(self, content: Any) -> str:
        return fingerprint(content)

    def payload(self, action: str, params: Mapping[str, Any]) -> Payload:
        messages = params.get("messages")
        if messages is None:
            message = params.get("message")
            if message is None or isinstance(message, str):
                return _NO_PAYLOAD  # payload_of's first step, inline: the usual send
        return payload_of(params)

    def slow(self, action: str) -> bool:
        return "forward" in action  # slow by nature, delivered late (faults SEND-10)

    def plain_target(self, action: str, params: Mapping[str, Any]) -> Optional[Target]:
        """The target of a plain send (no media, not a forward), else None: the
        pipeline's fast path asks this once instead of :meth:`target`,
        :meth:`payload` and :meth:`slow` (the usual send: a text to a chat)."""
        # The usual send first: text to a group or a friend, tested in as few steps
        # as it takes (this runs for every send).
        if action == "send_group_msg":
            group_id = params.get("group_id")
            if type(group_id) is int and type(params.get("message")) is str and "messages" not in params:
                return ("group", group_id)
        elif action == "send_private_msg":
            user_id = params.get("user_id")
            if type(user_id) is int and type(params.get("message")) is str and "messages" not in params:
                return ("private", user_id)
        if "forward" in action or params.get("messages") is not None:
            return None
        message = params.get("message")
        if message is not None and not isinstance(message, str):
            payload = payload_of(params)  # segments: plain when none is media
            if payload.bytes or payload.urls or payload.media:
                return None
        return target_of(action, params)

    def resend_safe(self, action: str, params: Mapping[str, Any]) -> bool:
        return False  # OneBot has no idempotency key: a repeat may deliver twice

    account_signal = staticmethod(account_signal)  # on the reader thread for every event

    # -- lookups ------------------------------------------------------------------

    def _history(self, target: Target, since: float, count: int, timeout: float) -> Optional[Sequence[HistoryEntry]]:
        # OneBot pages history by count: ``since`` is applied by the pipeline.
        assert self._read is not None
        kind, chat = target
        params = {"group_id" if kind == "group" else "user_id": chat, "count": count}
        data = self._read(history_action(kind), params, timeout)
        messages = data.get("messages") if isinstance(data, abc.Mapping) else data
        if not isinstance(messages, list):
            return None
        out: List[HistoryEntry] = []
        for message in messages:
            if not isinstance(message, abc.Mapping):
                continue
            sender = message.get("sender")
            author = _as_int(message.get("user_id"))
            if author is None and isinstance(sender, abc.Mapping):
                author = _as_int(sender.get("user_id"))
            when = message.get("time")
            out.append(
                HistoryEntry(
                    content=message.get("message"),
                    message_id=_message_id(message.get("message_id")),
                    time=float(when) if isinstance(when, (int, float)) and not isinstance(when, bool) else None,
                    author=author,
                    own=message.get("post_type") == "message_sent",
                )
            )
        return out

    def _get_msg(self, message_id: Hashable, timeout: float) -> Optional[Mapping[str, Any]]:
        assert self._read is not None
        data = self._read("get_msg", {"message_id": message_id}, timeout)
        return data if isinstance(data, abc.Mapping) else None

    def _login_info(self, timeout: float) -> Account:
        assert self._read is not None
        info = self._read("get_login_info", {}, timeout)
        return _as_int(info.get("user_id")) if isinstance(info, abc.Mapping) else None
